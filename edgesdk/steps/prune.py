"""The prune step: structured pruning, sharing, factorization and sparsity, each recovered
by distillation, then vocabulary pruning.

Reads the distilled student (student/), writes pruned/ in the same layout (model, tokenizer,
labels) plus prune.json, which the report reads. Structured pruning comes first because its
recovery distils from the teacher, which needs the teacher's tokenizer; vocabulary pruning
needs no training and comes last.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from edgesdk.compress.distill import distill
from edgesdk.compress.low_rank import low_rank_layers, low_rank_rank
from edgesdk.compress.share import bake_clusters, cluster_weights, factorize_embeddings, share_layers
from edgesdk.compress.structured import bake_masks, cubic_sparsity, importance_batches, mask_smallest, prune_structure
from edgesdk.compress.vocab import plan_vocabulary, prune_vocabulary
from edgesdk.errors import RecipeError
from edgesdk.fsutil import cache_root
from edgesdk.models.flops import model_flops
from edgesdk.models.mapping import layer_map
from edgesdk.models.model_dir import labels_json, load_model_dir, write_model_dir
from edgesdk.models.registry import param_count
from edgesdk.progress import status
from edgesdk.recipe import DistillConfig, LossWeights, Recipe, TheseusConfig
from edgesdk.steps.base import DATA, SEED, SEQ_LEN, TRAIN, Context, Step, Upstream, fixed, section
from edgesdk.task import Task
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import accuracy, predict_logits, use_available_cores

PRUNED_DIR = "pruned"
PRUNE_INFO_FILE = "prune.json"


def recovery_config(recipe: Recipe) -> DistillConfig:
    """Recovery = the recipe's distillation (Quant-Noise included, Theseus module replacement
    not) on the prediction losses only, unless `prune.recovery_losses` names others (the distillation's own internal losses are not
    inherited: they were tuned for a student that pruning just reshaped), augmented only when
    `prune.recovery_augment` asks (the student's own augmentation was for its distillation);
    a pruned teacher keeps the teacher's fine-tuning learning rate and frozen word table."""
    d, p = recipe.distill, recipe.prune
    is_teacher = recipe.student.family == "teacher"
    default_lr = recipe.teacher.learning_rate if is_teacher else d.learning_rate
    losses = p.recovery_losses or (
        LossWeights(kd=d.losses.kd, ce=d.losses.ce) if d.losses.kd + d.losses.ce > 0 else LossWeights()
    )
    return d.model_copy(
        update={
            "epochs": p.recovery_epochs or 1.0,
            "max_train_rows": p.recovery_rows or d.max_train_rows,
            "learning_rate": p.recovery_learning_rate or default_lr,
            "losses": losses,
            "two_stage": False,
            "augment": d.augment.model_copy(update={"factor": p.recovery_augment}),
            "theseus": TheseusConfig(),  # module replacement is how a student starts, not a recovery
            "freeze_word_embeddings": d.freeze_word_embeddings or is_teacher,
            "max_length": recipe.teacher.max_length if is_teacher else d.max_length,
        }
    )


def recovery_layer_map(
    recovery: DistillConfig, student_layers: int, teacher_layers: int, removed: list[int]
) -> list[int]:
    """The distillation's layer map without the removed layers' entries: each kept layer goes on
    learning from the teacher layer it matched before pruning (the teacher pruned into the
    student: its own unpruned self), where a map over the fewer remaining layers would shift
    them all."""

    full = layer_map(student_layers, teacher_layers, recovery.layer_map)
    return [t for i, t in enumerate(full) if i not in removed]


class Pruning:
    """One prune step's state: the task, the recipe and the history of transformed models,
    each measured on dev before and after its recovery (prune.json's `history`)."""

    def __init__(self, task: Task, recipe: Recipe, tokenizer, teacher_dir: Path, teacher_hash: str):
        self.task, self.recipe, self.tokenizer = task, recipe, tokenizer
        self.cfg, self.seq_len = recipe.prune, recipe.export.seq_len
        self.teacher_dir, self.teacher_hash = teacher_dir, teacher_hash
        self.history: list[dict] = []

    def dev_logits(self, model, tokenizer) -> np.ndarray:
        return predict_logits(model, tokenizer, self.task.dev.texts, self.seq_len)

    def evaluate(self, model) -> float:
        return round(accuracy(self.dev_logits(model, self.tokenizer).argmax(1), self.task.dev.labels), 6)

    def reshape(self, model, info: dict):
        """Structured pruning, sharing, factorization, sparsity, clustering: each recovered by
        distillation from the teacher, in that order. Returns the reshaped model."""
        # Long function: the reshaping stages in their fixed order, sharing the recover/stage closures.
        cfg, recipe, task = self.cfg, self.recipe, self.task
        teacher, _, _ = load_model_dir(self.teacher_dir)
        recovery = recovery_config(recipe)
        if recovery.losses.internal:
            mapped = recovery_layer_map(recovery, model.config.num_layers, teacher.config.num_layers, cfg.layers)
            recovery = recovery.model_copy(update={"layer_map": mapped})

        def recover(m, round_: int) -> dict:
            """Distil `m` from the teacher in place; each round gets its own seed."""
            seed = recipe.seed + round_
            torch.manual_seed(seed)
            soft_labels = cache_root() / "soft_labels"
            return distill(
                m, teacher, self.tokenizer, task.train, recovery, seed, soft_labels, self.teacher_hash
            ).to_json()

        def stage(label: str, m) -> None:
            """Record a transformed model's accuracy before and after its recovery."""
            pruned_accuracy = self.evaluate(m)
            done = recover(m, len(self.history) + 1) if cfg.recovery_epochs > 0 else {}
            self.history.append(
                {
                    "stage": label,
                    "heads": sum(s.heads for s in m.config.layers),
                    "ffn": sum(s.ffn for s in m.config.layers),
                    "params": param_count(m),
                    "accuracy_pruned": pruned_accuracy,
                    "accuracy": self.evaluate(m) if done else pruned_accuracy,
                    "recovery": done,
                }
            )

        if cfg.structured:
            batches = importance_batches(
                self.tokenizer,
                task.train.texts,
                task.train.labels,
                cfg.importance_rows,
                recovery.max_length,
                recipe.seed,
            )
            random.seed(recipe.seed)
            torch.manual_seed(recipe.seed)
            result = prune_structure(model, cfg, batches, recover if cfg.recovery_epochs > 0 else None, self.evaluate)
            model = result.model
            info.update({k: v for k, v in result.info.items() if k != "history"})
            self.history += result.info["history"]
        try:
            if cfg.share_layers != "none":
                status(f"prune: sharing {cfg.share_layers} across {model.config.num_layers} layers")
                model = share_layers(model, cfg.share_layers)
                stage(f"share {cfg.share_layers}", model)
            if cfg.embedding_size is not None:
                status(f"prune: factorizing the word table to {cfg.embedding_size} dimensions")
                model = factorize_embeddings(model, cfg.embedding_size)
                stage(f"embedding {cfg.embedding_size}", model)
            if cfg.low_rank is not None:
                status(f"prune: layer Linears to rank {low_rank_rank(model.config.hidden_size, cfg.low_rank)} (SVD)")
                model = low_rank_layers(model, cfg.low_rank)
                stage(f"low rank {cfg.low_rank}", model)
        except ValueError as exc:
            raise RecipeError(f"prune: {exc}; adjust the recipe's prune section") from None
        if cfg.sparsity > 0:
            for it in range(1, cfg.sparsity_iterations + 1):
                target = cubic_sparsity(cfg.sparsity, it, cfg.sparsity_iterations)
                status(f"prune: magnitude sparsity {target:.1%} ({it}/{cfg.sparsity_iterations})")
                mask_smallest(model, target)
                stage(f"sparsity {target:.3f}", model)
            info["sparsity"] = round(bake_masks(model), 6)
        if cfg.cluster is not None:
            status(f"prune: clustering weights into {cfg.cluster} values per tensor")
            cluster_weights(model, cfg.cluster, cfg.cluster_embeddings)
            stage(f"cluster {cfg.cluster}", model)
            info["cluster_distinct_values"] = bake_clusters(model, cfg.cluster_embeddings)
            info["cluster_embeddings"] = cfg.cluster_embeddings
        info.update({"share_layers": cfg.share_layers, "embedding_size": cfg.embedding_size})
        if cfg.low_rank is not None:
            info["low_rank"] = {"fraction": cfg.low_rank, "rank": model.config.layers[0].rank}
        return model

    def cut_vocabulary(self, model, info: dict):
        """Keep only the word-table rows the training texts use; (model, tokenizer) after it."""
        cfg, task, tokenizer = self.cfg, self.task, self.tokenizer
        plan = plan_vocabulary(tokenizer, task.train.texts, cfg.vocab_min_count, cfg.vocab_max_size)
        reference = self.dev_logits(model, tokenizer).argmax(1)
        # The train-carved validation rows (when the recipe keeps them) are what a choice of
        # vocab settings is made on; dev is reported beside them, never chosen on.
        held_out = task.validation

        def held_out_accuracy(m, tok) -> float:
            return round(accuracy(predict_logits(m, tok, held_out.texts, self.seq_len).argmax(1), held_out.labels), 6)

        validation_before = held_out_accuracy(model, tokenizer) if len(held_out) else None
        model, tokenizer = prune_vocabulary(model, tokenizer, plan, cfg.vocab_unseen)
        predicted = self.dev_logits(model, tokenizer).argmax(1)
        if validation_before is not None:
            info["vocab_validation_accuracy_before"] = validation_before
            info["vocab_validation_accuracy_after"] = held_out_accuracy(model, tokenizer)
        width = model.word_embeddings.weight.shape[1]
        info.update(
            {
                "vocab_before": plan.before,
                "vocab_after": len(plan.keep),
                "vocab_unseen": cfg.vocab_unseen,
                "embedding_bytes_saved_fp32": (plan.before - len(plan.keep)) * width * 4,
                "vocab_dev_prediction_changes": int((reference != predicted).sum()),
                "vocab_dev_accuracy_before": round(accuracy(reference, task.dev.labels), 6),
                "vocab_dev_accuracy_after": round(accuracy(predicted, task.dev.labels), 6),
            }
        )
        status(
            f"prune: vocabulary {plan.before} -> {len(plan.keep)} tokens; "
            f"{info['vocab_dev_prediction_changes']} of {len(task.dev)} dev predictions changed"
        )
        return model, tokenizer


def build_pruned_dir(
    student_dir: Path, teacher_dir: Path, task: Task, recipe: Recipe, teacher_hash: str, out_dir: Path
) -> dict:
    use_available_cores()
    seq_len = recipe.export.seq_len
    model, tokenizer, _ = load_model_dir(student_dir)
    before = {"params": param_count(model), "flops": model_flops(model, seq_len)}
    pruning = Pruning(task, recipe, tokenizer, teacher_dir, teacher_hash)
    info: dict = {"before": before}
    if recipe.prune.reshapes:
        model = pruning.reshape(model, info)
    info["history"] = pruning.history
    if recipe.prune.vocab == "train":
        model, tokenizer = pruning.cut_vocabulary(model, info)
    info["after"] = {"params": param_count(model), "flops": model_flops(model, seq_len)}
    status(f"prune: {before['params'] / 1e6:.2f}M -> {info['after']['params'] / 1e6:.2f}M parameters")
    write_model_dir(out_dir, model, tokenizer, labels_json(student_dir), {PRUNE_INFO_FILE: info})
    return info


def deployed_tokens(base_dir: Path, task: Task, recipe: Recipe) -> list[str]:
    """The word-table rows the deployed model will keep: the teacher's vocabulary (or the
    student's learned one, `student.learned_vocab`), or with `prune.vocab: train` the tokens the
    training texts use (the vocabulary step's own plan)."""
    tokenizer = Tokenizer.from_dir(base_dir)
    if recipe.student.learned_vocab is not None:  # the student step learns the same one
        tokenizer = tokenizer.learned(task.train.texts, recipe.student.learned_vocab)
    by_id = {i: token for token, i in tokenizer.vocabulary().items()}
    if recipe.prune.vocab == "none":
        return list(by_id.values())
    plan = plan_vocabulary(tokenizer, task.train.texts, recipe.prune.vocab_min_count, recipe.prune.vocab_max_size)
    return [by_id[i] for i in plan.keep if i in by_id]


def run(ctx: Context) -> dict:
    up = ctx.inputs
    return build_pruned_dir(
        up.path("student"), up.path("teacher"), ctx.build.task, ctx.build.recipe, up.hash("teacher"), ctx.output
    )


STEP = Step(
    "prune",
    (Upstream("student"), Upstream("teacher"), DATA, SEED, section("prune"), section("distill"), SEQ_LEN, TRAIN),
    fixed(PRUNED_DIR),
    run,
    active=lambda b: b.recipe.prune.active,
    trains=True,
)
