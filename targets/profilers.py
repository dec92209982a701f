"""Profiler registry: one profiler per target family.

Host (a child process here), Linux boards (ssh, targets/ssh.py), Android devices (adb and the
runtimes' official benchmark runners, targets/adb.py) and MCUs (TFLM firmware under
qemu-system-arm, targets/cortex_m/) are implemented. Asking
`edgesdk profile` for one that does not exist, or for a board that is not configured, is a
clear error; a build falls back to the host and labels the numbers `profiled_on: host`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from typing import Optional

from edgesdk.targets.adb import adb_unavailable, profile_adb
from edgesdk.targets.cortex_m.profiler import profile_mcu
from edgesdk.targets.host import profile_host
from edgesdk.targets.registry import TargetSpec
from edgesdk.targets.ssh import SshBoard, profile_ssh

from edgesdk.errors import TargetError
from edgesdk.recipe import ProfileConfig

Profiler = Callable[[Path, Sequence[str], ProfileConfig], dict]

PROFILERS: dict[str, Profiler] = {
    "host": profile_host,
    "linux": profile_ssh,
    "android": profile_adb,
    "mcu": profile_mcu,
}
# Profilers that also need the target spec (the MCU's qemu machine, clock and CPI).
NEEDS_TARGET = {"mcu"}


def unavailable(target: TargetSpec) -> Optional[str]:
    """Why `target` cannot be profiled on itself right now (None: it can)."""
    if target.family not in PROFILERS:
        return f"no {target.family} device profiler yet"
    if target.family == "linux" and SshBoard.from_env() is None:
        return f"no board configured for {target.id} (set EDGESDK_SSH=user@host)"
    if target.family == "android":
        return adb_unavailable(target.runtimes)
    if target.family == "mcu":
        return _mcu_unavailable(target)
    return None


def _mcu_unavailable(target: TargetSpec) -> Optional[str]:
    from edgesdk.targets.cortex_m.boards import board_for
    from edgesdk.targets.cortex_m.toolchain import find_toolchain

    try:
        board_for(target)
        find_toolchain()
    except TargetError as exc:
        return str(exc)
    return None


def profile_artifact(target: TargetSpec, artifact: Path, texts: Sequence[str], config: ProfileConfig) -> dict:
    if target.family not in PROFILERS:
        raise TargetError(
            f"no profiler for {target.family} targets yet ({target.id}); profile on --target host for now"
        )
    from edgesdk.converters.registry import backend_for_path, check_artifact_file

    # Validate in this process so a bad path is one clear line, not a child's crash report.
    check_artifact_file(artifact, backend_for_path(artifact))
    if target.family in NEEDS_TARGET:
        return PROFILERS[target.family](artifact, texts, config, target)
    return PROFILERS[target.family](artifact, texts, config)
