"""The package version (read by the CLI, the build manifest and the generated apps)."""

__version__ = "0.1.0"
