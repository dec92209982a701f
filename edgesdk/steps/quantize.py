"""The quantize step (only when a precision trains for quantization: int8-qat).

QAT fine-tunes the deployed model with int8 fake quantization on the teacher's soft labels and
writes the trained float weights as a model dir; every runtime's int8-qat artifact is then
the lower step's int8 path over those weights. Post-training quantization needs no training,
so it runs where it lowers (see steps/lower.py).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from edgesdk.compress.distill import teacher_soft_labels
from edgesdk.compress.quant_methods import QatData, deployable, qat_finetune, qat_texts
from edgesdk.fsutil import cache_root, sha256_file
from edgesdk.models.model_dir import labels_json, load_model_dir, write_model_dir
from edgesdk.progress import status
from edgesdk.recipe import Recipe
from edgesdk.steps.artifacts import QAT_BASE, artifact_entries
from edgesdk.steps.base import DATA, DEPLOYED, SEED, SEQ_LEN, Context, Step, Upstream, fixed, section
from edgesdk.task import Task

QAT_DIR = "qat"


def run_qat(model_dir: Path, teacher_dir: Path, task: Task, recipe: Recipe, out_dir: Path) -> dict:
    """The QAT-trained copy of the model in `model_dir` (see compress/quantize.qat_finetune),
    trained once per build and shared by every runtime's int8-qat artifact."""
    model, tokenizer, _ = load_model_dir(model_dir)
    seq_len, qcfg = recipe.export.seq_len, recipe.quantize
    teacher, teacher_tokenizer, _ = load_model_dir(teacher_dir)
    texts = qat_texts(task.train.texts, qcfg, recipe.seed)
    data = qat_data(texts, tokenizer, teacher, teacher_tokenizer, seq_len, teacher_dir)
    status(f"QAT: {qcfg.qat_steps} steps x {qcfg.qat_batch_size} rows, int8 fake quantization, teacher soft labels")
    trained = qat_finetune(deployable(copy.deepcopy(model), seq_len), data, qcfg, seq_len, recipe.seed)
    # Trained on the export-length position table; stored in the model's own shape (the rows
    # past seq_len are never read, lowering cuts them again).
    state = {k: v for k, v in trained.state_dict().items() if k != "position_embeddings.weight"}
    model.load_state_dict(state, strict=False)
    if hasattr(model, "position_embeddings"):
        with torch.no_grad():
            model.position_embeddings.weight[: trained.position_embeddings.weight.shape[0]] = (
                trained.position_embeddings.weight
            )
    write_model_dir(out_dir, model.eval(), tokenizer, labels_json(model_dir), {})
    return {"qat_steps": qcfg.qat_steps, "rows": len(texts)}


def qat_data(texts: list[str], tokenizer, teacher, teacher_tokenizer, seq_len: int, teacher_dir: Path) -> QatData:
    """The model's ids for `texts` with the teacher's soft labels for the same texts. The
    teacher reads its own tokenization: the model's vocabulary may be cut (prune.vocab) or
    remapped (student.word_rows), and its ids would be other tokens to the teacher (which
    turned QAT's targets into noise and the int8-qat model into a constant classifier)."""
    teacher_hash = sha256_file(teacher_dir / "model.safetensors")
    soft = teacher_soft_labels(
        teacher, teacher_tokenizer, teacher_tokenizer.encode(texts, seq_len), cache_root() / "soft_labels", teacher_hash
    )
    ids, mask = tokenizer.pad(tokenizer.encode(texts, seq_len), seq_len)
    return QatData(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(soft))


def run(ctx: Context) -> dict:
    up = ctx.inputs
    return run_qat(up.path("model"), up.path("teacher"), ctx.build.task, ctx.build.recipe, ctx.output)


def trains_for_quantization(recipe: Recipe) -> bool:
    return any(a.precision in QAT_BASE for a in artifact_entries(recipe) if a.model == "student")


STEP = Step(
    "quantize",
    (
        DEPLOYED,
        Upstream("teacher"),
        section("quantize", frozenset({"max_accuracy_drop", "min_agreement"})),
        SEQ_LEN,
        DATA,
        SEED,
    ),
    fixed(QAT_DIR),
    run,
    active=lambda b: trains_for_quantization(b.recipe),
)
