"""A quantized build through the real CLI: every precision in every runtime, the layer
report, and the quantization gate stopping a build."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TINY_RECIPE, assert_eval_matches, assert_one_line_error, run_cli

EXPECTED = {
    ("executorch", "fp32"),
    ("executorch", "int8"),
    ("executorch", "int8-dynamic"),
    ("executorch", "int4w"),
    ("litert", "fp32"),
    ("litert", "int8"),
    ("litert", "int8-dynamic"),
    ("tflm", "int8"),
    ("executorch", "int8-qat"),
    ("litert", "int8-qat"),
    ("tflm", "int8-qat"),
}


def quantized_recipe(
    tmp_path,
    gate: str,
    precisions: str = "fp32, int8, int8-dynamic, int4w, int8-qat",
    runtimes: str = "executorch, litert, tflm",
) -> str:
    path = tmp_path / "q.yaml"
    text = TINY_RECIPE.replace("hidden: 16, heads: 2, ffn: 32", "hidden: 32, heads: 2, ffn: 64")
    text = text.replace("export: {seq_len: 32}", f"export: {{seq_len: 32, runtimes: [{runtimes}], teacher: false}}")
    text = text.replace(
        "quantize: {precisions: [fp32]}",
        f"quantize: {{precisions: [{precisions}], calibration_samples: 64, qat_steps: 10, {gate}}}",
    )
    assert text != TINY_RECIPE
    path.write_text(text)
    return str(path)


def build_args(recipe, sst2_slice, teacher, out):
    train, dev = sst2_slice
    return (
        "build",
        "--target",
        "host",
        "--recipe",
        recipe,
        "--train",
        train,
        "--dev",
        dev,
        "--teacher",
        teacher,
        "--out",
        out,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_teacher, sst2_slice):
    tmp = tmp_path_factory.mktemp("qbuild")
    # The tiny random teacher gives near-tied logits, so this build does not gate (the gate is
    # exercised below and in tests/converters); artifacts are checked against eager instead.
    recipe = quantized_recipe(tmp, "max_accuracy_drop: 1.0, min_agreement: 0.0")
    proc = run_cli(*build_args(recipe, sst2_slice, tiny_teacher, tmp / "b"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "b", json.loads((tmp / "b" / "report.json").read_text())


def test_every_precision_in_every_runtime_is_built_verified_and_profiled(built):
    out, report = built
    students = [a for a in report["artifacts"] if a["model"] == "student"]
    assert {(a["runtime"], a["precision"]) for a in students} == EXPECTED
    # export.teacher: false: no teacher artifacts, the teacher still compared eagerly
    assert len(students) == len(report["artifacts"]) and not (out / "artifacts" / "teacher").exists()
    assert 0 < report["teacher"]["accuracy"] <= 1
    fp32 = {a["runtime"]: a["size_bytes"] for a in students if a["precision"] == "fp32"}
    for a in students:
        assert (out / a["path"]).stat().st_size == a["size_bytes"]
        if a["precision"] != "fp32":  # the word table is ~95% of this model: int8 or bust
            assert a["size_bytes"] < fp32.get(a["runtime"], fp32["litert"]) / 3, a
        assert ("arena_bytes" in a) == (a["runtime"] == "tflm")
    tflm = next(a for a in students if a["runtime"] == "tflm" and a["precision"] == "int8")
    assert 0 < tflm["arena_bytes"] < 1 << 20 and tflm["path"] == "artifacts/model.int8.micro.tflite"
    qat = {a["runtime"]: (out / a["path"]).read_bytes() for a in students if a["precision"] == "int8-qat"}
    ptq = {a["runtime"]: (out / a["path"]).read_bytes() for a in students if a["precision"] == "int8"}
    assert all(qat[r] != ptq[r] for r in qat)  # QAT changed the weights every runtime quantized


def test_layer_report_lists_weights_and_executorch_activations(built):
    out, report = built
    layers = report["quantization"]["layers"]
    assert [r["sqnr_db"] for r in layers] == sorted(r["sqnr_db"] for r in layers)
    et = [r for r in layers if r["runtime"] == "executorch"]
    assert et and all(r["activation_sqnr_db"] is not None for r in et if r["name"] != "word_embeddings")
    assert all(r["activation_sqnr_db"] is None for r in layers if r["runtime"] != "executorch")
    int4 = [r for r in et if r["precision"] == "int4w" and r["name"] == "layers.0.ffn.up"]
    int8 = [r for r in et if r["precision"] == "int8" and r["name"] == "layers.0.ffn.up"]
    assert int4[0]["weight_bits"] == 4 and int4[0]["weight_sqnr_db"] < int8[0]["weight_sqnr_db"]
    assert "## Quantization error by layer" in (out / "report.md").read_text()
    assert (out / report["plots"]["quantization_layers"]).is_file()


def test_quantization_gate_stops_the_build_with_one_line(tmp_path, tiny_teacher, sst2_slice):
    recipe = quantized_recipe(tmp_path, "max_accuracy_drop: 0.0, min_agreement: 1.0", "int8", "litert")
    proc = run_cli(*build_args(recipe, sst2_slice, tiny_teacher, tmp_path / "b"))
    assert_one_line_error(proc, "failed verification", "quantize.max_accuracy_drop")
    assert not (tmp_path / "b" / "report.json").exists()


def test_a_truncated_tflm_artifact_is_one_line(built, tmp_path, sst2_slice):
    out, _ = built
    for f in (out / "artifacts").iterdir():
        if f.is_file():
            (tmp_path / f.name).write_bytes(f.read_bytes())
    artifact = tmp_path / "model.int8.micro.tflite"
    artifact.write_bytes(artifact.read_bytes()[: artifact.stat().st_size // 3])
    assert_one_line_error(run_cli("eval", artifact, "--data", sst2_slice[1]), "TFLM cannot load")


def test_tflm_artifact_evaluates_like_the_build_verified_it(built, sst2_slice):
    out, report = built
    row = next(a for a in report["artifacts"] if a["runtime"] == "tflm" and a["precision"] == "int8")
    assert_eval_matches(out / row["path"], sst2_slice[1], row["accuracy"])
