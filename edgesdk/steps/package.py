"""The package step (android, mcu and linux targets): an app or firmware project around the
shipped artifact, built and checked where the toolchain exists (see apps/packager_registry.py)."""

from __future__ import annotations

import shutil

from edgesdk.apps.packager_registry import PACKAGE_DIR, package_build, packager_for, templates_hash
from edgesdk.manifest import Manifest
from edgesdk.steps.base import DATA, TARGET, Build, Context, Step, Upstream, Value, fixed


def run(ctx: Context) -> dict:
    return package_build(ctx.build.out, ctx.build.target, ctx.build.task.dev.texts)


def drop_stale(build: Build, manifest: Manifest) -> None:
    """A package from an earlier build for another target does not belong here."""
    if (build.out / PACKAGE_DIR).exists():
        shutil.rmtree(build.out / PACKAGE_DIR)
        manifest.steps.pop("package", None)


STEP = Step(
    "package",
    (
        Upstream("artifacts", ("lower",)),
        Upstream("fit"),
        DATA,
        TARGET,
        Value("templates", lambda b: templates_hash()),
    ),
    fixed(PACKAGE_DIR),
    run,
    active=lambda b: packager_for(b.target.family) is not None,
    when_inactive=drop_stale,
)
