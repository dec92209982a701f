"""Packager registry: what `edgesdk build` hands a target family's packager, and what it gets back.

One packager per family (android -> Gradle project, mcu -> firmware project, linux -> runner
folder). Each writes its whole package into a temporary sibling and renames it into place
(edgesdk.fsutil.atomic_dir), so an interrupted build never leaves half a project, and checks
what it wrote in the real toolchain available here (`checks` in the report says which ran).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from edgesdk.errors import PackageError

PACKAGE_DIR = "package"


@dataclass(frozen=True)
class PackageRequest:
    artifact: Path  # the model file that ships; its bundle (tokenizer, labels, exits) is beside it
    dest: Path  # the package directory to create (replaced when it exists)
    app_name: str
    check_texts: Sequence[str] = ()  # real sentences the package's own check classifies
    measured: dict = field(default_factory=dict)  # accuracy/latency/size measured by the build, for READMEs


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


def packager_for(family: str) -> Optional[Packager]:
    """The family's packager, or None for families that ship no package (host)."""
    import edgesdk.apps.linux  # noqa: F401 - registers on import

    for module in ("edgesdk.apps.android", "edgesdk.apps.mcu"):
        try:
            __import__(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return _PACKAGERS.get(family)


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise PackageError(f"cannot package: {what} {path} is missing; rebuild the artifact")
    return path


def count_files(directory: Path) -> int:
    return sum(1 for p in directory.rglob("*") if p.is_file())
