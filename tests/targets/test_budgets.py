"""The fit step's choice of the artifact that ships (targets/budgets.py `shipping_choice`)."""

from __future__ import annotations

from edgesdk.targets.budgets import shipping_choice, word_table_rows

from edgesdk.recipe import StudentConfig

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


def test_only_measured_pool_rows_within_the_noise_band_are_timed_again():
    from edgesdk.targets.budgets import CLOSE_LATENCY, close_contenders

    def measured(artifact, mb, ms, kind="measured"):
        return {**fit_row(artifact, mb, ms), "latency_kind": kind}

    near = 1.0 + CLOSE_LATENCY * 0.8
    a, b = measured("x.int8.pte", 10.0, 1.0), measured("x.int8.tflite", 10.2, near)
    far = measured("x.int8.tflite", 10.2, 1.0 + CLOSE_LATENCY * 1.2)
    assert close_contenders([a, b]) == [a, b]
    assert close_contenders([a, far]) == []  # clearly slower: one timing each is enough
    assert close_contenders([a, measured("x.fp32.pte", 40.0, 1.01)]) == []  # not the same size class
    estimated = [measured("m.micro.tflite", 0.3, 200.0, "estimate"), measured("n.micro.tflite", 0.3, 201.0, "estimate")]
    assert close_contenders(estimated) == []  # instruction counts do not jitter
    assert close_contenders([a]) == [] and close_contenders([]) == []


def test_a_retimed_artifact_runs_where_it_was_profiled_and_keeps_its_first_figure(tmp_path):
    from edgesdk.targets.profiler_registry import profiled_on, record_rounds
    from edgesdk.targets.registry import load_target_file

    spec = tmp_path / "my-board.yaml"
    spec.write_text("id: my-board\nfamily: linux\ndescription: custom\ncpu: Cortex-A76\nruntimes: [litert]\n")
    board = load_target_file(spec)  # defined in a file: no registered target has its id
    assert profiled_on({"target": "my-board"}, board) is board
    assert profiled_on({"target": "host"}, board).id == profiled_on({}, board).id == "host"
    row = {"latency_ms_mean": 2.0}
    record_rounds(row, [1.5, 1.2, 9.0, 1.4, 1.3], "latency_ms_profile")
    assert row == {"latency_ms_mean": 1.4, "latency_ms_profile": 2.0, "latency_ms_rounds": [1.5, 1.2, 9.0, 1.4, 1.3]}


def test_the_flash_floor_counts_the_rows_each_word_table_ships():

    assert word_table_rows(StudentConfig(family="cnn"), 6000) == 6000
    assert word_table_rows(StudentConfig(family="cnn", word_rows=512), 6000) == 512
    assert word_table_rows(StudentConfig(family="cnn", word_rows=512), 300) == 300
    assert word_table_rows(StudentConfig(family="cnn", word_rows=128, word_table="qr"), 4000) == 64 + 63
