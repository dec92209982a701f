"""The fit step: the shipped artifact chosen and checked against the target's flash and RAM."""

from __future__ import annotations

from pathlib import Path

from edgesdk.errors import FitError
from edgesdk.fsutil import atomic_write_json, read_json
from edgesdk.progress import status
from edgesdk.steps.artifacts import ArtifactSpec, artifact_entries
from edgesdk.recipe import ProfileConfig
from edgesdk.steps.base import TARGET, Context, Step, Upstream, fixed, section
from edgesdk.targets.budgets import CLOSE_LATENCY, check_fit
from edgesdk.targets.profiler_registry import interleaved_means, profiled_on, record_rounds
from edgesdk.targets.registry import TargetSpec


def fit_all(
    out: Path, target: TargetSpec, artifacts: list[ArtifactSpec], texts: list[str], profile: ProfileConfig
) -> dict:
    """fit.json: each shipped-model artifact the target can run against its flash and RAM
    budgets. Written before a FitError is raised, so the numbers stay readable."""
    profiles = read_json(out / "profile.json")
    candidates = [(a.path, a.runtime) for a in artifacts if a.model == "student" and a.runtime in target.runtimes]

    def retime(contenders: list[dict]) -> None:
        """Artifacts whose single timings are too close to rank: the median of interleaved rounds decides."""
        names = ", ".join(r["artifact"] for r in contenders)
        status(f"fit: {names} are within {CLOSE_LATENCY:.0%} of each other; timing them again, interleaved")
        runs = [(profiled_on(profiles[r["artifact"]], target), out / r["artifact"]) for r in contenders]
        for row, rounds in zip(contenders, interleaved_means(runs, texts, profile)):
            record_rounds(row, rounds, "latency_ms_profile")

    try:
        result = check_fit(target, out, candidates, profiles, retime if profile.retime_rounds else None)
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
    b = ctx.build
    return fit_all(b.out, b.target, artifact_entries(b.recipe), list(b.task.dev.texts), b.recipe.profile)


STEP = Step(
    "fit",
    (Upstream("artifacts", ("lower",)), Upstream("profile"), TARGET, section("profile")),
    fixed("fit.json"),
    run,
)
