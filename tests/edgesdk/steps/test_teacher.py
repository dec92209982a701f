"""The teacher step: reuse of a matching head, fine-tuning otherwise, and the user cache."""

import pytest

from edgesdk.models.model_dir import load_model_dir
from edgesdk.recipe import TeacherConfig
from edgesdk.steps.teacher import build_teacher, teacher_key
from edgesdk.task import LabelMap, Split, Task
from tests.helpers import save_tiny_bert

TASK = Task(
    train=Split(("good film", "bad film") * 8, (1, 0) * 8),
    dev=Split(("good", "bad"), (1, 0)),
    label_map=LabelMap(("neg", "pos")),
    text_column="sentence",
    label_column="label",
    sources={},
)
CFG = TeacherConfig(epochs=1, batch_size=4)


def _key(base, task: Task = TASK, data_hash: str = "h", cfg: TeacherConfig = CFG) -> str:
    return teacher_key(base, data_hash, cfg, 0, task.label_map, len(task.train))


def _checkpoint(tmp_path, id2label):
    return save_tiny_bert(tmp_path / "ckpt", hidden=16, layers=1, ffn=16, labels=id2label)


def test_matching_head_is_used_as_is(tmp_path):
    base = _checkpoint(tmp_path, {0: "neg", 1: "pos"})
    info = build_teacher(base, TASK, CFG, 0, _key(base), tmp_path / "out")
    assert info["fine_tuned"] is False
    model, _, labels = load_model_dir(tmp_path / "out")
    assert labels == TASK.label_map and model.config.pooler and model.config.pooling == "cls"


def test_other_labels_get_a_new_head_and_training_then_the_cache_serves_it(tmp_path):
    base = _checkpoint(tmp_path, {0: "sports", 1: "politics", 2: "tech"})
    key = _key(base)
    first = build_teacher(base, TASK, CFG, 0, key, tmp_path / "a")
    assert first["fine_tuned"] is True and first["cache"] == "trained" and first["steps"] == 4
    model, _, _ = load_model_dir(tmp_path / "a")
    assert model.config.num_labels == 2 and not model.config.pooler
    second = build_teacher(base, TASK, CFG, 0, key, tmp_path / "b")
    assert second["cache"] == "user-cache"
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_the_teacher_is_scored_on_validation_rows_carved_from_train(tmp_path):
    base = _checkpoint(tmp_path, {0: "sports", 1: "politics", 2: "tech"})
    task = TASK.with_validation(2, seed=0)
    assert len(task.validation) == 2  # a tenth of 16 rows, at least one per class
    info = build_teacher(base, task, CFG, 0, _key(base, task, "v"), tmp_path / "v")
    assert info["validation_rows"] == 2 and info["validation_accuracy"] in (0.0, 0.5, 1.0)
    model, tokenizer, _ = load_model_dir(tmp_path / "v")
    from edgesdk.train import accuracy, predict_logits

    predicted = predict_logits(model, tokenizer, task.validation.texts, CFG.max_length).argmax(1)
    assert info["validation_accuracy"] == accuracy(predicted, task.validation.labels)


@pytest.mark.parametrize("change", ["seed", "config", "data", "labels"])
def test_teacher_key_depends_on_every_input(tmp_path, change):
    base = _checkpoint(tmp_path, {0: "neg", 1: "pos"})
    ref = _key(base)
    args = {"task_hash": "h", "cfg": CFG, "seed": 0, "labels": TASK.label_map}
    args.update(
        {
            "seed": {"seed": 1},
            "config": {"cfg": TeacherConfig(epochs=2)},
            "data": {"task_hash": "h2"},
            "labels": {"labels": LabelMap(("a", "b"))},
        }[change]
    )
    assert teacher_key(base, args["task_hash"], args["cfg"], args["seed"], args["labels"], len(TASK.train)) != ref


