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
from types import SimpleNamespace

from edgesdk.fsutil import (
    atomic_copy_dir,
    cache_root,
    publish_dir,
    sha256_dir,
)
from edgesdk.models.hf_import import import_hf_bert
from edgesdk.models.model_dir import check_teacher_labels, is_model_dir, load_model_dir, write_model_dir
from edgesdk.progress import status
from edgesdk.recipe import TeacherConfig
from edgesdk.steps.base import DATA, SEED, TRAIN, Context, Step, Value, fixed
from edgesdk.task import LabelMap, Task
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import accuracy, fine_tune, predict_logits, teacher_epochs, use_available_cores

# Bump when fine-tuning would produce different weights for the same inputs (a fix in the
# loop, a seeding change) so that cached teachers from older code are not reused.
TRAINER_VERSION = 2
TRAIN_INFO_FILE = "train.json"


def keyed_teacher(cfg: TeacherConfig, rows: int) -> dict:
    """The teacher section as keys see it: the epochs it trains on `rows` training rows
    (min_steps applied) instead of min_steps itself, so a recipe that gains min_steps keeps
    every cached teacher whose training it does not change."""
    return {**cfg.model_dump(exclude={"path", "min_steps"}), "epochs": teacher_epochs(cfg, rows)}


def teacher_key(base_dir: Path, task_hash: str, cfg: TeacherConfig, seed: int, labels: LabelMap, rows: int) -> str:
    """The teacher step's key (its user-cache entry) outside a build, for `rows` training rows
    on the default device: what tests and bench/teacher_recipe.py fine-tune under, computed by
    the step's own declaration so the two cannot drift apart."""
    build = SimpleNamespace(
        teacher_base=base_dir,
        data_hash=task_hash,
        recipe=SimpleNamespace(teacher=cfg, seed=seed),
        task=SimpleNamespace(train=range(rows), label_map=labels),
        device=SimpleNamespace(is_default=True),
    )
    return STEP.resolve(build, manifest=None, done=set())[0].key


def build_teacher(base_dir: Path, task: Task, cfg: TeacherConfig, seed: int, key: str, out_dir: Path) -> dict:
    """Write the fine-tuned teacher to out_dir (from the user cache when present)."""
    cached = cache_root() / "teachers" / key
    if (cached / TRAIN_INFO_FILE).exists():
        status(f"teacher: reusing cached fine-tuned weights ({cached})")
        atomic_copy_dir(cached, out_dir)
        return {**json.loads((cached / TRAIN_INFO_FILE).read_text()), "cache": "user-cache"}

    import torch

    use_available_cores()
    if is_model_dir(base_dir):  # an earlier build's fine-tuned model (teacher/, or pruned/ as an assistant)
        check_teacher_labels(base_dir, task.label_map)
        model, tokenizer, _ = load_model_dir(base_dir)
        status(f"teacher: using the fine-tuned model of an earlier build ({base_dir}) as is")
        info = {"base": str(base_dir), "parameters": sum(p.numel() for p in model.parameters()), "fine_tuned": False}
        return finish_teacher(model, tokenizer, task, cfg, info, out_dir, cached)
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
        epochs = teacher_epochs(cfg, len(task.train))
        if epochs != cfg.epochs:
            status(f"teacher: {cfg.epochs:g} epochs are under teacher.min_steps {cfg.min_steps:,}: {epochs:g} epochs")
            info["epochs"] = epochs
        result = fine_tune(model, tokenizer, task.train, cfg, seed)
        info.update(fine_tuned=True, steps=result.steps, final_loss=result.final_loss, train_seconds=result.seconds)
    return finish_teacher(model, tokenizer, task, cfg, info, out_dir, cached)


def finish_teacher(
    model, tokenizer: Tokenizer, task: Task, cfg: TeacherConfig, info: dict, out_dir: Path, cached: Path
) -> dict:
    """Score on the train-carved validation rows, write the teacher dir, publish it to the user cache."""
    if task.validation.texts:  # rows carved from train: what teacher settings are chosen on, never dev
        predicted = predict_logits(model, tokenizer, task.validation.texts, cfg.max_length).argmax(1)
        info.update(
            validation_rows=len(task.validation), validation_accuracy=accuracy(predicted, task.validation.labels)
        )
        status(
            f"teacher: {info['validation_accuracy']:.4f} on {len(task.validation)} validation rows carved from train"
        )

    write_model_dir(out_dir, model, tokenizer, task.label_map.to_json(), {TRAIN_INFO_FILE: info})
    try:  # the user cache is an optimisation; a read-only home must not fail the build
        if cached.is_dir() and not (cached / TRAIN_INFO_FILE).exists():
            shutil.rmtree(cached)  # incomplete (an older writer's): nobody reads it
        publish_dir(out_dir, cached)
    except OSError:
        pass
    return {**info, "cache": "trained"}


def run(ctx: Context) -> dict:
    b = ctx.build
    return build_teacher(b.teacher_base, b.task, b.recipe.teacher, b.recipe.seed, ctx.key.key, ctx.output)


STEP = Step(
    "teacher",
    (
        Value("trainer", lambda b: TRAINER_VERSION),
        Value("base", lambda b: sha256_dir(b.teacher_base) if b.teacher_base.is_dir() else "missing"),
        DATA,
        Value("teacher", lambda b: keyed_teacher(b.recipe.teacher, len(b.task.train))),
        SEED,
        Value("labels", lambda b: list(b.task.label_map.names)),
        TRAIN,
    ),
    fixed("teacher"),
    run,
    keyed_by_name=True,
    trains=True,
)
