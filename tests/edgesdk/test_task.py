import json

import pytest

from edgesdk.errors import DataError
from edgesdk.recipe import DataConfig
from edgesdk.task import (
    LabelMap,
    Split,
    load_task,
    read_eval_split,
    stratified_split,
)


def write(path, text, mode="w"):
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def test_bundled_sst2_is_the_default():
    task = load_task(DataConfig(), seed=0)
    assert len(task.train) == 67349 and len(task.dev) == 872
    assert task.label_map.names == ("0", "1")
    assert task.text_column == "sentence"


def test_csv_with_string_labels_and_detected_columns(tmp_path):
    rows = "text,category\n" + "".join(f'"hello, {i}",{"b" if i % 3 else "a"}\n' for i in range(30))
    task = load_task(DataConfig(train=write(tmp_path / "t.csv", rows)), seed=1)
    assert task.label_map.names == ("a", "b")
    assert task.text_column == "text" and task.label_column == "category"
    assert len(task.train) + len(task.dev) == 30
    assert all(t.startswith("hello, ") for t in task.train.texts)


def test_jsonl_and_explicit_columns(tmp_path):
    lines = [json.dumps({"q": f"q{i}", "y": i % 2, "other": None}) for i in range(20)]
    cfg = DataConfig(train=write(tmp_path / "t.jsonl", "\n".join(lines)), text_column="q", label_column="y")
    task = load_task(cfg, seed=0)
    assert task.label_map.names == ("0", "1")


def test_integer_labels_keep_numeric_order():
    assert LabelMap.from_values(["10", "2", "1"]).names == ("1", "2", "10")


def test_stratified_split_is_seeded_and_balanced():
    labels = [0] * 80 + [1] * 20
    tr, held = stratified_split(labels, 0.1, seed=3)
    assert sorted(tr + held) == list(range(100))
    assert sum(labels[i] for i in held) == 2 and len(held) == 10
    assert stratified_split(labels, 0.1, seed=3) == (tr, held)
    assert stratified_split(labels, 0.1, seed=4) != (tr, held)


def test_calibration_rows_leave_train_before_training(tmp_path):
    rows = "sentence\tlabel\n" + "".join(f"s{i}\t{i % 2}\n" for i in range(200))
    task = load_task(DataConfig(train=write(tmp_path / "t.tsv", rows)), seed=0)
    held = task.with_calibration(40, seed=0)
    assert len(held.calibration) == 40 and len(held.train) == len(task.train) - 40
    assert not set(held.train.texts) & set(held.calibration.texts)
    assert sorted(held.calibration.labels).count(1) == 20  # stratified
    assert held.dev == task.dev and "calibration" in held.stats()
    assert task.with_calibration(40, seed=0) == held
    assert len(task.with_calibration(10_000, seed=0).calibration) == len(task.train) // 2


def test_validation_rows_leave_train_after_calibration_and_at_most_a_tenth(tmp_path):
    rows = "sentence\tlabel\n" + "".join(f"s{i}\t{i % 2}\n" for i in range(200))
    task = load_task(DataConfig(train=write(tmp_path / "t.tsv", rows)), seed=0).with_calibration(40, seed=0)
    held = task.with_validation(10, seed=0)
    assert len(held.validation) == 10 and len(held.train) == len(task.train) - 10
    texts = [set(s.texts) for s in (held.train, held.calibration, held.validation)]
    assert not (texts[0] & texts[2]) and not (texts[1] & texts[2])  # disjoint from both
    assert sorted(held.validation.labels).count(1) == 5 and held.calibration == task.calibration
    assert held.stats()["validation"]["rows"] == 10 and "validation" in held.sources
    assert len(task.with_validation(10_000, seed=0).validation) == len(task.train) // 10


def test_max_train_rows_subsamples(tmp_path):
    rows = "sentence\tlabel\n" + "".join(f"s{i}\t{i % 2}\n" for i in range(50))
    task = load_task(DataConfig(train=write(tmp_path / "t.tsv", rows), max_train_rows=10), seed=0)
    assert len(task.train) == 10


def test_empty_texts_are_dropped_not_fatal(tmp_path):
    rows = "sentence\tlabel\n\t0\nnan\t1\n" + "".join(f"s{i}\t{i % 2}\n" for i in range(20))
    task = load_task(DataConfig(train=write(tmp_path / "t.tsv", rows)), seed=0)
    assert len(task.train) + len(task.dev) == 20
    assert task.stats()["skipped_empty_texts"] == {"train": 2}


def test_long_and_unicode_texts_survive(tmp_path):
    long_text = "word " * 3000
    rows = "sentence\tlabel\n" + f"{long_text}\t0\n" + "שלום 😀 naïve\t1\n" * 5 + "x\t0\n" * 5
    task = load_task(DataConfig(train=write(tmp_path / "t.tsv", rows)), seed=0)
    assert any("😀" in t for t in task.train.texts + task.dev.texts)


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("missing.tsv", None, "does not exist"),
        ("empty.tsv", "", "is empty"),
        ("header.tsv", "sentence\tlabel\n", "no rows"),
        ("one.tsv", "sentence\tlabel\na\t1\nb\t1\n", "single label class"),
        ("cols.tsv", "words\tstars\na\t1\n", "cannot find a text column"),
        ("semi.csv", "sentence;label\na;1\n", "single column"),
        ("ragged.csv", "sentence,label\na,1,extra\n", "has 3 fields"),
        ("bin.tsv", b"\x00\x01\x02binary", "looks binary"),
        ("latin1.tsv", "sentence\tlabel\ncaf\xe9\t1\n".encode("latin-1"), "not UTF-8: line 2, column 4"),
        ("utf16.tsv", "sentence\tlabel\na\t1\n".encode("utf-16"), "is UTF-16 text"),
        ("nan.jsonl", '{"text": "a", "label": NaN}\n', "row 1 has an empty label ('nan')"),
        ("data.parquet", "x", "unsupported type"),
        ("bad.jsonl", '{"text": "a", "label": 1}\n{oops\n', "bad.jsonl:2"),
        ("nolabel.tsv", "sentence\tlabel\na\t\n", "empty label"),
    ],
)
def test_bad_data_files_raise_one_clear_error(tmp_path, name, content, needle):
    path = tmp_path / name
    if content is not None:
        write(path, content, "wb" if isinstance(content, bytes) else "w")
    with pytest.raises(DataError) as err:
        load_task(DataConfig(train=str(path)), seed=0)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_dev_with_unseen_labels_is_rejected(tmp_path):
    train = write(tmp_path / "t.tsv", "sentence\tlabel\n" + "a\t0\nb\t1\n" * 5)
    dev = write(tmp_path / "d.tsv", "sentence\tlabel\nc\t2\n")
    with pytest.raises(DataError, match="not seen in train: 2"):
        load_task(DataConfig(train=train, dev=dev), seed=0)


def test_dev_without_train_is_rejected(tmp_path):
    with pytest.raises(DataError, match="--train"):
        load_task(DataConfig(dev=write(tmp_path / "d.tsv", "sentence\tlabel\na\t1\n")), seed=0)


def test_eval_split_maps_through_saved_labels(tmp_path):
    path = tmp_path / "e.csv"
    write(path, "text,label\nx,pos\ny,neg\n")
    split = read_eval_split(path, LabelMap(("neg", "pos")), None, None)
    assert split == Split(("x", "y"), (1, 0))
    with pytest.raises(DataError, match="does not know: pos"):
        read_eval_split(path, LabelMap(("a", "neg")), None, None)
