"""Rewrites that keep an ExecuTorch graph inside one XNNPACK delegate.

The XNNPACK partitioner (ExecuTorch 1.5) has no layer_norm: each LayerNorm ran as a portable
kernel and split the graph into a delegate call per norm (ETDump on a 4x128 student: 10-17 %
of the time in layer_norm, as much again in delegate overhead). Written as means over the two
innermost dims of a [B, T, 1, H] view (XNNPACK's global average pooling), sub, mul, rsqrt and
add, the norm is delegated with the layers around it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class PooledLayerNorm(nn.Module):
    """LayerNorm over the last dim of a [B, T, H] tensor via 4-D means (the same parameters)."""

    def __init__(self, norm: nn.LayerNorm):
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            return nn.functional.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)
        b, t, h = x.shape
        x4 = x.reshape(b, t, 1, h)
        centred = x4 - x4.mean(dim=(2, 3), keepdim=True)
        var = (centred * centred).mean(dim=(2, 3), keepdim=True)
        return (centred * torch.rsqrt(var + self.eps)).reshape(b, t, h) * self.weight + self.bias


def xnnpack_layer_norms(model: nn.Module) -> nn.Module:
    """A copy of the model with every last-dim LayerNorm replaced by PooledLayerNorm; the model
    itself is unchanged (it stays the eager reference). PT2E-quantized graphs arrive as
    GraphModules and are not rewritten: a static quantizer would quantize the norm's adds and
    muls, changing what the quantized reference computes."""
    norms = [name for name, m in model.named_modules() if type(m) is nn.LayerNorm and len(m.normalized_shape) == 1]
    if not norms:
        return model
    model = copy.deepcopy(model)
    for name in norms:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, PooledLayerNorm(getattr(parent, child)))
    return model
