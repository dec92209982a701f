"""The app's Kotlin exit controller decides exactly as converters/controller.py: on the golden
stage logits of a real staged artifact, and on recorded logits with thresholds placed exactly
on the boundary, in both confidence modes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgesdk.apps.assets import exits_properties, labels_properties
from edgesdk.apps.jvm_check import records_tsv, run_jvm_check
from edgesdk.converters.controller import ExitController, stops
from edgesdk.converters.staged_plan import StagedPlan, method_name

from edgesdk.exit_rule import confidence, softmax


def kotlin_decisions(jar: Path, plan: StagedPlan, records: list[dict], workdir: Path, labels=("a", "b")) -> list[dict]:
    """records: {"length": n, "stage_logits": [[...], ...]} -> the Kotlin controller's
    {exit_index, label, bucket, methods, confidences} for each."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "exits.properties").write_text(exits_properties(plan), encoding="ascii")
    (workdir / "labels.properties").write_text(labels_properties(labels), encoding="ascii")
    (workdir / "records.tsv").write_text(records_tsv(records), encoding="ascii")
    out = []
    for line in run_jvm_check(jar, "controller", workdir, workdir / "records.tsv"):
        exit_index, label, bucket, methods, confidences = line.split(" ")
        out.append(
            {
                "exit_index": int(exit_index),
                "label": int(label),
                "bucket": int(bucket),
                "methods": methods.split(","),
                "confidences": [float(c) for c in confidences.split(",")],
            }
        )
    return out


def python_decision(plan: StagedPlan, record: dict) -> dict:
    """The rule of edgesdk.converters.controller, applied to recorded logits."""
    stage = next(k for k, logits in enumerate(record["stage_logits"]) if stops(plan, k, np.asarray(logits)))
    logits = np.asarray(record["stage_logits"][stage], dtype=np.float64)
    bucket = ExitController(None, plan).bucket_for(record["length"])
    return {
        "exit_index": stage,
        "label": int(softmax(logits[None])[0].argmax()),
        "bucket": bucket,
        "methods": [method_name(bucket, k) for k in range(stage + 1)],
    }


def python_confidence(plan: StagedPlan, logits) -> float:
    return float(confidence(softmax(np.asarray(logits, dtype=np.float64)[None]), plan.confidence)[0])


def test_golden_decisions_of_a_real_staged_artifact(staged_bundle, jvm_jar, tmp_path):
    golden = json.loads((staged_bundle.parent / "golden_exits.litert.json").read_text())
    plan = StagedPlan(**golden["plan"])
    records = [{"length": len(r["ids"]), "stage_logits": r["stage_logits"]} for r in golden["inputs"]]
    kotlin = kotlin_decisions(jvm_jar, plan, records, tmp_path)
    assert len(kotlin) == len(records) == 48
    for k, g, r in zip(kotlin, golden["inputs"], records):
        assert (k["exit_index"], k["label"], k["bucket"]) == (g["exit_index"], g["label"], g["bucket"])
        assert k["methods"] == python_decision(plan, r)["methods"]
    assert {g["exit_index"] for g in golden["inputs"]} == {0, 1}, "the fixture should exercise both exits"
    assert {g["bucket"] for g in golden["inputs"]} == {16, 32}


def random_records(rng, classes: int, stages: int, n: int) -> list[dict]:
    scale = rng.uniform(0.1, 6.0, size=(n, 1, 1))
    logits = (rng.standard_normal((n, stages, classes)) * scale).astype(np.float32)
    lengths = rng.integers(1, 90, size=n)
    return [{"length": int(lengths[i]), "stage_logits": logits[i].tolist()} for i in range(n)]


# Kotlin's Math.exp/log and numpy's may round differently in the last bit (so may Android's
# libm), so a confidence computed in both agrees to a few ulps, not always bit for bit. Decisions
# must agree wherever the confidence is further than that from the threshold.
ULPS = 1e-14


@pytest.mark.parametrize("mode", ["maxprob", "entropy"])
@pytest.mark.parametrize("classes", [2, 77])
def test_thresholds_at_and_next_to_a_confidence_agree(mode, classes, jvm_jar, tmp_path):
    """Each exit's threshold is set to the exact confidence of one record at that exit, then
    to the next double above it: every decision outside rounding distance of a threshold must
    match Python's, and every confidence must match numpy's to a few ulps."""
    rng = np.random.default_rng(classes)
    records = random_records(rng, classes, stages=4, n=150)
    probe = StagedPlan([16, 32, 64], [1, 2, 3], 4, [2.0, 2.0, 2.0], mode)
    at = [python_confidence(probe, records[k]["stage_logits"][k]) for k in range(3)]
    for name, thresholds in {"at": at, "above": [float(np.nextafter(t, 2.0)) for t in at]}.items():
        plan = StagedPlan([16, 32, 64], [1, 2, 3], 4, thresholds, mode)
        kotlin = kotlin_decisions(jvm_jar, plan, records, tmp_path / name)
        assert len(kotlin) == len(records)
        near = 0
        for k, r in zip(kotlin, records):
            python = [python_confidence(plan, s) for s in r["stage_logits"]]
            assert np.allclose(k["confidences"], python[: len(k["confidences"])], rtol=0, atol=ULPS)
            if min(abs(c - t) for c, t in zip(python, thresholds)) <= ULPS:
                near += 1
                continue
            expected = python_decision(plan, r)
            assert {key: k[key] for key in expected} == expected
        assert near <= 3  # only the records the thresholds were taken from


@pytest.mark.parametrize(
    "mode, logits, threshold, exit_index",
    [
        ("maxprob", [0.0, 0.0], 0.5, 0),  # confidence exactly 0.5
        ("maxprob", [0.0, 0.0], float(np.nextafter(0.5, 1.0)), 1),
        ("maxprob", [100.0, 0.0], 1.0, 0),  # confidence rounds to exactly 1.0
        ("entropy", [3.0, 3.0], 0.0, 0),  # uniform: normalised entropy exactly 1, confidence 0
        ("entropy", [3.0, 3.0], 5e-324, 1),
        ("maxprob", [5.0, 0.0], 2.0, 1),  # 2.0 = never exit
    ],
)
def test_exact_boundaries(mode, logits, threshold, exit_index, jvm_jar, tmp_path):
    plan = StagedPlan([8], [1], 2, [threshold], mode)
    record = {"length": 3, "stage_logits": [logits, [0.0, 1.0, 0.0][: len(logits)]]}
    assert python_decision(plan, record)["exit_index"] == exit_index
    assert kotlin_decisions(jvm_jar, plan, [record], tmp_path)[0]["exit_index"] == exit_index
