"""The TFLM + CMSIS-NN static library, compiled once per (core, flags, compiler, TFLM tree)
and cached, because compiling it is the slow part (~3 min for one model's kernels on two
cores) while linking a model against it takes seconds.

Objects are cached individually, so a second model that needs one more kernel compiles only
that kernel; the archive is per source set. A file lock serialises builds of the same key
(two processes would otherwise compile the same objects at once and race on the archive).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from edgesdk.targets.cortex_m.boards import Board
from edgesdk.targets.cortex_m.toolchain import Toolchain, cache_dir, tree_fingerprint

from edgesdk.errors import TargetError
from edgesdk.fsutil import sha256_json
from edgesdk.progress import status

KERNEL_SET = "cmsis_nn"
JOBS_ENV = "EDGESDK_MCU_JOBS"  # parallel compiler processes (default 2: CI has two cores)

# Flags as in ../shared/examples/cortex-m-qemu/fw/Makefile (verified with Debian's gcc 12.2):
# TF_LITE_STATIC_MEMORY is what TFLM is built with; CMSIS-NN's float paths are off as in TFLM.
DEFINES = (
    "-DTF_LITE_STATIC_MEMORY",
    "-DTF_LITE_MCU_DEBUG_LOG",
    "-DTF_LITE_DISABLE_X86_NEON",
    "-DNDEBUG",
    "-DARM_NN_ENABLE_F16=0",
    "-DARM_NN_ENABLE_F32=0",
    "-DCMSIS_NN",
)
COMMON_FLAGS = (
    "-O2",
    "-ffunction-sections",
    "-fdata-sections",
    "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables",
    "-funsigned-char",
    "-fomit-frame-pointer",
    "-fmessage-length=0",
)
CXX_FLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics", "-Wno-psabi")
C_FLAGS = ("-std=c17",)
INCLUDE_DIRS = (
    ".",
    "third_party/gemmlowp",
    "third_party/flatbuffers/include",
    "third_party/kissfft",
    "third_party/kissfft/tools",
    "third_party/ruy",
    "third_party/cmsis",
    "third_party/cmsis_nn",
    "third_party/cmsis_nn/Include",
    "third_party/cmsis/CMSIS/Core/Include",
)


def compile_command(tools: Toolchain, board: Board, source: Path, obj: Path, extra: tuple[str, ...] = ()) -> list[str]:
    """One source to one object for `board`, against the TFLM tree's headers."""
    is_c = source.suffix == ".c"
    includes = [f"-I{tools.tflm_dir / d}" for d in INCLUDE_DIRS]
    return [
        tools.gcc if is_c else tools.gxx,
        *board.cpu_flags,
        *COMMON_FLAGS,
        *DEFINES,
        *(C_FLAGS if is_c else CXX_FLAGS),
        *includes,
        *extra,
        "-c",
        str(source),
        "-o",
        str(obj),
    ]


def run_tool(cmd: list[str], what: str, log: Path) -> None:
    """Run a build step; on failure keep its full output in `log` and raise one line."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(" ".join(cmd) + "\n" + proc.stdout + proc.stderr)
        first = next((ln for ln in proc.stderr.splitlines() if "error" in ln.lower()), proc.stderr.strip()[:200])
        raise TargetError(f"{what} failed: {first.strip()[:240]} (full log: {log})")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def library_dir(tools: Toolchain, board: Board) -> Path:
    key = sha256_json(
        [tools.version(), board.cpu_flags, DEFINES, COMMON_FLAGS, CXX_FLAGS, C_FLAGS, tree_fingerprint(tools.tflm_dir)]
    )[:12]
    return cache_dir() / f"lib-{board.core}-{KERNEL_SET}-{key}"


def _compile_missing(tools: Toolchain, board: Board, sources: list[Path], objects: dict[Path, Path]) -> None:
    missing = [s for s in sources if not objects[s].exists()]
    if not missing:
        return
    status(f"compiling TFLM + CMSIS-NN for {board.core}: {len(missing)} of {len(sources)} sources (cached afterwards)")

    def build(source: Path) -> None:
        obj = objects[source]
        obj.parent.mkdir(parents=True, exist_ok=True)
        partial = obj.with_suffix(".o.partial")
        run_tool(compile_command(tools, board, source, partial), f"compiling {source.name}", obj.with_suffix(".log"))
        os.replace(partial, obj)  # never leave a truncated object behind an interrupted build

    jobs = max(1, int(os.environ.get(JOBS_ENV, "2")))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(build, s) for s in missing]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def ensure_library(tools: Toolchain, board: Board, sources: list[Path]) -> Path:
    """The archive of `sources` (paths inside the TFLM tree) for `board`, built if absent."""
    root = library_dir(tools, board)
    archive = root / f"libtflm-{sha256_json(sorted(map(str, sources)))[:12]}.a"
    with file_lock(root.with_suffix(".lock")):
        if archive.exists():
            return archive
        objects = {s: root / "obj" / s.relative_to(tools.tflm_dir).with_suffix(".o") for s in sources}
        _compile_missing(tools, board, sources, objects)
        partial = archive.with_suffix(".a.partial")
        partial.unlink(missing_ok=True)
        run_tool([tools.ar, "rcs", str(partial), *map(str, objects.values())], "archiving TFLM", root / "ar.log")
        os.replace(partial, archive)
    return archive
