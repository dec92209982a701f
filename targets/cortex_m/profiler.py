"""`profile_mcu`: a .micro.tflite measured as firmware on an emulated Cortex-M.

What is measured (exact, from the firmware): outputs (compared bit for bit with the
tflite-micro Python interpreter on the same inputs), arena bytes used, flash and RAM of the
linked image, stack high-water mark, and instructions per inference. What is estimated:
latency = instructions x the core's cycles per instruction (an assumption in the target
spec) / the part's clock; the result says so ("latency_kind": "estimate" + its method).

Texts are tokenized here with the artifact's own tokenizer and the ids compiled into the
firmware (on-device tokenization is the MCU app's job, not this profiler's).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from edgesdk.targets.cortex_m.boards import Board, board_for
from edgesdk.targets.cortex_m.firmware import FirmwareBuild, arena_size, image_size
from edgesdk.targets.cortex_m.kernels import bindings_for, library_sources, model_ops
from edgesdk.targets.cortex_m.library import ensure_library
from edgesdk.targets.cortex_m.qemu import ArenaTooSmall, run_firmware
from edgesdk.targets.cortex_m.toolchain import cache_dir, find_toolchain
from edgesdk.targets.registry import TargetSpec, get_target

from edgesdk.errors import TargetError
from edgesdk.fsutil import sha256_json
from edgesdk.recipe import ProfileConfig

# Instruction counts are deterministic, so a handful of real sentences is enough; more only
# costs emulation time.
MAX_INPUTS = 16
# The probe image's arena: the Python interpreter's (reference kernels) with room for
# CMSIS-NN's scratch buffers; the reported image is relinked with the arena the probe used.
PROBE_ARENA_FACTOR, PROBE_ARENA_EXTRA = 2, 64 << 10
# arena_used_bytes() is what stays allocated; AllocateTensors briefly needs more (temporary
# allocations while preparing kernels), so the shipped image's arena is found by bisection
# between the two, to this granularity.
ARENA_STEP_BYTES = 256
# RAM left for stack, heap and the runtime's own data when the probe arena is capped.
RAM_RESERVE_BYTES = 64 << 10


def latency_estimate(instructions: list[int], target: TargetSpec) -> tuple[dict, str]:
    from edgesdk.converters.verify import percentiles

    if target.cpi is None or not target.clock_mhz:
        raise TargetError(f"{target.id} needs cpi and clock_mhz in its spec to estimate latency")
    ms = [n * target.cpi / (target.clock_mhz * 1e3) for n in instructions]
    return percentiles(ms), f"instructions x CPI / clock (cpi={target.cpi}, clock_mhz={target.clock_mhz})"


def probe_arena_bytes(python_arena: int, board: Board) -> int:
    return min(python_arena * PROBE_ARENA_FACTOR + PROBE_ARENA_EXTRA, board.ram.length - RAM_RESERVE_BYTES)


def _smallest_arena(build: FirmwareBuild, tools, board: Board, used: int, enough: int, ids, mask) -> int:
    """The least arena (to ARENA_STEP_BYTES) with which AllocateTensors succeeds, by bisection
    over one-input images (a failing image exits before any Invoke: each try is ~1 s)."""
    low, high = used - 1, enough  # low fails (below what stays allocated), high allocates
    while high - low > ARENA_STEP_BYTES:
        middle = (low + high) // 2
        try:
            run_firmware(tools, board, build.link("arena", middle, ids[:1], mask[:1]))
            high = middle
        except ArenaTooSmall:
            low = middle
    return high


def _measure_firmware(tools, board: Board, artifact: Path, python_arena: int, ids, mask):
    """(final run, arena capacity, image size, elf): library (cached), firmware, probe run,
    arena bisection, then the final image over every input.

    The firmware is built in a scratch dir of its own, so two builds profiling one artifact at
    once (two pytest workers, two terminals) never relink or delete each other's images. Only
    the final ELF is kept, under a name keyed by everything it holds (model, core, arena,
    inputs): a reader of an earlier report's `firmware` path finds it intact, and the cache
    holds one file per distinct image, not one per run."""
    data = artifact.read_bytes()
    bindings = bindings_for(tools.tflm_dir, model_ops(data))
    library = ensure_library(tools, board, library_sources(tools.tflm_dir, bindings, cmsis_nn=True))
    root = cache_dir() / "firmware"
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:16]
    with tempfile.TemporaryDirectory(prefix=f".{digest}-{board.core}-", dir=root) as scratch:
        build = FirmwareBuild(tools, board, library, Path(scratch) / "build")
        build.prepare(artifact, bindings)
        probe_arena = probe_arena_bytes(python_arena, board)
        probe = run_firmware(tools, board, build.link("probe", probe_arena, ids[:1], mask[:1]))
        capacity = _smallest_arena(build, tools, board, probe.arena_used_bytes, probe_arena, ids, mask)
        image = sha256_json([digest, board.core, capacity, np.asarray(ids).tolist(), np.asarray(mask).tolist()])
        elf = root / f"{digest}-{board.core}-{image[:16]}.elf"
        os.replace(build.link("firmware", capacity, ids, mask), elf)  # same name, same image
    return run_firmware(tools, board, elf), arena_size(capacity), image_size(tools, elf), elf


def _stats(values: list[int]) -> dict:
    return {"mean": round(float(np.mean(values)), 1), "min": int(min(values)), "max": int(max(values))}


def profile_mcu(
    artifact: Path, texts: Sequence[str], config: ProfileConfig, target: Optional[TargetSpec] = None
) -> dict:
    from edgesdk.converters.bundle import open_artifact

    target = target or get_target("mcu")
    board = board_for(target)
    tools = find_toolchain()
    loaded = open_artifact(artifact, threads=1)
    if loaded.backend.name != "tflm":
        raise TargetError(
            f"{artifact.name} is a {loaded.backend.name} artifact; {target.id} runs .micro.tflite (tflm) only"
        )
    if not texts:
        raise TargetError("profiling needs at least one text")
    rows = min(MAX_INPUTS, config.repetitions, len(texts))
    ids, mask = loaded.encode(list(texts)[:rows])
    expected = [loaded.session.run_quantized(ids[i : i + 1], mask[i : i + 1]).reshape(-1) for i in range(rows)]
    python_arena = loaded.session.memory()["arena_bytes"]
    run, capacity, size, elf = _measure_firmware(tools, board, artifact, python_arena, ids, mask)

    mismatches = [i for i, (got, want) in enumerate(zip(run.outputs, expected)) if not np.array_equal(got, want)]
    latency, method = latency_estimate(run.invoke_instructions, target)
    return {
        "runtime": "tflm",
        "target": target.id,
        "machine": f"qemu-system-arm -M {board.machine}",
        "kernels": "cmsis_nn",
        "threads": 1,
        "warmup": 0,
        "repetitions": rows,
        "latency_ms": latency,
        "latency_kind": "estimate",
        "latency_method": method,
        "method": "estimate",  # the latency; outputs, arena, image size and instructions are measured (emulated)
        "method_detail": f"firmware under qemu {board.machine}: outputs, arena, image size and instructions measured; latency estimated",
        "instructions": _stats(run.invoke_instructions),
        "instructions_per_input": run.invoke_instructions,
        "arena_bytes": run.arena_used_bytes,
        "arena_bytes_python": python_arena,
        "arena_capacity_bytes": capacity,
        "flash_bytes": size.flash_bytes,
        "ram_bytes": size.ram_bytes,
        "model_bytes": size.model_bytes,
        "stack_bytes": run.stack_high_water_bytes,
        "outputs_match": not mismatches and len(run.outputs) == rows,
        "outputs_mismatched_inputs": mismatches,
        # A bare-metal image's RAM is all static (arena, stack and heap reserved at link time),
        # so its linked RAM is its peak resident memory; there is no process to start from.
        "peak_rss_bytes": size.ram_bytes,
        "baseline_rss_bytes": None,
        "size_bytes": artifact.stat().st_size,
        "firmware": str(elf),
    }
