"""Build a student from the recipe, initialised from the teacher where shapes allow.

Encoder students copy chosen teacher layers (uniform every-k, or the bottom k as in
layer-drop). A narrower student gets the teacher's weights projected onto the top principal
directions of the teacher's word-embedding space (`pca`) or simply the first dimensions
(`truncate`); attention heads keep the first heads (and the first head dims when the head
width shrinks) and FFNs the first neurons. Projection is not exact (LayerNorm does not commute
with a rotation), so it is a starting point that distillation recovers from, nothing more.
CNN/BiLSTM students take a PCA projection of the teacher's word-embedding table.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from edgesdk.models.encoder import Encoder, EncoderConfig, LayerShape
from edgesdk.models.mapping import layer_map, principal_directions
from edgesdk.models.small import BiLSTMClassifier, BiLSTMConfig, CNNClassifier, CNNConfig
from edgesdk.recipe import StudentConfig


def _projection(teacher: Encoder, width: int, how: str) -> torch.Tensor:
    h = teacher.config.hidden_size
    if width > h:
        raise ValueError(f"student width {width} exceeds the teacher's {h}")
    if how == "truncate":
        return torch.eye(h)[:, :width]
    with torch.no_grad():
        return principal_directions(teacher.word_embeddings.weight.float(), width)


def _norm(dst: nn.LayerNorm, src: nn.LayerNorm, p: torch.Tensor) -> None:
    dst.weight.copy_((p * p).T @ src.weight)  # unit-norm columns: a weighted mean of gains
    dst.bias.copy_(p.T @ src.bias)


def _head_rows(heads: list[int], teacher_dim: int, student_dim: int) -> torch.Tensor:
    return torch.cat([torch.arange(h * teacher_dim, h * teacher_dim + student_dim) for h in heads])


def _init_layer(dst, src, p: torch.Tensor, teacher_head_dim: int, student_head_dim: int) -> None:
    sa, ta = dst.attention, src.attention
    rows = _head_rows(list(range(sa.heads)), teacher_head_dim, student_head_dim)
    for name in ("query", "key", "value"):
        d, s = getattr(sa, name), getattr(ta, name)
        d.weight.copy_(s.weight[rows] @ p)
        d.bias.copy_(s.bias[rows])
    sa.output.weight.copy_(p.T @ ta.output.weight[:, rows])
    sa.output.bias.copy_(p.T @ ta.output.bias)
    _norm(sa.norm, ta.norm, p)
    neurons = dst.ffn.up.out_features
    dst.ffn.up.weight.copy_(src.ffn.up.weight[:neurons] @ p)
    dst.ffn.up.bias.copy_(src.ffn.up.bias[:neurons])
    dst.ffn.down.weight.copy_(p.T @ src.ffn.down.weight[:, :neurons])
    dst.ffn.down.bias.copy_(p.T @ src.ffn.down.bias)
    _norm(dst.ffn.norm, src.ffn.norm, p)


def encoder_student(cfg: StudentConfig, teacher: Encoder, dropout: float) -> Encoder:
    tc = teacher.config
    head_dim = cfg.hidden // cfg.heads
    scfg = EncoderConfig(
        vocab_size=tc.vocab_size,
        hidden_size=cfg.hidden,
        head_dim=head_dim,
        max_positions=tc.max_positions,
        layers=tuple(LayerShape(heads=cfg.heads, ffn=cfg.ffn) for _ in range(cfg.layers)),
        activation=cfg.activation,
        layer_norm_eps=tc.layer_norm_eps,
        num_labels=tc.num_labels,
        pooling=tc.pooling,
        pooler=tc.pooler,
        dropout=dropout,
        pad_token_id=tc.pad_token_id,
        embedding_size=cfg.embedding_size,
    )
    student = Encoder(scfg)
    if cfg.layer_init == "none":
        return student
    can_copy = (
        cfg.heads <= tc.layers[0].heads
        and head_dim <= tc.head_dim
        and cfg.ffn <= tc.layers[0].ffn
        and cfg.activation == tc.activation
    )
    p = _projection(teacher, cfg.hidden, cfg.hidden_init)
    with torch.no_grad():
        words = teacher.word_embeddings.weight
        if student.embedding_projection is not None:  # factorized: SVD of the projected table
            projected = words @ p
            e = cfg.embedding_size
            basis = principal_directions(projected, e)  # [H_s, E]
            student.word_embeddings.weight.copy_(projected @ basis)
            student.embedding_projection.weight.copy_(basis)
        else:
            student.word_embeddings.weight.copy_(words @ p)
        student.position_embeddings.weight.copy_(teacher.position_embeddings.weight @ p)
        student.segment_embedding.copy_(p.T @ teacher.segment_embedding)
        _norm(student.embedding_norm, teacher.embedding_norm, p)
        if can_copy:
            chosen = layer_map(cfg.layers, tc.num_layers, cfg.layer_init)
            for dst, t_layer in zip(student.layers, chosen):
                if t_layer >= 1:
                    _init_layer(dst, teacher.layers[t_layer - 1], p, tc.head_dim, head_dim)
        if student.pooler is not None:
            student.pooler.weight.copy_(p.T @ teacher.pooler.weight @ p)
            student.pooler.bias.copy_(p.T @ teacher.pooler.bias)
        student.classifier.weight.copy_(teacher.classifier.weight @ p)
        student.classifier.bias.copy_(teacher.classifier.bias)
    return student


def _embedding_init(module: nn.Embedding, teacher: Encoder) -> None:
    with torch.no_grad():
        words = teacher.word_embeddings.weight
        if teacher.embedding_projection is not None:
            words = teacher.embedding_projection(words)
        width = module.embedding_dim
        if width > words.shape[1]:
            raise ValueError(f"student embedding_size {width} exceeds the teacher's {words.shape[1]}")
        module.weight.copy_(words @ principal_directions(words.float(), width))


def _small_fields(cfg: StudentConfig, teacher: Encoder, dropout: float) -> dict:
    """What the CNN and BiLSTM configs share: the teacher's vocabulary and labels."""
    tc = teacher.config
    return {
        "vocab_size": tc.vocab_size,
        "embedding_size": cfg.embedding_size or 128,
        "num_labels": tc.num_labels,
        "dropout": dropout,
        "pad_token_id": tc.pad_token_id,
    }


