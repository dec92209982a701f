"""Unit tests of the quantization building blocks (the runtimes are covered in
tests/converters/test_quantized_lowering.py)."""

from __future__ import annotations

import torch

from edgesdk.compress.quant_methods import (
    Int8Embedding,
    calibration_set,
    deployable,
    export_batched,
    int8_embeddings,
    mask_bias_filter,
    token_example,
)
from edgesdk.models.model_dir import default_teacher_dir
from edgesdk.models.small import CNNClassifier, CNNConfig
from edgesdk.recipe import QuantizeConfig
from edgesdk.tokenizer import Tokenizer
from tests.helpers import tiny_encoder


def test_int8_embedding_is_int8_and_within_half_a_step_per_row():
    weight = torch.randn(100, 16) * torch.logspace(-2, 1, 100).unsqueeze(1)  # rows of very different scale
    emb = Int8Embedding(weight)
    assert emb.qweight.dtype == torch.int8 and emb.scale.shape == (100, 1)
    assert torch.all((emb.dequantized() - weight).abs() <= emb.scale / 2 + 1e-7)
    ids = torch.tensor([[3, 99, 0]])
    assert torch.equal(emb(ids), emb.dequantized()[ids])


def test_int8_embeddings_respects_the_recipe():
    model = tiny_encoder()
    assert isinstance(int8_embeddings(deployable(model, 16), QuantizeConfig()).word_embeddings, Int8Embedding)
    kept = int8_embeddings(deployable(model, 16), QuantizeConfig(embeddings="fp32"))
    assert isinstance(kept.word_embeddings, torch.nn.Embedding)


def test_deployable_cuts_positions_and_keeps_outputs():
    model = tiny_encoder().eval()
    cut = deployable(model, 16)
    assert cut.position_embeddings.num_embeddings == 16 and model.position_embeddings.num_embeddings == 64
    ids, mask = torch.randint(1, 1000, (3, 16), dtype=torch.int32), torch.ones(3, 16, dtype=torch.int32)
    mask[0, 10:] = 0
    with torch.no_grad():
        assert torch.allclose(cut(ids, mask), model(ids, mask))


def test_mask_bias_filter_keeps_only_the_mask_adds_float():
    model = tiny_encoder(layers=3).eval()
    graph = export_batched(model, token_example(16))
    keep = mask_bias_filter(graph)
    adds = [n for n in graph.graph.nodes if n.op == "call_function" and "add" in str(n.target)]
    rejected = [n for n in adds if not keep(n)]
    # one bias add per layer, plus the position-table add (a constant slice, harmless either way)
    assert 3 <= len(rejected) <= 4 and len(adds) - len(rejected) >= 2 * 3  # residual adds stay quantizable


def test_cnn_mask_is_multiplicative_and_padding_never_wins():
    torch.manual_seed(0)
    cnn = CNNClassifier(CNNConfig(vocab_size=50, embedding_size=8, filters=4, kernel_sizes=(3,))).eval()
    ids = torch.randint(1, 50, (1, 12))
    mask = torch.ones(1, 12, dtype=torch.int32)
    mask[0, 6:] = 0
    garbage = ids.clone()
    garbage[0, 6:] = torch.randint(1, 50, (6,))
    with torch.no_grad():  # tokens under the mask must not change the output
        assert torch.allclose(cnn(ids, mask), cnn(garbage, mask))


def test_calibration_set_is_seeded():
    tokenizer = Tokenizer.from_dir(default_teacher_dir())
    texts = [f"sentence number {i}" for i in range(50)]
    a = calibration_set(texts, tokenizer, 10, 8, seed=1)
    b = calibration_set(texts, tokenizer, 10, 8, seed=1)
    c = calibration_set(texts, tokenizer, 10, 8, seed=2)
    assert a.x.shape == (10, 8) and torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert len(calibration_set(texts, tokenizer, 500, 8, seed=1).x) == 50


def test_qat_finetune_moves_weights_toward_the_teacher_under_fake_quant():
    from edgesdk.compress.losses import kd_loss
    from edgesdk.compress.quant_methods import QatData, qat_finetune

    torch.manual_seed(0)
    model = deployable(tiny_encoder(hidden=32, heads=2, dropout=0.0), 16)
    ids = torch.randint(1, 2000, (64, 16), dtype=torch.int32)
    mask = torch.ones(64, 16, dtype=torch.int32)
    soft = torch.randn(64, 2) * 3  # a "teacher" the random student disagrees with
    config = QuantizeConfig(precisions=["int8-qat"], qat_steps=30, qat_batch_size=16, qat_learning_rate=3e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        loss_before = float(kd_loss(model(ids, mask), soft, 2.0))
    trained = qat_finetune(model, QatData(ids, mask, soft), config, 16, seed=0)
    with torch.no_grad():
        loss_after = float(kd_loss(trained(ids, mask), soft, 2.0))
    assert loss_after < loss_before
    assert torch.equal(trained.word_embeddings.weight, before["word_embeddings.weight"])  # frozen
    assert not torch.equal(trained.layers[0].ffn.up.weight, before["layers.0.ffn.up.weight"])


def test_int8_qat_needs_steps():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="qat_steps"):
        QuantizeConfig(precisions=["int8-qat"])


def test_clip_weight_outliers_tames_one_outlier_per_channel():
    from edgesdk.compress.quant_methods import clip_weight_outliers

    layer = torch.nn.Linear(200, 4)
    with torch.no_grad():
        layer.weight.normal_(0, 0.02)
        layer.weight[1, 7] = 5.0  # one outlier would stretch channel 1's int8 grid 60x
    model = torch.nn.Sequential(layer)
    before = layer.weight.clone()
    changed = clip_weight_outliers(model, "kstd", 4.0)
    assert changed[0]["clipped"] >= 1 and layer.weight[1].abs().max() < 0.5
    assert torch.equal(layer.weight[0], before[0]) or changed[0]["clipped"] <= 4  # normal rows barely touched
    untouched = torch.nn.Sequential(torch.nn.Linear(8, 2))
    w = untouched[0].weight.clone()
    assert clip_weight_outliers(untouched, "none", 0) == [] and torch.equal(untouched[0].weight, w)
    clip_weight_outliers(untouched, "percentile", 100.0)
    assert torch.allclose(untouched[0].weight, w)  # the 100th percentile clips nothing
