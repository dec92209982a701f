"""The exit plan of a staged artifact and how its files and methods are named.

Torch-free on purpose: the controller, `edgesdk eval` and the profilers load staged artifacts
through this module, and a deployed runner (or a profiler's child, whose peak RSS is reported)
should not pay ~150 MB for importing torch just to read exits.json.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from edgesdk.errors import ArtifactError
from edgesdk.fsutil import atomic_write_json

EXITS_FILE = "exits.json"
STAGED_TAG = ".staged"  # model.staged.pte, model.staged.tflite


@dataclass(frozen=True)
class StagedPlan:
    """What the controller needs besides the model file (written as exits.json in the bundle)."""

    buckets: list[int]
    exit_layers: list[int]  # layer count after which each exit sits
    num_layers: int
    thresholds: list[float]  # per exit; confidence >= threshold stops (2.0 = never)
    confidence: str  # maxprob | entropy

    @property
    def stage_ends(self) -> list[int]:
        return [*self.exit_layers, self.num_layers]

    def write(self, directory: Path) -> None:
        atomic_write_json(directory / EXITS_FILE, asdict(self))

    @classmethod
    def read(cls, directory: Path) -> "StagedPlan":
        path = directory / EXITS_FILE
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ArtifactError(f"{directory} has no {EXITS_FILE}; a staged artifact needs its exit plan") from None
        except (ValueError, TypeError) as exc:
            raise ArtifactError(f"{path} is corrupt ({exc}); rebuild the artifact") from None


def method_name(bucket: int, stage: int) -> str:
    return f"b{bucket}_s{stage}"


def is_staged(path: Path) -> bool:
    return STAGED_TAG + "." in path.name
