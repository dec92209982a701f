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

import json
import os
import shutil
import tempfile
from pathlib import Path

from edgesdk.fsutil import TEMP_SUFFIX, atomic_write_json
from edgesdk.manifest import MANIFEST_FILE, Manifest, StepKey, hash_output

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
            entry = json.loads((where / ENTRY_FILE).read_text())
        except (OSError, json.JSONDecodeError):
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
        dst = self._dir(name, entry["key"])
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=TEMP_SUFFIX, dir=dst.parent))
        try:
            for rel in entry["outputs"]:
                _copy(manifest.build_dir / rel, tmp / "files" / rel)
            atomic_write_json(tmp / ENTRY_FILE, {k: v for k, v in entry.items() if k != "restored"})
            try:
                os.rename(tmp, dst)  # fails when another writer got there first: its copy stays
            except OSError:
                if not dst.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def add_build(self, build_dir: Path) -> int:
        """Publish every finished step of an existing build (`edgesdk sweep --from`); returns how many."""
        try:
            steps = json.loads((Path(build_dir) / MANIFEST_FILE).read_text()).get("steps", {})
        except (OSError, json.JSONDecodeError):
            return 0
        manifest = Manifest(Path(build_dir), {}, steps)
        fresh = [
            name for name, entry in steps.items() if manifest.stale_reason(name, StepKey(entry["key"], {})) is None
        ]
        for name in fresh:
            self.publish(manifest, name)
        return len(fresh)


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)


def _replace(src: Path, dst: Path) -> None:
    """dst becomes a copy of src, swapped in by a rename so a killed copy leaves no half of it."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f".{dst.name}.{os.getpid():08d}{TEMP_SUFFIX}"[-255:]
    shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
    _copy(src, tmp)
    if dst.is_dir():
        shutil.rmtree(dst)
    os.replace(tmp, dst)
