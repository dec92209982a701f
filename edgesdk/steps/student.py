"""The student step: the recipe's student distilled from the teacher (or the teacher itself)."""

from __future__ import annotations

from edgesdk.steps.base import DATA, SEED, Context, Step, Upstream, fixed, section
from edgesdk.student import build_student_dir


def run(ctx: Context) -> dict:
    teacher = ctx.inputs
    return build_student_dir(
        teacher.path("teacher"), ctx.build.task, ctx.build.recipe, teacher.hash("teacher"), ctx.output
    )


STEP = Step(
    "student",
    (Upstream("teacher"), DATA, SEED, section("student"), section("distill")),
    fixed("student"),
    run,
)
