"""Target registry and per-family profilers (edgesdk.targets)."""
