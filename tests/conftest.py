"""Shared fixtures: a tiny random BERT teacher, SST-2 slices, a fast recipe, a CLI runner.

Everything is real: the teacher is a real HF checkpoint written by save_pretrained (random
weights, real MiniLM WordPiece tokenizer), the data are real SST-2 rows from the bundled
demo files, and the CLI runs as a subprocess.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


def _share_cores_among_workers() -> None:
    """pytest-xdist runs N workers side by side, and each starts builds that give torch a thread
    per core: N x cores spinning OpenMP threads on `cores` cores wait on each other (two
    training processes side by side ran several times slower than one after the other here).
    Each worker, and every process it starts, gets cores // N threads, as edgesdk shares cores
    among torchrun's processes (edgesdk/train.py). Set before torch is imported."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // workers))


_share_cores_among_workers()


def every_core_env() -> dict:
    """This process's environment without the per-worker thread limit above, for a child that
    must see every core: the --nproc preflight and torch's default count them through it."""
    return {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}

from edgesdk.task import demo_data_paths  # noqa: E402 - after the thread limit is set
from tests.helpers import save_tiny_bert  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

TINY_RECIPE = """\
name: tiny
teacher: {epochs: 2, batch_size: 16, learning_rate: 1.0e-3, max_length: 32}
student: {layers: 1, hidden: 16, heads: 2, ffn: 32}
distill: {epochs: 1, batch_size: 16, max_length: 32, losses: {kd: 1.0, hidden: 1.0, attention: 1.0, minilm: 1.0, embedding: 1.0}, relation_heads: 2}
export: {seq_len: 32}
quantize: {precisions: [fp32]}
verify: {max_accuracy_drop: 0.01, min_agreement: 0.95}
profile: {repetitions: 20, warmup: 2, retime_rounds: 3}
"""


def sst2_rows(split: str, n: int) -> list[str]:
    train, dev = demo_data_paths()
    lines = gzip.decompress((train if split == "train" else dev).read_bytes()).decode().splitlines()
    return lines[: n + 1]  # header + n rows


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_teacher"))


@pytest.fixture(scope="session")
def sst2_slice(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("sst2")
    (d / "train.tsv").write_text("\n".join(sst2_rows("train", 300)) + "\n")
    (d / "dev.tsv").write_text("\n".join(sst2_rows("dev", 100)) + "\n")
    return d / "train.tsv", d / "dev.tsv"


@pytest.fixture(scope="session")
def tiny_recipe(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "tiny.yaml"
    path.write_text(TINY_RECIPE)
    return path


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """One fresh cache for the whole run, shared by the pytest-xdist workers (their base temp
    dirs are siblings): the TFLM library is compiled once (~3 min) and a teacher fine-tuned
    once, as for a user whose builds share ~/.cache/edgesdk. The cache's writers are safe for
    that (file locks, first-writer-wins publishing; edgesdk/fsutil.py)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache = root / "edgesdk_cache"
    cache.mkdir(exist_ok=True)
    os.environ["EDGESDK_CACHE_DIR"] = str(cache)
    yield


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real `edgesdk` entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "edgesdk.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
        timeout=900,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, no traceback, a single 'error:' line naming the problem."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


@contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """`path` as an existing directory nobody can write into, for the duration. Root writes
    through permission bits, so as root a read-only tmpfs is mounted there instead."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True)
        assert mounted.returncode == 0, f"cannot mount a read-only tmpfs as root: {mounted.stderr!r}"
    else:
        path.chmod(0o555)
    try:
        yield path
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(path)], check=True)
        else:
            path.chmod(0o755)


def assert_eval_matches(artifact: Path, data: Path, accuracy: float) -> None:
    """`edgesdk eval` on a built artifact reports the accuracy the build verified."""
    proc = run_cli("eval", artifact, "--data", data, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["accuracy"] == accuracy


FILE_SECONDS = Path(__file__).resolve().parent / "file_seconds.json"
_FILE_SECONDS_CACHE_KEY = "edgesdk/file_seconds"


def _file_seconds(config) -> dict[str, float]:
    """Seconds each test file took when last measured: this checkout's last run (pytest's
    cache) over the recorded table committed beside this file (a fresh clone's only source)."""
    recorded = json.loads(FILE_SECONDS.read_text()) if FILE_SECONDS.is_file() else {}
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    return {**recorded, **(cache.get(_FILE_SECONDS_CACHE_KEY, {}) if cache else {})}


def pytest_collection_modifyitems(config, items) -> None:
    """Longest files first. A worker takes a whole file (`--dist loadfile`, queued in
    collection order: the Makefile turns xdist's reorder by test count off), so a long file
    taken last leaves the other worker idle while it runs: longest-first keeps the two
    workers' finishing times close. Unmeasured files go last, in collection order."""
    seconds = _file_seconds(config)
    items.sort(key=lambda item: -seconds.get(item.nodeid.split("::")[0], 0.0))  # stable: a file's tests keep their order


def pytest_terminal_summary(terminalreporter, config) -> None:
    """Seconds per test file (setup + call + teardown, summed over its tests): with
    `--dist loadfile` a file is the unit a worker takes, so the longest files bound the
    suite's wall time; this is where to look when `make test` gets slow. Kept in pytest's
    cache for the next run's order (tests/file_seconds.json is a copy of a whole run's)."""
    per_file: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if hasattr(report, "duration") and hasattr(report, "nodeid") and report.nodeid:
                name = report.nodeid.split("::")[0]
                per_file[name] = per_file.get(name, 0.0) + report.duration
    if not per_file:
        return
    cache = getattr(config, "cache", None)
    if cache:
        rounded = {name: round(s, 1) for name, s in per_file.items()}
        cache.set(_FILE_SECONDS_CACHE_KEY, {**cache.get(_FILE_SECONDS_CACHE_KEY, {}), **rounded})
    terminalreporter.write_sep("=", f"slowest test files (of {len(per_file)}; {sum(per_file.values()):.0f} s in all)")
    for name, seconds in sorted(per_file.items(), key=lambda kv: -kv[1])[:15]:
        terminalreporter.write_line(f"{seconds:8.1f}s {name}")
