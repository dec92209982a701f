"""The artifact bundle: model files plus everything needed to run them.

An artifact is useless without its tokenizer, label names and input length, so every lowered
file lives in a directory with `bundle.json`, `tokenizer.json` and the label map. `edgesdk
eval ARTIFACT` and the profilers read only this directory, never the build's internals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from edgesdk.converters.controller import StagedSession
from edgesdk.converters.registry import (
    Backend,
    Session,
    backend_for_path,
    check_artifact_file,
)
from edgesdk.converters.staged_plan import StagedPlan, is_staged

from edgesdk.errors import ArtifactError
from edgesdk.fsutil import atomic_write_json
from edgesdk.task import LabelMap
from edgesdk.tokenizer import Tokenizer, load_artifact_tokenizer

BUNDLE_FILE = "bundle.json"


@dataclass(frozen=True)
class BundleInfo:
    seq_len: int
    labels: LabelMap

    def write(self, directory: Path) -> None:
        atomic_write_json(directory / BUNDLE_FILE, {"seq_len": self.seq_len, "labels": list(self.labels.names)})

    @classmethod
    def read(cls, directory: Path) -> "BundleInfo":
        path = directory / BUNDLE_FILE
        if not path.exists():
            raise ArtifactError(f"{directory} has no {BUNDLE_FILE}; an artifact must stay in its edgesdk build folder")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(raw["seq_len"]), LabelMap(tuple(str(x) for x in raw["labels"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"{path} is corrupt ({exc}); rebuild the artifact") from None


@dataclass
class LoadedArtifact:
    path: Path
    backend: Backend
    info: BundleInfo
    tokenizer: Tokenizer
    session: Session

    def encode(self, texts) -> tuple[np.ndarray, np.ndarray]:
        return self.tokenizer.pad(self.tokenizer.encode(texts, self.info.seq_len), self.info.seq_len)


def open_artifact(path: Path, threads: int) -> LoadedArtifact:
    backend = backend_for_path(path)
    check_artifact_file(path, backend)
    info = BundleInfo.read(path.parent)
    tokenizer = load_artifact_tokenizer(path.parent)
    return LoadedArtifact(path, backend, info, tokenizer, open_session(path, backend, threads))


def open_session(path: Path, backend: Backend, threads: int) -> Session:
    """A single-graph artifact's own session, or for a staged one (model.staged.pte) the
    exit controller over its methods, with the exit plan from the bundle."""
    if not is_staged(path):
        return backend.open(path, threads)
    if backend.open_methods is None:
        raise ArtifactError(f"{path}: {backend.name} has no staged artifacts")

    return StagedSession(backend.open_methods(path, threads), StagedPlan.read(path.parent))
