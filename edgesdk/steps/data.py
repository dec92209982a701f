"""The data step: the task's statistics and label map, written once per data set."""

from __future__ import annotations

from edgesdk.fsutil import atomic_write_json, atomic_write_text
from edgesdk.steps.base import DATA, Context, Step, fixed


def run(ctx: Context) -> dict:
    task = ctx.build.task
    atomic_write_json(ctx.build.out / "data" / "stats.json", task.stats())
    atomic_write_text(ctx.build.out / "data" / "labels.json", task.label_map.to_json())
    return {"hash": ctx.build.data_hash}


STEP = Step("data", (DATA,), fixed("data/stats.json", "data/labels.json"), run)
