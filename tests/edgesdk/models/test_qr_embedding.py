"""The quotient-remainder word table: its shape budget, its start from a plain table, saving,
and a CNN student with it lowered to every runtime and run there (the id -> row maps are in the
graph, so this is where it could break)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from edgesdk.converters import get_backend
from edgesdk.converters.quantizer_registry import quantizer_for
from edgesdk.converters.tflite_flatbuffer import summarize

from edgesdk.compress.quant_methods import calibration_set, deployable, reference_logits
from edgesdk.compress.word_rows import to_quotient_remainder
from edgesdk.models.qr_embedding import QuotientRemainderEmbedding, qr_shape
from edgesdk.models.registry import load_model, save_model
from edgesdk.models.small import BiLSTMClassifier, BiLSTMConfig, CNNClassifier, CNNConfig
from edgesdk.recipe import QuantizeConfig
from tests.helpers import fitted_to_sst2, run_rows

SEQ_LEN = 24


@pytest.mark.parametrize(
    "vocab,rows,shape",
    [(4000, 128, (64, 63)), (30522, 512, (256, 120)), (30522, 350, (175, 175)), (10, 8, (4, 3))],
)
def test_the_row_budget_splits_into_remainders_and_quotients(vocab, rows, shape):
    assert qr_shape(vocab, rows) == shape
    assert sum(shape) <= rows and shape[0] * shape[1] >= vocab and max(shape) <= 256


@pytest.mark.parametrize(
    "vocab,rows,needle",
    [(4000, 100, "needs at least 127"), (30522, 200, "needs at least 350"), (70000, 512, "at most 65,536 tokens")],
)
def test_a_budget_too_small_names_the_least_that_fits(vocab, rows, needle):
    with pytest.raises(ValueError, match=needle):
        qr_shape(vocab, rows)


def test_a_table_that_is_a_product_is_recovered_exactly_and_ids_reach_their_rows():
    """fit() is the per-dimension rank-1 SVD: a table made as quotient x remainder rows comes
    back to machine precision; a ragged last quotient row (V not a multiple of m) included."""
    torch.manual_seed(0)
    vocab, width, remainders = 61, 5, 8
    quotient, remainder = torch.randn(8, width), torch.randn(remainders, width)
    ids = torch.arange(vocab)
    table = quotient[ids // remainders] * remainder[ids % remainders]
    embedding = QuotientRemainderEmbedding(vocab, width, remainders)
    embedding.fit(table)
    assert torch.allclose(embedding(ids[None].to(torch.int32))[0], table, atol=1e-4)
    # a generic table is not a product: the start is an approximation, every token its own vector
    embedding.fit(torch.randn(vocab, width))
    rows = embedding(ids[None])[0]
    assert len({tuple(r.tolist()) for r in rows.round(decimals=5)}) == vocab


def _cnn(vocab: int) -> CNNClassifier:
    torch.manual_seed(0)
    return CNNClassifier(CNNConfig(vocab_size=vocab, embedding_size=16, kernel_sizes=(2, 3), filters=16, dropout=0.0))


@pytest.mark.parametrize("family", ["cnn", "bilstm"])
def test_a_student_converts_saves_and_loads_with_its_table(family, tmp_path):
    torch.manual_seed(0)
    plain = (_cnn(500) if family == "cnn" else BiLSTMClassifier(BiLSTMConfig(vocab_size=500, embedding_size=16))).eval()
    qr, info = to_quotient_remainder(plain, 64)
    assert (info["remainders"], info["quotients"], info["rows"]) == (32, 16, 48)
    assert 0 < info["initial_relative_error"] < 1
    assert qr.config.word_remainders == 32
    kept = {k: v for k, v in plain.state_dict().items() if not k.startswith("word_embeddings.")}
    assert kept and all(torch.equal(qr.state_dict()[k], v) for k, v in kept.items())
    save_model(qr, tmp_path / "m")
    loaded = load_model(tmp_path / "m").eval()
    ids = torch.randint(0, 500, (3, SEQ_LEN), dtype=torch.int32)
    mask = torch.ones_like(ids)
    assert torch.equal(loaded(ids, mask), qr.eval()(ids, mask))
    assert not any("_of" in k for k in loaded.state_dict())  # the id maps follow from the shape


@pytest.fixture(scope="module")
def trained():
    """A CNN with a qr table over the teacher's 30,522 tokens (256 + 120 rows) fitted to SST-2 rows."""
    model, _ = to_quotient_remainder(_cnn(30522), 512)
    return fitted_to_sst2(model, SEQ_LEN, steps=150, learning_rate=1e-2)


@pytest.mark.parametrize("runtime,precision", [("executorch", "int8"), ("litert", "int8"), ("tflm", "int8")])
def test_a_qr_student_runs_in_each_runtime_as_its_reference(trained, runtime, precision, tmp_path):
    model, tokenizer, texts, ids, mask = trained
    backend = get_backend(runtime)
    config = QuantizeConfig(calibration_samples=64)
    calibration = calibration_set(texts, tokenizer, config.calibration_samples, SEQ_LEN, seed=0)
    module = quantizer_for(runtime, precision)(deployable(model, SEQ_LEN), calibration, config, SEQ_LEN)
    reference = reference_logits(module, ids, mask)
    example = (torch.ones(1, SEQ_LEN, dtype=torch.int32), torch.ones(1, SEQ_LEN, dtype=torch.int32))
    data = backend.lower(module, example, precision, calibration)
    path = tmp_path / f"model{backend.suffix}"
    path.write_bytes(data)
    # 376 x 16 table weights and two 30,522-byte id maps, not a 30,522 x 16 table (488 KB at int8)
    assert len(data) < 30522 * 16 / 4, len(data)
    if runtime != "executorch":
        lookups = summarize(data).lookups
        assert {t.table_dtype for t in lookups} == {"INT8"} and len(lookups) == 4, lookups
    out = run_rows(backend.open(path, 1), ids, mask)
    agreement = float(np.mean(out.argmax(1) == reference.argmax(1)))
    spread = float(reference.max() - reference.min())
    print(f"{runtime}: {len(data)} B, agreement {agreement:.3f}, max diff {np.abs(out - reference).max():.4f}")
    assert agreement >= 0.95 and np.abs(out - reference).max() <= 0.3 * spread
