"""Lowering to deployable artifacts (edgesdk.converters).

Each runtime registers a Backend (how to lower an eager model to its file format and how to
open that file in the real runtime). Verification, `edgesdk eval` and the profilers only
ever talk to this registry, so adding a runtime touches one module.
"""

from edgesdk.converters.registry import (
    BACKENDS,
    Backend,
    Session,
    backend_for_path,
    get_backend,
)

__all__ = ["BACKENDS", "Backend", "Session", "backend_for_path", "get_backend"]
