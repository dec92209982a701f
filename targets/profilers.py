"""Profiler registry: one profiler per target family.

Only the host family is implemented so far; the Android (adb), Linux (ssh) and MCU (firmware
under qemu) profilers register here as they land. Asking for one that does not exist yet is a
clear error, never a silent fallback to the host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from edgesdk.targets.host import profile_host
from edgesdk.targets.registry import TargetSpec

from edgesdk.errors import TargetError
from edgesdk.recipe import ProfileConfig

Profiler = Callable[[Path, Sequence[str], ProfileConfig], dict]

PROFILERS: dict[str, Profiler] = {"host": profile_host}


def profile_artifact(target: TargetSpec, artifact: Path, texts: Sequence[str], config: ProfileConfig) -> dict:
    if target.family not in PROFILERS:
        raise TargetError(
            f"no profiler for {target.family} targets yet ({target.id}); profile on --target host for now"
        )
    from edgesdk.converters.registry import backend_for_path, check_artifact_file

    # Validate in this process so a bad path is one clear line, not a child's crash report.
    check_artifact_file(artifact, backend_for_path(artifact))
    return PROFILERS[target.family](artifact, texts, config)
