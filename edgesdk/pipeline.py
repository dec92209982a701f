"""build(): validate every input, then run the pipeline's steps in order (edgesdk/steps/).

recipe -> data -> teacher -> student -> (prune) -> (exits) -> (quantize) -> lower -> verify ->
profile -> fit -> (package) -> report. Each step declares what it reads; its cache key is the
hash of that declaration and the manifest (edgesdk/manifest.py) skips a step whose key and
outputs are unchanged, so an interrupted build resumes and a changed input re-runs exactly
the steps downstream of it.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Optional

from edgesdk.apps.packager_registry import PACKAGE_DIR
from edgesdk.apps.packager_registry import preflight as package_preflight
from edgesdk.compress.vocab import plan_vocabulary
from edgesdk.devices import resolve as resolve_device
from edgesdk.devices import training_on
from edgesdk.fsutil import (
    CACHE_FIX,
    atomic_write_text,
    cache_root,
    check_output_dir,
    remove_stale_temps,
    sha256_file,
    sha256_json,
)
from edgesdk.manifest import Manifest
from edgesdk.models.hf_import import check_teacher_dir, read_teacher_config
from edgesdk.models.model_dir import resolve_teacher_dir
from edgesdk.progress import status
from edgesdk.recipe import Recipe
from edgesdk.report import write_report
from edgesdk.steps import PIPELINE, Build, Context
from edgesdk.steps.artifacts import artifact_entries
from edgesdk.steps.base import Inputs
from edgesdk.targets.budgets import check_fits_before_training, check_runtimes, image_floor
from edgesdk.targets.registry import TargetSpec
from edgesdk.task import Task, load_task
from edgesdk.tokenizer import Tokenizer
from edgesdk.version import __version__

TOOL_PACKAGES = ("torch", "executorch", "litert-torch", "ai-edge-litert", "transformers", "tokenizers")


@dataclass(frozen=True)
class BuildRequest:
    recipe: Recipe
    target: TargetSpec
    out_dir: Path
    data_overrides: dict = field(default_factory=dict)  # train/dev/text_column/label_column
    teacher_dir: Optional[str] = None


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    report: dict
    cached_steps: tuple[str, ...]


def tool_versions() -> dict:
    versions = {"edgesdk": __version__, "python": platform.python_version()}
    for pkg in TOOL_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return versions


def prepare_task(recipe: Recipe, data_overrides: Optional[dict] = None) -> Task:
    """The task every step sees: the data read per the recipe, with the rows no model may
    train on carved from train first (exit calibration, teacher validation)."""
    task = load_task(recipe.data, recipe.seed, data_overrides)
    if recipe.exits.active:
        task = task.with_calibration(recipe.exits.calibration_rows, recipe.seed)
    if recipe.teacher.validation_rows:
        task = task.with_validation(recipe.teacher.validation_rows, recipe.seed)
    return task


def task_hash(task: Task) -> str:
    validation = {"validation": [task.validation.texts, task.validation.labels]} if task.validation.texts else {}
    return sha256_json(
        {
            "train": [task.train.texts, task.train.labels],
            "dev": [task.dev.texts, task.dev.labels],
            "calibration": [task.calibration.texts, task.calibration.labels],
            "labels": task.label_map.names,
            **validation,  # only when carved: builds without it keep their cache keys
        }
    )


def build(request: BuildRequest) -> BuildResult:
    """Validate, run the steps, write the report; the artifacts' hashes go in the manifest."""
    spec = validate(request)
    out = request.out_dir
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # half-written files of a killed run: never read, never left behind
    header = {
        "recipe": spec.recipe.model_dump(mode="json"),
        "target": spec.target.id,
        "versions": tool_versions(),
        "train": spec.device.to_json(),
    }
    manifest = Manifest.load(out, header)
    atomic_write_text(out / "recipe.yaml", spec.recipe.to_yaml())
    with training_on(spec.device):
        cached = run_steps(spec, manifest)
    report = write_report(out, spec.target, manifest)
    manifest.header["artifacts"] = {a.path: sha256_file(out / a.path) for a in artifact_entries(spec.recipe)}
    manifest.save()
    return BuildResult(out, report, tuple(cached))


def validate(request: BuildRequest) -> Build:
    """Every input checked before the build dir exists: bad input must leave nothing behind."""
    recipe, out, target = request.recipe, request.out_dir, request.target
    device = resolve_device(recipe.train)  # first: a missing GPU is the cheapest thing to find out
    check_output_dir(out, "build dir", "choose another --out")
    check_output_dir(out / PACKAGE_DIR, "package dir", "remove it or choose another --out")
    check_output_dir(cache_root(), "cache dir", CACHE_FIX)
    check_runtimes(target, recipe.export.runtimes)
    task = prepare_task(recipe, request.data_overrides)
    base_dir = resolve_teacher_dir(recipe.teacher, request.teacher_dir)
    check_teacher_dir(base_dir)
    if target.flash_bytes is not None:
        tokens = deployed_tokens(base_dir, task, recipe)
        floor = image_floor(target, recipe, read_teacher_config(base_dir), len(task.label_map), tokens)
        check_fits_before_training(target, floor)
    package_preflight(target)
    status(f"data: {len(task.train)} train / {len(task.dev)} dev rows, labels {', '.join(task.label_map.names[:8])}")
    if not device.is_default:
        status(f"train: on {device.type} in {device.precision}")
    return Build(recipe, task, target, out, task_hash(task), base_dir, device)


def run_steps(build: Build, manifest: Manifest) -> list[str]:
    """Each active step in order, skipped when the manifest holds it fresh; returns the cached ones."""
    cached, done = [], set()
    for step in PIPELINE:
        if not step.active(build):
            if step.when_inactive is not None:
                step.when_inactive(build, manifest)
            continue
        key, provided = step.resolve(build, manifest, done)
        outputs = step.outputs(build)
        context = Context(build, Inputs(build.out, manifest, provided), key, build.out / outputs[0])
        status(f"step {step.name}")

        def announce(reason: str, name: str = step.name) -> None:
            if reason:  # a step that ran before: say what made it run again
                status(f"step {name}: running again ({reason})")

        info, was_cached = manifest.run(step.name, key, outputs, lambda: step.run(context), announce)
        if was_cached:
            cached.append(step.name)
            status(f"step {step.name}: cached")
        if step.check is not None:
            step.check(info)
        done.add(step.name)
    return cached


def deployed_tokens(base_dir: Path, task: Task, recipe: Recipe) -> list[str]:
    """The word-table rows the deployed model will keep: the teacher's vocabulary, or with
    `prune.vocab: train` the tokens the training texts use (the vocabulary step's own plan)."""
    tokenizer = Tokenizer.from_dir(base_dir)
    by_id = {i: token for token, i in tokenizer.vocabulary().items()}
    if recipe.prune.vocab == "none":
        return list(by_id.values())
    plan = plan_vocabulary(tokenizer, task.train.texts, recipe.prune.vocab_min_count, recipe.prune.vocab_max_size)
    return [by_id[i] for i in plan.keep if i in by_id]
