"""Distillation losses (pure functions of student and teacher tensors).

Every loss is zero when the student reproduces the teacher's internals exactly and positive
otherwise, and only the student side carries gradients: teacher tensors are detached here,
so a caller cannot accidentally train the teacher.

- kd_loss: soft-label KL at temperature T, scaled by T^2 (Hinton et al.).
- hidden_mse: TinyBERT hidden-state MSE through a learned projection (student -> teacher width).
- attention_kl: KL between attention distributions of mapped layers. With equal head counts
  per head; otherwise the head-averaged distributions (a student with fewer heads cannot
  match each teacher head).
- relation_kl: MiniLM(v2) self-attention relations split into R relation heads, so student
  and teacher hidden sizes and head counts may differ: softmax(X_r Y_r^T / sqrt(d_r)) for the
  query-key (attention) and value-value relations.
Padded positions are excluded from every average.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from edgesdk.models.encoder import MASK_BIAS


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    t = temperature
    teacher = F.softmax(teacher_logits.detach() / t, dim=-1)
    log_student = F.log_softmax(student_logits / t, dim=-1)
    return F.kl_div(log_student, teacher, reduction="batchmean") * t * t


def _token_weights(mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(torch.float32)
    return m / m.sum().clamp(min=1.0)


def hidden_mse(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, projection: torch.nn.Module | None = None
) -> torch.Tensor:
    """Mean over valid tokens of the squared error (summed over features / teacher width)."""
    s = projection(student) if projection is not None else student
    err = (s - teacher.detach()).pow(2).mean(dim=-1)  # [B, T]
    return (err * _token_weights(mask)).sum()


def _masked_kl_rows(p_teacher: torch.Tensor, log_p_student: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) per query row [B, H, T, T] -> mean over valid query rows and heads."""
    kl = (p_teacher * (torch.log(p_teacher.clamp(min=1e-12)) - log_p_student)).sum(dim=-1)  # [B, H, T]
    w = _token_weights(mask).unsqueeze(1)  # [B, 1, T]
    return (kl * w).sum() / kl.shape[1]


def attention_kl(student_probs: torch.Tensor, teacher_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    teacher_probs = teacher_probs.detach()
    if student_probs.shape[1] != teacher_probs.shape[1]:
        student_probs = student_probs.mean(dim=1, keepdim=True)
        teacher_probs = teacher_probs.mean(dim=1, keepdim=True)
    return _masked_kl_rows(teacher_probs, torch.log(student_probs.clamp(min=1e-12)), mask)


def _relation_logits(x: torch.Tensor, y: torch.Tensor, heads: int, mask: torch.Tensor) -> torch.Tensor:
    b, t, width = x.shape
    if width % heads:
        raise ValueError(f"relation heads {heads} must divide hidden width {width}")
    d = width // heads
    xr = x.view(b, t, heads, d).transpose(1, 2)
    yr = y.view(b, t, heads, d).transpose(1, 2)
    bias = ((1.0 - mask.to(torch.float32)) * MASK_BIAS)[:, None, None, :]
    return torch.matmul(xr, yr.transpose(-1, -2)) / math.sqrt(d) + bias


def relation_kl(
    student_x: torch.Tensor,
    student_y: torch.Tensor,
    teacher_x: torch.Tensor,
    teacher_y: torch.Tensor,
    mask: torch.Tensor,
    heads: int,
) -> torch.Tensor:
    teacher = F.softmax(_relation_logits(teacher_x.detach(), teacher_y.detach(), heads, mask), dim=-1)
    log_student = F.log_softmax(_relation_logits(student_x, student_y, heads, mask), dim=-1)
    return _masked_kl_rows(teacher, log_student, mask)
