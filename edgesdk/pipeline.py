"""build(): validate every input, then run the pipeline's steps in order (edgesdk/steps/).

recipe -> data -> teacher -> student -> (prune) -> (exits) -> (quantize) -> lower -> verify ->
profile -> fit -> (package) -> report. Each step declares what it reads; its cache key is the
hash of that declaration and the manifest (edgesdk/manifest.py) skips a step whose key and
outputs are unchanged, so an interrupted build resumes and a changed input re-runs exactly
the steps downstream of it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from edgesdk.apps.packager_registry import PACKAGE_DIR
from edgesdk.apps.packager_registry import preflight as package_preflight
from edgesdk.devices import resolve as resolve_device
from edgesdk.devices import training_on
from edgesdk.distributed import SINGLE, World, barrier, from_rank0, join_from_env, leave
from edgesdk.fsutil import (
    CACHE_FIX,
    atomic_write_text,
    cache_root,
    check_output_dir,
    remove_stale_temps,
    sha256_file,
)
from edgesdk.manifest import Manifest
from edgesdk.models.model_dir import check_teacher_labels, check_teacher_source, resolve_teacher_dir, teacher_shape
from edgesdk.progress import console, status
from edgesdk.recipe import Recipe
from edgesdk.report import write_report
from edgesdk.step_store import StepStore
from edgesdk.steps import PIPELINE, Build, Context, Step
from edgesdk.steps.artifacts import artifact_entries
from edgesdk.steps.base import Inputs
from edgesdk.steps.data import prepare_task, task_hash
from edgesdk.steps.prune import deployed_tokens
from edgesdk.steps.student import check_qr_rows
from edgesdk.targets.budgets import check_fits_before_training, check_runtimes, image_floor
from edgesdk.targets.registry import TargetSpec
from edgesdk.version import tool_versions


@dataclass(frozen=True)
class BuildRequest:
    recipe: Recipe
    target: TargetSpec
    out_dir: Path
    data_overrides: dict = field(default_factory=dict)  # train/dev/text_column/label_column
    teacher_dir: Optional[str] = None
    step_store: Optional[Path] = None  # finished steps shared with other builds by key (edgesdk/step_store.py)


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    report: dict
    cached_steps: tuple[str, ...]


def build(request: BuildRequest) -> BuildResult:
    """Validate, run the steps, write the report; the artifacts' hashes go in the manifest.
    Under torchrun, every process trains and rank 0 alone writes (edgesdk/distributed.py)."""
    team = join_from_env()
    try:
        return _build(request, team)
    finally:
        leave()


def _build(request: BuildRequest, team: World) -> BuildResult:
    if not team.writes:
        console.quiet = True  # rank 0 speaks for the build
    spec = validate(request, team)
    out = request.out_dir
    if not team.writes:  # trains in lockstep with rank 0, writes only to a scratch dir
        run_steps(spec, Manifest(out), team)
        return BuildResult(out, {}, ())
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
    cached = run_steps(spec, manifest, team)
    report = write_report(out, spec.target, manifest)
    manifest.header["artifacts"] = {a.path: sha256_file(out / a.path) for a in artifact_entries(spec.recipe)}
    manifest.save()
    return BuildResult(out, report, tuple(cached))


def validate(request: BuildRequest, team: World = SINGLE) -> Build:
    """Every input checked before the build dir exists: bad input must leave nothing behind."""
    recipe, out, target = request.recipe, request.out_dir, request.target
    device = replace(resolve_device(recipe.train), world_size=team.size)  # first: a missing GPU is found fastest
    check_output_dir(out, "build dir", "choose another --out")
    check_output_dir(out / PACKAGE_DIR, "package dir", "remove it or choose another --out")
    check_output_dir(cache_root(), "cache dir", CACHE_FIX)
    check_runtimes(target, recipe.export.runtimes)
    task = prepare_task(recipe, request.data_overrides)
    base_dir = resolve_teacher_dir(recipe.teacher, request.teacher_dir)
    check_teacher_source(base_dir)
    check_teacher_labels(base_dir, task.label_map)
    qr = recipe.student.word_table == "qr"
    tokens = deployed_tokens(base_dir, task, recipe) if target.flash_bytes is not None or qr else []
    if qr:
        check_qr_rows(len(tokens), recipe.student.word_rows)
    if target.flash_bytes is not None:
        floor = image_floor(target, recipe, teacher_shape(base_dir), len(task.label_map), tokens)
        check_fits_before_training(target, floor)
    package_preflight(target)
    status(f"data: {len(task.train)} train / {len(task.dev)} dev rows, labels {', '.join(task.label_map.names[:8])}")
    if not device.is_default:
        status(f"train: on {device.type} in {device.precision}")
    store = None if request.step_store is None else StepStore(request.step_store)
    return Build(recipe, task, target, out, task_hash(task), base_dir, device, store)


def run_steps(build: Build, manifest: Manifest, team: World = SINGLE) -> list[str]:
    """Each active step in order, skipped when the manifest holds it fresh; returns the cached
    ones. With several processes, rank 0 runs every step and the others run the training steps
    beside it (its record and decisions broadcast), then stop."""
    steps = [s for s in PIPELINE if s.active(build)]
    together = max((i for i, s in enumerate(steps) if s.trains), default=-1) if team.size > 1 else -1
    scratch = None if team.writes else Path(tempfile.mkdtemp(prefix=f"edgesdk-rank{team.rank}-"))
    cached, done = [], set()
    try:
        with training_on(build.device):
            for i, step in enumerate(steps):
                if not team.writes and i > together:
                    break
                if i <= together:
                    manifest.steps = from_rank0(manifest.steps)
                key, provided = step.resolve(build, manifest, done)
                inputs, outputs = Inputs(build.out, manifest, provided), step.outputs(build)
                runs = None
                if i <= together and step.trains:  # rank 0's decision: every rank trains, or none does
                    runs = from_rank0(manifest.stale_reason(step.name, key) is not None if team.writes else None)
                if team.writes:
                    run_here(step, Context(build, inputs, key, build.out / outputs[0]), manifest, outputs, cached)
                elif step.trains and runs:
                    step.run(Context(build, inputs, key, scratch / outputs[0]))
                if i <= together:
                    barrier()
                done.add(step.name)
        for step in PIPELINE:
            if team.writes and not step.active(build) and step.when_inactive is not None:
                step.when_inactive(build, manifest)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return cached


def run_here(step: Step, context: Context, manifest: Manifest, outputs: list[str], cached: list[str]) -> None:
    """Run one step in this process unless the manifest holds it fresh or the build's step
    store has it, saying why it runs."""
    status(f"step {step.name}")
    store = context.build.step_store

    def announce(reason: str) -> None:
        if reason:  # a step that ran before: say what made it run again
            status(f"step {step.name}: running again ({reason})")

    def restore() -> bool:
        if store is None or not store.restore(manifest, step.name, context.key):
            return False
        status(f"step {step.name}: taken from the step store ({store.root})")
        return True

    info, was_cached = manifest.run(step.name, context.key, outputs, lambda: step.run(context), announce, restore)
    if was_cached:
        cached.append(step.name)
        status(f"step {step.name}: cached")
    if store is not None:
        store.publish(manifest, step.name)
    if step.check is not None:
        step.check(info)
