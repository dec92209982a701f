"""The early-exit / length-bucket controller, runtime-agnostic (ExecuTorch or LiteRT).

It is the reference the Kotlin and C controllers match: pick the smallest bucket that holds
the sentence, run stage 0, and keep running stages until an exit's confidence reaches its
threshold or the final classifier answers. Its decisions on a fixed input set are written as
golden JSON (`golden_decisions`) for the app tests.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from edgesdk.compress.exits import confidence, softmax
from edgesdk.converters.registry import MethodRunner
from edgesdk.converters.staging import StagedPlan, method_name


@dataclass(frozen=True)
class Decision:
    label: int
    probabilities: list[float]
    logits: list[float]
    exit_index: int  # which exit answered; len(exit_layers) = the final classifier
    layers: int  # layers executed
    bucket: int
    ms: float

    def to_json(self) -> dict:
        return asdict(self)


class ExitController:
    def __init__(self, runner: MethodRunner, plan: StagedPlan):
        self.runner, self.plan = runner, plan

    def bucket_for(self, length: int) -> int:
        return next((b for b in self.plan.buckets if b >= length), self.plan.buckets[-1])

    def run_ids(self, ids: np.ndarray, mask: np.ndarray) -> Decision:
        """ids/mask: [1, T] int32, right-padded (T >= the largest bucket)."""
        start = time.perf_counter()
        plan = self.plan
        bucket = self.bucket_for(int(mask.sum()))
        ids_b, mask_b = ids[:, :bucket], mask[:, :bucket]
        last = len(plan.exit_layers)
        x = ids_b
        for stage in range(last + 1):
            outputs = self.runner.run(method_name(bucket, stage), x, mask_b)
            if stage == last:
                logits = outputs[0]
                break
            x, logits = outputs
            probs = softmax(logits[0].astype(np.float64))
            if confidence(probs[None], plan.confidence)[0] >= plan.thresholds[stage]:
                break
        probs = softmax(logits[0].astype(np.float64))
        return Decision(
            label=int(probs.argmax()),
            probabilities=[float(p) for p in probs],
            logits=[float(v) for v in logits[0]],
            exit_index=stage,
            layers=plan.stage_ends[stage],
            bucket=bucket,
            ms=(time.perf_counter() - start) * 1e3,
        )


class StagedSession:
    """A staged artifact behind the single-graph Session interface (ids, mask -> logits), so
    verification, eval and the profilers run it unchanged; `decisions` keeps every call's
    exit and bucket for the report."""

    def __init__(self, runner: MethodRunner, plan: StagedPlan):
        self.controller = ExitController(runner, plan)
        self.decisions: list[Decision] = []

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        decision = self.controller.run_ids(ids, mask)
        self.decisions.append(decision)
        return np.asarray([decision.logits], dtype=np.float32)
