"""Where the cross compiler, qemu and the TFLM sources are, or one line saying what to install.

The TFLM tree is not a pip package: edgesdk ships the pinned, generator-produced tree
(TFLM + CMSIS-NN + flatbuffers, with their licences) in third_party/tflite-micro beside this
file (see its README); EDGESDK_TFLM_DIR names another tree of the same layout instead.
Nothing here downloads anything.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edgesdk.errors import TargetError
from edgesdk.fsutil import CACHE_FIX, cache_root, check_output_dir

CROSS_PREFIX = "arm-none-eabi-"
APT_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm"
TFLM_ENV = "EDGESDK_TFLM_DIR"
TFLM_MARKER = Path("tensorflow/lite/micro/micro_interpreter.h")
BUNDLED_TFLM = Path(__file__).resolve().parent / "third_party" / "tflite-micro"


@dataclass(frozen=True)
class Toolchain:
    gcc: str
    gxx: str
    ar: str
    size: str
    nm: str
    qemu: str
    host_cc: str  # builds the qemu plugin (a host shared library)
    tflm_dir: Path

    def version(self) -> str:
        """Compiler identity, part of every cache key: objects from another gcc are not reused."""
        return _first_line([self.gxx, "--version"])


def _first_line(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else ""


def _which(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise TargetError(f"{name} not found; the Cortex-M profiler needs: apt-get install {APT_PACKAGES}")
    return found


def find_tflm_dir() -> Path:
    """EDGESDK_TFLM_DIR, else the tree shipped with edgesdk."""
    configured = os.environ.get(TFLM_ENV)
    if configured:
        tree = Path(configured).expanduser()
        if not (tree / TFLM_MARKER).is_file():
            raise TargetError(
                f"{TFLM_ENV}={configured} is not a TFLite Micro tree (no {TFLM_MARKER}); unset it or fix the path"
            )
        return tree.resolve()
    if (BUNDLED_TFLM / TFLM_MARKER).is_file():
        return BUNDLED_TFLM
    raise TargetError(
        f"the TFLite Micro sources shipped with edgesdk are missing ({BUNDLED_TFLM}); reinstall edgesdk"
        f" or set {TFLM_ENV} to a tree of the same layout"
    )


def find_toolchain() -> Toolchain:
    tools = {tool: _which(CROSS_PREFIX + tool) for tool in ("gcc", "g++", "gcc-ar", "size", "nm")}
    host_cc = shutil.which("gcc") or shutil.which("cc")
    if host_cc is None:
        raise TargetError("no host C compiler (gcc) to build the qemu plugin; apt-get install gcc")
    return Toolchain(
        gcc=tools["gcc"],
        gxx=tools["g++"],
        ar=tools["gcc-ar"],
        size=tools["size"],
        nm=tools["nm"],
        qemu=_which("qemu-system-arm"),
        host_cc=host_cc,
        tflm_dir=find_tflm_dir(),
    )


def cache_dir() -> Path:
    """EDGESDK_CACHE_DIR (as the teacher cache) / cortex_m: libraries, objects, the plugin."""
    path = cache_root() / "cortex_m"
    check_output_dir(path, "cache dir", CACHE_FIX)
    path.mkdir(parents=True, exist_ok=True)
    return path


@lru_cache(maxsize=8)
def tree_fingerprint(tree: Path) -> str:
    """A cheap identity of the TFLM tree (every file's path, size and mtime): an edited or
    replaced tree gets fresh objects, an untouched one reuses them."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            stat = path.stat()
            digest.update(f"{path.relative_to(tree)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
