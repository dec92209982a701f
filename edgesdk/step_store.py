"""Finished steps shared between builds by cache key: what lets a sweep's variants share work.

A step's key is the hash of everything it reads (edgesdk/steps/base.py), so two builds whose
recipes differ only downstream of a step compute that step identically. A build given a store
(`BuildRequest.step_store`) first looks there for a stale step's key and, when found, copies
the outputs in and records the entry as if the step had run; after running a step it publishes
the outputs. Sweep variants that differ only in exits or precisions thus train their student
once. Entries are written whole or not at all (a temp dir renamed into place: two variants
finishing the same step at once keep the first copy) and restored only when every file still
has the hash recorded for it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from edgesdk.fsutil import atomic_dir, atomic_write_bytes, atomic_write_json, first_writer_dir, read_json
from edgesdk.manifest import Manifest, StepKey, hash_output

ENTRY_FILE = "entry.json"


class StepStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _dir(self, name: str, key: str) -> Path:
        return self.root / name / key

    def restore(self, manifest: Manifest, name: str, key: StepKey) -> bool:
        """Copy the stored outputs of step `name` at `key` into the build; False when absent or damaged."""
        where = self._dir(name, key.key)
        try:
            entry = read_json(where / ENTRY_FILE)
        except (OSError, ValueError):  # never published (or not JSON)
            return False
        stored = where / "files"
        outputs = entry["outputs"].items()
        if any(not (stored / rel).exists() or hash_output(stored / rel) != digest for rel, digest in outputs):
            return False
        for rel in entry["outputs"]:
            _replace(stored / rel, manifest.build_dir / rel)
        manifest.steps[name] = {**entry, "restored": "step store"}
        manifest.save()
        return True

    def publish(self, manifest: Manifest, name: str) -> None:
        """Store a finished step's outputs under its key, unless another build stored them first."""
        entry = manifest.steps.get(name)
        if not entry or self._dir(name, entry["key"]).is_dir():
            return
        with first_writer_dir(self._dir(name, entry["key"])) as tmp:
            for rel in entry["outputs"]:
                src, dst = manifest.build_dir / rel, tmp / "files" / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir():
                    shutil.copytree(src, dst)
                else:
                    shutil.copy2(src, dst)
            atomic_write_json(tmp / ENTRY_FILE, {k: v for k, v in entry.items() if k != "restored"})

    def add_build(self, build_dir: Path) -> int:
        """Publish every finished step of an existing build (`edgesdk sweep --from`); returns how many."""
        manifest = Manifest.load(Path(build_dir), {})  # a missing or damaged manifest: no steps
        fresh = [
            name
            for name, entry in manifest.steps.items()
            if manifest.stale_reason(name, StepKey(entry["key"], {})) is None
        ]
        for name in fresh:
            self.publish(manifest, name)
        return len(fresh)


def _replace(src: Path, dst: Path) -> None:
    """dst becomes a copy of src, whole or not at all (a killed copy leaves no half of it)."""
    if src.is_dir():
        with atomic_dir(dst) as tmp:
            shutil.copytree(src, tmp, dirs_exist_ok=True)
    else:  # a step's file outputs are its small JSON records; its models and artifacts are dirs
        atomic_write_bytes(dst, src.read_bytes())
