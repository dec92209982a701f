"""How a smaller model maps onto the teacher: which teacher layer each student layer stands
for (student initialisation, the hidden/attention distillation pairs, pruning's recovery), and
the principal directions that shrink a width (student init, embedding factorization).

Below both models/student_families.py and compress/, which use them.
"""

from __future__ import annotations

import torch


def principal_directions(table: torch.Tensor, k: int, center: bool = True) -> torch.Tensor:
    """[H, k] orthonormal top-k principal directions of the rows of `table` [N, H]
    (uncentered: the best rank-k basis for reconstructing the rows themselves)."""
    centered = table - table.mean(dim=0, keepdim=True) if center else table
    # V of the SVD holds the directions; the sign is fixed for determinism across runs.
    _, _, vh = torch.linalg.svd(centered, full_matrices=False)
    p = vh[:k].T.contiguous()
    signs = torch.sign(p[p.abs().argmax(dim=0), torch.arange(k)])
    return p * signs


def layer_map(student_layers: int, teacher_layers: int, strategy) -> list[int]:
    """Teacher layer (1-based; 0 = embeddings) distilled into each student layer 1..Ls."""
    if isinstance(strategy, list):
        if len(strategy) != student_layers or not all(0 <= t <= teacher_layers for t in strategy):
            raise ValueError(
                f"distill.layer_map {strategy} must list {student_layers} teacher layers in 0..{teacher_layers}"
            )
        return list(strategy)
    if student_layers > teacher_layers:
        raise ValueError(f"student has {student_layers} layers, teacher only {teacher_layers}; use an explicit map")
    if strategy == "uniform":
        step = teacher_layers / student_layers
        return [round(step * (i + 1)) for i in range(student_layers)]
    if strategy == "last":
        return list(range(teacher_layers - student_layers + 1, teacher_layers + 1))
    if strategy == "bottom":
        return list(range(1, student_layers + 1))
    raise ValueError(f"unknown layer map '{strategy}' (uniform, last, bottom or a list)")
