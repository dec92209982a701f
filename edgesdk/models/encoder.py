"""Export-clean BERT encoder with a classification head.

Why not HF's BertModel in the exported graph: its mask creation breaks PT2E calibration, it
carries data-dependent branches, and it cannot hold per-layer head counts or FFN widths. This
encoder has no control flow that depends on data, takes the attention mask as an input and
turns it into an additive bias, and stores each layer's shape in the config so pruning can
physically remove heads and neurons. The token-type embedding of segment 0 is folded into the
single vector `segment_embedding` at import (single-sentence classification never uses
segment 1), which removes one gather from the deployed graph; it is added in HF's order
(word + segment + position) so imported models match HF to float rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from edgesdk.models.dropout import Dropout

# Additive bias for masked keys. exp(-1e4 + s) underflows to exactly 0 in fp32 for any
# realistic score s, matching HF's finfo.min masking bit for bit, while staying a value an
# int8 or fp16 runtime can represent.
MASK_BIAS = -1e4


class SigmoidGELU(nn.Module):
    """x * sigmoid(1.702 x): the GELU approximation of Hendrycks & Gimpel, built from LOGISTIC
    and MUL, which TFLM runs in int8 (it has no GELU kernel)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class LayerShape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    heads: int = Field(ge=1)
    ffn: int = Field(ge=1)
    rank: Optional[int] = Field(None, ge=1, description="low-rank Linears (see `linear`) when set")


class LowRankLinear(nn.Module):
    """W x + b as B (A x) + b with A: in -> rank, B: rank -> out, from W's truncated SVD
    (edgesdk/compress/low_rank.py). Lowered as two thin Linears, which every runtime runs as
    two ordinary (smaller) matmuls."""

    def __init__(self, in_features: int, out_features: int, rank: int):
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.first = nn.Linear(in_features, rank, bias=False)
        self.second = nn.Linear(rank, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))


def low_rank_pays(in_features: int, out_features: int, rank: Optional[int]) -> bool:
    """A rank-`rank` pair holds fewer weights (and multiply-accumulates) than the Linear."""
    return rank is not None and rank * (in_features + out_features) < in_features * out_features


def linear(in_features: int, out_features: int, rank: Optional[int] = None) -> nn.Module:
    """A Linear, or its rank-`rank` factorization where that pays (the rule follows from the
    config, not the weights, so a saved model rebuilds the same modules)."""
    if low_rank_pays(in_features, out_features, rank):
        return LowRankLinear(in_features, out_features, rank)
    return nn.Linear(in_features, out_features)


class EncoderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    family: Literal["encoder"] = "encoder"
    vocab_size: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    max_positions: int = Field(ge=1)
    layers: tuple[LayerShape, ...]
    activation: Literal["gelu", "relu"] = "gelu"
    layer_norm_eps: float = 1e-12
    num_labels: int = Field(2, ge=1)
    pooling: Literal["mean", "cls"] = "mean"
    pooler: bool = False
    dropout: float = 0.1
    pad_token_id: int = 0
    embedding_size: Optional[int] = Field(None, ge=1, description="factorized V x E + E x H when set")
    share: Literal["none", "all", "attention", "ffn", "sandwich"] = Field(
        "none", description="cross-layer sharing (ALBERT; sandwich: first and last layers own)"
    )

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @model_validator(mode="after")
    def _shareable(self) -> "EncoderConfig":
        tied = tied_layers(self.share, self.num_layers)
        if self.share == "sandwich" and len(tied) < 2:
            raise ValueError(
                f"sandwich sharing needs at least 4 layers (first, two shared, last); got {self.num_layers}"
            )
        if len({self.layers[i] for i in tied}) > 1:
            raise ValueError("cross-layer sharing needs the shared layers to have the same heads and FFN width")
        return self


# Which sub-modules of a layer `share` ties across layers.
SHARED_PARTS = {
    "none": (),
    "all": ("attention", "ffn"),
    "attention": ("attention",),
    "ffn": ("ffn",),
    "sandwich": ("attention", "ffn"),
}


def tied_layers(share: str, num_layers: int) -> list[int]:
    """The layers whose SHARED_PARTS are one module, owned by the first of them. Sandwich
    sharing (Sandwich-style parameter sharing, Reid et al. 2021 "Subformer") keeps the first and
    last layers their own, where sharing costs the most accuracy: the layer next to the
    embeddings and the one the classifier reads."""
    if share == "none":
        return []
    if share == "sandwich":
        return list(range(1, num_layers - 1))
    return list(range(num_layers))


@dataclass
class AttentionTrace:
    out: torch.Tensor  # [B, T, H] layer-normed attention block output
    probs: torch.Tensor  # [B, heads, T, T] attention distribution (before dropout)
    query: torch.Tensor  # [B, T, heads*head_dim], for MiniLM relation losses
    key: torch.Tensor
    value: torch.Tensor


@dataclass
class EncoderTrace:
    """Everything distillation losses read. Only built in training; export uses forward()."""

    hidden_states: list[torch.Tensor]  # embedding output, then each layer's output
    attentions: list[AttentionTrace]
    logits: torch.Tensor


class Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, head_dim: int, eps: float, dropout: float, rank: Optional[int] = None):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.query = linear(hidden, inner, rank)
        self.key = linear(hidden, inner, rank)
        self.value = linear(hidden, inner, rank)
        self.output = linear(inner, hidden, rank)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = Dropout(dropout)
        self.scale = 1.0 / math.sqrt(head_dim)
        # [heads] multiplier on each head's context, set only while pruning measures head
        # importance (edgesdk/compress/structured.py); None in training and export.
        self.head_gate: Optional[torch.Tensor] = None

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def attend(self, x: torch.Tensor, bias: torch.Tensor) -> "AttentionTrace":
        b, t, _ = x.shape
        q_flat, k_flat, v_flat = self.query(x), self.key(x), self.value(x)
        q, k, v = self._split(q_flat), self._split(k_flat), self._split(v_flat)
        # 3-D bmm, not 4-D matmul: matmul lowers to expand_copy + bmm, and ExecuTorch runs
        # those expands outside XNNPACK, splitting every layer into several delegate calls.
        bh = b * self.heads
        scores = (
            torch.bmm(
                (q * self.scale).reshape(bh, t, self.head_dim), k.reshape(bh, t, self.head_dim).transpose(1, 2)
            ).view(b, self.heads, t, t)
            + bias
        )
        probs = torch.softmax(scores, dim=-1)
        context = torch.bmm(self.dropout(probs).view(bh, t, t), v.reshape(bh, t, self.head_dim)).view(
            b, self.heads, t, self.head_dim
        )
        if self.head_gate is not None:
            context = context * self.head_gate.view(1, -1, 1, 1)
        context = context.transpose(1, 2).reshape(b, t, self.heads * self.head_dim)
        out = self.norm(x + self.dropout(self.output(context)))
        return AttentionTrace(out, probs, q_flat, k_flat, v_flat)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.attend(x, bias).out


class FeedForward(nn.Module):
    def __init__(self, hidden: int, ffn: int, activation: str, eps: float, dropout: float, rank: Optional[int] = None):
        super().__init__()
        self.up = linear(hidden, ffn, rank)
        self.down = linear(ffn, hidden, rank)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = Dropout(dropout)
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.neuron_gate: Optional[torch.Tensor] = None  # [ffn], as Attention.head_gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inner = self.act(self.up(x))
        if self.neuron_gate is not None:
            inner = inner * self.neuron_gate
        return self.norm(x + self.dropout(self.down(inner)))


class Layer(nn.Module):
    def __init__(self, cfg: EncoderConfig, shape: LayerShape):
        super().__init__()
        eps, dropout, rank = cfg.layer_norm_eps, cfg.dropout, shape.rank
        self.attention = Attention(cfg.hidden_size, shape.heads, cfg.head_dim, eps, dropout, rank)
        self.ffn = FeedForward(cfg.hidden_size, shape.ffn, cfg.activation, eps, dropout, rank)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.attention(x, bias))


class Encoder(nn.Module):
    """forward(input_ids[B,T] int, attention_mask[B,T] int) -> logits[B, num_labels]."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.config = cfg
        factorized = cfg.embedding_size is not None and cfg.embedding_size != cfg.hidden_size
        width = cfg.embedding_size if factorized else cfg.hidden_size
        self.word_embeddings = nn.Embedding(cfg.vocab_size, width, padding_idx=cfg.pad_token_id)
        self.embedding_projection = nn.Linear(width, cfg.hidden_size, bias=False) if factorized else None
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.hidden_size)
        self.segment_embedding = nn.Parameter(torch.zeros(cfg.hidden_size))
        self.embedding_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.embedding_dropout = Dropout(cfg.dropout)
        self.layers = nn.ModuleList(Layer(cfg, shape) for shape in cfg.layers)
        owner, *tied = tied_layers(cfg.share, cfg.num_layers) or [0]
        for i in tied:  # shared parts: one module called by every tied layer
            for part in SHARED_PARTS[cfg.share]:
                setattr(self.layers[i], part, getattr(self.layers[owner], part))
        self.pooler = nn.Linear(cfg.hidden_size, cfg.hidden_size) if cfg.pooler else None
        self.head_dropout = Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.hidden_size, cfg.num_labels)
        # Per instance so a full-int8 export can use a bias a per-tensor int8 scale can hold.
        self.mask_bias = MASK_BIAS

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        positions = self.position_embeddings.weight[:t].unsqueeze(0)
        words = self.word_embeddings(input_ids)
        if self.embedding_projection is not None:
            words = self.embedding_projection(words)
        summed = (words + self.segment_embedding) + positions
        return self.embedding_dropout(self.embedding_norm(summed))

    def attention_bias(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """[B,T] 0/1 mask -> [B,1,1,T] additive bias."""
        return ((1.0 - attention_mask.to(torch.float32)) * self.mask_bias)[:, None, None, :]

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        """Embedding output followed by every layer's output (as HF's hidden_states)."""
        bias = self.attention_bias(attention_mask)
        states = [self.embed(input_ids)]
        for layer in self.layers:
            states.append(layer(states[-1], bias))
        return states

    def trace(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> EncoderTrace:
        bias = self.attention_bias(attention_mask)
        states, attentions = [self.embed(input_ids)], []
        for layer in self.layers:
            att = layer.attention.attend(states[-1], bias)
            attentions.append(att)
            states.append(layer.ffn(att.out))
        return EncoderTrace(states, attentions, self.classify(states[-1], attention_mask))

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.config.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = attention_mask.to(hidden.dtype).unsqueeze(-1)
            pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        if self.pooler is not None:
            pooled = torch.tanh(self.pooler(pooled))
        return pooled

    def classify(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head_dropout(self.pool(hidden, attention_mask)))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.classify(self.hidden_states(input_ids, attention_mask)[-1], attention_mask)
