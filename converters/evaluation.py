"""Parity gates: run an artifact in its real runtime over real data, compare with eager.

Accuracy is measured on the artifact, batch 1, exactly as the app will call it. The gate
fails the build when the artifact loses more than the recipe allows against the eager model
or agrees with it on too few labels.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional, Protocol, Sequence

import numpy as np
from edgesdk.converters.bundle import LoadedArtifact

from edgesdk.errors import AccuracyGateError, ArtifactError
from edgesdk.task import Split


@dataclass(frozen=True, eq=False)
class Evaluation:
    predictions: tuple[int, ...]
    accuracy: float
    latencies_ms: tuple[float, ...]
    logits: np.ndarray

    @property
    def n(self) -> int:
        return len(self.predictions)


class Tolerance(Protocol):
    """VerifyConfig (fp32 artifacts) and QuantizeConfig (quantized ones) both carry these."""

    max_accuracy_drop: float
    min_agreement: float


@dataclass(frozen=True)
class VerifyResult:
    runtime: str
    accuracy: float
    eager_accuracy: float  # the reference: eager fp32, or the eager fake-quant model when quantized
    agreement: float  # label agreement with that reference
    max_logit_diff: float
    n: int
    passed: bool
    model: str = "student"
    precision: str = "fp32"
    fp32_accuracy: Optional[float] = None  # eager fp32 model; the accuracy drop is measured against it
    max_accuracy_drop: float = 0.0
    min_agreement: float = 0.0
    staged: bool = False  # an early-exit staged artifact (gated by the recipe's exits section)

    def to_json(self) -> dict:
        return asdict(self)


def evaluate(artifact: LoadedArtifact, split: Split, progress: Optional[Callable[[int], None]] = None) -> Evaluation:
    ids, mask = artifact.encode(split.texts)
    preds, times, logits = [], [], []
    for i in range(len(split)):
        start = time.perf_counter()
        out = run_row(artifact, ids[i : i + 1], mask[i : i + 1], i)
        times.append((time.perf_counter() - start) * 1e3)
        logits.append(out[0])
        preds.append(int(np.argmax(out[0])))
        if progress:
            progress(1)
    accuracy = float(np.mean(np.array(preds) == np.array(split.labels)))
    return Evaluation(tuple(preds), accuracy, tuple(times), np.stack(logits))


def run_row(artifact: LoadedArtifact, ids: np.ndarray, mask: np.ndarray, row: int) -> np.ndarray:
    """One row through the runtime. The guard ran the file on a dummy input only; a real row
    can still fail (an id beyond a damaged or mismatched vocabulary, a corrupt op), and the
    runtime's RuntimeError/ValueError then becomes one line naming the file and the row."""
    try:
        return artifact.session.run(ids, mask)
    except (RuntimeError, ValueError) as exc:
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ArtifactError(
            f"{artifact.path} failed on data row {row + 1} in {artifact.backend.name}: {detail}; "
            "the file is corrupt or its tokenizer.json does not belong to it"
        ) from None


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
    tolerance: Tolerance,
    model: str = "student",
    precision: str = "fp32",
    fp32_accuracy: Optional[float] = None,
) -> VerifyResult:
    """Pass when the artifact agrees with its eager reference and loses at most the allowed
    accuracy against the fp32 model (the reference itself when fp32_accuracy is not given)."""
    eager_acc = float(np.mean(np.array(eager_predictions) == np.array(labels)))
    baseline = eager_acc if fp32_accuracy is None else fp32_accuracy
    agreement = float(np.mean(np.array(artifact_eval.predictions) == np.array(eager_predictions)))
    max_diff = float(np.abs(artifact_eval.logits - eager_logits).max())
    passed = (
        baseline - artifact_eval.accuracy
    ) <= tolerance.max_accuracy_drop + 1e-12 and agreement >= tolerance.min_agreement
    return VerifyResult(
        runtime,
        artifact_eval.accuracy,
        eager_acc,
        agreement,
        max_diff,
        artifact_eval.n,
        passed,
        model,
        precision,
        baseline,
        tolerance.max_accuracy_drop,
        tolerance.min_agreement,
    )


def raise_if_failed(results: Sequence[VerifyResult]) -> None:
    for r in results:
        if not r.passed:
            section = "exits" if r.staged else "verify" if r.precision == "fp32" else "quantize"
            kind = f"{r.precision} staged" if r.staged else r.precision
            raise AccuracyGateError(
                f"{r.model} {r.runtime} {kind} artifact failed verification: accuracy {r.accuracy:.4f} vs fp32 "
                f"{r.fp32_accuracy:.4f} (allowed drop {r.max_accuracy_drop}), agreement with eager {r.agreement:.4f} "
                f"(min {r.min_agreement}); see verify.json, or relax {section}.max_accuracy_drop in the recipe"
            )
