"""The early-exit / length-bucket controller, runtime-agnostic (ExecuTorch or LiteRT).

It is the reference the Kotlin and C controllers match: pick the smallest bucket that holds
the sentence, run stage 0, and keep running stages until an exit's confidence reaches its
threshold or the final classifier answers. Its decisions on a fixed input set are written as
golden JSON (`golden_decisions`) for the app tests.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np
from edgesdk.converters.registry import MethodRunner
from edgesdk.converters.staged_plan import StagedPlan, method_name

from edgesdk.exit_rule import confidence, softmax


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


def stops(plan: StagedPlan, stage: int, logits: np.ndarray) -> bool:
    """The exit rule, the one thing every controller (Python, Kotlin, C) must agree on:
    stop at an exit when its softmax confidence reaches that exit's threshold; the last
    stage always answers."""
    if stage >= len(plan.exit_layers):
        return True
    probs = softmax(np.asarray(logits, dtype=np.float64).reshape(1, -1))
    return bool(confidence(probs, plan.confidence)[0] >= plan.thresholds[stage])


class ExitController:
    def __init__(self, runner: MethodRunner, plan: StagedPlan):
        self.runner, self.plan = runner, plan

    def bucket_for(self, length: int) -> int:
        return next((b for b in self.plan.buckets if b >= length), self.plan.buckets[-1])

    def stage_logits(self, ids: np.ndarray, mask: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
        """(bucket, stage, exit logits [C]) for each stage in turn, each run only when asked
        for. ids/mask: [1, T] int32, right-padded (T >= the largest bucket)."""
        bucket = self.bucket_for(int(mask.sum()))
        mask_b = mask[:, :bucket]
        x = ids[:, :bucket]
        last = len(self.plan.exit_layers)
        for stage in range(last + 1):
            outputs = self.runner.run(method_name(bucket, stage), x, mask_b)
            if stage == last:
                yield bucket, stage, outputs[0][0]
                return
            x, logits = outputs
            yield bucket, stage, logits[0]

    def run_ids(self, ids: np.ndarray, mask: np.ndarray) -> Decision:
        start = time.perf_counter()
        for bucket, stage, logits in self.stage_logits(ids, mask):
            if stops(self.plan, stage, logits):
                break
        probs = softmax(np.asarray(logits, dtype=np.float64).reshape(1, -1))[0]
        return Decision(
            label=int(probs.argmax()),
            probabilities=[float(p) for p in probs],
            logits=[float(v) for v in logits],
            exit_index=stage,
            layers=self.plan.stage_ends[stage],
            bucket=bucket,
            ms=(time.perf_counter() - start) * 1e3,
        )

    def golden(self, ids: np.ndarray, mask: np.ndarray) -> dict:
        """Every stage's logits for one input and the decision: what another controller, fed
        the same stage outputs, must decide."""
        runs = list(self.stage_logits(ids, mask))
        decision = self.run_ids(ids, mask)
        length = int(mask.sum())
        return {
            "ids": [int(i) for i in ids[0, :length]],
            "bucket": runs[0][0],
            "stage_logits": [[float(v) for v in logits] for _, _, logits in runs],
            "exit_index": decision.exit_index,
            "label": decision.label,
        }


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
