"""Import HF BERT-family checkpoints (config.json + weights) into edgesdk's Encoder.

Reads the weights directly (safetensors, or a legacy .bin with weights_only=True) instead of
instantiating HF modules, so importing never runs code from the checkpoint. Both bare
encoders (BertModel, MiniLM, sentence-transformers) and BertForSequenceClassification
checkpoints (prefix `bert.`, with pooler + classifier) are understood.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from safetensors.torch import load_file

from edgesdk.errors import TeacherError
from edgesdk.models.encoder import Encoder, EncoderConfig, LayerShape

SUPPORTED_MODEL_TYPES = ("bert",)


@dataclass(frozen=True)
class HFCheckpoint:
    encoder: Encoder
    has_head: bool
    labels: Optional[tuple[str, ...]]  # id2label of a classification head, in id order


def read_teacher_config(directory: Path) -> dict:
    path = directory / "config.json"
    if not directory.is_dir():
        raise TeacherError(f"teacher dir {directory} does not exist; pass a HF checkpoint directory to --teacher")
    if not path.exists():
        raise TeacherError(f"teacher dir {directory} has no config.json; it must be a HF checkpoint (save_pretrained)")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TeacherError(f"teacher config {path} is not valid JSON ({exc}); re-save the checkpoint") from None
    model_type = cfg.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise TeacherError(
            f"teacher {directory} is model_type '{model_type}'; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise TeacherError(f"teacher {directory} uses {cfg['position_embedding_type']} positions; only absolute")
    return cfg


def check_teacher_dir(directory: Path) -> None:
    """Cheap up-front check (config readable, weights and tokenizer present) before a build starts."""
    read_teacher_config(directory)
    if not any((directory / f).exists() for f in ("model.safetensors", "pytorch_model.bin")):
        raise TeacherError(f"teacher dir {directory} has no model.safetensors (or pytorch_model.bin); re-save it")
    if not any((directory / f).exists() for f in ("tokenizer.json", "vocab.txt")):
        raise TeacherError(f"teacher dir {directory} has no tokenizer.json or vocab.txt; save the tokenizer with it")


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    st = directory / "model.safetensors"
    legacy = directory / "pytorch_model.bin"
    try:
        if st.exists():
            return load_file(str(st))
        if legacy.exists():
            # weights_only refuses pickled code: a malicious .bin raises instead of running.
            return torch.load(str(legacy), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decode failure is a bad checkpoint
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TeacherError(f"cannot read teacher weights in {directory}: {first[:200]}") from None
    raise TeacherError(f"teacher dir {directory} has no model.safetensors (or pytorch_model.bin); re-save it")


def _strip_prefix(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if any(k.startswith("bert.") for k in weights):
        return {k[len("bert.") :] if k.startswith("bert.") else k: v for k, v in weights.items()}
    return weights


def import_hf_bert(
    directory: Path, num_labels: int = 2, pooling: str = "mean", dropout: float = 0.1, drop_head: bool = False
) -> HFCheckpoint:
    """Load a HF BERT checkpoint. A checkpoint with a classifier keeps it (CLS + pooler)
    unless drop_head, which gives the bare encoder a fresh head (for a different label set)."""
    cfg = read_teacher_config(directory)
    w = _strip_prefix(_read_weights(directory))
    has_head = "classifier.weight" in w and not drop_head
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    if hidden % heads:
        raise TeacherError(f"teacher {directory}: hidden_size {hidden} is not divisible by {heads} heads")
    act = cfg.get("hidden_act", "gelu")
    if act not in ("gelu", "relu"):
        raise TeacherError(f"teacher {directory}: activation '{act}' is not supported (gelu or relu)")
    labels = None
    if has_head:
        id2label = cfg.get("id2label") or {}
        n = w["classifier.weight"].shape[0]
        labels = tuple(str(id2label.get(str(i), id2label.get(i, i))) for i in range(n))
    econf = EncoderConfig(
        vocab_size=cfg["vocab_size"],
        hidden_size=hidden,
        head_dim=hidden // heads,
        max_positions=cfg["max_position_embeddings"],
        layers=tuple(LayerShape(heads=heads, ffn=cfg["intermediate_size"]) for _ in range(cfg["num_hidden_layers"])),
        activation=act,
        layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
        num_labels=len(labels) if has_head else num_labels,
        pooling="cls" if has_head else pooling,
        pooler=has_head,
        dropout=dropout,
        pad_token_id=cfg.get("pad_token_id", 0) or 0,
    )
    model = Encoder(econf)
    try:
        state = _map_state(w, econf, model)
    except KeyError as exc:
        raise TeacherError(f"teacher weights in {directory} lack tensor {exc}; the checkpoint is incomplete") from None
    expected = model.state_dict()
    bad = [k for k, v in state.items() if k in expected and v.shape != expected[k].shape]
    if bad:
        raise TeacherError(
            f"teacher {directory}: tensor shapes do not match config.json ({bad[0]}: "
            f"{tuple(state[bad[0]].shape)} vs {tuple(expected[bad[0]].shape)}); re-save the checkpoint"
        )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise TeacherError(f"teacher {directory}: unexpected tensors {unexpected[:3]}")
    if has_head and missing:
        raise TeacherError(f"teacher {directory}: missing tensors {missing[:3]}")
    return HFCheckpoint(model.eval(), has_head, labels)


def _map_state(w: dict[str, torch.Tensor], cfg: EncoderConfig, model: Encoder) -> dict[str, torch.Tensor]:
    ours: dict[str, torch.Tensor] = {}
    ours["word_embeddings.weight"] = w["embeddings.word_embeddings.weight"]
    ours["position_embeddings.weight"] = w["embeddings.position_embeddings.weight"]
    segments = w.get("embeddings.token_type_embeddings.weight")
    ours["segment_embedding"] = segments[0] if segments is not None else torch.zeros(cfg.hidden_size)
    ours["embedding_norm.weight"] = w["embeddings.LayerNorm.weight"]
    ours["embedding_norm.bias"] = w["embeddings.LayerNorm.bias"]
    for i in range(cfg.num_layers):
        src, dst = f"encoder.layer.{i}.", f"layers.{i}."
        pairs = {
            "attention.query": "attention.self.query",
            "attention.key": "attention.self.key",
            "attention.value": "attention.self.value",
            "attention.output": "attention.output.dense",
            "attention.norm": "attention.output.LayerNorm",
            "ffn.up": "intermediate.dense",
            "ffn.down": "output.dense",
            "ffn.norm": "output.LayerNorm",
        }
        for ours_name, theirs in pairs.items():
            for p in ("weight", "bias"):
                ours[f"{dst}{ours_name}.{p}"] = w[f"{src}{theirs}.{p}"]
    if cfg.pooler:
        ours["pooler.weight"] = w["pooler.dense.weight"]
        ours["pooler.bias"] = w["pooler.dense.bias"]
        ours["classifier.weight"] = w["classifier.weight"]
        ours["classifier.bias"] = w["classifier.bias"]
    else:
        # No head in the checkpoint: keep the freshly initialised classifier.
        ours["classifier.weight"] = model.classifier.weight.detach().clone()
        ours["classifier.bias"] = model.classifier.bias.detach().clone()
    return {k: v.to(torch.float32).contiguous() for k, v in ours.items()}
