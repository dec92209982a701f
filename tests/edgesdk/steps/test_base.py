"""Step declarations (edgesdk/steps/base.py): keys derived from the declared inputs in order,
inactive upstreams as None, and the training device left out of keys at its default."""

from __future__ import annotations

from types import SimpleNamespace

from edgesdk.devices import CPU, TrainDevice
from edgesdk.manifest import Manifest, StepKey
from edgesdk.steps.base import DATA, TRAIN, Step, Upstream, fixed


def _build(device: TrainDevice):
    return SimpleNamespace(data_hash="d1", device=device)


STEP = Step("x", (Upstream("teacher"), DATA, TRAIN), fixed("x"), lambda ctx: None)


def test_the_key_is_the_declared_inputs_in_order_and_a_default_device_is_left_out(tmp_path):
    manifest = Manifest(tmp_path, steps={"teacher": {"outputs": {"teacher": "h"}}})
    key, provided = STEP.resolve(_build(CPU), manifest, {"teacher"})
    assert key == StepKey.of(teacher=manifest.output_hash("teacher"), data="d1")  # as before devices existed
    assert provided == {"teacher": "teacher"}
    gpu, _ = STEP.resolve(_build(TrainDevice("cuda", "bf16")), manifest, {"teacher"})
    assert gpu.key != key and gpu.parts["train"] != key.parts.get("train")


def test_an_upstream_not_run_in_this_build_enters_the_key_as_none(tmp_path):
    key, provided = STEP.resolve(_build(CPU), Manifest(tmp_path), set())
    assert key == StepKey.of(teacher=None, data="d1") and provided == {}
