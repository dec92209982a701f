"""The student step: build the recipe's student from the teacher and distil it.

`student.family: teacher` ships the fine-tuned teacher itself (a copy of teacher/). The
student dir has the same layout as the teacher dir (model, tokenizer, labels, info), so the
lowering step never needs to know which one it got.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from edgesdk.compress.distill import distill
from edgesdk.compress.vocab import learned_rows, token_counts, with_word_table
from edgesdk.compress.word_rows import bake_word_rows, share_word_rows, to_quotient_remainder
from edgesdk.models.qr_embedding import qr_shape
from edgesdk.errors import RecipeError
from edgesdk.fsutil import atomic_copy_dir, atomic_write_json, cache_root
from edgesdk.models.model_dir import labels_json, load_model_dir, write_model_dir
from edgesdk.models.registry import param_count
from edgesdk.models.student_families import build_student
from edgesdk.progress import status
from edgesdk.recipe import Recipe, StudentConfig
from edgesdk.steps.base import DATA, SEED, TRAIN, Context, Step, Upstream, fixed, section
from edgesdk.task import Task
from edgesdk.train import accuracy, predict_logits, use_available_cores

STUDENT_INFO_FILE = "student.json"


def build_student_dir(teacher_dir: Path, task: Task, recipe: Recipe, teacher_hash: str, out_dir: Path) -> dict:
    if recipe.student.family == "teacher":
        atomic_copy_dir(teacher_dir, out_dir)
        atomic_write_json(out_dir / STUDENT_INFO_FILE, {"kind": "teacher"})
        return {"kind": "teacher"}

    import torch

    use_available_cores()
    teacher, tokenizer, _ = load_model_dir(teacher_dir)
    torch.manual_seed(recipe.seed)
    try:
        student = build_student(recipe.student, teacher, recipe.distill.dropout)
    except ValueError as exc:
        raise RecipeError(f"student: {exc}; adjust the recipe's student section") from None
    status(
        f"student: {recipe.student.family}, {param_count(student) / 1e6:.2f}M parameters "
        f"(teacher {param_count(teacher) / 1e6:.1f}M)"
    )
    shared, own_tokenizer, qr = None, None, None
    if recipe.student.word_rows is not None and recipe.student.word_table != "qr":
        shared = share_rows(student, tokenizer, task, recipe.student)
    if recipe.student.learned_vocab is not None:
        student, own_tokenizer = learn_vocabulary(student, tokenizer, task.train.texts, recipe.student.learned_vocab)
    if recipe.student.word_table == "qr":
        student, qr = quotient_remainder(student, recipe.student.word_rows)
    result = distill(
        student,
        teacher,
        tokenizer,
        task.train,
        recipe.distill,
        recipe.seed,
        cache_root() / "soft_labels",
        teacher_hash,
        own_tokenizer,
    )
    info = {"kind": recipe.student.family, **result.to_json()}
    if shared is not None:
        student, tokenizer = bake_word_rows(student, tokenizer)
        info["word_rows"] = shared
    if qr is not None:
        info["word_rows"] = qr
    if own_tokenizer is not None:
        tokenizer = own_tokenizer
        info["learned_vocab"] = {"pieces": own_tokenizer.vocab_size}
    if task.validation.texts:  # train-carved rows: what student settings are chosen on, never dev
        predicted = predict_logits(student, tokenizer, task.validation.texts, recipe.export.seq_len).argmax(1)
        info["validation_accuracy"] = round(accuracy(predicted, task.validation.labels), 6)
    write_model_dir(out_dir, student, tokenizer, labels_json(teacher_dir), {STUDENT_INFO_FILE: info})
    return info


def share_rows(student, tokenizer, task: Task, cfg: StudentConfig) -> dict:
    """student.word_rows: the student trains through a shared-row table (baked after)."""
    import torch

    counts = token_counts(tokenizer, task.train.texts)
    vocab = student.word_embeddings.weight.shape[0]
    seen = torch.zeros(vocab, dtype=torch.long)
    for token, n in counts.items():
        seen[token] = n
    status(f"student: word table shared as {cfg.word_rows} rows ({cfg.word_table})")
    try:
        return share_word_rows(student, cfg.word_table, cfg.word_rows, seen, tokenizer.special_ids())
    except ValueError as exc:
        raise RecipeError(f"student: {exc}; adjust the recipe's student section") from None


def check_qr_rows(tokens: int, rows: int) -> None:
    """Before any training (the build's validation): the qr budget holds the student's vocabulary."""
    try:
        qr_shape(tokens, rows)
    except ValueError as exc:
        raise RecipeError(f"student: {exc}; adjust the recipe's student section") from None


def quotient_remainder(student, rows: int):
    """student.word_table: qr over the student's vocabulary (the teacher's or its learned one);
    the budget was checked before training (check_qr_rows)."""
    student, info = to_quotient_remainder(student, rows)
    status(
        f"student: quotient-remainder word table, {info['quotients']} + {info['remainders']} rows for "
        f"{info['tokens']:,} tokens (initial relative error {info['initial_relative_error']:.2f})"
    )
    return student, info


def learn_vocabulary(student, tokenizer, texts: Sequence[str], size: int):
    """student.learned_vocab: a WordPiece vocabulary learned on the training texts, the
    student's word table re-made for it (each piece from the rows of the teacher's pieces
    for the same characters). Returns (student, its tokenizer)."""
    status(f"student: learning a {size}-piece WordPiece vocabulary on {len(texts):,} training texts")
    own = tokenizer.learned(texts, size)
    table = learned_rows(student.word_embeddings.weight.detach(), tokenizer, own)
    return with_word_table(student, table, own.pad_id), own


def run(ctx: Context) -> dict:
    teacher = ctx.inputs
    return build_student_dir(
        teacher.path("teacher"), ctx.build.task, ctx.build.recipe, teacher.hash("teacher"), ctx.output
    )


STEP = Step(
    "student",
    (Upstream("teacher"), DATA, SEED, section("student"), section("distill"), TRAIN),
    fixed("student"),
    run,
    trains=True,
)
