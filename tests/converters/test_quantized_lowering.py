"""Every quantized (runtime, precision) on a tiny trained Encoder, run in its real runtime.

The model is trained for a few seconds on real SST-2 rows so its predictions on those rows
have margins; each artifact must then agree with its eager fake-quant reference, and must be
several times smaller than fp32 — which it cannot be if the word table stayed float (it is
~95% of this model's bytes).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from edgesdk.converters import get_backend
from edgesdk.converters.litert import SIGNATURE, convert_fp32, stock_static_int8
from edgesdk.converters.quantizer_registry import quantizer_for
from edgesdk.converters.tflite_flatbuffer import inline_buffers, summarize

from edgesdk.compress.quant_methods import calibration_set, deployable, reference_logits
from edgesdk.recipe import QuantizeConfig
from tests.helpers import fitted_to_sst2, run_rows, tiny_encoder

SEQ_LEN = 32
COMBOS = [
    ("executorch", "int8"),
    ("executorch", "int8-dynamic"),
    ("executorch", "int4w"),
    ("litert", "int8"),
    ("litert", "int8-dynamic"),
    ("tflm", "int8"),
]


def example_inputs():
    # Two distinct tensors: export would treat one tensor passed twice as one input.
    return torch.ones(1, SEQ_LEN, dtype=torch.int32), torch.ones(1, SEQ_LEN, dtype=torch.int32)


@pytest.fixture(scope="module")
def trained():
    """(model, tokenizer, texts, ids, mask): a 2-layer x 32 encoder fitted to 200 SST-2 rows."""
    model = tiny_encoder(hidden=32, heads=2, ffn=64, dropout=0.0)
    torch.manual_seed(0)  # the batches
    return fitted_to_sst2(model, SEQ_LEN, steps=60, learning_rate=3e-3)


@pytest.fixture(scope="module")
def fp32_size(trained, tmp_path_factory):
    model = trained[0]
    return len(get_backend("litert").lower(deployable(model, SEQ_LEN), example_inputs(), "fp32"))


@pytest.mark.parametrize("runtime,precision", COMBOS)
def test_quantized_artifact_is_small_and_matches_its_fake_quant_model(trained, fp32_size, runtime, precision, tmp_path):
    model, tokenizer, texts, ids, mask = trained
    backend = get_backend(runtime)
    config = QuantizeConfig(calibration_samples=64)
    calibration = calibration_set(texts, tokenizer, config.calibration_samples, SEQ_LEN, seed=0)
    module = quantizer_for(backend.name, precision)(deployable(model, SEQ_LEN), calibration, config, SEQ_LEN)
    reference = reference_logits(module, ids, mask)
    example = example_inputs()
    data = backend.lower(module, example, precision, calibration)
    path = tmp_path / f"model.{precision}{backend.suffix}"
    path.write_bytes(data)

    assert len(data) < fp32_size / 3, f"{runtime} {precision}: {len(data)} B vs fp32 {fp32_size} B; table float?"
    if runtime != "executorch":
        lookups = summarize(data).lookups
        assert lookups and all(t.table_dtype == "INT8" for t in lookups), lookups

    session = backend.open(path, 1)
    out = run_rows(session, ids, mask)
    agreement = float(np.mean(out.argmax(1) == reference.argmax(1)))
    spread = float(reference.max() - reference.min())
    print(
        f"{runtime} {precision}: {len(data)} B (fp32 {fp32_size}), agreement {agreement:.3f}, "
        f"max |artifact - reference| {np.abs(out - reference).max():.4f} of logit spread {spread:.3f}"
    )
    assert agreement >= 0.95
    # ExecuTorch's reference is the fake-quant graph itself; LiteRT/TFLM are quantized on the
    # flatbuffer, so their reference is fp32 and the bound is the full-int8 error.
    bound = 0.1 if runtime == "executorch" or precision == "int8-dynamic" else 0.3
    assert np.abs(out - reference).max() <= bound * spread


def test_full_int8_tflite_is_int8_end_to_end(trained):
    model, tokenizer, texts, ids, mask = trained
    backend = get_backend("litert")
    calibration = calibration_set(texts, tokenizer, 64, SEQ_LEN, seed=0)
    module = quantizer_for(backend.name, "int8")(deployable(model, SEQ_LEN), calibration, QuantizeConfig(), SEQ_LEN)
    summary = summarize(backend.lower(module, example_inputs(), "int8", calibration))
    assert summary.output_dtypes == ("INT8",) and summary.input_dtypes == ("INT32", "INT32")
    assert all(t.output_dtype == "INT8" for t in summary.lookups)
    assert "GELU" in summary.ops  # LiteRT keeps exact GELU; only the TFLM export swaps it


def test_tflm_arena_is_a_fraction_of_the_stock_float_table_model(trained, tmp_path):
    """Stock ai-edge-quantizer output keeps the table float and stores it by offset, which TFLM
    copies into its arena; ours keeps the arena to activations."""
    model, tokenizer, texts, ids, mask = trained
    backend = get_backend("tflm")
    calibration = calibration_set(texts, tokenizer, 64, SEQ_LEN, seed=0)
    module = quantizer_for(backend.name, "int8")(deployable(model, SEQ_LEN), calibration, QuantizeConfig(), SEQ_LEN)
    example = example_inputs()
    arenas = {}
    stock = stock_static_int8(convert_fp32(module, example), {SIGNATURE: calibration})
    for name, data in [
        ("ours", backend.lower(module, example, "int8", calibration)),
        ("stock", stock),
        ("stock, inlined", inline_buffers(stock)),
    ]:
        path = tmp_path / f"{name.replace(', ', '-')}.micro.tflite"
        path.write_bytes(data)
        session = backend.open(path, 1)
        session.run(ids[:1], mask[:1])
        arenas[name] = session.memory()["arena_bytes"]
    print("TFLM arena bytes:", arenas)
    assert 0 < arenas["ours"] <= arenas["stock"] / 4
    assert arenas["ours"] <= arenas["stock, inlined"]


@pytest.mark.parametrize("runtime", ["executorch", "litert"])
def test_embeddings_fp32_keeps_the_table_float(trained, fp32_size, runtime):
    model, tokenizer, texts, ids, mask = trained
    backend = get_backend(runtime)
    config = QuantizeConfig(embeddings="fp32")
    calibration = calibration_set(texts, tokenizer, 64, SEQ_LEN, seed=0)
    module = quantizer_for(backend.name, "int8")(deployable(model, SEQ_LEN), calibration, config, SEQ_LEN)
    data = backend.lower(module, example_inputs(), "int8", calibration, config)
    assert len(data) > 0.9 * fp32_size  # the float table is ~95% of this model
    if runtime == "litert":
        assert all(t.table_dtype == "FLOAT32" for t in summarize(data).lookups)


def test_tflm_lut_compression_shrinks_clustered_weights_and_runs_identically(trained, tmp_path):
    """Clustered weights (<= 16 values per tensor, so per output channel) become 4-bit indices
    into per-channel tables that TFLM's DECODE op expands; outputs must not change at all."""
    from edgesdk.converters.tflm_lut import lut_candidates, lut_compress

    from edgesdk.compress.share import bake_clusters, cluster_weights

    _, tokenizer, texts, ids, mask = trained
    wide = tiny_encoder(seed=5, hidden=128, heads=2, ffn=256, dropout=0.0).eval()  # rows wide enough to pay
    backend = get_backend("tflm")
    calibration = calibration_set(texts, tokenizer, 64, SEQ_LEN, seed=0)

    def full_int8(model, config=QuantizeConfig()):
        module = quantizer_for(backend.name, "int8")(deployable(model, SEQ_LEN), calibration, QuantizeConfig(), SEQ_LEN)
        return backend.lower(module, example_inputs(), "int8", calibration, config)

    _, count = lut_compress(full_int8(wide))
    assert count == 0  # unclustered weights have too many values per channel to pay off
    cluster_weights(wide, 16, embeddings=False)
    bake_clusters(wide, embeddings=False)
    plain, packed = full_int8(wide), full_int8(wide, QuantizeConfig(tflm_lut=True))
    found = lut_candidates(plain, 6)
    assert len(found) == 2 * 6 and all(bits <= 4 for *_, bits in found)  # q, k, v, out, up, down per layer
    assert len(packed) < len(plain) - 2 * 4 * 128 * 128 // 4  # at least a quarter of the layer weights saved
    outputs = {}
    for name, data in (("plain", plain), ("packed", packed)):
        path = tmp_path / f"{name}.micro.tflite"
        path.write_bytes(data)
        session = backend.open(path, 1)
        outputs[name] = np.stack([session.run(ids[i : i + 1], mask[i : i + 1]) for i in range(16)])
    np.testing.assert_array_equal(outputs["packed"], outputs["plain"])


