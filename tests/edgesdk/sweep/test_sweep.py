"""`edgesdk sweep` end to end on a local Ray: two tiny variants, an interrupted sweep resumed
from its finished variant, the step store shared between variants, and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from edgesdk.recipe import load_recipe
from tests.conftest import assert_one_line_error, run_cli
from tests.edgesdk.test_build_quantized import build_args
from tests.edgesdk.test_distributed import lean_recipe

GRID = "axes:\n  quantize.precisions: [[fp32], [int8-dynamic]]\n"
NAMES = ["precisions=fp32", "precisions=int8-dynamic"]


def sweep_args(recipe, grid, sst2_slice, teacher, out, *extra):
    return ("sweep", *build_args(recipe, sst2_slice, teacher, out)[1:], "--grid", grid, *extra)


def test_an_interrupted_sweep_resumes_from_its_finished_variant(tmp_path, tiny_teacher, sst2_slice):
    recipe, grid, out = lean_recipe(tmp_path), tmp_path / "grid.yaml", tmp_path / "sweep"
    grid.write_text(GRID)
    args = [sys.executable, "-m", "edgesdk.cli", *map(str, sweep_args(recipe, grid, sst2_slice, tiny_teacher, out))]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not list((out / "results").glob("*.json")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # Ctrl-C while the second variant builds
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr[-3000:]
    assert [p.stem for p in (out / "results").glob("*.json")] == [NAMES[0]]
    assert not (out / "sweep.json").exists()
    first_report = out / "variants" / NAMES[0] / "report.json"
    written = first_report.stat().st_mtime_ns

    again = run_cli(*sweep_args(recipe, grid, sst2_slice, tiny_teacher, out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 variants on host: 1 finished before, 1 to build" in again.stderr
    assert first_report.stat().st_mtime_ns == written  # the finished variant was not built again
    sweep = json.loads((out / "sweep.json").read_text())
    rounds = load_recipe(str(recipe)).profile.retime_rounds
    assert rounds % 2 == 1  # an odd count: the median is one of the rounds
    assert [r["name"] for r in sweep["variants"]] == NAMES
    assert all(r["status"] == "fits" for r in sweep["variants"])
    assert sweep["best"] in NAMES and sweep["best"] in sweep["front"]
    assert f"best fitting variant: {sweep['best']}" in again.stdout
    for r in sweep["variants"]:  # accuracy as the build verified it in the runtime; latency taken again
        report = json.loads((out / r["build_dir"] / "report.json").read_text())
        assert r["accuracy"] == report["summary"]["artifact"]["accuracy"]
        assert r["precision"] == r["name"].split("=")[1] and "latency_ms_build" in r
        assert len(r["latency_ms_rounds"]) == rounds and min(r["latency_ms_rounds"]) > 0
        assert r["latency_ms_mean"] == sorted(r["latency_ms_rounds"])[rounds // 2]  # their median
    # The second variant took the first one's teacher and student from the step store.
    steps = json.loads((out / "variants" / NAMES[1] / "manifest.json").read_text())["steps"]
    assert steps["student"].get("restored") == "step store" and steps["teacher"].get("restored") == "step store"
    assert "restored" not in steps["lower"]  # its own precision: lowered here
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG" and "Best fitting variant" in (
        out / "sweep.md"
    ).read_text()


def test_bad_sweep_input_is_one_line_and_writes_nothing(tmp_path, tiny_teacher, sst2_slice):
    recipe, out = lean_recipe(tmp_path), tmp_path / "sweep"
    bad_key, good = tmp_path / "bad.yaml", tmp_path / "grid.yaml"
    bad_key.write_text("axes:\n  student.layerz: [1, 2]\n")
    good.write_text(GRID)
    proc = run_cli(*sweep_args(recipe, bad_key, sst2_slice, tiny_teacher, out))
    assert_one_line_error(proc, "unknown key 'student.layerz'")
    with_closed_port = sweep_args(
        recipe, good, sst2_slice, tiny_teacher, out, "--ray-address", f"127.0.0.1:{free_port()}"
    )
    assert_one_line_error(run_cli(*with_closed_port), "cannot reach the Ray cluster at 127.0.0.1:")
    assert_one_line_error(
        run_cli(*sweep_args(recipe, good, sst2_slice, tiny_teacher, out, "--ray-address", "nohost")), "not host:port"
    )
    not_a_build = sweep_args(recipe, good, sst2_slice, tiny_teacher, out, "--from", tmp_path)
    assert_one_line_error(run_cli(*not_a_build), "is not an edgesdk build dir")
    missing = sweep_args(recipe, tmp_path / "none.yaml", sst2_slice, tiny_teacher, out)
    assert_one_line_error(run_cli(*missing), "grid file", "not found")
    assert not out.exists()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the test connects: nothing listens there
