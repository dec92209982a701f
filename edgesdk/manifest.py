"""Step cache and build manifest.

Each pipeline step has a cache key (a hash of its recipe section and the hashes of its
upstream artifacts) and a list of outputs. A step is skipped when the manifest records the
same key and every output still has the hash recorded for it, so an interrupted build re-runs
only the steps that did not finish, and a changed input re-runs exactly the steps downstream
of it. The manifest is rewritten atomically after every step. Each entry also keeps a hash per
named input, so a step that re-runs can say which input changed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgesdk.fsutil import atomic_write_json, sha256_dir, sha256_file, sha256_json

MANIFEST_FILE = "manifest.json"


def hash_output(path: Path) -> str:
    return sha256_dir(path) if path.is_dir() else sha256_file(path)


@dataclass(frozen=True)
class StepKey:
    """A step's cache key and each named input's own hash: the key decides whether the step
    runs, the parts only explain why it ran again."""

    key: str
    parts: dict

    @classmethod
    def of(cls, **inputs) -> "StepKey":
        return cls(sha256_json(list(inputs.values())), cls._hash_each(inputs))

    @classmethod
    def of_mapping(cls, inputs: dict) -> "StepKey":
        """Keyed by the mapping itself, names included (the teacher's user-cache key)."""
        return cls(sha256_json(inputs), cls._hash_each(inputs))

    @staticmethod
    def _hash_each(inputs: dict) -> dict:
        return {name: sha256_json(value) for name, value in inputs.items()}


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

    def stale_reason(self, name: str, key: StepKey) -> str | None:
        """None when the step can be skipped; else why it runs ("" when it never finished)."""
        entry = self.steps.get(name)
        if not entry:
            return ""
        if entry.get("key") != key.key:
            before = entry.get("inputs", {})
            changed = [part for part, digest in key.parts.items() if before.get(part) != digest]
            return f"changed: {', '.join(changed)}" if before and changed else "its inputs changed"
        for rel, digest in entry.get("outputs", {}).items():
            path = self.build_dir / rel
            if not path.exists():
                return f"{rel} is missing"
            if hash_output(path) != digest:
                return f"{rel} changed since it was written"
        return None

    def output_hash(self, name: str) -> str:
        """A single hash over a finished step's outputs, for downstream cache keys."""
        return json.dumps(self.steps[name]["outputs"], sort_keys=True)

    def run(
        self,
        name: str,
        key: StepKey,
        outputs: list[str],
        fn: Callable[[], dict | None],
        announce: Callable[[str], None] = lambda reason: None,
        restore: Callable[[], bool] = lambda: False,
    ) -> tuple[dict, bool]:
        """Run `fn` unless fresh, first telling `announce` why (see `stale_reason`). A stale step
        is first offered to `restore` (a step store filling in the outputs and this manifest's
        entry); when it does, the step counts as cached. Returns (the step's recorded info,
        whether it was cached)."""
        reason = self.stale_reason(name, key)
        if reason is None or restore():
            return self.steps[name].get("info", {}), True
        announce(reason)
        self.steps.pop(name, None)
        start = time.perf_counter()
        info = fn() or {}
        self.steps[name] = {
            "key": key.key,
            "inputs": key.parts,
            "seconds": round(time.perf_counter() - start, 2),
            "outputs": {rel: hash_output(self.build_dir / rel) for rel in outputs},
            "info": info,
        }
        self.save()
        return info, False
