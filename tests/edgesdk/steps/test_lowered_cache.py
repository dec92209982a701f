"""Lowered fp32 artifacts in the user cache: read back for the same model, keyed by what the
bytes depend on, and a damaged entry lowered again (edgesdk/steps/lowered_cache.py)."""

import hashlib
import json

from edgesdk.models.registry import WEIGHTS_FILE
from edgesdk.recipe import Recipe
from edgesdk.steps.artifacts import ArtifactSpec
from edgesdk.steps.lower import LoweredModels, lower_bundle
from edgesdk.steps.lowered_cache import DIGEST_FILE, cached_kind, lowered_key, model_digest
from edgesdk.steps.teacher import build_teacher, teacher_key
from tests.edgesdk.steps.test_teacher import CFG, TASK, _checkpoint

SPEC = ArtifactSpec("teacher", "litert", "fp32", "artifacts/teacher/model.tflite")
RECIPE = Recipe.model_validate({"export": {"seq_len": 16, "runtimes": ["litert"]}})


def _model_dir(tmp_path):
    base = _checkpoint(tmp_path, {0: "neg", 1: "pos"})
    out = tmp_path / "teacher"
    build_teacher(base, TASK, CFG, 0, teacher_key(base, "h", CFG, 0, TASK.label_map, len(TASK.train)), out)
    return out


def _lower(tmp_path, model_dir, name: str) -> bytes:
    bundle = tmp_path / name
    lower_bundle(tmp_path, LoweredModels({"teacher": model_dir}), "teacher", bundle, RECIPE, TASK, [SPEC], tmp_path, [])
    return (bundle / "model.tflite").read_bytes()


def test_the_same_model_is_lowered_once_and_a_damaged_entry_again(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESDK_CACHE_DIR", str(tmp_path / "cache"))
    model_dir = _model_dir(tmp_path)
    first = _lower(tmp_path, model_dir, "a")
    entry = tmp_path / "cache" / "lowered" / lowered_key(model_digest(model_dir), "litert", 16, RECIPE.seed)
    assert (entry / "model.tflite").read_bytes() == first

    planted = first + b"planted"  # a whole entry with other bytes: what a second build ships is the cache's
    (entry / "model.tflite").write_bytes(planted)
    (entry / DIGEST_FILE).write_text(hashlib.sha256(planted).hexdigest())
    assert _lower(tmp_path, model_dir, "b") == planted

    (entry / "model.tflite").write_bytes(first[:-10])  # damaged (its digest no longer matches)
    assert _lower(tmp_path, model_dir, "c") == first
    assert (entry / "model.tflite").read_bytes() == first  # lowered again and published anew


def test_the_key_follows_the_weights_not_the_training_records(tmp_path):
    model_dir = _model_dir(tmp_path)

    def key(runtime: str = "litert", length: int = 16) -> str:
        return lowered_key(model_digest(model_dir), runtime, length, 0)

    before = key()
    (model_dir / "train.json").write_text(json.dumps({"seconds": 1.23}))  # timings differ run to run
    assert key() == before
    assert len({before, key("executorch"), key(length=32)}) == 3
    weights = (model_dir / WEIGHTS_FILE).read_bytes()
    (model_dir / WEIGHTS_FILE).write_bytes(weights[:-4] + bytes(4))
    assert key() != before


def test_only_the_teachers_fp32_single_graphs_are_kept():
    assert cached_kind("teacher", SPEC)
    assert not cached_kind("student", SPEC)  # new in nearly every build: would only grow the cache
    assert not cached_kind("teacher", ArtifactSpec("teacher", "litert", "int8", "artifacts/teacher/model.int8.tflite"))
    assert not cached_kind("teacher", ArtifactSpec("teacher", "litert", "fp32", "x.staged.tflite", staged=True))