def test_fine_tuned_teacher_is_bit_identical_across_processes(tmp_path):
    """Same recipe, data and seed -> same weights, even from a fresh process (no shared RNG state)."""
    import subprocess
    import sys

    base = _checkpoint(tmp_path, {0: "sports", 1: "politics", 2: "tech"})
    script = (
        "import sys, torch; from pathlib import Path; from tests.edgesdk.steps.test_teacher import TASK, CFG;"
        "from edgesdk.steps.teacher import build_teacher; torch.randn(int(sys.argv[2]));"  # disturb the global RNG
        "build_teacher(Path(sys.argv[3]), TASK, CFG, 0, sys.argv[1], Path(sys.argv[1]))"
    )
    outs = []
    for i, disturb in enumerate((1, 7)):
        out = tmp_path / f"run{i}"
        env = {**__import__("os").environ, "EDGESDK_CACHE_DIR": str(tmp_path / f"cache{i}")}
        proc = subprocess.run(
            [sys.executable, "-c", script, str(out), str(disturb), str(base)], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append((out / "model.safetensors").read_bytes())
    assert outs[0] == outs[1]


def test_an_earlier_builds_model_dir_is_a_teacher_as_is_for_its_own_labels(tmp_path):
    import torch

    from edgesdk.errors import TeacherError
    from edgesdk.models.model_dir import check_teacher_labels, check_teacher_source, teacher_shape

    base = _checkpoint(tmp_path, {0: "neg", 1: "pos"})
    build_teacher(base, TASK, CFG, 0, _key(base), tmp_path / "built")
    earlier = tmp_path / "built"  # an edgesdk model dir now, as a build's teacher/ or pruned/
    check_teacher_source(earlier)
    info = build_teacher(earlier, TASK, CFG, 0, _key(earlier), tmp_path / "again")
    assert info["fine_tuned"] is False and "steps" not in info
    (a, _, _), (b, _, _) = load_model_dir(earlier), load_model_dir(tmp_path / "again")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert teacher_shape(earlier)["num_hidden_layers"] == 1 and teacher_shape(earlier)["hidden_size"] == 16
    with pytest.raises(TeacherError, match="was trained for labels"):
        check_teacher_labels(earlier, LabelMap(("a", "b", "c")))
    (earlier / "model.safetensors").unlink()
    with pytest.raises(TeacherError, match="without model.safetensors"):
        check_teacher_source(earlier)


def test_min_steps_raises_the_epochs_of_a_small_data_set_only():
    from edgesdk.train import Schedule, schedule_steps, teacher_epochs

    cfg = TeacherConfig(epochs=1, batch_size=32, min_steps=10)
    assert teacher_epochs(cfg, 100) == 2.5  # 4 steps an epoch
    assert schedule_steps(100, Schedule(2.5, 32, 1e-4, 0.0, 0.0)) == 10
    assert teacher_epochs(cfg, 1000) == 1  # 32 steps: already past min_steps
    assert teacher_epochs(TeacherConfig(epochs=1, batch_size=32), 100) == 1
    assert teacher_epochs(TeacherConfig(epochs=1, batch_size=32, min_steps=10, max_train_rows=64), 1000) == 5
    # 4 steps an epoch x 2.3 epochs = 9.2, which the schedule runs as 10 steps: min_steps 10 holds
    assert teacher_epochs(TeacherConfig(epochs=2.3, batch_size=32, min_steps=10), 100) == 2.3


def test_min_steps_enters_the_key_only_where_it_changes_the_training(tmp_path):
    base = _checkpoint(tmp_path, {0: "neg", 1: "pos"})
    assert _key(base, cfg=CFG.model_copy(update={"min_steps": 4})) == _key(base)  # 4 steps an epoch already
    assert _key(base, cfg=CFG.model_copy(update={"min_steps": 10})) != _key(base)


def test_a_teacher_with_min_steps_trains_that_many_steps(tmp_path):
    base = _checkpoint(tmp_path, {0: "sports", 1: "politics", 2: "tech"})
    cfg = CFG.model_copy(update={"min_steps": 10})  # 16 rows in batches of 4: 4 steps an epoch
    info = build_teacher(base, TASK, cfg, 0, _key(base, cfg=cfg), tmp_path / "m")
    assert info["steps"] == 10 and info["epochs"] == 2.5
