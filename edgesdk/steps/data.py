"""The data step: the task's statistics and label map, written once per data set."""

from __future__ import annotations

from typing import Optional

from edgesdk.fsutil import atomic_write_json, atomic_write_text, sha256_json
from edgesdk.recipe import Recipe
from edgesdk.steps.base import DATA, Context, Step, fixed
from edgesdk.task import Task, load_task


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


def run(ctx: Context) -> dict:
    task = ctx.build.task
    atomic_write_json(ctx.build.out / "data" / "stats.json", task.stats())
    atomic_write_text(ctx.build.out / "data" / "labels.json", task.label_map.to_json())
    return {"hash": ctx.build.data_hash}


STEP = Step("data", (DATA,), fixed("data/stats.json", "data/labels.json"), run)
