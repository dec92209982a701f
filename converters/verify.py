"""Parity gates: run an artifact in its real runtime over real data, compare with eager.

Accuracy is measured on the artifact, batch 1, exactly as the app will call it. The gate
fails the build when the artifact loses more than the recipe allows against the eager model
or agrees with it on too few labels.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional, Sequence

import numpy as np
from edgesdk.converters.bundle import LoadedArtifact

from edgesdk.data import Split
from edgesdk.errors import AccuracyGateError
from edgesdk.recipe import VerifyConfig


@dataclass(frozen=True, eq=False)
class Evaluation:
    predictions: tuple[int, ...]
    accuracy: float
    latencies_ms: tuple[float, ...]
    logits: np.ndarray

    @property
    def n(self) -> int:
        return len(self.predictions)


@dataclass(frozen=True)
class VerifyResult:
    runtime: str
    accuracy: float
    eager_accuracy: float
    agreement: float
    max_logit_diff: float
    n: int
    passed: bool
    model: str = "student"

    def to_json(self) -> dict:
        return asdict(self)


def evaluate(artifact: LoadedArtifact, split: Split, progress: Optional[Callable[[int], None]] = None) -> Evaluation:
    ids, mask = artifact.encode(split.texts)
    preds, times, logits = [], [], []
    for i in range(len(split)):
        start = time.perf_counter()
        out = artifact.session.run(ids[i : i + 1], mask[i : i + 1])
        times.append((time.perf_counter() - start) * 1e3)
        logits.append(out[0])
        preds.append(int(np.argmax(out[0])))
        if progress:
            progress(1)
    accuracy = float(np.mean(np.array(preds) == np.array(split.labels)))
    return Evaluation(tuple(preds), accuracy, tuple(times), np.stack(logits))


def percentiles(values: Sequence[float]) -> dict:
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(arr.mean()), 4),
        "p50": round(float(np.percentile(arr, 50)), 4),
        "p90": round(float(np.percentile(arr, 90)), 4),
        "p99": round(float(np.percentile(arr, 99)), 4),
    }


def gate(
    runtime: str,
    artifact_eval: Evaluation,
    eager_predictions: Sequence[int],
    eager_logits: np.ndarray,
    labels: Sequence[int],
    config: VerifyConfig,
    model: str = "student",
) -> VerifyResult:
    eager_acc = float(np.mean(np.array(eager_predictions) == np.array(labels)))
    agreement = float(np.mean(np.array(artifact_eval.predictions) == np.array(eager_predictions)))
    max_diff = float(np.abs(artifact_eval.logits - eager_logits).max())
    passed = (
        eager_acc - artifact_eval.accuracy
    ) <= config.max_accuracy_drop + 1e-12 and agreement >= config.min_agreement
    return VerifyResult(runtime, artifact_eval.accuracy, eager_acc, agreement, max_diff, artifact_eval.n, passed, model)


def raise_if_failed(results: Sequence[VerifyResult], config: VerifyConfig) -> None:
    for r in results:
        if not r.passed:
            raise AccuracyGateError(
                f"{r.model} {r.runtime} artifact failed verification: accuracy {r.accuracy:.4f} vs eager {r.eager_accuracy:.4f} "
                f"(allowed drop {config.max_accuracy_drop}), agreement {r.agreement:.4f} (min {config.min_agreement}); "
                "see verify.json, or relax verify.max_accuracy_drop in the recipe"
            )
