"""The profile step: latency and memory of every artifact, on the target when it is reachable
(adb, ssh, the Cortex-M firmware under qemu), else on the host, labelled as such."""

from __future__ import annotations

import zlib
from pathlib import Path

from edgesdk.errors import ParityError
from edgesdk.fsutil import atomic_write_json
from edgesdk.progress import status
from edgesdk.recipe import Recipe
from edgesdk.steps.artifacts import ArtifactSpec, artifact_entries
from edgesdk.steps.base import DATA, TARGET_ID, Context, Step, Upstream, fixed, section
from edgesdk.targets.profiler_registry import profile_artifact, unavailable
from edgesdk.targets.registry import TargetSpec, get_target
from edgesdk.task import Task


def profile_all(out: Path, task: Task, recipe: Recipe, target: TargetSpec, artifacts: list[ArtifactSpec]) -> dict:
    reason = unavailable(target)
    host = get_target("host")
    device = target if reason is None else host
    if reason is not None:
        status(f"profile: {reason}; measuring on host (labelled profiled_on: host)")
    profiles = {}
    for spec in artifacts:
        # The device gets what it runs; staged artifacts need the controller, which runs here,
        # and a file larger than the device's flash (the teacher beside an MCU student) cannot run there.
        too_big = device.flash_bytes is not None and (out / spec.path).stat().st_size > device.flash_bytes
        runs_there = spec.runtime in device.runtimes and (device is host or not spec.staged) and not too_big
        where = device if runs_there else host
        status(
            f"profile: {spec.path} on {where.id} ({recipe.profile.threads} threads, {recipe.profile.repetitions} runs)"
        )
        measured = profile_artifact(where, out / spec.path, task.dev.texts, recipe.profile)
        if measured.get("outputs_match") is False:  # the firmware disagrees with the verified interpreter
            raise ParityError(
                f"{spec.path}: the {where.id} firmware's outputs differ from the TFLM Python interpreter's on inputs "
                f"{measured.get('outputs_mismatched_inputs')}; report this with the build dir"
            )
        profiles[spec.path] = {
            **measured,
            "model": spec.model,
            "precision": spec.precision,
            "zip_bytes": compressed_size(out / spec.path),
        }
    atomic_write_json(out / "profile.json", profiles)
    return {"artifacts": list(profiles)}


def compressed_size(path: Path) -> int:
    """Deflate (zip) size: what a download or an app store package costs; clustered or
    pruned weights show up here before any runtime stores them compactly."""
    return len(zlib.compress(path.read_bytes(), 9))


def run(ctx: Context) -> dict:
    b = ctx.build
    return profile_all(b.out, b.task, b.recipe, b.target, artifact_entries(b.recipe))


STEP = Step(
    "profile",
    (Upstream("artifacts", ("lower",)), DATA, section("profile"), TARGET_ID),
    fixed("profile.json"),
    run,
)
