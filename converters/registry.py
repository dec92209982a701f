"""Registry of runtime backends, keyed by runtime name and file suffix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from edgesdk.errors import ArtifactError

if TYPE_CHECKING:
    import torch


class Session(Protocol):
    """A loaded artifact: int32 ids and mask [1, T] in, logits [1, num_labels] out."""

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Backend:
    name: str  # runtime id used in recipes and report.json: executorch | litert
    suffix: str  # artifact file suffix
    magic: bytes  # flatbuffer file identifier at byte offset 4
    lower: Callable[[torch.nn.Module, tuple[torch.Tensor, ...]], bytes]
    open: Callable[[Path, int], Session]


BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    BACKENDS[backend.name] = backend
    return backend


def _ensure_loaded() -> None:
    # Importing the backend modules registers them; they import their runtimes lazily.
    from edgesdk.converters import executorch, litert  # noqa: F401


def get_backend(name: str) -> Backend:
    _ensure_loaded()
    if name not in BACKENDS:
        raise ArtifactError(f"unknown runtime '{name}'; known: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[name]


def backend_for_path(path: Path) -> Backend:
    _ensure_loaded()
    for backend in BACKENDS.values():
        if path.suffix == backend.suffix:
            return backend
    known = ", ".join(b.suffix for b in BACKENDS.values())
    raise ArtifactError(f"{path} is not a known artifact type (expected {known})")


def check_artifact_file(path: Path, backend: Backend) -> None:
    """Cheap structural check before handing a file to a native runtime."""
    if not path.is_file():
        raise ArtifactError(f"artifact {path} does not exist; check the path")
    head = path.read_bytes()[:8]
    if len(head) < 8 or head[4:8] != backend.magic:
        raise ArtifactError(
            f"{path} is not a valid {backend.name} artifact (file identifier {head[4:8]!r}, "
            f"expected {backend.magic!r}); rebuild it with edgesdk build"
        )
