"""The qemu machine models a Cortex-M target runs on: compiler flags and memory map.

A target spec names its machine (`qemu_machine` in targets/specs/cortex-m*.yaml); this maps it
to the core's -mcpu/-mfpu flags and to where code, the model and data live in that machine's
RAM. The regions are the emulator's, larger than a real part's: whether the image fits the
part is the fit check's job (targets/budgets.py), from the linked sizes, not the linker's.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesdk.targets.registry import TargetSpec

from edgesdk.errors import TargetError


@dataclass(frozen=True)
class Region:
    origin: int
    length: int


@dataclass(frozen=True)
class Board:
    machine: str
    core: str  # short name, part of cache keys
    cpu_flags: tuple[str, ...]
    code: Region  # vector table + code: where the machine boots from
    model: Region  # the model array (large, read-only)
    ram: Region

    def memory_script(self) -> str:
        """The MEMORY block that fw/sections.ld is linked against."""
        rows = [("FLASH", "rx", self.code), ("MODEL", "r", self.model), ("RAM", "rwx", self.ram)]
        body = "\n".join(
            f"  {name} ({mode}) : ORIGIN = {r.origin:#010x}, LENGTH = {r.length:#x}" for name, mode, r in rows
        )
        return f"MEMORY {{\n{body}\n}}\nINCLUDE sections.ld\n"


MIB = 1 << 20
# As QEMU 7.2 maps them (`info mtree`). mps2 (AN386 Cortex-M4, AN500 Cortex-M7): SSRAM1 @0
# (4 MiB, boots here), SSRAM2/3 @0x20000000 (4 MiB), a 16 MiB "mps.ram" at 0x21000000 (AN386)
# or 0x60000000 (AN500). mps3-an547 (Cortex-M55, SSE-300) boots Secure, so the Secure aliases:
# ITCM @0x10000000 (512 KiB), DTCM @0x30000000 (512 KiB), DDR @0x70000000.


def _mps2(machine: str, core: str, fpu: str, model_origin: int) -> Board:
    flags = (f"-mcpu=cortex-{core}", "-mthumb", "-mfloat-abi=hard", f"-mfpu={fpu}")
    return Board(
        machine, core, flags, Region(0x0, 4 * MIB), Region(model_origin, 16 * MIB), Region(0x20000000, 4 * MIB)
    )


BOARDS = {
    "mps2-an386": _mps2("mps2-an386", "m4", "fpv4-sp-d16", 0x21000000),
    "mps2-an500": _mps2("mps2-an500", "m7", "fpv5-d16", 0x60000000),
    "mps3-an547": Board(
        "mps3-an547",
        "m55",
        ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"),
        code=Region(0x10000000, 512 << 10),
        model=Region(0x70000000, 256 * MIB),
        ram=Region(0x30000000, 512 << 10),
    ),
}


def board_for(target: TargetSpec) -> Board:
    if target.family != "mcu" or not target.qemu_machine:
        raise TargetError(f"{target.id} has no qemu machine model (qemu_machine in its spec); cannot run its firmware")
    if target.qemu_machine not in BOARDS:
        raise TargetError(
            f"{target.id}: qemu machine {target.qemu_machine} is not supported; use one of {', '.join(BOARDS)}"
        )
    return BOARDS[target.qemu_machine]
