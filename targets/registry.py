"""Target specs (targets/specs/*.yaml) as typed objects.

A target names its family (which profiler and packager apply), its budgets and its runtimes.
`--target android` is accepted as an alias of the family's default spec.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict

from edgesdk.errors import TargetError

SPECS_DIR = Path(str(resources.files("edgesdk.targets"))) / "specs"
ALIASES = {"android": "android-arm64"}


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    family: Literal["host", "android", "linux", "mcu"]
    description: str
    cpu: str
    cores: Optional[int] = None
    ram_bytes: Optional[int] = None
    flash_bytes: Optional[int] = None
    runtimes: tuple[str, ...]
    threads: int = 2
    default_recipe: str = "default"


def list_targets() -> list[TargetSpec]:
    return [TargetSpec.model_validate(yaml.safe_load(p.read_text())) for p in sorted(SPECS_DIR.glob("*.yaml"))]


def get_target(name: str) -> TargetSpec:
    wanted = ALIASES.get(name, name)
    targets = {t.id: t for t in list_targets()}
    if wanted not in targets:
        known = ", ".join(sorted(set(targets) | set(ALIASES)))
        raise TargetError(f"unknown target '{name}'; known targets: {known} (see `edgesdk targets`)")
    return targets[wanted]
