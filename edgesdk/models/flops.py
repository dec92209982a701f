"""Analytic forward FLOPs (2 x multiply-accumulates) of one sequence at a fixed length.

Counts the matrix work that dominates on CPUs and MCUs (linear layers, attention matmuls,
convolutions, LSTM gates); element-wise ops, softmax and LayerNorm are left out, as is
usual in the distillation literature's FLOP comparisons. Embedding gathers are free.
"""

from __future__ import annotations

from typing import Optional

from torch import nn

from edgesdk.models.encoder import Encoder, low_rank_pays
from edgesdk.models.small import BiLSTMClassifier, CNNClassifier


def linear_macs(a: int, b: int, rank: Optional[int]) -> int:
    """Multiply-accumulates of an a x b Linear per token, or of its low-rank pair where the
    encoder builds one (the rule is symmetric in a and b)."""
    return rank * (a + b) if low_rank_pays(a, b, rank) else a * b


def encoder_flops(model: Encoder, seq_len: int, include_head: bool = True) -> int:
    cfg, t, h = model.config, seq_len, model.config.hidden_size
    macs = 0
    if cfg.embedding_size and cfg.embedding_size != h:
        macs += t * cfg.embedding_size * h
    for shape in cfg.layers:
        inner = shape.heads * cfg.head_dim
        macs += 4 * t * linear_macs(h, inner, shape.rank)  # q, k, v and the output projection
        macs += 2 * shape.heads * t * t * cfg.head_dim  # scores and context
        macs += 2 * t * linear_macs(h, shape.ffn, shape.rank)  # FFN up and down
    if include_head:
        macs += (h * h if cfg.pooler else 0) + h * cfg.num_labels
    return 2 * macs


def cnn_flops(model: CNNClassifier, seq_len: int) -> int:
    cfg = model.config
    macs = sum(seq_len * cfg.embedding_size * cfg.filters * k for k in cfg.kernel_sizes)
    macs += cfg.filters * len(cfg.kernel_sizes) * cfg.num_labels
    return 2 * macs


def bilstm_flops(model: BiLSTMClassifier, seq_len: int) -> int:
    cfg = model.config
    per_direction = seq_len * 4 * cfg.hidden_size * (cfg.embedding_size + cfg.hidden_size)
    return 2 * (2 * per_direction + 2 * cfg.hidden_size * cfg.num_labels)


def model_flops(model: nn.Module, seq_len: int) -> int:
    if isinstance(model, Encoder):
        return encoder_flops(model, seq_len)
    if isinstance(model, CNNClassifier):
        return cnn_flops(model, seq_len)
    if isinstance(model, BiLSTMClassifier):
        return bilstm_flops(model, seq_len)
    raise TypeError(f"no FLOP count for {type(model).__name__}")
