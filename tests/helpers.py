"""Tiny real models for tests: HF checkpoints via save_pretrained and edgesdk Encoders."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import torch

from edgesdk.models import Encoder, EncoderConfig, LayerShape
from edgesdk.teacher import default_teacher_dir


def save_tiny_bert(
    directory: Path,
    *,
    vocab_size: int = 30522,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    ffn: int = 64,
    labels: Optional[dict] = None,
    tokenizer: bool = True,
    seed: int = 0,
) -> Path:
    """A random HF BERT checkpoint (with a classification head when `labels` is given)."""
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        max_position_embeddings=128,
        **({"num_labels": len(labels), "id2label": labels} if labels else {}),
    )
    model = BertForSequenceClassification(cfg) if labels else BertModel(cfg)
    model.eval().save_pretrained(directory)
    if tokenizer:
        shutil.copy(default_teacher_dir() / "tokenizer.json", directory)
    return directory


def tiny_encoder(
    seed: int = 0,
    *,
    vocab_size: int = 30522,
    hidden: int = 32,
    heads: int = 4,
    ffn: int = 48,
    layers: int = 2,
    dropout: float = 0.1,
    shapes: Optional[tuple] = None,
) -> Encoder:
    torch.manual_seed(seed)
    return Encoder(
        EncoderConfig(
            vocab_size=vocab_size,
            hidden_size=hidden,
            head_dim=hidden // heads,
            max_positions=64,
            layers=shapes or (LayerShape(heads=heads, ffn=ffn),) * layers,
            dropout=dropout,
        )
    )


MUTATIONS = ("bit_flips", "truncation", "wrong_magic", "inflated_field")


def mutant(data: bytes, kind: str, rng) -> bytes:
    """A damaged copy of an artifact file: random bit flips, a cut at a random length, a
    wrong file identifier, or a 4-byte field near the start (offsets, sizes, lengths live
    there) set to a huge value."""
    b = bytearray(data)
    if kind == "bit_flips":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == "truncation":
        b = b[: rng.randrange(len(b))]
    elif kind == "wrong_magic":
        b[4:8] = bytes(rng.randrange(256) for _ in range(4))
    else:
        pos = rng.randrange(0, min(len(b), 4096) - 4) & ~3
        b[pos : pos + 4] = (0xFFFFFFF0 - rng.randrange(1 << 16)).to_bytes(4, "little")
    return bytes(b)