def _with_teacher_words(model: nn.Module, teacher: Encoder) -> nn.Module:
    _embedding_init(model.word_embeddings, teacher)
    return model


def cnn_student(cfg: StudentConfig, teacher: Encoder, dropout: float) -> nn.Module:
    config = CNNConfig(
        kernel_sizes=tuple(cfg.kernel_sizes), filters=cfg.filters, **_small_fields(cfg, teacher, dropout)
    )
    return _with_teacher_words(CNNClassifier(config), teacher)


def bilstm_student(cfg: StudentConfig, teacher: Encoder, dropout: float) -> nn.Module:
    config = BiLSTMConfig(hidden_size=cfg.lstm_hidden, **_small_fields(cfg, teacher, dropout))
    return _with_teacher_words(BiLSTMClassifier(config), teacher)


# student.family -> how it is built from the teacher (the `teacher` family is the teacher itself).
STUDENT_FAMILIES: dict[str, Callable[[StudentConfig, Encoder, float], nn.Module]] = {
    "encoder": encoder_student,
    "cnn": cnn_student,
    "bilstm": bilstm_student,
}


def build_student(cfg: StudentConfig, teacher: Encoder, dropout: float) -> nn.Module:
    if cfg.family not in STUDENT_FAMILIES:
        raise ValueError(f"no student for family '{cfg.family}'")
    return STUDENT_FAMILIES[cfg.family](cfg, teacher, dropout)
