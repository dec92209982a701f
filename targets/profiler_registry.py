"""Profiler registry: one profiler per target family.

Host (a child process here), Linux boards (ssh, targets/ssh.py), Android devices (adb and the
runtimes' official benchmark runners, targets/adb.py) and MCUs (TFLM firmware under
qemu-system-arm, targets/cortex_m/) are implemented. Asking
`edgesdk profile` for one that does not exist, or for a board that is not configured, is a
clear error; a build falls back to the host and labels the numbers `profiled_on: host`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from edgesdk.converters.registry import backend_for_path, check_artifact_file
from edgesdk.targets.adb import adb_unavailable, profile_adb
from edgesdk.targets.cortex_m.boards import board_for
from edgesdk.targets.cortex_m.mcu_profiler import profile_mcu
from edgesdk.targets.cortex_m.toolchain import find_toolchain
from edgesdk.targets.host import profile_host
from edgesdk.targets.registry import TargetSpec, get_target
from edgesdk.targets.ssh import SshBoard, profile_ssh

from edgesdk.errors import TargetError
from edgesdk.recipe import ProfileConfig


def _ssh_unavailable(target: TargetSpec) -> Optional[str]:
    if SshBoard.from_env(target.address) is None:
        return f"no board configured for {target.id} (set EDGESDK_SSH=user@host)"
    return None


def _mcu_unavailable(target: TargetSpec) -> Optional[str]:
    try:
        board_for(target)
        find_toolchain()
    except TargetError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class DeviceProfiler:
    """How one target family is measured, and why it cannot be right now (None: it can)."""

    profile: Callable[[Path, Sequence[str], ProfileConfig, TargetSpec], dict]
    unavailable: Callable[[TargetSpec], Optional[str]] = lambda target: None


PROFILERS: dict[str, DeviceProfiler] = {
    "host": DeviceProfiler(lambda artifact, texts, config, target: profile_host(artifact, texts, config)),
    "linux": DeviceProfiler(
        lambda artifact, texts, config, target: profile_ssh(artifact, texts, config, target.address), _ssh_unavailable
    ),
    "android": DeviceProfiler(
        lambda artifact, texts, config, target: profile_adb(artifact, texts, config, target.address),
        lambda target: adb_unavailable(target.runtimes, target.address),
    ),
    # The MCU profiler also needs the target spec: the qemu machine, clock and CPI.
    "mcu": DeviceProfiler(profile_mcu, _mcu_unavailable),
}


def unavailable(target: TargetSpec) -> Optional[str]:
    """Why `target` cannot be profiled on itself right now (None: it can)."""
    if target.family not in PROFILERS:
        return f"no {target.family} device profiler yet"
    return PROFILERS[target.family].unavailable(target)


def profile_artifact(target: TargetSpec, artifact: Path, texts: Sequence[str], config: ProfileConfig) -> dict:
    if target.family not in PROFILERS:
        raise TargetError(
            f"no profiler for {target.family} targets yet ({target.id}); profile on --target host for now"
        )

    # Validate in this process so a bad path is one clear line, not a child's crash report.
    check_artifact_file(artifact, backend_for_path(artifact))
    return PROFILERS[target.family].profile(artifact, texts, config, target)


def profiled_on(profile: dict, target: TargetSpec) -> TargetSpec:
    """Where an artifact's profile.json entry was timed: on the build's target when it was
    reachable (which may be a target file, not a registered name), else the host."""
    where = profile.get("target", "host")
    return target if where == target.id else get_target(where)


def record_rounds(row: dict, rounds: Sequence[float], keep_as: str) -> None:
    """`row`'s latency_ms_mean becomes the median of the re-timed `rounds` (kept, each round, in
    latency_ms_rounds); the single timing it replaces stays under `keep_as`."""
    row.setdefault(keep_as, row["latency_ms_mean"])
    row["latency_ms_rounds"] = [round(x, 4) for x in rounds]
    row["latency_ms_mean"] = round(statistics.median(rounds), 4)


def interleaved_means(
    runs: Sequence[tuple[TargetSpec, Path]],
    texts: Sequence[str],
    config: ProfileConfig,
    advance: Callable[[], None] = lambda: None,
) -> list[list[float]]:
    """Each (target, artifact)'s mean latency in each of `config.retime_rounds` rounds, the files taking
    turns and the order reversed every other round, so the machine's drift and a neighbour's
    load fall on every file alike (on a shared machine one file timed twice in a row differed
    by 25 %). `advance` is called after each timing (a progress bar)."""
    samples: list[list[float]] = [[] for _ in runs]
    order = list(range(len(runs)))
    for round_ in range(config.retime_rounds):
        for i in order if round_ % 2 == 0 else order[::-1]:
            where, path = runs[i]
            samples[i].append(profile_artifact(where, path, texts, config)["latency_ms"]["mean"])
            advance()
    return samples
