"""An early-exit build through the real CLI: heads trained and calibrated, staged artifacts
(a method/signature per bucket and stage in ExecuTorch and LiteRT, a packed flatbuffer per
stage for TFLite Micro), run by the controller."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import TINY_RECIPE, assert_eval_matches, assert_one_line_error, run_cli
from tests.edgesdk.test_build_quantized import build_args

EXITS = "exits: {layers: [1], buckets: [16], calibration_rows: 60, epochs: 2, accuracy_budget: 0.05, budget_confidence: 0.5, max_accuracy_drop: 0.2, min_agreement: 0.2}"  # a chance-level tiny model: exits on a 60-row calibration split move many labels


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_teacher, sst2_slice):
    tmp = tmp_path_factory.mktemp("xbuild")
    text = TINY_RECIPE.replace(
        "student: {layers: 1, hidden: 16, heads: 2, ffn: 32}",
        "student: {layers: 2, hidden: 32, heads: 2, ffn: 64, layer_init: none, learned_vocab: 1000}",
    )
    text = text.replace(
        "export: {seq_len: 32}", "export: {seq_len: 32, teacher: false, runtimes: [executorch, litert, tflm]}"
    )
    text = text.replace(
        "losses: {kd: 1.0, hidden: 1.0, attention: 1.0, minilm: 1.0, embedding: 1.0}", "losses: {kd: 1.0, ce: 1.0}"
    )
    text = text.replace(
        "quantize: {precisions: [fp32]}",
        "quantize: {precisions: [fp32, int8], calibration_samples: 32, max_accuracy_drop: 0.2, min_agreement: 0.6}\n"
        + EXITS,
    )
    assert EXITS in text and "learned_vocab: 1000" in text and "teacher: false" in text
    (tmp / "x.yaml").write_text(text)
    proc = run_cli(*build_args(str(tmp / "x.yaml"), sst2_slice, tiny_teacher, tmp / "b"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "b", json.loads((tmp / "b" / "report.json").read_text())


def test_staged_artifacts_are_built_verified_and_reported(built):
    out, report = built
    staged = [a for a in report["artifacts"] if a.get("staged")]
    assert {(a["runtime"], a["precision"]) for a in staged} == {
        *((r, p) for r in ("executorch", "litert") for p in ("fp32", "int8")),
        ("tflm", "int8"),  # a flatbuffer per stage, packed (converters/tflm_staged.py)
    }
    assert all(a["stages"] == 2 and a["buckets"] == [16, 32] for a in staged)
    e = report["exits"]
    assert e["exit_layers"] == [1, 2] and sum(e["exit_histogram"]) == report["data"]["dev"]["rows"]
    assert 0 < e["avg_layers_fraction"] <= 1 and len(e["thresholds"]) == 1
    for stats in e["artifacts"].values():  # exact in fp32; quantized stages calibrate on their own
        assert stats["no_exit_agreement_with_single_graph"] >= (1.0 if stats["precision"] == "fp32" else 0.6)
    assert sum(e["bucket_usage"].values()) == report["data"]["dev"]["rows"] and e["bucket_usage"]["16"] > 0
    assert (out / "artifacts" / "exits.json").exists()
    # the student's own vocabulary (student.learned_vocab) ships beside every artifact
    pieces = report["student"]["distill"]["learned_vocab"]["pieces"]
    shipped = json.loads((out / "artifacts" / "tokenizer.json").read_text())["model"]["vocab"]
    assert 100 < pieces <= 1000 and report["student"]["config"]["vocab_size"] == pieces
    assert len(shipped) == pieces and shipped["[PAD]"] == 0
    assert "## Early exit" in (out / "report.md").read_text()
    assert (out / report["plots"]["exits"]).is_file()  # the exit histogram beside that section


def test_eval_runs_a_staged_artifact_through_the_controller(built, sst2_slice):
    out, report = built
    row = next(a for a in report["artifacts"] if a.get("staged") and a["runtime"] == "executorch")
    assert_eval_matches(out / row["path"], sst2_slice[1], row["accuracy"])


def test_golden_decisions_are_stable_and_follow_the_exit_rule(built):
    from edgesdk.converters import get_backend
    from edgesdk.converters.controller import ExitController, stops
    from edgesdk.converters.staged_plan import StagedPlan

    out, _ = built
    plan = StagedPlan.read(out / "artifacts")
    for runtime, suffix, precision in (
        ("executorch", ".pte", ""),
        ("litert", ".tflite", ""),
        ("litert", ".tflite", ".int8"),
        ("tflm", ".micro.tflite", ".int8"),
    ):
        golden = json.loads((out / "artifacts" / f"golden_exits.{runtime}{precision}.json").read_text())
        assert len(golden["inputs"]) == 32 and golden["plan"]["thresholds"] == plan.thresholds
        backend = get_backend(runtime)
        controller = ExitController(
            backend.open_methods(out / "artifacts" / f"model{precision}.staged{suffix}", 1), plan
        )
        for record in golden["inputs"]:
            ids = np.zeros((1, 32), dtype=np.int32)
            mask = np.zeros((1, 32), dtype=np.int32)
            ids[0, : len(record["ids"])] = record["ids"]
            mask[0, : len(record["ids"])] = 1
            decision = controller.run_ids(ids, mask)  # the artifact again, from the recorded ids
            assert (decision.exit_index, decision.label, decision.bucket) == (
                record["exit_index"],
                record["label"],
                record["bucket"],
            )
            # The exit rule alone, fed the recorded stage outputs, reaches the same exit.
            first = next(s for s, logits in enumerate(record["stage_logits"]) if stops(plan, s, np.array(logits)))
            assert first == record["exit_index"]


@pytest.mark.parametrize("damage, needle", [("missing", "has no exits.json"), ("corrupt", "exits.json is corrupt")])
def test_a_staged_artifact_without_a_sound_exit_plan_is_one_line(built, tmp_path, sst2_slice, damage, needle):
    out, _ = built
    for f in (out / "artifacts").iterdir():
        if f.is_file():
            (tmp_path / f.name).write_bytes(f.read_bytes())
    plan = tmp_path / "exits.json"
    if damage == "missing":
        plan.unlink()
    else:
        plan.write_text('{"buckets": [16], "thresholds": "high"}')
    assert_one_line_error(run_cli("eval", tmp_path / "model.staged.pte", "--data", sst2_slice[1]), needle)


def test_quantized_stages_hand_the_exit_rule_dequantized_logits(built, sst2_slice):
    """Full-int8 stages output int8 logits; the exit rule must see them dequantized (as the
    single-graph sessions and the Kotlin backend do), near the fp32 stages' logits, not raw
    int8 values (tens to -128) whose softmax is ~1 for any sentence."""
    from edgesdk.converters import get_backend
    from edgesdk.converters.controller import ExitController
    from edgesdk.converters.staged_plan import StagedPlan

    from edgesdk.tokenizer import load_artifact_tokenizer

    out, _ = built
    plan = StagedPlan.read(out / "artifacts")
    tokenizer = load_artifact_tokenizer(out / "artifacts")
    lines = sst2_slice[1].read_text().splitlines()[1:5]
    ids, mask = tokenizer.pad(tokenizer.encode([line.split("\t")[0] for line in lines], 32), 32)

    def every_stage(runtime: str, name: str) -> list[np.ndarray]:
        controller = ExitController(get_backend(runtime).open_methods(out / "artifacts" / name, 1), plan)
        rows = [controller.stage_logits(ids[i : i + 1], mask[i : i + 1]) for i in range(len(ids))]
        return [logits for stages in rows for _, _, logits in stages]

    reference = every_stage("litert", "model.staged.tflite")
    for runtime, name in (("litert", "model.int8.staged.tflite"), ("tflm", "model.int8.staged.micro.tflite")):
        for got, want in zip(every_stage(runtime, name), reference, strict=True):
            assert got.dtype == np.float32 and np.abs(got - want).max() < 0.5 + 0.5 * np.abs(want).max(), (got, want)
