"""Target specs (targets/specs/*.yaml) as typed objects.

A target names its family (which profiler and packager apply), its budgets and its runtimes.
`--target android` is accepted as an alias of the family's default spec, and a path to a
YAML file in the same format defines a custom target (a board of your own).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict

from edgesdk.errors import TargetError

SPECS_DIR = Path(str(resources.files("edgesdk.targets"))) / "specs"
ALIASES = {"android": "android-arm64", "linux": "raspberry-pi-5", "mcu": "cortex-m7"}


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    family: Literal["host", "android", "linux", "mcu"]
    description: str
    cpu: str
    cores: Optional[int] = None
    clock_mhz: Optional[int] = None
    ram_bytes: Optional[int] = None
    flash_bytes: Optional[int] = None
    runtimes: tuple[str, ...]
    threads: int = 2
    default_recipe: str = "default"
    # mcu only: the qemu-system-arm machine that runs the firmware (targets/cortex_m/boards.py)
    # and cycles per instruction, to turn its exact instruction count into a latency estimate.
    qemu_machine: Optional[str] = None
    cpi: Optional[float] = None
    # Which device to profile on: an adb serial (android) or user@host (linux); None = the
    # environment's (EDGESDK_ADB_SERIAL, EDGESDK_SSH). Not part of any cache key.
    address: Optional[str] = None


def list_targets() -> list[TargetSpec]:
    return [TargetSpec.model_validate(yaml.safe_load(p.read_text())) for p in sorted(SPECS_DIR.glob("*.yaml"))]


def load_target_file(path: Path) -> TargetSpec:
    from pydantic import ValidationError

    try:
        return TargetSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TargetError(f"cannot read target file {path}: {str(exc).splitlines()[0]}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise TargetError(
            f"target file {path}: {where}: {first['msg']}; see targets/specs/*.yaml for the format"
        ) from None


def get_target(name: str) -> TargetSpec:
    if name.endswith((".yaml", ".yml")):
        return load_target_file(Path(name))
    wanted = ALIASES.get(name, name)
    targets = {t.id: t for t in list_targets()}
    if wanted not in targets:
        known = ", ".join(sorted(set(targets) | set(ALIASES)))
        raise TargetError(f"unknown target '{name}'; known targets: {known} (see `edgesdk targets`)")
    return targets[wanted]
