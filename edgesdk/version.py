"""The package version and the tools' versions (read by the CLI, the build manifest, the
lowered-artifact cache and the generated apps)."""

import platform
from importlib import metadata

__version__ = "0.1.0"

TOOL_PACKAGES = ("torch", "executorch", "litert-torch", "ai-edge-litert", "transformers", "tokenizers")


def tool_versions() -> dict:
    versions = {"edgesdk": __version__, "python": platform.python_version()}
    for pkg in TOOL_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return versions
