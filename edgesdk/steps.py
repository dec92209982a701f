"""Step cache and build manifest.

Each pipeline step has a cache key (a hash of its recipe section and the hashes of its
upstream artifacts) and a list of outputs. A step is skipped when the manifest records the
same key and every output still has the hash recorded for it, so an interrupted build re-runs
only the steps that did not finish, and a changed input re-runs exactly the steps downstream
of it. The manifest is rewritten atomically after every step.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgesdk.fsutil import atomic_write_json, sha256_dir, sha256_file

MANIFEST_FILE = "manifest.json"


def hash_output(path: Path) -> str:
    return sha256_dir(path) if path.is_dir() else sha256_file(path)


@dataclass
class Manifest:
    build_dir: Path
    header: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)

    @classmethod
    def load(cls, build_dir: Path, header: dict) -> "Manifest":
        path = build_dir / MANIFEST_FILE
        steps = {}
        if path.exists():
            try:
                steps = json.loads(path.read_text()).get("steps", {})
            except (json.JSONDecodeError, OSError, AttributeError):
                steps = {}  # a damaged manifest only costs a rebuild
        return cls(build_dir, header, steps)

    def save(self) -> None:
        atomic_write_json(self.build_dir / MANIFEST_FILE, {**self.header, "steps": self.steps})

    def is_fresh(self, name: str, key: str) -> bool:
        entry = self.steps.get(name)
        if not entry or entry.get("key") != key:
            return False
        for rel, digest in entry.get("outputs", {}).items():
            path = self.build_dir / rel
            if not path.exists() or hash_output(path) != digest:
                return False
        return True

    def output_hash(self, name: str) -> str:
        """A single hash over a finished step's outputs, for downstream cache keys."""
        return json.dumps(self.steps[name]["outputs"], sort_keys=True)

    def run(self, name: str, key: str, outputs: list[str], fn: Callable[[], dict | None]) -> tuple[dict, bool]:
        """Run `fn` unless fresh. Returns (the step's recorded info, whether it was cached)."""
        if self.is_fresh(name, key):
            return self.steps[name].get("info", {}), True
        self.steps.pop(name, None)
        start = time.perf_counter()
        info = fn() or {}
        self.steps[name] = {
            "key": key,
            "seconds": round(time.perf_counter() - start, 2),
            "outputs": {rel: hash_output(self.build_dir / rel) for rel in outputs},
            "info": info,
        }
        self.save()
        return info, False