@pytest.mark.parametrize("runtime,precision", [("executorch", "int8-dynamic"), ("litert", "int8-dynamic")])
def test_an_int4_word_table_ships_at_half_the_bytes_and_runs_as_its_reference(trained, runtime, precision, tmp_path):
    """`quantize.embeddings: int4`: the table (~95% of this model) packed two weights a byte,
    unpacked in the graph; the artifact matches its own eager reference and drops about half
    the int8 table's bytes."""
    from edgesdk.compress.quant_methods import Int4Embedding

    model, tokenizer, texts, ids, mask = trained
    backend = get_backend(runtime)
    calibration = calibration_set(texts, tokenizer, 64, SEQ_LEN, seed=0)
    sizes, outputs = {}, {}
    for table in ("int8", "int4"):
        config = QuantizeConfig(embeddings=table)
        module = quantizer_for(backend.name, precision)(deployable(model, SEQ_LEN), calibration, config, SEQ_LEN)
        reference = reference_logits(module, ids, mask)
        data = backend.lower(module, example_inputs(), precision, calibration, config)
        path = tmp_path / f"model.{table}{backend.suffix}"
        path.write_bytes(data)
        outputs[table] = run_rows(backend.open(path, 1), ids, mask)
        sizes[table] = len(data)
        spread = float(reference.max() - reference.min())
        assert np.abs(outputs[table] - reference).max() <= 0.05 * spread, table
    table_int8 = model.word_embeddings.weight.numel()  # bytes of the int8 table
    print(f"{runtime} {precision}: int8 table {sizes['int8']} B, int4 table {sizes['int4']} B")
    assert sizes["int4"] < sizes["int8"] - 0.45 * table_int8
    assert float(np.mean(outputs["int4"].argmax(1) == outputs["int8"].argmax(1))) >= 0.9
    words = Int4Embedding(model.word_embeddings.weight)
    assert words.qweight.dtype == torch.int8 and words.qweight.numel() * 2 == table_int8
