"""Packager registry: what `edgesdk build` hands a target family's packager, and what it gets back.

One packager per family (android -> Gradle project, mcu -> firmware project, linux -> runner
folder). Each writes its whole package into a temporary sibling and renames it into place
(edgesdk.fsutil.atomic_dir), so an interrupted build never leaves half a project, and checks
what it wrote in the real toolchain available here (`checks` in the report says which ran).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from edgesdk.targets.budgets import shipping_choice
from edgesdk.targets.cortex_m import firmware

from edgesdk.errors import PackageError
from edgesdk.fsutil import atomic_write_json, sha256_file, sha256_json

if TYPE_CHECKING:
    from edgesdk.targets.registry import TargetSpec

PACKAGE_DIR = "package"


@dataclass(frozen=True)
class PackageRequest:
    artifact: Path  # the model file that ships; its bundle (tokenizer, labels, exits) is beside it
    dest: Path  # the package directory to create (replaced when it exists)
    app_name: str
    check_texts: Sequence[str] = ()  # real sentences the package's own check classifies
    measured: dict = field(default_factory=dict)  # accuracy/latency/size measured by the build, for READMEs
    target: Optional["TargetSpec"] = None  # the TargetSpec built for (the MCU packager needs its qemu machine)
    profile: dict = field(default_factory=dict)  # the shipped artifact's profile record (MCU: arena, flash, RAM)


@dataclass(frozen=True)
class PackageResult:
    path: Path
    kind: str  # android | mcu | linux
    files: int
    checks: dict  # name -> {ok, ...details}; what was built or run here to prove the package

    def to_json(self) -> dict:
        return {"path": str(self.path), "kind": self.kind, "files": self.files, "checks": self.checks}


Packager = Callable[[PackageRequest], PackageResult]
_PACKAGERS: dict[str, Packager] = {}


def register(kind: str):
    def add(fn: Packager) -> Packager:
        _PACKAGERS[kind] = fn
        return fn

    return add


_PREFLIGHTS: dict[str, Callable] = {}


def register_preflight(kind: str):
    """A cheap check (toolchain, machine model) the build runs before training, so a package
    that could never be built fails in seconds with one line."""

    def add(fn: Callable) -> Callable:
        _PREFLIGHTS[kind] = fn
        return fn

    return add


def preflight(target) -> None:
    if packager_for(target.family) is not None and target.family in _PREFLIGHTS:
        _PREFLIGHTS[target.family](target)


# The packagers register themselves and import this module: loaded by name, never imported here.
PACKAGER_MODULES = ("edgesdk.apps.android", "edgesdk.apps.linux", "edgesdk.apps.mcu")


def packager_for(family: str) -> Optional[Packager]:
    """The family's packager, or None for families that ship no package (host)."""
    for module in PACKAGER_MODULES:  # each registers on import
        importlib.import_module(module)
    return _PACKAGERS.get(family)


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise PackageError(f"cannot package: {what} {path} is missing; rebuild the artifact")
    return path


def count_files(directory: Path) -> int:
    return sum(1 for p in directory.rglob("*") if p.is_file())


CHECK_TEXTS = 200  # dev sentences each package's own check classifies (the issue asks >= 200 on MCU)
RESULT_FILE = "package.json"


def shipped_artifact(fit: dict) -> str:
    """The artifact the package ships: the fit step's rule (`shipping_choice`) on fit.json's rows."""
    return shipping_choice([r for r in fit["artifacts"] if r["fits"]])["artifact"]


def package_build(out: Path, target, dev_texts: Sequence[str]) -> dict:
    """package/<kind>/ for the target's family, with package/package.json describing it."""
    import json

    packager = packager_for(target.family)
    fit = json.loads((out / "fit.json").read_text(encoding="utf-8"))
    rel = shipped_artifact(fit)
    verify = {r["path"]: r for r in json.loads((out / "verify.json").read_text(encoding="utf-8"))["results"]}
    profile = json.loads((out / "profile.json").read_text(encoding="utf-8")).get(rel, {})
    measured = {
        "accuracy on the dev set (this artifact, in its runtime)": verify[rel]["accuracy"],
        f"latency p50 ms (profiled on {profile.get('target', 'host')})": profile.get("latency_ms", {}).get("p50"),
        "file bytes": (out / rel).stat().st_size,
    }
    result = packager(
        PackageRequest(
            artifact=out / rel,
            dest=out / PACKAGE_DIR / target.family,
            app_name=f"edgesdk {target.id}",
            check_texts=list(dev_texts[:CHECK_TEXTS]),
            measured=measured,
            target=target,
            profile=profile,
        )
    )
    info = {**result.to_json(), "path": f"{PACKAGE_DIR}/{target.family}", "artifact": rel, "target": target.id}
    atomic_write_json(out / PACKAGE_DIR / RESULT_FILE, info)
    failed = [name for name, check in result.checks.items() if not check.get("ok")]
    if failed:
        raise PackageError(
            f"the {result.kind} package at {info['path']} failed its check(s) {', '.join(failed)}: "
            f"{json.dumps({k: result.checks[k] for k in failed})[:300]}"
        )
    return info


def templates_hash() -> str:
    """The packagers' code and templates (and the firmware sources the MCU project copies): a
    changed template re-runs the package step."""
    roots = (Path(__file__).parent, Path(firmware.__file__).parent / "fw")  # the MCU project copies fw/ files
    files = sorted(p for root in roots for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return sha256_json({f"{p.parent.name}/{p.name}": sha256_file(p) for p in files})
