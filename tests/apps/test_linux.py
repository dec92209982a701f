"""The Linux board package: its classify.py, run as its own process, labels real SST-2 dev
sentences exactly as the build's session does, for a single graph (both runtimes) and for
an early-exit staged artifact (the controller rule re-implemented on the board side)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from edgesdk.apps.packager_registry import PackageRequest, packager_for
from edgesdk.converters import get_backend
from edgesdk.converters.bundle import BundleInfo
from edgesdk.converters.staging import StagedPlan, stage_methods

from edgesdk.compress.exit_heads import ExitHeads
from edgesdk.errors import PackageError
from edgesdk.fsutil import sha256_dir
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.recipe import QuantizeConfig
from edgesdk.task import LabelMap
from edgesdk.tokenizer import Tokenizer
from tests.conftest import sst2_rows
from tests.helpers import int8_stages, median_exit_plan, tiny_encoder

SEQ_LEN = 16
TEXTS = [row.split("\t")[0] for row in sst2_rows("dev", 40)[1:]]


def _bundle(d, labels=("neg", "pos")):
    Tokenizer.from_dir(default_teacher_dir()).save(d)
    BundleInfo(SEQ_LEN, LabelMap(labels)).write(d)


@pytest.fixture(scope="module", params=["executorch", "litert"])
def single(request, tmp_path_factory):
    backend = get_backend(request.param)
    d = tmp_path_factory.mktemp(f"single-{request.param}")
    example = (torch.ones(1, SEQ_LEN, dtype=torch.int32), torch.ones(1, SEQ_LEN, dtype=torch.int32))
    (d / f"model{backend.suffix}").write_bytes(backend.lower(tiny_encoder(seed=3).eval(), example))
    _bundle(d)
    return d / f"model{backend.suffix}"


@pytest.fixture(scope="module", params=["fp32", "int8"])
def staged(request, tmp_path_factory):
    """A 2-layer encoder with one exit after layer 1, buckets 8 and 16, a threshold that
    lets some sentences exit: both controller branches run. int8: full-int8 stages, whose
    hidden state crosses stages as int8 and whose exit logits the controller dequantizes."""
    d = tmp_path_factory.mktemp(f"staged-{request.param}")
    model = tiny_encoder(seed=5, layers=2).eval()
    torch.manual_seed(0)
    heads = ExitHeads(32, 2, 1)
    plan = StagedPlan(buckets=[8, 16], exit_layers=[1], num_layers=2, thresholds=[0.5005], confidence="maxprob")
    backend, tokenizer = get_backend("litert"), Tokenizer.from_dir(default_teacher_dir())
    methods, calibrations, config = stage_methods(model, heads, plan), None, QuantizeConfig(calibration_samples=32)
    if request.param == "int8":
        methods, calibrations = int8_stages(backend, methods, plan, tokenizer, TEXTS[:32], config)
    path = d / ("model.staged.tflite" if request.param == "fp32" else "model.int8.staged.tflite")
    path.write_bytes(backend.lower_methods(methods, request.param, calibrations, config))
    if request.param == "int8":  # a random model's int8 exit is sure or unsure of every sentence at 0.5005
        plan = median_exit_plan(backend.open_methods(path, 1), plan, tokenizer, TEXTS, SEQ_LEN)
    plan.write(d)
    _bundle(d)
    return path


def _package(artifact, dest):
    return packager_for("linux")(PackageRequest(artifact, dest, "demo", check_texts=TEXTS))


def test_classify_matches_the_build_session(single, tmp_path):
    result = _package(single, tmp_path / "pkg")
    assert result.checks["classify"] == {"ok": True, "texts": len(TEXTS), "labels_match": len(TEXTS)}
    assert (tmp_path / "pkg" / single.name).read_bytes() == single.read_bytes()
    reqs = (tmp_path / "pkg" / "requirements.txt").read_text()
    assert "tokenizers==" in reqs and ("executorch==" in reqs) == (single.suffix == ".pte")


def test_staged_package_runs_the_exit_controller(staged, tmp_path):
    result = _package(staged, tmp_path / "pkg")
    assert result.checks["classify"]["ok"], result.checks
    out = subprocess.run(
        [sys.executable, "classify.py", "--json", *TEXTS],
        cwd=tmp_path / "pkg",
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {r["exit_index"] for r in rows} == {0, 1}, "the threshold should let some sentences exit early"
    assert {r["bucket"] for r in rows} <= {8, 16} and all(r["layers"] in (1, 2) for r in rows)


def test_package_is_deterministic_and_replaces_an_old_one(single, tmp_path):
    first = _package(single, tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "stale.txt").write_text("from an older build")
    second = _package(single, tmp_path / "b")
    assert sha256_dir(first.path) == sha256_dir(second.path)
    assert not (tmp_path / "b" / "stale.txt").exists()


def test_missing_artifact_is_one_clear_error(tmp_path):
    with pytest.raises(PackageError, match="missing"):
        _package(tmp_path / "model.tflite", tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()
