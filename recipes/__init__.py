"""Bundled recipes (YAML). Copy one and edit it: `edgesdk build --recipe my.yaml`."""
