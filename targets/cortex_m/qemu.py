"""Run a firmware ELF under qemu-system-arm and read back what it and the plugin report.

Semihosting carries the firmware's stdout and exit code (without it QEMU locks up on the
first printf). The insncount plugin counts every executed guest instruction exactly; its
snapshots at `edgesdk_mark` bracket each Invoke, and those at `edgesdk_mark_tokenize` (present
only in firmware that tokenizes on the device: the MCU package's) each call of the tokenizer.
QEMU models no caches or pipeline, so the
counts are instructions, not cycles: timing is estimated elsewhere (profiler.py).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgesdk.targets.cortex_m.boards import Board
from edgesdk.targets.cortex_m.firmware import FW_SOURCES
from edgesdk.targets.cortex_m.library import file_lock, run_tool
from edgesdk.targets.cortex_m.toolchain import Toolchain, cache_dir

from edgesdk.errors import TargetError
from edgesdk.fsutil import sha256_file

PLUGIN_SOURCE = FW_SOURCES / "insncount_plugin.c"
MARK_SYMBOL = "edgesdk_mark"
TOKENIZE_MARK_SYMBOL = "edgesdk_mark_tokenize"
QEMU_TIMEOUT_S = 1800
_OUTPUT = re.compile(r"^EDGESDK output (\d+):((?: -?\d+)*)$")
_VALUE = re.compile(r"^EDGESDK (\w+)=(\d+)$")
_PLUGIN = re.compile(r"^EDGESDK-PLUGIN (total|mark|tokenize_mark) (\d+)$")


class ArenaTooSmall(TargetError):
    """AllocateTensors failed: the image's arena is smaller than the model needs."""


def _firmware_error(line: str) -> TargetError:
    detail = line.removeprefix("EDGESDK error").strip()
    return (ArenaTooSmall if detail.startswith("AllocateTensors failed") else TargetError)(f"firmware: {detail}")


@dataclass(frozen=True)
class FirmwareRun:
    outputs: list[list[int]]  # raw int8 output per input row
    arena_used_bytes: int
    stack_high_water_bytes: int
    invoke_instructions: list[int]  # one per Invoke, exact
    total_instructions: int  # the whole run, boot to exit
    stdout: str = ""  # everything the firmware printed (callers parse their own lines)
    tokenize_instructions: list[int] = field(default_factory=list)  # one per on-device tokenization, exact


def plugin_library(tools: Toolchain) -> Path:
    """The plugin compiled for this host, cached by its source hash."""
    lib = cache_dir() / f"insncount-{sha256_file(PLUGIN_SOURCE)[:12]}.so"
    with file_lock(lib.with_suffix(".lock")):
        if not lib.exists():
            partial = lib.with_suffix(".so.partial")
            cmd = [tools.host_cc, "-O2", "-shared", "-fPIC", "-o", str(partial), str(PLUGIN_SOURCE)]
            run_tool(cmd, "building the qemu instruction-count plugin", lib.with_suffix(".log"))
            partial.replace(lib)
    return lib


def mark_addresses(tools: Toolchain, elf: Path) -> dict[str, int]:
    """{symbol: address} of the marking functions the ELF defines; edgesdk_mark is required."""
    symbols = subprocess.run([tools.nm, str(elf)], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in symbols.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in (MARK_SYMBOL, TOKENIZE_MARK_SYMBOL):
            found[parts[2]] = int(parts[0], 16)
    if MARK_SYMBOL not in found:
        raise TargetError(f"{elf} has no {MARK_SYMBOL} symbol; it was not built by edgesdk")
    if found.get(TOKENIZE_MARK_SYMBOL) == found[MARK_SYMBOL]:  # folded by the compiler: counts would mix
        raise TargetError(f"{elf}: {TOKENIZE_MARK_SYMBOL} and {MARK_SYMBOL} share an address; keep them distinct")
    return found


def qemu_command(tools: Toolchain, board: Board, elf: Path, plugin_log: Path) -> list[str]:
    marks = mark_addresses(tools, elf)
    plugin = f"{plugin_library(tools)},mark={marks[MARK_SYMBOL]:#x}"
    if TOKENIZE_MARK_SYMBOL in marks:
        plugin += f",tokenize_mark={marks[TOKENIZE_MARK_SYMBOL]:#x}"
    return [
        tools.qemu,
        "-M", board.machine,
        "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", "enable=on,target=native",
        "-kernel", str(elf),
        "-plugin", plugin,
        "-d", "plugin", "-D", str(plugin_log),
    ]  # fmt: skip


def parse_run(stdout: str, plugin_log: str) -> FirmwareRun:
    outputs: dict[int, list[int]] = {}
    values: dict[str, int] = {}
    for line in stdout.splitlines():
        if line.startswith("EDGESDK error"):
            raise _firmware_error(line)
        if found := _OUTPUT.match(line):
            outputs[int(found.group(1))] = [int(v) for v in found.group(2).split()]
        elif found := _VALUE.match(line):
            values[found.group(1)] = int(found.group(2))
    if "arena_used_bytes" not in values or "EDGESDK done" not in stdout.splitlines():
        last = (stdout.strip().splitlines() or ["(no output)"])[-1]
        raise TargetError(f"firmware did not finish; its last line: {last[:200]}")
    total, snapshots = 0, {"mark": [], "tokenize_mark": []}
    for line in plugin_log.splitlines():
        if found := _PLUGIN.match(line):
            if found.group(1) == "total":
                total = int(found.group(2))
            else:
                snapshots[found.group(1)].append(int(found.group(2)))
    marks, tokenize_marks = snapshots["mark"], snapshots["tokenize_mark"]
    if len(marks) != 2 * len(outputs):
        raise TargetError(f"instruction-count plugin saw {len(marks)} marks for {len(outputs)} inferences")
    if tokenize_marks and len(tokenize_marks) != 2 * len(outputs):  # none: the ids were compiled in
        raise TargetError(f"instruction-count plugin saw {len(tokenize_marks)} tokenizer marks for {len(outputs)} inputs")
    return FirmwareRun(
        outputs=[outputs[i] for i in sorted(outputs)],
        arena_used_bytes=values["arena_used_bytes"],
        stack_high_water_bytes=values.get("stack_high_water_bytes", 0),
        invoke_instructions=_spans(marks),
        total_instructions=total,
        stdout=stdout,
        tokenize_instructions=_spans(tokenize_marks),
    )


def _spans(snapshots: list[int]) -> list[int]:
    """Instructions between consecutive (start, end) snapshot pairs."""
    return [snapshots[i + 1] - snapshots[i] for i in range(0, len(snapshots), 2)]


def run_firmware(tools: Toolchain, board: Board, elf: Path, timeout_s: float = QEMU_TIMEOUT_S) -> FirmwareRun:
    with tempfile.TemporaryDirectory() as tmp:
        plugin_log = Path(tmp) / "plugin.log"
        cmd = qemu_command(tools, board, elf, plugin_log)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise TargetError(f"{elf.name} did not finish in {timeout_s:.0f} s under qemu {board.machine}") from None
        log = plugin_log.read_text() if plugin_log.exists() else ""
    if proc.returncode != 0:
        reported = next((ln for ln in proc.stdout.splitlines() if ln.startswith("EDGESDK error")), None)
        if reported is not None:
            raise _firmware_error(reported)
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise TargetError(f"firmware exited {proc.returncode} under qemu {board.machine}: {last[:240]}")
    return parse_run(proc.stdout, log)
