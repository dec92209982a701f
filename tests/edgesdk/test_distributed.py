"""Data-parallel builds under torchrun with 2 CPU processes (gloo), through the real CLI:
`edgesdk build --nproc 2` against the same build in one process, a killed rank, and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import TINY_RECIPE, assert_one_line_error, every_core_env, run_cli
from tests.edgesdk.test_build_quantized import build_args

# Lean: one runtime, no teacher artifacts, few profile runs; training is what is under test.
LEAN = TINY_RECIPE.replace(
    "export: {seq_len: 32}", "export: {seq_len: 32, runtimes: [litert], teacher: false}"
).replace("profile: {repetitions: 20, warmup: 2, retime_rounds: 3}", "profile: {repetitions: 3, warmup: 1, retime_rounds: 3}")


def lean_recipe(tmp_path: Path, text: str = LEAN) -> Path:
    assert text != TINY_RECIPE and "repetitions: 3" in text
    path = tmp_path / "lean.yaml"
    path.write_text(text)
    return path


def files(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and "logs" not in p.parts}


def test_two_processes_train_like_one_and_only_rank_0_writes(tmp_path, tiny_teacher, sst2_slice):
    recipe = lean_recipe(tmp_path)
    scratch = tmp_path / "tmp"  # where rank 1 keeps its copies of the training outputs
    scratch.mkdir()
    env = {**every_core_env(), "TMPDIR": str(scratch)}
    one = run_cli(*build_args(recipe, sst2_slice, tiny_teacher, tmp_path / "one"))
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgesdk.cli",
            *map(str, build_args(recipe, sst2_slice, tiny_teacher, tmp_path / "two")),
            "--nproc",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-3000:]  # every artifact verified in its runtime
    r1, r2 = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("one", "two"))
    assert r1["train"]["world_size"] == 1 and r2["train"]["world_size"] == 2
    # Same global batches, so the same number of optimizer steps; the loss and the (chance-level
    # tiny) models' accuracies within a stated tolerance: 0.15 loss, 10 points.
    assert r1["teacher"]["steps"] == r2["teacher"]["steps"] > 0
    assert abs(r1["teacher"]["final_loss"] - r2["teacher"]["final_loss"]) < 0.15
    s1, s2 = r1["student"]["distill"]["stages"][0], r2["student"]["distill"]["stages"][0]
    assert s1["steps"] == s2["steps"] and abs(s1["final_loss"] - s2["final_loss"]) < 0.15 * max(1.0, s1["final_loss"])
    assert abs(r1["student"]["accuracy"] - r2["student"]["accuracy"]) <= 0.10
    assert files(tmp_path / "one") == files(tmp_path / "two")  # the same build dir, written once
    assert not [p for p in scratch.iterdir() if p.name.startswith("edgesdk-rank")]  # rank 1's scratch is gone


def test_a_killed_rank_is_one_line_and_the_build_resumes(tmp_path, tiny_teacher, sst2_slice):
    # a teacher that trains long enough to be killed mid-way
    recipe = lean_recipe(tmp_path, LEAN.replace("teacher: {epochs: 2,", "teacher: {epochs: 12,"))
    args = [
        sys.executable,
        "-m",
        "edgesdk.cli",
        *map(str, build_args(recipe, sst2_slice, tiny_teacher, tmp_path / "b")),
        "--nproc",
        "2",
    ]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=every_core_env())
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "fine-tune teacher" in line:
            break
    killed = kill_rank(1)
    rest = proc.stderr.read()
    proc.wait(timeout=300)
    assert killed, "".join(seen)[-2000:]
    assert_one_line_error(
        subprocess.CompletedProcess(args, proc.returncode, proc.stdout.read(), "".join(seen) + rest),
        "training process rank 1 was killed by SIGKILL",
        "run the same command to resume",
    )
    again = subprocess.run(args, capture_output=True, text=True, timeout=900, env=every_core_env())
    assert again.returncode == 0, again.stderr[-3000:]
    assert "cached steps: data" in again.stdout


def kill_rank(rank: int) -> bool:
    """SIGKILL the torchrun worker with RANK=`rank` (found by its environment)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if (
                f"RANK={rank}".encode() in environ
                and b"edgesdk.cli" in cmdline
                and b"torch.distributed.run" not in cmdline
            ):
                os.kill(pid, signal.SIGKILL)
                return True
        time.sleep(0.2)
    return False


def test_more_processes_than_cores_is_one_line_and_writes_nothing(tmp_path, tiny_teacher, sst2_slice, tiny_recipe):
    proc = run_cli(*build_args(tiny_recipe, sst2_slice, tiny_teacher, tmp_path / "b"), "--nproc", "64")
    assert_one_line_error(proc, "--nproc 64 is more processes than this machine's", "cores")
    assert not (tmp_path / "b").exists()
