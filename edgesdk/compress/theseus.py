"""BERT-of-Theseus module replacement (Xu et al. 2020, arXiv 2002.02925).

The student's layers are successors of blocks of teacher layers (teacher depth / student
depth each). In each training step every block runs either its frozen teacher layers or,
with probability `rate`, the student layer that replaces it, so each student layer learns
to do its block's job inside a network that still mostly works, and the layers learn to
cooperate with each other as the rate rises linearly to 1; then the usual distillation
trains the student alone. Embeddings and classifier are the student's throughout (they start
from the teacher's), so the widths must match: a teacher pruned or a student as wide.
"""

from __future__ import annotations

import random

import torch
from torch import nn

from edgesdk.models.encoder import Encoder


def theseus_problem(student: nn.Module, teacher: Encoder) -> str | None:
    """Why module replacement cannot pair these models, or None."""
    if not isinstance(student, Encoder):
        return f"distill.theseus needs an encoder student, not {type(student).__name__}"
    s, t = student.config, teacher.config
    if s.hidden_size != t.hidden_size:
        return (
            f"distill.theseus needs the student's hidden size to be the teacher's ({s.hidden_size} vs {t.hidden_size})"
        )
    if t.num_layers % s.num_layers:
        return f"distill.theseus needs the teacher's {t.num_layers} layers to split evenly over the student's {s.num_layers}"
    return None


class TheseusHybrid(nn.Module):
    """Forward of the student's embeddings and classifier around, per block, the teacher's
    layers or (with probability `rate`, drawn per block and step) the student's layer."""

    def __init__(self, student: Encoder, teacher: Encoder, seed: int):
        super().__init__()
        self.student, self.teacher = student, teacher
        self.block = teacher.config.num_layers // student.config.num_layers
        self.rate = 0.0
        self.rng = random.Random(seed)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        student = self.student
        bias = student.attention_bias(attention_mask)
        hidden = student.embed(input_ids)
        for i, layer in enumerate(student.layers):
            if not student.training or self.rng.random() < self.rate:
                hidden = layer(hidden, bias)
            else:
                for predecessor in self.teacher.layers[i * self.block : (i + 1) * self.block]:
                    hidden = predecessor(hidden, bias)
        return student.classify(hidden, attention_mask)


class RisingRate:
    """Wraps a loss function: before each step, the hybrid's replacement rate is set on the
    linear curriculum from `start` (first step) to 1 (last step)."""

    def __init__(self, hybrid: TheseusHybrid, loss_fn, start: float, steps: int):
        self.hybrid, self.loss_fn, self.start, self.steps, self.step = hybrid, loss_fn, start, steps, 0

    def __call__(self, idx: list[int]) -> torch.Tensor:
        self.hybrid.rate = min(1.0, self.start + (1.0 - self.start) * self.step / max(1, self.steps - 1))
        self.step += 1
        return self.loss_fn(idx)
