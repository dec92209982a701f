"""The verify step: every artifact in its real runtime on the whole dev set, gated against the
eager model it was made from (quantized ones against their fake-quant twin, staged ones with
the exit gate plus a no-exit check against the single graph)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from edgesdk.converters.bundle import open_artifact
from edgesdk.converters.controller import StagedSession
from edgesdk.converters.evaluation import VerifyResult, evaluate, gate, percentiles, raise_if_failed
from edgesdk.errors import AccuracyGateError
from edgesdk.exit_rule import NEVER
from edgesdk.fsutil import atomic_write_json
from edgesdk.models.flops import model_flops
from edgesdk.models.model_dir import load_model_dir
from edgesdk.models.registry import param_count
from edgesdk.progress import progress_bar
from edgesdk.recipe import Recipe
from edgesdk.steps.artifacts import ArtifactSpec, artifact_entries, ships_teacher
from edgesdk.steps.base import DATA, DEPLOYED, Context, Step, Upstream, fixed, section
from edgesdk.task import Task
from edgesdk.train import accuracy, predict_logits, use_available_cores


def verify_all(out: Path, task: Task, recipe: Recipe, artifacts: list[ArtifactSpec], models_dirs: dict) -> dict:
    """verify.json: every artifact run in its runtime on dev against the eager model it was made
    from (`models_dirs`: model role -> model dir)."""
    use_available_cores()
    seq_len = recipe.export.seq_len
    models, eager = {}, {}
    # When the recipe ships the teacher, student/ is a copy of teacher/: evaluate it once.
    roles = ("teacher",) if ships_teacher(recipe) else ("teacher", "student")
    for role in roles:
        model, tokenizer, _ = load_model_dir(models_dirs[role])
        eager[role] = predict_logits(model, tokenizer, task.dev.texts, seq_len)
        models[role] = {
            "params": param_count(model),
            "flops": model_flops(model, seq_len),
            "config": model.config.model_dump(mode="json"),
        }
    eager.setdefault("student", eager["teacher"])
    models.setdefault("student", models["teacher"])
    results, exit_stats = [], {}
    for spec in sorted(artifacts, key=lambda a: a.staged):  # single graphs first: staged ones compare to them
        artifact = open_artifact(out / spec.path, recipe.profile.threads)
        with progress_bar(f"verify {spec.model} {spec.runtime} {spec.precision}", len(task.dev)) as bar:
            ev = evaluate(artifact, task.dev, progress=bar.advance)
        fp32 = eager[spec.model]
        fp32_accuracy = accuracy(fp32.argmax(1), task.dev.labels)
        if spec.staged:  # exits change some labels by design: the exit gate, plus the no-exit check
            ref, tolerance = fp32, staged_tolerance(recipe, spec.precision)
            twin = (spec.runtime, "student", spec.precision, False)
            single = next(r for r in results if (r["runtime"], r["model"], r["precision"], r["staged"]) == twin)
            exit_stats[spec.path] = staged_checks(artifact, ev, task, single, recipe, spec.precision)
        elif spec.precision == "fp32":
            ref, tolerance = fp32, recipe.verify
        else:  # the artifact must match its fake-quant model and lose little against fp32
            ref, tolerance = np.load(out / spec.reference_path, allow_pickle=False), recipe.quantize
        result = gate(
            spec.runtime,
            ev,
            ref.argmax(1).tolist(),
            ref,
            task.dev.labels,
            tolerance,
            spec.model,
            spec.precision,
            fp32_accuracy,
        )
        if spec.staged:
            result = dataclasses.replace(result, staged=True)
        results.append({**result.to_json(), "path": spec.path, "predictions": list(ev.predictions)})
    for r in results:
        r.pop("predictions")
    payload = {
        "eager_accuracy": accuracy(eager["student"].argmax(1), task.dev.labels),
        "teacher_accuracy": accuracy(eager["teacher"].argmax(1), task.dev.labels),
        "models": models,
        "n": len(task.dev),
        "results": results,
        "exits": exit_stats,
    }
    atomic_write_json(out / "verify.json", payload)
    return payload


def staged_tolerance(recipe: Recipe, precision: str):
    """The exit gate vs the fp32 eager model; a quantized staged artifact may also lose what
    the quantization gate allows."""
    if precision == "fp32":
        return recipe.exits
    drop = recipe.exits.max_accuracy_drop + recipe.quantize.max_accuracy_drop
    return recipe.exits.model_copy(update={"max_accuracy_drop": drop})


def staged_checks(artifact, calibrated, task: Task, single: dict, recipe: Recipe, precision: str) -> dict:
    """Exit statistics of the calibrated run, and the same artifact with thresholds that never
    exit, which must predict what the single-graph artifact of the same precision predicted:
    exactly in fp32; quantized, with at least quantize.min_agreement (each stage is calibrated
    on its own, so activation scales at stage boundaries differ a little from the single
    graph's)."""
    decisions = artifact.session.decisions[-len(task.dev) :]
    plan = artifact.session.controller.plan
    never = dataclasses.replace(plan, thresholds=[NEVER] * len(plan.thresholds))
    session = StagedSession(artifact.backend.open_methods(artifact.path, 1), never)
    with progress_bar(f"verify {artifact.path.name} without exits", len(task.dev)) as bar:
        no_exit = evaluate(dataclasses.replace(artifact, session=session), task.dev, progress=bar.advance)
    same = float(np.mean(np.asarray(no_exit.predictions) == np.asarray(single["predictions"])))
    required = 1.0 if precision == "fp32" else recipe.quantize.min_agreement
    if same < required:
        raise AccuracyGateError(
            f"staged {artifact.path.name} without exits disagrees with the single-graph artifact on "
            f"{round((1 - same) * len(task.dev))} of {len(task.dev)} dev rows (agreement {same:.4f}, "
            f"required {required}); the stages do not chain to the same model"
        )
    exits = [d.exit_index for d in decisions]
    return {
        "precision": precision,
        "accuracy": calibrated.accuracy,
        "accuracy_no_exit": no_exit.accuracy,
        "no_exit_agreement_with_single_graph": same,
        "avg_layers_fraction": round(float(np.mean([d.layers for d in decisions])) / plan.num_layers, 6),
        "exit_histogram": [exits.count(k) for k in range(len(plan.exit_layers) + 1)],
        "exit_layers": plan.stage_ends,
        "bucket_usage": {str(b): sum(d.bucket == b for d in decisions) for b in plan.buckets},
        "thresholds": plan.thresholds,
        "latency_ms_no_exit": percentiles(list(no_exit.latencies_ms)),
        "latency_ms": percentiles(list(calibrated.latencies_ms)),
    }


def run(ctx: Context) -> dict:
    up, b = ctx.inputs, ctx.build
    models = {"student": up.path("model"), "teacher": up.path("teacher")}
    return verify_all(b.out, b.task, b.recipe, artifact_entries(b.recipe), models)


def check(info: dict) -> None:
    """A failed gate stops the build, also when the verdict comes from the cache."""
    raise_if_failed([VerifyResult(**{k: v for k, v in r.items() if k != "path"}) for r in info["results"]])


STEP = Step(
    "verify",
    (Upstream("artifacts", ("lower",)), DATA, section("verify"), section("quantize"), DEPLOYED, Upstream("teacher")),
    fixed("verify.json"),
    run,
    check=check,
)
