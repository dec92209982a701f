"""The fit step: the shipped artifact chosen and checked against the target's flash and RAM."""

from __future__ import annotations

from pathlib import Path

from edgesdk.errors import FitError
from edgesdk.fsutil import atomic_write_json, read_json
from edgesdk.progress import status
from edgesdk.steps.artifacts import ArtifactSpec, artifact_entries
from edgesdk.steps.base import TARGET, Context, Step, Upstream, fixed
from edgesdk.targets.budgets import check_fit
from edgesdk.targets.registry import TargetSpec


def fit_all(out: Path, target: TargetSpec, artifacts: list[ArtifactSpec]) -> dict:
    """fit.json: each shipped-model artifact the target can run against its flash and RAM
    budgets. Written before a FitError is raised, so the numbers stay readable."""
    profiles = read_json(out / "profile.json")
    candidates = [(a.path, a.runtime) for a in artifacts if a.model == "student" and a.runtime in target.runtimes]
    try:
        result = check_fit(target, out, candidates, profiles)
    except FitError as exc:
        atomic_write_json(out / "fit.json", exc.details)
        raise
    atomic_write_json(out / "fit.json", result)
    status(
        f"fit: {target.id}: {result['needs']['artifact']} needs {result['needs']['flash_bytes']:,} B flash, "
        f"{result['needs']['ram_bytes'] or 0:,} B RAM (budgets: {result['budgets']})"
    )
    return {"ok": result["ok"]}


def run(ctx: Context) -> dict:
    return fit_all(ctx.build.out, ctx.build.target, artifact_entries(ctx.build.recipe))


STEP = Step(
    "fit",
    (Upstream("artifacts", ("lower",)), Upstream("profile"), TARGET),
    fixed("fit.json"),
    run,
)
