"""The fit step's choice of the artifact that ships (targets/budgets.py `shipping_choice`)."""

from __future__ import annotations

from edgesdk.targets.budgets import shipping_choice

MB = 1_000_000


def fit_row(artifact: str, file_mb: float, latency: float | None, runtime_code_mb: float = 2.0) -> dict:
    return {
        "artifact": artifact,
        "file_bytes": int(file_mb * MB),
        "flash_bytes": int((file_mb + runtime_code_mb) * MB),
        "latency_ms_mean": latency,
        "fits": True,
    }


def test_the_faster_runtime_ships_the_same_weights():
    """Issue 27: the int8 .tflite was faster and as small as the int8 .pte, yet the .pte (less
    flash for its runtime's code) shipped."""
    rows = [
        fit_row("artifacts/model.int8-dynamic.pte", 15.69, 1.85, runtime_code_mb=2.0),
        fit_row("artifacts/model.int8-dynamic.tflite", 15.70, 1.50, runtime_code_mb=3.5),
    ]
    assert shipping_choice(rows)["artifact"] == "artifacts/model.int8-dynamic.tflite"


def test_a_faster_but_four_times_larger_file_does_not_ship():
    rows = [fit_row("artifacts/model.tflite", 61.3, 1.2), fit_row("artifacts/model.int8-dynamic.tflite", 15.7, 1.5)]
    assert shipping_choice(rows)["artifact"] == "artifacts/model.int8-dynamic.tflite"


def test_a_staged_artifact_ships_first_and_unmeasured_latency_loses_to_measured():
    staged = fit_row("artifacts/model.staged.int8-dynamic.tflite", 16.0, 3.0)
    rows = [fit_row("artifacts/model.int8-dynamic.tflite", 15.7, 1.5), staged]
    assert shipping_choice(rows) is staged
    unmeasured, measured = fit_row("a/x.pte", 10.0, None), fit_row("a/x.tflite", 10.1, 9.0)
    assert shipping_choice([unmeasured, measured]) is measured
    # Without any latency (a build that skipped profiling) the smaller flash decides.
    assert (
        shipping_choice([fit_row("a/y.tflite", 10.0, None, 3.5), fit_row("a/y.pte", 10.0, None, 2.0)])["artifact"]
        == "a/y.pte"
    )
