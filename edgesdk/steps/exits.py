"""The exits step: train exit heads on the deployed model and calibrate their thresholds.

Reads the deployed model (pruned/ or student/), writes exits/ with the heads (safetensors)
and exits.json (exit layers, thresholds, what calibration measured). Thresholds are
calibrated on the task's calibration split, carved from train before the teacher was
fine-tuned, so no model in the build has trained on it; dev is never used for a choice,
only reported.
"""

from __future__ import annotations

from pathlib import Path

from edgesdk.compress.exit_heads import ExitHeads, calibrate, exit_probabilities, train_exit_heads
from edgesdk.errors import RecipeError
from edgesdk.fsutil import atomic_dir, atomic_write_json
from edgesdk.models.encoder import Encoder
from edgesdk.models.model_dir import load_model_dir
from edgesdk.models.registry import write_safetensors
from edgesdk.progress import status
from edgesdk.recipe import Recipe
from edgesdk.steps.base import DATA, DEPLOYED, SEED, SEQ_LEN, TRAIN, Context, Step, fixed, section
from edgesdk.task import Task
from edgesdk.train import use_available_cores

EXITS_DIR = "exits"
HEADS_FILE = "heads.safetensors"
INFO_FILE = "exits.json"


def buckets_for(recipe: Recipe) -> list[int]:
    """The recipe's buckets plus the export length (the bucket every sentence fits)."""
    return sorted(set(recipe.exits.buckets) | {recipe.export.seq_len})


def build_exits_dir(model_dir: Path, task: Task, recipe: Recipe, out_dir: Path) -> dict:
    import numpy as np

    use_available_cores()
    cfg = recipe.exits
    model, tokenizer, _ = load_model_dir(model_dir)
    if not isinstance(model, Encoder):
        raise RecipeError(f"exits need an encoder model, not {type(model).__name__}")
    layers = model.config.num_layers
    if cfg.layers[-1] >= layers:
        raise RecipeError(
            f"exits.layers {cfg.layers} must be below the model's {layers} layers (the last one always answers)"
        )
    held = task.calibration
    if len(held) == 0:
        raise RecipeError("exits need a calibration split; the build carves it from train when exits.layers is set")
    status(f"exits: heads after layers {cfg.layers} of {layers}; {len(held)} held-out rows for thresholds")
    heads, result = train_exit_heads(model, tokenizer, task.train.texts, task.train.labels, cfg, recipe.seed)
    seq_len = recipe.export.seq_len
    stage_layers = [*cfg.layers, layers]
    held_probs = exit_probabilities(model, heads, cfg.layers, tokenizer, held.texts, seq_len)
    cal = calibrate(
        held_probs, np.asarray(held.labels), stage_layers, cfg.confidence, cfg.accuracy_budget, cfg.budget_confidence
    )
    dev_probs = exit_probabilities(model, heads, cfg.layers, tokenizer, task.dev.texts, seq_len)
    dev_acc = [round(float(np.mean(p.argmax(-1) == np.asarray(task.dev.labels))), 6) for p in dev_probs]
    info = {
        "layers": cfg.layers,
        "num_layers": layers,
        "thresholds": cal.thresholds,
        "confidence": cfg.confidence,
        "head": cfg.head,
        "calibration": {
            "rows": cal.rows,
            "budget_confidence": cfg.budget_confidence,
            "accuracy_no_exit": round(cal.accuracy_no_exit, 6),
            "accuracy": round(cal.accuracy, 6),
            "avg_layers_fraction": round(cal.avg_layers / layers, 6),
        },
        "dev_accuracy_per_exit_eager": dev_acc,  # reported, never used for a choice
        "training": {
            "kind": cfg.training,
            "steps": result.steps,
            "final_loss": result.final_loss,
            "seconds": result.seconds,
        },
    }
    status(
        f"exits: thresholds {[round(t, 3) for t in cal.thresholds]}; held-out accuracy "
        f"{cal.accuracy:.4f} (no exit {cal.accuracy_no_exit:.4f}) at {cal.avg_layers / layers:.0%} of the layers"
    )
    with atomic_dir(out_dir) as tmp:
        write_safetensors({k: v.contiguous() for k, v in heads.state_dict().items()}, tmp / HEADS_FILE)
        atomic_write_json(tmp / INFO_FILE, info)
    return info


def load_exit_heads(exits_dir: Path, hidden: int, num_labels: int):
    import json

    from safetensors.torch import load_file

    info = json.loads((exits_dir / INFO_FILE).read_text())
    heads = ExitHeads(hidden, num_labels, len(info["layers"]), info.get("head", "linear"))  # pre-"head" builds: linear
    heads.load_state_dict(load_file(str(exits_dir / HEADS_FILE)))
    return heads.eval(), info


def run(ctx: Context) -> dict:
    return build_exits_dir(ctx.inputs.path("model"), ctx.build.task, ctx.build.recipe, ctx.output)


STEP = Step(
    "exits",
    (DEPLOYED, DATA, SEED, section("exits"), SEQ_LEN, TRAIN),
    fixed(EXITS_DIR),
    run,
    active=lambda b: b.recipe.exits.active,
    trains=True,
)
