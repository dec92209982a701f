"""The exits step (only with an `exits:` section): exit heads and thresholds on the deployed model."""

from __future__ import annotations

from edgesdk.early_exit import EXITS_DIR, build_exits_dir
from edgesdk.steps.base import DATA, DEPLOYED, SEED, SEQ_LEN, Context, Step, fixed, section


def run(ctx: Context) -> dict:
    return build_exits_dir(ctx.inputs.path("model"), ctx.build.task, ctx.build.recipe, ctx.output)


STEP = Step(
    "exits",
    (DEPLOYED, DATA, SEED, section("exits"), SEQ_LEN),
    fixed(EXITS_DIR),
    run,
    active=lambda b: b.recipe.exits.active,
)
