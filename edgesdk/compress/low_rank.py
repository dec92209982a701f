"""Low-rank (SVD) decomposition of the encoder layers' Linear weights.

Each weight W (out x in) is replaced by its best rank-r approximation B A (Eckart-Young: the
truncated SVD, the singular values split evenly between the factors so neither side carries
the scale alone), lowered as two thin Linears. Where r (in + out) is not below in x out the
Linear stays dense: a factorization that holds more weights would be slower and larger. The
prune step then recovers the model by distillation, as after any other reshaping.
"""

from __future__ import annotations

import math

import torch

from edgesdk.models.encoder import Encoder, LowRankLinear


def low_rank_rank(hidden_size: int, fraction: float, multiple: int = 8) -> int:
    """The kept rank: `fraction` of the hidden size, rounded up to a multiple of `multiple`
    (kernels tile by 8 or 16; a rank of 1-7 would be all edge cases)."""
    return max(multiple, math.ceil(fraction * hidden_size / multiple) * multiple)


@torch.no_grad()
def low_rank_layers(model: Encoder, fraction: float) -> Encoder:
    """A copy of `model` whose layer Linears are rank-r pairs from their truncated SVD."""
    cfg = model.config
    rank = low_rank_rank(cfg.hidden_size, fraction)
    layers = tuple(shape.model_copy(update={"rank": rank}) for shape in cfg.layers)
    factored = Encoder(type(cfg).model_validate({**cfg.model_dump(), "layers": layers}))
    pairs = [(name, m) for name, m in factored.named_modules() if isinstance(m, LowRankLinear)]
    if not pairs:
        raise ValueError(
            f"low_rank {fraction} keeps rank {rank} of hidden {cfg.hidden_size}: no layer Linear gets smaller; lower it"
        )
    missing, _ = factored.load_state_dict(model.state_dict(), strict=False)
    aliases = [n for n, m in factored.named_modules(remove_duplicate=False) if isinstance(m, LowRankLinear)]
    filled = {f"{name}.{part}" for name in aliases for part in ("first.weight", "second.weight", "second.bias")}
    if set(missing) - filled:
        raise ValueError(f"low-rank copy lacks weights {sorted(set(missing) - filled)[:3]}")
    for name, pair in pairs:
        dense = model.get_submodule(name)
        u, s, vh = torch.linalg.svd(dense.weight.float(), full_matrices=False)
        root = s[:rank].sqrt()
        pair.first.weight.copy_(root[:, None] * vh[:rank])
        pair.second.weight.copy_(u[:, :rank] * root[None, :])
        pair.second.bias.copy_(dense.bias)
    factored.mask_bias = model.mask_bias
    return factored.eval()
