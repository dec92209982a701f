"""Quant-Noise (Fan et al. 2020, arXiv 2004.07320): train with quantization noise on random
blocks of the weights, so the model learns to live with the quantizer without every weight
being quantized at every step.

Plain QAT fake-quantizes every weight in every step; its straight-through gradient is biased
for all of them at once, which hurts most at low bit widths. Quant-Noise replaces only a
random fraction `rate` of weight blocks (`block_size` consecutive input weights of one output
row) by their fake-quantized values in each training step; the rest see the float weights and
unbiased gradients. The quantizer is the one the artifacts use: symmetric, one scale per
output row (per channel for Linear and Conv, per row for the int8 word table), `bits` wide.
At evaluation and export no noise is applied: the build's post-training quantization then
meets weights that were trained to tolerate it.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
from torch import nn
from torch.nn.utils import parametrize

from edgesdk.recipe import QuantNoiseConfig


def fake_quantize_rows(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric per-row fake quantization of a [rows, columns] weight to `bits` bits."""
    qmax = 2 ** (bits - 1) - 1
    scale = weight.detach().abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / qmax
    return (weight / scale).round().clamp(-qmax, qmax) * scale


class QuantNoise(nn.Module):
    """Parametrization: in training, each block is fake-quantized with probability `rate`
    (straight-through: the gradient passes as if no quantizer were there)."""

    def __init__(self, rate: float, bits: int, block_size: int):
        super().__init__()
        self.rate, self.bits, self.block_size = rate, bits, block_size

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return weight
        rows = weight.reshape(weight.shape[0], -1)
        columns = rows.shape[1]
        blocks = math.ceil(columns / self.block_size)
        picked = torch.rand(rows.shape[0], blocks, device=weight.device) < self.rate
        mask = picked.repeat_interleave(self.block_size, dim=1)[:, :columns]
        quantized = rows + (fake_quantize_rows(rows, self.bits) - rows).detach()
        return torch.where(mask, quantized, rows).view_as(weight)


def noisy_modules(model: nn.Module) -> list[nn.Module]:
    """The modules whose weights the artifacts quantize per row: Linear, Conv1d and the word
    table (each once: shared layers call the same module). Weights that another training-time
    rewrite holds (sparsity masks, cluster ties) are left to it: those already constrain
    what the weight can be, and removing the noise must not remove them."""
    seen: dict[int, nn.Module] = {}
    for module in model.modules():
        plain = isinstance(module._parameters.get("weight"), nn.Parameter)  # not masked or parametrized
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Embedding)) and plain:
            seen.setdefault(id(module), module)
    return list(seen.values())


@contextlib.contextmanager
def quant_noise(model: nn.Module, cfg: QuantNoiseConfig) -> Iterator[int]:
    """Train `model` with Quant-Noise inside the block; yields how many weight tensors carry
    it. On leaving, the noise is removed and the float weights stay (the trained parameters
    themselves: nothing is baked)."""
    if cfg.rate == 0.0:
        yield 0
        return
    modules = noisy_modules(model)
    orders = [list(module._parameters) for module in modules]
    for module in modules:
        parametrize.register_parametrization(module, "weight", QuantNoise(cfg.rate, cfg.bits, cfg.block_size))
    try:
        yield len(modules)
    finally:
        for module, order in zip(modules, orders):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
            # Back in registration order (removal appends the weight last): state-dict order unchanged.
            module._parameters = type(module._parameters)((name, module._parameters[name]) for name in order)
