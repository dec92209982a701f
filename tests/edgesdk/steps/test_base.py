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


def test_options_added_later_stay_out_of_keys_until_set():
    from edgesdk.recipe import Recipe
    from edgesdk.steps.base import section

    def dump(name: str, recipe: Recipe) -> dict:
        return section(name).resolve(SimpleNamespace(recipe=recipe))

    plain = Recipe()
    assert "quant_noise" not in dump("distill", plain) and "low_rank" not in dump("prune", plain)
    noisy = Recipe.model_validate({"distill": {"quant_noise": {"rate": 0.1}}, "prune": {"low_rank": 0.5}})
    assert dump("distill", noisy)["quant_noise"] == {"rate": 0.1, "bits": 8, "block_size": 8}
    assert dump("prune", noisy)["low_rank"] == 0.5
    assert dump("distill", noisy) != dump("distill", plain)
    assert "word_rows" not in dump("student", plain) and "retime_rounds" not in dump("profile", plain)
    shared = Recipe.model_validate({"student": {"word_rows": 512, "word_table": "hash"}, "profile": {"retime_rounds": 1}})
    assert dump("student", shared)["word_rows"] == 512 and dump("student", shared)["word_table"] == "hash"
    assert dump("profile", shared)["retime_rounds"] == 1
