"""CNN (Kim, 2014) and BiLSTM (Tang et al., 2019) students: the MCU candidates.

Both take the same (input_ids, attention_mask) int32 pair as the Encoder, so every lowering,
verification and app path treats them alike. They are written for export: the LSTM is a
static Python loop over the fixed sequence length (unrolled at export; no aten.lstm, which
neither XNNPACK nor TFLM lowers as such), and padding is handled with masks, not slicing.
"""

from __future__ import annotations

from typing import Literal, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from edgesdk.models.dropout import Dropout
from edgesdk.models.qr_embedding import word_embeddings


class CNNConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    family: Literal["cnn"] = "cnn"
    vocab_size: int = Field(ge=1)
    embedding_size: int = Field(128, ge=1)
    kernel_sizes: tuple[int, ...] = (3, 4, 5)
    filters: int = Field(128, ge=1)
    num_labels: int = Field(2, ge=1)
    dropout: float = 0.1
    pad_token_id: int = 0
    word_remainders: Optional[int] = Field(None, ge=2, description="quotient-remainder table (models/qr_embedding.py)")


class CNNClassifier(nn.Module):
    """Multi-width 1-D convolutions, ReLU, masked max-pool over time, linear head."""

    def __init__(self, cfg: CNNConfig):
        super().__init__()
        self.config = cfg
        self.word_embeddings = word_embeddings(
            cfg.vocab_size, cfg.embedding_size, cfg.pad_token_id, cfg.word_remainders
        )
        self.convs = nn.ModuleList(nn.Conv1d(cfg.embedding_size, cfg.filters, k) for k in cfg.kernel_sizes)
        self.dropout = Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.filters * len(cfg.kernel_sizes), cfg.num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        m = attention_mask.to(torch.float32)
        x = (self.word_embeddings(input_ids) * m.unsqueeze(-1)).transpose(1, 2)  # [B, E, T]
        keep = m.unsqueeze(1)  # [B, 1, T]
        pooled = []
        for conv, k in zip(self.convs, self.config.kernel_sizes):
            # "same" length output so window t is centred on token t and the token mask applies.
            padded = nn.functional.pad(x, (k // 2, k - 1 - k // 2))
            # relu >= 0, so zeroing padded positions keeps them from winning the max. A
            # multiplicative mask (not a -1e4 bias) leaves int8 activation ranges intact.
            pooled.append((torch.relu(conv(padded)) * keep).amax(dim=-1))
        return self.classifier(self.dropout(torch.cat(pooled, dim=-1)))


class BiLSTMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    family: Literal["bilstm"] = "bilstm"
    vocab_size: int = Field(ge=1)
    embedding_size: int = Field(128, ge=1)
    hidden_size: int = Field(128, ge=1)
    num_labels: int = Field(2, ge=1)
    dropout: float = 0.1
    pad_token_id: int = 0
    word_remainders: Optional[int] = Field(None, ge=2, description="quotient-remainder table (models/qr_embedding.py)")


class _Direction(nn.Module):
    def __init__(self, embedding_size: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.input_proj = nn.Linear(embedding_size, 4 * hidden)
        self.recurrent = nn.Linear(hidden, 4 * hidden, bias=False)

    def run(self, x: torch.Tensor, m: torch.Tensor, reverse: bool) -> torch.Tensor:
        b, t, _ = x.shape
        gates_in = self.input_proj(x)  # one matmul for all time steps
        h = x.new_zeros(b, self.hidden)
        c = x.new_zeros(b, self.hidden)
        steps = range(t - 1, -1, -1) if reverse else range(t)
        for i in steps:
            g = gates_in[:, i] + self.recurrent(h)
            ig, fg, cg, og = g.chunk(4, dim=-1)
            c_new = torch.sigmoid(fg) * c + torch.sigmoid(ig) * torch.tanh(cg)
            h_new = torch.sigmoid(og) * torch.tanh(c_new)
            # padded steps leave the state untouched. Written as a step towards the new state,
            # not keep * new + (1 - keep) * old: `1 - keep` is always 0 at the [CLS] step, and
            # full-int8 TFLM aborts preparing a SUB whose output range is empty.
            keep = m[:, i : i + 1]
            c = c + keep * (c_new - c)
            h = h + keep * (h_new - h)
        return h


class BiLSTMClassifier(nn.Module):
    """Forward and backward LSTM final states, concatenated, then a linear head."""

    def __init__(self, cfg: BiLSTMConfig):
        super().__init__()
        self.config = cfg
        self.word_embeddings = word_embeddings(
            cfg.vocab_size, cfg.embedding_size, cfg.pad_token_id, cfg.word_remainders
        )
        self.forward_lstm = _Direction(cfg.embedding_size, cfg.hidden_size)
        self.backward_lstm = _Direction(cfg.embedding_size, cfg.hidden_size)
        self.dropout = Dropout(cfg.dropout)
        self.classifier = nn.Linear(2 * cfg.hidden_size, cfg.num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        m = attention_mask.to(torch.float32)
        x = self.dropout(self.word_embeddings(input_ids))
        h = torch.cat([self.forward_lstm.run(x, m, False), self.backward_lstm.run(x, m, True)], dim=-1)
        return self.classifier(self.dropout(h))
