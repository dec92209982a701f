"""Quant-Noise: the noise is the artifacts' quantizer on random blocks, straight-through in
training, absent in evaluation, and gone from the model after distillation."""

import pytest
import torch
from torch import nn

from edgesdk.compress.distill import distill
from edgesdk.compress.quant_noise import QuantNoise, fake_quantize_rows, noisy_modules, quant_noise
from edgesdk.models.student_families import build_student
from edgesdk.recipe import DistillConfig, QuantNoiseConfig, StudentConfig
from tests.edgesdk.compress.test_distill import SPLIT, _accuracy, teacher, tok  # noqa: F401  (fixtures)


def weight(rows=6, columns=20):
    return torch.randn(rows, columns, generator=torch.Generator().manual_seed(0))


def test_fake_quantization_is_per_row_symmetric_with_the_given_width():
    w = weight()
    for bits in (8, 4):
        q = fake_quantize_rows(w, bits)
        scale = w.abs().amax(1, keepdim=True) / (2 ** (bits - 1) - 1)
        levels = q / scale
        torch.testing.assert_close(levels, levels.round())
        assert levels.abs().max() <= 2 ** (bits - 1) - 1 + 1e-4
        assert (q - w).abs().max() <= scale.max() / 2 + 1e-6
        assert 0 < (q - w).abs().max()


def test_rate_picks_whole_blocks_and_the_gradient_passes_straight_through():
    w = weight().requires_grad_(True)
    torch.manual_seed(0)
    noise = QuantNoise(rate=0.5, bits=4, block_size=4).train()
    out = noise(w)
    quantized = (out - fake_quantize_rows(w, 4)).abs().lt(1e-7)
    untouched = (out - w).abs().lt(1e-7)
    assert bool((quantized | untouched).all())
    blocks = quantized.view(6, 5, 4)  # 20 columns = 5 blocks of 4: a block is all quantized or not
    changed = (out - w).abs().gt(1e-7).view(6, 5, 4).any(-1)
    assert bool((blocks.all(-1) | changed.logical_not()).all())
    assert 0.2 < float(changed.float().mean()) < 0.8
    grad = torch.randn_like(w)
    (out * grad).sum().backward()
    torch.testing.assert_close(w.grad, grad)  # STE: no gradient is lost to the rounding


def test_all_blocks_at_rate_one_and_none_in_eval_or_at_rate_zero():
    w = weight()
    torch.testing.assert_close(QuantNoise(1.0, 8, 8).train()(w), fake_quantize_rows(w, 8))
    assert torch.equal(QuantNoise(1.0, 8, 8).eval()(w), w)
    assert torch.equal(QuantNoise(0.0, 8, 8).train()(w), w)


def test_the_noise_is_attached_in_the_block_and_removed_after_it():
    model = nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert len(noisy_modules(model)) == 3  # not the LayerNorm
    with quant_noise(model, QuantNoiseConfig(rate=1.0)) as tensors:
        assert tensors == 3 and noisy_modules(model) == []  # now held by the noise
        model.train()
        assert not torch.equal(model[1].weight, before["1.weight"])  # the forward sees quantized weights
        assert torch.equal(model[1].parametrizations.weight.original, before["1.weight"])
    assert list(model.state_dict()) == list(before)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    with quant_noise(model, QuantNoiseConfig()) as tensors:
        assert tensors == 0


@pytest.mark.parametrize("family", ["encoder", "cnn"])
def test_students_distil_under_quant_noise_and_come_out_plain(teacher, tok, family):  # noqa: F811
    cfg = StudentConfig(family=family, layers=1, hidden=16, heads=2, ffn=16, embedding_size=16, filters=8)
    student = build_student(cfg, teacher, dropout=0.0)
    keys = list(student.state_dict())
    dcfg = DistillConfig(
        epochs=12, batch_size=8, learning_rate=3e-3, max_length=16, quant_noise=QuantNoiseConfig(rate=0.5, bits=4)
    )
    result = distill(student, teacher, tok, SPLIT, dcfg, seed=0, cache=None, teacher_hash="t")
    assert result.quant_noise_tensors == len(noisy_modules(student)) > 0
    assert list(student.state_dict()) == keys  # nothing of the noise is saved
    assert _accuracy(student, tok) == 1.0
