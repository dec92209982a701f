"""End to end through the real CLI: tiny random BERT teacher, real SST-2 rows, both runtimes."""

import hashlib
import json
import shutil
import signal
from pathlib import Path

import pytest

from edgesdk.fsutil import sha256_file

from tests.conftest import assert_one_line_error, read_only_dir, run_cli, sst2_rows

REPORT_KEYS = ("accuracy", "agreement", "size_bytes", "peak_rss_bytes", "path", "runtime", "precision")


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_teacher, sst2_slice, tiny_recipe):
    out = tmp_path_factory.mktemp("build") / "b"
    train, dev = sst2_slice
    args = (
        "build",
        "--target",
        "host",
        "--recipe",
        tiny_recipe,
        "--train",
        train,
        "--dev",
        dev,
        "--teacher",
        tiny_teacher,
        "--out",
        out,
    )
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    return out, args, first


def test_build_writes_the_documented_report(built):
    out, _, first = built
    report = json.loads((out / "report.json").read_text())
    assert report["target"] == "host"
    assert 0.0 <= report["teacher"]["accuracy"] <= 1.0
    t, s = report["teacher"], report["student"]
    assert 0.0 <= s["accuracy"] <= 1.0 and s["kind"] == "encoder"
    assert s["params"] < t["params"] and s["flops"] < t["flops"]
    assert s["config"]["hidden_size"] == 16 and len(s["config"]["layers"]) == 1
    assert s["distill"]["stages"][0]["steps"] > 0
    assert {(a["model"], a["runtime"]) for a in report["artifacts"]} == {
        (m, r) for m in ("student", "teacher") for r in ("executorch", "litert")
    }
    for a in report["artifacts"]:
        for key in REPORT_KEYS:
            assert key in a
        assert (out / a["path"]).is_file() and a["size_bytes"] == (out / a["path"]).stat().st_size
        assert a["precision"] == "fp32"
        assert a["agreement"] >= 0.95
        assert abs(a["accuracy"] - report[a["model"]]["accuracy"]) <= 0.01
        lat = a["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
        assert a["peak_rss_bytes"] >= a["baseline_rss_bytes"] > 0
        if a["runtime"] == "executorch":  # ETDump per-op breakdown (profile.per_op, on by default)
            events = a["per_op"]["events"]
            assert events and abs(sum(e["share"] for e in events) - 1.0) < 0.01
    md = (out / "report.md").read_text()
    assert "artifacts/model.pte" in md and "artifacts/teacher/model.tflite" in md
    assert "edgesdk build: host" in first.stdout


def test_manifest_hashes_every_artifact(built):
    out = built[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["steps"]) == {"data", "teacher", "student", "lower", "verify", "profile", "fit"}
    assert manifest["versions"]["executorch"] == "1.5.1"
    assert len(manifest["steps"]["lower"]["outputs"]["artifacts"]) == 64
    for rel, digest in manifest["artifacts"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    assert set(manifest["artifacts"]) == {
        "artifacts/model.pte",
        "artifacts/model.tflite",
        "artifacts/teacher/model.pte",
        "artifacts/teacher/model.tflite",
    }


def test_second_build_reuses_every_step(built):
    _, args, _ = built
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "cached steps: data, teacher, student, lower, verify, profile" in again.stdout


def test_eval_json_matches_the_build_verification(built, sst2_slice):
    out = built[0]
    report = json.loads((out / "report.json").read_text())
    for artifact in report["artifacts"]:
        proc = run_cli("eval", out / artifact["path"], "--data", sst2_slice[1], "--json")
        assert proc.returncode == 0, proc.stderr[-2000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["n"] == 100
        assert result["accuracy"] == artifact["accuracy"]
        assert result["latency_ms"]["p50"] > 0


def test_report_command_rerenders(built):
    out = built[0]
    (out / "report.md").unlink()
    proc = run_cli("report", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "report.md").exists()


def test_targets_lists_specs_whole_when_piped_and_as_json():
    from edgesdk.targets.registry import list_targets

    proc = run_cli("targets")  # stdout is a pipe: no terminal width to cut cells to
    assert proc.returncode == 0
    for target in ("android-arm64", "host", "raspberry-pi-5", "cortex-m4", "cortex-m7", "cortex-m55", "esp32-s3"):
        assert target in proc.stdout
    assert "…" not in proc.stdout
    table = [ln.strip().strip("│").split("│") for ln in proc.stdout.splitlines() if ln.startswith("│")]
    rows = {cells[0]: cells for cells in ([c.strip() for c in line] for line in table)}
    assert rows["cortex-m4"] == ["cortex-m4", "mcu", "1", "64", "256 KiB", "1 MiB", "tflm"]
    assert rows["raspberry-pi-5"][:2] == ["raspberry-pi-5", "linux"] and rows["host"][-1] == "executorch,litert,tflm"
    galaxy = next(ln for ln in proc.stdout.splitlines() if ln.startswith("galaxy-a14: "))
    assert galaxy.endswith("profiled over adb when attached")  # one line, not wrapped at 80 columns

    as_json = run_cli("targets", "--json")
    assert as_json.returncode == 0, as_json.stderr
    listed = json.loads(as_json.stdout)
    specs = list_targets()
    assert [t["id"] for t in listed] == [s.id for s in specs] == list(rows)
    m4 = next(t for t in listed if t["id"] == "cortex-m4")
    assert m4 == {
        "id": "cortex-m4",
        "family": "mcu",
        "cores": 1,
        "clock_mhz": 64,
        "ram_bytes": 256 * 1024,
        "flash_bytes": 1024 * 1024,
        "runtimes": ["tflm"],
        "cpu": "Cortex-M4F",
        "description": next(s.description for s in specs if s.id == "cortex-m4"),
        "aliases": [],
    }
    assert next(t for t in listed if t["id"] == "cortex-m7")["aliases"] == ["mcu"]


TINY_BOARD = """\
id: tiny-board
family: linux
description: a board too small for this build (its word table passes the floor check)
cpu: test
ram_bytes: 1000000000
flash_bytes: 5000000
runtimes: [litert]
"""


def _copy_of(built, tmp_path: Path) -> tuple[Path, list]:
    """A copy of the `built` host build and its build arguments pointing at it: tests that
    build again for another target or recipe work on a copy, so the others see the host build."""
    ref_out, args, _ = built
    out = tmp_path / "copy"
    shutil.copytree(ref_out, out)
    return out, [*args[:-1], out]


def test_a_build_that_does_not_fit_names_budget_need_and_overflow(built, tmp_path):
    board = tmp_path / "tiny-board.yaml"
    board.write_text(TINY_BOARD)
    out, custom = _copy_of(built, tmp_path)
    custom[custom.index("host")] = str(board)
    proc = run_cli(*custom)
    assert_one_line_error(proc, "nothing fits tiny-board", "flash needs", "of 5,000,000 B (over by", "prune.vocab")
    fit = json.loads((out / "fit.json").read_text())
    assert fit["ok"] is False and fit["budgets"]["flash_bytes"] == 5000000
    assert {r["runtime"] for r in fit["artifacts"]} == {"litert"}  # only what the board runs
    smallest = min(r["flash_bytes"] for r in fit["artifacts"])
    assert fit["needs"]["flash_bytes"] == smallest > (out / fit["needs"]["artifact"]).stat().st_size


def test_a_target_running_none_of_the_recipes_runtimes_fails_before_training(tmp_path, tiny_teacher, sst2_slice, tiny_recipe):
    out = tmp_path / "m4"
    proc = run_cli("build", "--target", "cortex-m4", "--recipe", tiny_recipe, "--train", sst2_slice[0], "--teacher", tiny_teacher, "--out", out)
    assert_one_line_error(proc, "cortex-m4 runs tflm", "export.runtimes")
    assert not out.exists()


def test_a_bad_target_file_is_one_line(tmp_path):
    board = tmp_path / "b.yaml"
    board.write_text(TINY_BOARD.replace("family: linux", "family: toaster"))
    assert_one_line_error(run_cli("build", "--target", str(board)), "target file", "family")
    assert_one_line_error(run_cli("build", "--target", str(tmp_path / "missing.yaml")), "cannot read target file")


# -- bad input: one line, exit 2, no traceback, nothing written -----------------------------


def _build_with(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, **changes):
    train, dev = sst2_slice
    opts = {
        "--target": "host",
        "--recipe": tiny_recipe,
        "--train": train,
        "--dev": dev,
        "--teacher": tiny_teacher,
        "--out": tmp_path / "out",
    }
    opts.update(changes)
    args = ["build"]
    for k, v in opts.items():
        if v is not None:
            args += [k, v]
    return run_cli(*args)


@pytest.mark.parametrize(
    "case, needle",
    [
        ("missing_file", "does not exist"),
        ("missing_column", "no text column 'review'"),
        ("empty_file", "is empty"),
        ("single_class", "single label class"),
        ("unknown_target", "unknown target 'toaster'"),
        ("recipe_unknown_key", "unknown key 'teacher.epohcs'"),
        ("recipe_wrong_type", "'export.seq_len'"),
        ("recipe_unknown_precision", "'quantize.precisions.1'"),
        ("recipe_int4_group", "'quantize.group_size'"),
        ("recipe_qat_without_steps", "qat_steps is 0"),
        ("recipe_unknown_runtime", "'export.runtimes.0'"),
        ("recipe_qr_too_few_rows", "student.word_rows 64 is too few for a qr table over 30,522 tokens; it needs at least 350"),
        ("teacher_missing", "does not exist"),
        ("teacher_no_weights", "no model.safetensors"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, case, needle):
    changes = {}
    if case == "missing_file":
        changes["--train"] = tmp_path / "nope.tsv"
    elif case == "missing_column":
        changes["--text-column"] = "review"
    elif case == "empty_file":
        (tmp_path / "empty.tsv").write_text("")
        changes["--train"] = tmp_path / "empty.tsv"
    elif case == "single_class":
        (tmp_path / "one.tsv").write_text("sentence\tlabel\n" + "good\t1\n" * 20)
        changes["--train"], changes["--dev"] = tmp_path / "one.tsv", None
    elif case == "unknown_target":
        changes["--target"] = "toaster"
    elif case == "recipe_unknown_key":
        (tmp_path / "r.yaml").write_text("teacher: {epohcs: 1}\n")
        changes["--recipe"] = tmp_path / "r.yaml"
    elif case == "recipe_wrong_type":
        (tmp_path / "r.yaml").write_text("export: {seq_len: long}\n")
        changes["--recipe"] = tmp_path / "r.yaml"
    elif case.startswith("recipe_"):
        text = {
            "recipe_unknown_precision": "quantize: {precisions: [fp32, int3]}\n",
            "recipe_int4_group": "quantize: {precisions: [int4w], group_size: 48}\n",
            "recipe_qat_without_steps": "quantize: {precisions: [int8-qat]}\n",
            "recipe_unknown_runtime": "export: {runtimes: [coreml]}\n",
            "recipe_qr_too_few_rows": "student: {family: cnn, word_rows: 64, word_table: qr}\n",  # before training
        }[case]
        (tmp_path / "r.yaml").write_text(text)
        changes["--recipe"] = tmp_path / "r.yaml"
    elif case == "teacher_missing":
        changes["--teacher"] = tmp_path / "no_teacher"
    elif case == "teacher_no_weights":
        (tmp_path / "t").mkdir()
        (tmp_path / "t" / "config.json").write_text((tiny_teacher / "config.json").read_text())
        changes["--teacher"] = tmp_path / "t"
    proc = _build_with(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, **changes)
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "case, needles",
    [
        ("out_is_a_file", ("build dir", "out is a file, not a directory", "choose another --out")),
        ("out_under_a_file", ("build dir", "cannot be created:", "out is a file", "choose another --out")),
        ("package_is_a_file", ("package dir", "package is a file, not a directory", "remove it or choose another --out")),
        ("cache_is_a_file", ("cache dir", "cache is a file, not a directory", "set EDGESDK_CACHE_DIR to a writable directory")),
        ("cache_read_only", ("cannot write cache dir", "is not writable", "set EDGESDK_CACHE_DIR to a writable directory")),
    ],
)
def test_an_output_path_that_cannot_be_a_dir_is_one_line_and_writes_nothing(
    tmp_path, monkeypatch, tiny_teacher, sst2_slice, tiny_recipe, case, needles
):
    out = tmp_path / "out"
    changes = {}
    if case == "out_is_a_file":
        out.write_text("mine")
    elif case == "out_under_a_file":
        out.write_text("mine")
        changes["--out"] = out / "build" / "b"
    elif case == "package_is_a_file":
        out.mkdir()
        (out / "package").write_text("mine")
    elif case == "cache_is_a_file":
        (tmp_path / "cache").write_text("mine")
        monkeypatch.setenv("EDGESDK_CACHE_DIR", str(tmp_path / "cache"))
    before = sorted((p.relative_to(tmp_path), p.is_file() and p.read_bytes()) for p in tmp_path.rglob("*"))
    if case == "cache_read_only":
        with read_only_dir(tmp_path / "ro") as ro:
            monkeypatch.setenv("EDGESDK_CACHE_DIR", str(ro / "cache"))
            proc = _build_with(tmp_path, tiny_teacher, sst2_slice, tiny_recipe)
        before.append((Path("ro"), False))
    else:
        proc = _build_with(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, **changes)
    assert_one_line_error(proc, *needles)
    after = sorted((p.relative_to(tmp_path), p.is_file() and p.read_bytes()) for p in tmp_path.rglob("*"))
    assert after == before  # nothing created, nothing overwritten


def test_an_error_naming_a_path_with_brackets_shows_the_path_verbatim(tmp_path, tiny_teacher, sst2_slice, tiny_recipe):
    missing = tmp_path / "data[int8]" / "train[v2].tsv"  # rich markup would drop "[int8]" and "[v2]"
    proc = _build_with(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, **{"--train": missing})
    assert_one_line_error(proc, str(missing), "does not exist")


def _tsv(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode("utf-8")


# Data files that are wrong, as users make them: (option, file name, bytes, what the one line says).
BAD_DATA_FILES = {
    "train saved as Windows-1252": (
        "--train",
        "train.tsv",
        _tsv(sst2_rows("train", 3)) + "caf\xe9 cr\xe8me, \u201clovely\u201d\t1\n".encode("cp1252"),
        ("not UTF-8", "line 5, column 4", "byte 0xe9", "re-save it as UTF-8"),
    ),
    "dev saved as Latin-1": (
        "--dev",
        "dev.tsv",
        "sentence\tlabel\nna\xefve but fun\t1\n".encode("latin-1"),
        ("dev.tsv is not UTF-8", "line 2, column 3"),
    ),
    "train saved as UTF-16": ("--train", "train.tsv", "\n".join(sst2_rows("train", 20)).encode("utf-16"), ("UTF-16",)),
    "dev label unseen in train": (
        "--dev",
        "dev.tsv",
        _tsv(sst2_rows("dev", 10) + ["a label train never had\tneutral"]),
        ("not seen in train: neutral", "add them to train or drop those rows"),
    ),
    "NaN label": (
        "--train",
        "train.jsonl",
        b'{"sentence": "fine", "label": 1}\n{"sentence": "meh", "label": NaN}\n',
        ("row 2 has an empty label ('nan')",),
    ),
    "one class once empty texts are skipped": (
        "--train",
        "train.tsv",
        _tsv(["sentence\tlabel"] + ["good\t1"] * 10 + ["\t0", "nan\t0", "NaN\t0"]),
        ("single label class ('1') after skipping 3 rows with empty texts",),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA_FILES))
def test_a_bad_data_file_is_one_line_and_writes_nothing(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, case):
    option, name, content, needles = BAD_DATA_FILES[case]
    (tmp_path / name).write_bytes(content)
    proc = _build_with(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, **{option: tmp_path / name})
    assert_one_line_error(proc, *needles)
    assert not (tmp_path / "out").exists()


# Texts that are unusual but valid: a model must take them like any other.
VALID_ODD_TEXTS = (
    " ".join(["a wonderful, moving film"] * 500),  # 12,499 characters of words
    "x" * 12_000,  # one 12,000-character token
    "😀😀 loved it 🎬👍🏽 👨‍👩‍👧 🇫🇷",
    "الفيلم كان رائعا جدا",  # Arabic, right to left
    "הסרט היה גרוע מאוד",  # Hebrew, right to left
    "\u200fمزيج mixed עברית and English\u200e 123",  # bidi marks, mixed directions
    "e\u0301te\u0301 cafe\u0301 na\u00efve \u4e2d\u6587",  # combining accents, CJK
)


def test_eval_takes_long_emoji_and_right_to_left_texts_and_says_which_rows_it_skipped(built, tmp_path):
    data = tmp_path / "odd.tsv"
    rows = [f"{text}\t{i % 2}" for i, text in enumerate(VALID_ODD_TEXTS)]
    data.write_bytes(_tsv(["sentence\tlabel", *rows, "\t1", "NaN\t0"]))  # rows 8, 9: no text
    assert len(VALID_ODD_TEXTS[0]) >= 10_000
    proc = run_cli("eval", built[0] / "artifacts" / "model.pte", "--data", data, "--json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["n"] == len(VALID_ODD_TEXTS) and 0.0 <= result["accuracy"] <= 1.0
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "skipped 2 rows with an empty or NaN text" in warnings[0], proc.stderr
    assert "(rows 8, 9)" in warnings[0]


def test_eval_of_a_corrupt_artifact_is_one_line(built, tmp_path, sst2_slice):
    out = built[0]
    src = out / "artifacts"
    for f in src.iterdir():
        if f.is_file():
            (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "model.tflite").write_bytes(b"garbage!" * 10)
    assert_one_line_error(run_cli("eval", tmp_path / "model.tflite", "--data", sst2_slice[1]), "not a valid litert")
    assert_one_line_error(run_cli("eval", tmp_path / "missing.pte", "--data", sst2_slice[1]), "does not exist")


def test_profile_command_measures_each_runtime(built, sst2_slice):
    out = built[0]
    for name, runtime in (("model.pte", "executorch"), ("model.tflite", "litert")):
        proc = run_cli(
            "profile",
            out / "artifacts" / name,
            "--data",
            sst2_slice[1],
            "--repetitions",
            "5",
            "--warmup",
            "1",
            "--threads",
            "1",
            "--json",
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["runtime"] == runtime and result["repetitions"] == 5 and result["threads"] == 1
        assert result["peak_rss_bytes"] > 0 and result["latency_ms"]["p50"] > 0


def test_profile_on_android_without_a_device_says_so(built):
    proc = run_cli("profile", built[0] / "artifacts" / "model.tflite", "--target", "android")
    assert_one_line_error(proc, "no Android device attached")  # adb is installed (make test), no phone is


@pytest.mark.parametrize(
    "args, needle",
    [
        (("build",), "Missing option '--target'"),
        (("eval", "x.pte"), "Missing option '--data'"),
        (("eval", "x.pte", "--data", "d.tsv", "--threads", "0"), "--threads"),
        (("frobnicate",), "No such command"),
    ],
)
def test_usage_errors_exit_2_without_traceback(args, needle):
    proc = run_cli(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert needle in proc.stderr


def test_shipping_the_teacher_lowers_the_teacher_itself(tmp_path, tiny_teacher, sst2_slice, tiny_recipe):
    recipe = tmp_path / "r.yaml"
    text = tiny_recipe.read_text().split("\n")
    recipe.write_text(
        "\n".join(line for line in text if not line.startswith(("student:", "distill:", "export:")))
        + "student: {family: teacher}\nexport: {seq_len: 32, runtimes: [litert]}\n"  # one runtime says it
    )
    proc = _build_with(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, **{"--recipe": recipe})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    t, s = report["teacher"], report["student"]
    assert s["kind"] == "teacher" and s["params"] == t["params"] and s["accuracy"] == t["accuracy"]
    assert all(a["agreement"] >= 0.99 for a in report["artifacts"])
    assert {a["model"] for a in report["artifacts"]} == {"student"}  # the teacher is not lowered twice


def test_student_wider_than_teacher_is_one_line(tmp_path, tiny_teacher, sst2_slice, tiny_recipe):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(tiny_recipe.read_text().replace("hidden: 16, heads: 2", "hidden: 64, heads: 2"))
    proc = _build_with(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, **{"--recipe": recipe})
    assert_one_line_error(proc, "student width 64 exceeds the teacher's 32")
    assert not (tmp_path / "out" / "student").exists()


# A build is interrupted at each of these points in turn, in one build dir, resuming each time:
# every step at its start and mid-way (at a line it prints while working), by SIGINT (a user's
# Ctrl-C) and by SIGKILL (the OOM killer, a CI timeout). bench/interrupt.py adds random points.
KILL_POINTS = (
    ("student", "> step student", "SIGKILL"),
    ("student", "distill (joint)", "SIGINT"),
    ("lower", "> step lower", "SIGINT"),
    ("lower", "> lower: teacher -> executorch", "SIGKILL"),
    ("verify", "> step verify", "SIGKILL"),
    ("verify", "verify student litert", "SIGINT"),
    ("profile", "> step profile", "SIGINT"),
    ("profile", "> profile: artifacts/teacher/model.pte", "SIGKILL"),
)


def test_build_interrupted_at_several_points_per_step_resumes_to_identical_artifacts(built, tmp_path, monkeypatch):
    """Also the determinism check: in a fresh user cache every step, the teacher's fine-tune and
    every lowering run again, and the artifacts must equal the reference build's byte for byte."""
    import sys

    from tests.interrupting import (
        damaged_outputs,
        exited_as_interrupted,
        hidden_entries,
        interrupt_build,
        recorded_steps,
    )

    ref_out, args, _ = built
    monkeypatch.setenv("EDGESDK_CACHE_DIR", str(tmp_path / "fresh_cache"))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "edgesdk.cli", *map(str, args[:-1]), str(out)]
    for step, marker, sig in KILL_POINTS:
        where = f"{sig} at '{marker}'"
        finished = recorded_steps(out)
        run = interrupt_build(cmd, marker, getattr(signal, sig))
        assert run.signalled, f"the build ended before {where}: {run.stderr[-1500:]}"
        assert exited_as_interrupted(getattr(signal, sig), run), (where, run.returncode, run.stderr[-1500:])
        assert not (out / "report.json").exists()
        steps = recorded_steps(out)
        assert step not in steps, f"{step} recorded as done after {where}"
        assert set(finished) <= set(steps), f"{where} lost finished steps {set(finished) - set(steps)}"
        assert not damaged_outputs(out, steps), f"after {where}: {damaged_outputs(out, steps)}"
    resumed = run_cli(*args[:-1], out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "cached steps: data, teacher, student, lower, verify" in resumed.stdout
    hashes = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert hashes and all(sha256_file(ref_out / rel) == digest for rel, digest in hashes.items())
    assert not hidden_entries(out), f"temp files were left behind: {hidden_entries(out)}"


# Ctrl-C must end `edgesdk` and `python -m edgesdk.cli` alike: exit 130, one line. The command
# reads its texts from a named pipe and is signalled while it waits, so no build is needed.
@pytest.mark.parametrize("entry", ["edgesdk", "python -m edgesdk.cli"])
def test_ctrl_c_exits_130_with_one_line_from_either_entry_point(tmp_path, entry):
    import os
    import sys

    from tests.interrupting import exited_as_interrupted, interrupt_while_reading

    fifo = tmp_path / "texts.tsv"
    os.mkfifo(fifo)
    launcher = [str(Path(sys.executable).parent / "edgesdk")] if entry == "edgesdk" else [sys.executable, "-m", "edgesdk.cli"]
    run = interrupt_while_reading([*launcher, "profile", str(tmp_path / "model.tflite"), "--data", str(fifo)], fifo)
    assert run.signalled, run.stderr[-1500:]
    assert exited_as_interrupted(signal.SIGINT, run), (run.returncode, run.stderr[-1500:])


INTERRUPTED_IN_EXEC = """\
from edgesdk.cli import exit_interrupted

try:  # a real SIGINT, landing in code run from a string, as dataclasses and typing run theirs
    exec("import os, signal, time\\nos.kill(os.getpid(), signal.SIGINT)\\ntime.sleep(60)")
except KeyboardInterrupt:
    exit_interrupted()  # what main() does with it
"""


def test_ctrl_c_that_passed_through_exec_code_still_exits_130_under_python_m(tmp_path):
    """CPython kills a `python -m` run by SIGINT at exit when the last exec of a string ended in
    KeyboardInterrupt, whatever sys.exit said: why `python -m edgesdk.cli` sometimes ended -2."""
    import subprocess
    import sys

    (tmp_path / "interrupted_in_exec.py").write_text(INTERRUPTED_IN_EXEC)
    proc = subprocess.run(
        [sys.executable, "-m", "interrupted_in_exec"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.stderr.splitlines() == ["interrupted: finished steps are kept; run the same command to resume"]


def _rebuild_for(built, target: str, tmp_path: Path):
    """A copy of the `built` build built again with another --target: (build dir, process, report)."""
    out, changed = _copy_of(built, tmp_path)
    changed[changed.index("host")] = target
    proc = run_cli(*changed)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc, json.loads((out / "report.json").read_text())


def test_android_target_builds_verified_artifacts_profiled_on_host(built, tmp_path):
    out, proc, report = _rebuild_for(built, "android", tmp_path)
    assert "cached steps: data, teacher, student, lower, verify" in proc.stdout  # only profiling re-runs
    assert report["target"] == "android-arm64"
    assert {a["profiled_on"] for a in report["artifacts"]} == {"host"}
    assert {a["profile"]["method"] for a in report["artifacts"]} == {"measured"}
    assert "profile: no Android device attached" in proc.stderr.replace("\n", "")
    fit = report["fit"]  # phones have RAM budgets and no flash budget
    assert fit["ok"] and fit["budgets"] == {"flash_bytes": None, "ram_bytes": 4294967296}
    assert all(r["ram_bytes"] > 0 and r["fits"] for r in fit["artifacts"])
    assert "## Fit on android-arm64: fits" in (out / "report.md").read_text()
    package = report["package"]  # the Gradle project, its Kotlin core checked on the JVM here
    assert package["kind"] == "android" and package["path"] == "package/android"
    kotlin = package["checks"]["kotlin_jvm"]
    assert kotlin["ok"] and kotlin["ran"] and kotlin["tokens"]["matched"] == kotlin["tokens"]["total"] == 100
    assert (out / package["path"] / "settings.gradle.kts").is_file()


def test_raspberry_pi_target_writes_a_checked_linux_package(built, sst2_slice, tmp_path):
    out, proc, report = _rebuild_for(built, "raspberry-pi-5", tmp_path)
    package = report["package"]
    assert package["kind"] == "linux" and package["path"] == "package/linux"
    assert package["checks"]["classify"] == {"ok": True, "texts": 100, "labels_match": 100}
    assert (out / package["path"] / package["artifact"].split("/")[-1]).is_file()
    assert f"linux package: {out / 'package' / 'linux'}" in proc.stdout.replace("\n", "")
    assert "## Package: linux at `package/linux`" in (out / "report.md").read_text()
    (out / package["path"] / "README.md").unlink()  # `edgesdk package` writes and checks it again
    again = run_cli("package", out, "--data", sst2_slice[1])
    assert again.returncode == 0, again.stderr[-2000:]
    assert "checks: classify ok" in again.stdout and (out / package["path"] / "README.md").is_file()


def _build_process(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, out, preexec_fn=None):
    import subprocess
    import sys

    train, dev = sst2_slice
    args = ["build", "--target", "host", "--recipe", tiny_recipe, "--train", train, "--dev", dev]
    cmd = [sys.executable, "-m", "edgesdk.cli", *map(str, args), "--teacher", str(tiny_teacher), "--out", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, preexec_fn=preexec_fn, timeout=900)


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path, tiny_teacher, sst2_slice, tiny_recipe):
    import resource

    def small_disk():  # writes past 200 KB fail (EFBIG), as they would on a full disk (ENOSPC)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    out = tmp_path / "out"
    proc = _build_process(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, out, preexec_fn=small_disk)
    assert_one_line_error(proc, "cannot write", "free disk space")
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name], "a partial file was left"


def test_a_read_only_output_dir_is_one_line(tmp_path, tiny_teacher, sst2_slice, tiny_recipe):
    with read_only_dir(tmp_path / "ro") as ro:
        proc = _build_process(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, ro / "out")
        assert_one_line_error(proc, "cannot write", str(ro / "out"))


def test_a_word_table_too_big_for_the_board_fails_before_training(tmp_path, tiny_teacher, sst2_slice, tiny_recipe):
    board = tmp_path / "board.yaml"
    board.write_text(
        "id: tiny-board\nfamily: linux\ndescription: a board with little flash\ncpu: A53\n"
        "flash_bytes: 600000\nram_bytes: 4000000\nruntimes: [litert]\n"
    )
    proc = _build_with(tmp_path, tiny_teacher, sst2_slice, tiny_recipe, **{"--target": str(board)})
    # 30,522 tokens x the tiny student's 16 wide table = 488,352 B at int8, before any layer
    assert_one_line_error(proc, "tiny-board has 600,000 B flash", "at least 488,352 B", "prune.vocab: train")
    assert not (tmp_path / "out").exists()


def test_a_model_too_big_for_an_mcu_after_the_vocabulary_cut_fails_before_training(
    tmp_path, tiny_teacher, sst2_slice, tiny_recipe
):
    """Issue 31: a cut vocabulary used to skip the preflight, so a target that could not hold
    the model was found only after training, lowering and profiling. The floor counts the cut
    table, the layers at the recipe's precision, runtime code and the on-device token strings."""
    board = tmp_path / "mcu.yaml"
    board.write_text(
        "id: small-mcu\nfamily: mcu\ndescription: an MCU with little flash\ncpu: Cortex-M4\n"
        "flash_bytes: 120000\nram_bytes: 128000\nruntimes: [tflm]\n"
    )
    recipe = tmp_path / "r.yaml"
    text = Path(tiny_recipe).read_text().replace("export: {seq_len: 32}", "export: {seq_len: 32, runtimes: [tflm]}")
    recipe.write_text(text.replace("quantize: {precisions: [fp32]}", "quantize: {precisions: [int8]}\nprune: {vocab: train}"))
    proc = _build_with(tmp_path, tiny_teacher, sst2_slice, recipe, **{"--target": str(board)})
    assert_one_line_error(
        proc, "small-mcu has 120,000 B flash", "needs at least", "x 16 at int8", "runtime code ~110,000 B",
        "token strings for the on-device tokenizer", "prune.vocab_max_size",
    )
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "change, reruns, why",
    [
        ("profile: {repetitions: 7, warmup: 1}", ["profile", "fit"], ["profile", "profile"]),
        ("verify: {max_accuracy_drop: 0.02, min_agreement: 0.9}", ["verify"], ["verify"]),
    ],
)
def test_a_changed_input_reruns_exactly_the_steps_it_affects(built, tmp_path, change, reruns, why):
    ref_out, args, _ = built
    out, _ = _copy_of(built, tmp_path)
    assert not (out / "package").exists() and json.loads((out / "report.json").read_text())["package"] == {}
    recipe = tmp_path / "changed.yaml"
    key = change.split(":")[0]
    lines = [ln for ln in Path(args[args.index("--recipe") + 1]).read_text().splitlines() if not ln.startswith(key + ":")]
    recipe.write_text("\n".join(lines + [change]) + "\n")
    changed = list(args[:-1]) + [out]
    changed[changed.index("--recipe") + 1] = recipe
    proc = run_cli(*changed)
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = ("data", "teacher", "student", "lower", "verify", "profile", "fit")
    cached = [s for s in steps if s not in reruns]
    assert f"cached steps: {', '.join(cached)}" in proc.stdout, proc.stdout[-800:]
    said = " ".join((proc.stdout + proc.stderr).split())  # a narrow console wraps lines
    for step, part in zip(reruns, why):  # each re-run names the input that changed
        assert f"step {step}: running again (changed: {part})" in said, said[-1500:]
    hashes = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert hashes and all(sha256_file(ref_out / rel) == digest for rel, digest in hashes.items())
