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

import json
import math
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors.torch import load_file, save_file
from torch import nn

from edgesdk.errors import TeacherError

# Additive bias for masked keys. exp(-1e4 + s) underflows to exactly 0 in fp32 for any
# realistic score s, matching HF's finfo.min masking bit for bit, while staying a value an
# int8 or fp16 runtime can represent.
MASK_BIAS = -1e4

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class LayerShape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    heads: int = Field(ge=1)
    ffn: int = Field(ge=1)


class EncoderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

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

    @property
    def num_layers(self) -> int:
        return len(self.layers)


class Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, head_dim: int, eps: float, dropout: float):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.query = nn.Linear(hidden, inner)
        self.key = nn.Linear(hidden, inner)
        self.value = nn.Linear(hidden, inner)
        self.output = nn.Linear(inner, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(head_dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q * self.scale, k.transpose(-1, -2)) + bias
        probs = self.dropout(torch.softmax(scores, dim=-1))
        context = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, self.heads * self.head_dim)
        return self.norm(x + self.dropout(self.output(context)))


class FeedForward(nn.Module):
    def __init__(self, hidden: int, ffn: int, activation: str, eps: float, dropout: float):
        super().__init__()
        self.up = nn.Linear(hidden, ffn)
        self.down = nn.Linear(ffn, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.dropout(self.down(self.act(self.up(x)))))


class Layer(nn.Module):
    def __init__(self, cfg: EncoderConfig, shape: LayerShape):
        super().__init__()
        self.attention = Attention(cfg.hidden_size, shape.heads, cfg.head_dim, cfg.layer_norm_eps, cfg.dropout)
        self.ffn = FeedForward(cfg.hidden_size, shape.ffn, cfg.activation, cfg.layer_norm_eps, cfg.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.attention(x, bias))


class Encoder(nn.Module):
    """forward(input_ids[B,T] int, attention_mask[B,T] int) -> logits[B, num_labels]."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.config = cfg
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.hidden_size)
        self.segment_embedding = nn.Parameter(torch.zeros(cfg.hidden_size))
        self.embedding_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.embedding_dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(Layer(cfg, shape) for shape in cfg.layers)
        self.pooler = nn.Linear(cfg.hidden_size, cfg.hidden_size) if cfg.pooler else None
        self.head_dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.hidden_size, cfg.num_labels)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        positions = self.position_embeddings.weight[:t].unsqueeze(0)
        summed = (self.word_embeddings(input_ids) + self.segment_embedding) + positions
        return self.embedding_dropout(self.embedding_norm(summed))

    @staticmethod
    def attention_bias(attention_mask: torch.Tensor) -> torch.Tensor:
        """[B,T] 0/1 mask -> [B,1,1,T] additive bias."""
        return ((1.0 - attention_mask.to(torch.float32)) * MASK_BIAS)[:, None, None, :]

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        """Embedding output followed by every layer's output (as HF's hidden_states)."""
        bias = self.attention_bias(attention_mask)
        states = [self.embed(input_ids)]
        for layer in self.layers:
            states.append(layer(states[-1], bias))
        return states

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

    # -- persistence: safetensors + JSON, never pickle -------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(self.config.model_dump_json(indent=1))
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE))

    @classmethod
    def load(cls, directory: Path) -> "Encoder":
        try:
            cfg = EncoderConfig.model_validate(json.loads((directory / CONFIG_FILE).read_text()))
            model = cls(cfg)
            model.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        except (OSError, ValueError, RuntimeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TeacherError(f"cannot load edgesdk model from {directory}: {first}") from None
        return model.eval()


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
