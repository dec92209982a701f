"""The prune step (only with a `prune:` section that changes something): see edgesdk/pruning.py."""

from __future__ import annotations

from edgesdk.pruning import PRUNED_DIR, build_pruned_dir
from edgesdk.steps.base import DATA, SEED, SEQ_LEN, Context, Step, Upstream, fixed, section


def run(ctx: Context) -> dict:
    up = ctx.inputs
    return build_pruned_dir(
        up.path("student"), up.path("teacher"), ctx.build.task, ctx.build.recipe, up.hash("teacher"), ctx.output
    )


STEP = Step(
    "prune",
    (Upstream("student"), Upstream("teacher"), DATA, SEED, section("prune"), section("distill"), SEQ_LEN),
    fixed(PRUNED_DIR),
    run,
    active=lambda b: b.recipe.prune.active,
)
