"""The teacher step: the fine-tuned teacher, from the user cache when its key was built before.

Its key hashes the named inputs (not only their values), because it also names the user cache
entry that other build dirs share (`edgesdk.teacher.teacher_inputs` is the same mapping).
"""

from __future__ import annotations

from edgesdk.fsutil import sha256_dir
from edgesdk.steps.base import DATA, SEED, Context, Step, Value, fixed
from edgesdk.teacher import TRAINER_VERSION, build_teacher


def run(ctx: Context) -> dict:
    b = ctx.build
    return build_teacher(b.teacher_base, b.task, b.recipe.teacher, b.recipe.seed, ctx.key.key, ctx.output)


STEP = Step(
    "teacher",
    (
        Value("trainer", lambda b: TRAINER_VERSION),
        Value("base", lambda b: sha256_dir(b.teacher_base) if b.teacher_base.is_dir() else "missing"),
        DATA,
        Value("teacher", lambda b: b.recipe.teacher.model_dump(exclude={"path"})),
        SEED,
        Value("labels", lambda b: list(b.task.label_map.names)),
    ),
    fixed("teacher"),
    run,
    keyed_by_name=True,
)
