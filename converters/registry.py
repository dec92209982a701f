"""Registry of runtime backends, keyed by runtime name and file suffix."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Protocol

import numpy as np
from edgesdk.converters.staged_plan import is_staged

from edgesdk.errors import ArtifactError

if TYPE_CHECKING:
    pass


class Session(Protocol):
    """A loaded artifact: int32 ids and mask [1, T] in, logits [1, num_labels] out.

    A session may also offer `memory() -> dict` (e.g. TFLM's arena_bytes) for the profiler."""

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


class MethodRunner(Protocol):
    """A loaded multi-method artifact: run one named method (a .pte method or a .tflite
    signature) on numpy inputs, get its outputs in order."""

    def run(self, name: str, *inputs: np.ndarray) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class Backend:
    name: str  # runtime id used in recipes and report.json: executorch | litert | tflm
    suffix: str  # artifact file suffix
    magic: bytes  # flatbuffer file identifier at byte offset 4
    lower: Callable[..., bytes]  # (module, example, precision, calibration, quantize config) -> artifact bytes
    open: Callable[[Path, int], Session]
    # What it lowers; every precision but fp32 has a handler in converters/quantizer_registry.py.
    precisions: tuple[str, ...] = ("fp32",)
    # Staged (multi-method) artifacts, for early exit and length buckets; None = not supported.
    lower_methods: Optional[Callable[[dict], bytes]] = None  # {name: (module, example)} -> bytes
    open_methods: Optional[Callable[[Path, int], "MethodRunner"]] = None
    staged_magic: Optional[bytes] = None  # a staged file's identifier when it differs (TFLM's pack)

    def magic_for(self, path: Path) -> bytes:
        return self.staged_magic if self.staged_magic is not None and is_staged(path) else self.magic


BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    BACKENDS[backend.name] = backend
    return backend


# The backends register themselves on import and import this module: the registry loads them
# by name, so neither side imports the other at module level (scripts/check_layers.py).
BACKEND_MODULES = ("edgesdk.converters.executorch", "edgesdk.converters.litert", "edgesdk.converters.tflm")


def _ensure_loaded() -> None:
    for module in BACKEND_MODULES:  # each imports its runtime lazily
        importlib.import_module(module)


def get_backend(name: str) -> Backend:
    _ensure_loaded()
    if name not in BACKENDS:
        raise ArtifactError(f"unknown runtime '{name}'; known: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[name]


def backend_for_path(path: Path) -> Backend:
    _ensure_loaded()
    # Longest suffix first: model.int8.micro.tflite is TFLM's, model.int8.tflite LiteRT's.
    for backend in sorted(BACKENDS.values(), key=lambda b: -len(b.suffix)):
        if path.name.endswith(backend.suffix):
            return backend
    known = ", ".join(b.suffix for b in BACKENDS.values())
    raise ArtifactError(f"{path} is not a known artifact type (expected {known})")


def check_artifact_file(path: Path, backend: Backend) -> None:
    """Cheap structural check before handing a file to a native runtime."""
    if not path.is_file():
        raise ArtifactError(f"artifact {path} does not exist; check the path")
    head, magic = path.read_bytes()[:8], backend.magic_for(path)
    if len(head) < 8 or head[4:8] != magic:
        raise ArtifactError(
            f"{path} is not a valid {backend.name} artifact (file identifier {head[4:8]!r}, "
            f"expected {magic!r}); rebuild it with edgesdk build"
        )
