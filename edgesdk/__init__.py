"""edgesdk: tiny, fast, verified BERT-class text classifiers for phones and MCUs.

The public API (docs/api.md) is `build`, `evaluate`, `profile`, `package`, `sweep`, `render_report`,
`list_targets`, `target_aliases`, `load_target`, `load_recipe`, `Recipe`, `Target` and
`DataOptions`, defined in edgesdk/api.py. They load on first use: `import edgesdk.errors` (and the CLI's --help) must not
pay for torch and the runtimes.
"""

from __future__ import annotations

import importlib

from edgesdk.version import __version__

__all__ = [
    "build",
    "evaluate",
    "profile",
    "package",
    "sweep",
    "render_report",
    "list_targets",
    "target_aliases",
    "load_target",
    "load_recipe",
    "Recipe",
    "Target",
    "DataOptions",
    "__version__",
]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("edgesdk.api"), name)
    raise AttributeError(f"module 'edgesdk' has no attribute '{name}'")
