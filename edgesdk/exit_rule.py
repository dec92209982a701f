"""The exit rule: softmax, confidence (max probability or normalised entropy) and which exit a
sentence takes. numpy only, so the runtime controller does not import torch; the Kotlin, C and
board-side Python controllers restate these few lines and are tested against them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

NEVER = 2.0  # a threshold no confidence (<= 1) reaches: never exit; JSON-safe for the apps


def confidence(probs: np.ndarray, kind: str) -> np.ndarray:
    """[N, C] probabilities -> [N] confidence in [0, 1], higher = surer."""
    if kind == "maxprob":
        return probs.max(-1)
    entropy = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(-1)
    return 1.0 - entropy / np.log(probs.shape[-1])


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def exit_taken(confidences: Sequence[np.ndarray], thresholds: Sequence[float]) -> np.ndarray:
    """[N] index of the first exit whose confidence reaches its threshold (len = final)."""
    n = len(confidences[0]) if confidences else 0
    taken = np.full(n, len(thresholds), dtype=np.int64)
    for k in reversed(range(len(thresholds))):
        taken = np.where(confidences[k] >= thresholds[k], k, taken)
    return taken
