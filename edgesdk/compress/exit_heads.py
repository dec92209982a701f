"""Early-exit heads, their training, and per-exit threshold calibration.

Why heads on a frozen backbone: the deployed model's final predictions must not move (the
single-graph artifact and the staged one share the backbone), so the heads are trained after
the fact, as DeeBERT's second stage (gold labels) or FastBERT's self-distillation (the final
classifier's soft outputs). Confidence is "higher is surer" for both measures (max
probability, or one minus normalised entropy), so one comparison `confidence >= threshold`
serves both, in Python here and in the Kotlin/C controllers later.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgesdk.devices import active
from edgesdk.exit_rule import NEVER, confidence, exit_taken
from edgesdk.models.encoder import Encoder
from edgesdk.recipe import ExitConfig
from edgesdk.tokenizer import Tokenizer
from edgesdk.train import Schedule, TrainResult, collate, optimize


class ExitHeads(nn.Module):
    """One classifier per exit, on the encoder's own pooling of that layer's output.

    `kind="mlp"` puts a hidden x hidden GELU layer before the linear classifier: the frozen
    backbone's early layers are not linearly separable enough for confident early answers
    (SST-2 teacher, same budget on the calibration rows: linear exits run 41 % of the layers,
    MLP exits 38 %; docs/early_exit.md).
    Its cost is per sentence, not per token (the pooled vector): ~0.1 % of a layer at length 32.
    """

    def __init__(self, hidden: int, num_labels: int, count: int, kind: str = "linear"):
        super().__init__()
        self.kind = kind
        self.heads = nn.ModuleList(exit_head(hidden, num_labels, kind) for _ in range(count))


def exit_head(hidden: int, num_labels: int, kind: str) -> nn.Module:
    if kind == "linear":
        return nn.Linear(hidden, num_labels)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, num_labels))
    raise ValueError(f"unknown exit head kind {kind!r}; use linear or mlp")


def exit_logits(encoder: Encoder, heads: ExitHeads, layers: Sequence[int], ids, mask) -> list[torch.Tensor]:
    """Logits at every exit in `layers` (layer counts), then the final classifier's."""
    bias = encoder.attention_bias(mask)
    hidden = encoder.embed(ids)
    out, k = [], 0
    for count, layer in enumerate(encoder.layers, start=1):
        hidden = layer(hidden, bias)
        if k < len(layers) and count == layers[k]:
            out.append(heads.heads[k](encoder.pool(hidden, mask)))
            k += 1
    out.append(encoder.classify(hidden, mask))
    return out


@dataclass(frozen=True)
class Calibration:
    thresholds: list[float]
    accuracy_no_exit: float
    accuracy: float
    avg_layers: float
    rows: int


def calibrate(
    probs: Sequence[np.ndarray],
    labels: np.ndarray,
    stage_layers: Sequence[int],
    kind: str,
    budget: float,
    budget_confidence: float = 0.5,
) -> Calibration:
    """Per-exit thresholds minimising mean executed layers while the accuracy lost against no
    exit stays within `budget`, with `budget_confidence` (0.5 = the point estimate on these rows).

    Why a confidence level: the loss is estimated on a few thousand rows, so thresholds that
    spend the whole budget on them overshoot it on new data about half the time. Above 0.5 the
    constraint is a one-sided normal upper bound on the mean per-row loss (the risk-control
    view of CALM / Learn-then-Test, Schuster et al. 2022, in its simplest form).

    Greedy coordinate descent over a grid of each exit's own confidence quantiles, two passes
    (later exits' thresholds change what earlier ones should be). `probs` has one [N, C] array
    per exit and the final classifier last; `stage_layers` the layer count at each of them.
    """
    confs = [confidence(p, kind) for p in probs[:-1]]
    preds = np.stack([p.argmax(-1) for p in probs])  # [E+1, N]
    cost_of = np.asarray(stage_layers, dtype=np.float64)
    rows = np.arange(len(labels))
    final_right = preds[-1] == labels
    z = NormalDist().inv_cdf(budget_confidence)

    def score(thresholds: list[float]) -> tuple[float, float, float]:
        """(accuracy, mean layers, upper bound on the accuracy lost against no exit)."""
        taken = exit_taken(confs, thresholds)
        right = preds[taken, rows] == labels
        lost = final_right.astype(np.float64) - right  # per row: 1 lost, -1 gained, 0 same
        spread = lost.std(ddof=1) / np.sqrt(len(lost)) if len(lost) > 1 else 0.0
        return float(right.mean()), float(cost_of[taken].mean()), float(lost.mean() + z * spread)

    no_exit = [NEVER] * len(confs)
    best = list(no_exit)
    best_accuracy, best_cost, _ = score(best)
    base_accuracy = best_accuracy
    for _ in range(2):
        for k in range(len(confs)):
            grid = np.unique(np.quantile(confs[k], np.linspace(0.0, 1.0, 101)))
            for value in [NEVER, *grid.tolist()]:
                trial = best[:k] + [value] + best[k + 1 :]
                accuracy, cost, lost_bound = score(trial)
                if lost_bound <= budget + 1e-12 and (cost, -accuracy) < (best_cost, -best_accuracy):
                    best, best_accuracy, best_cost = trial, accuracy, cost
    return Calibration(best, base_accuracy, best_accuracy, best_cost, len(labels))


def train_exit_heads(
    encoder: Encoder, tokenizer: Tokenizer, texts: Sequence[str], labels: Sequence[int], cfg: ExitConfig, seed: int
) -> tuple[ExitHeads, TrainResult]:
    """Heads for `cfg.layers` trained with the backbone frozen (its outputs do not move)."""
    torch.manual_seed(seed)
    heads = ExitHeads(encoder.config.hidden_size, encoder.config.num_labels, len(cfg.layers), cfg.head)
    encoder.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    encoded = tokenizer.encode(texts, cfg.max_length)
    target = torch.tensor(list(labels), dtype=torch.long)

    def loss_fn(idx: list[int]) -> torch.Tensor:
        ids, mask = collate(encoded, idx, tokenizer)
        outs = exit_logits(encoder, heads, cfg.layers, ids, mask)
        exits, final = outs[:-1], outs[-1].detach()
        if cfg.training == "self-distill":
            soft = F.softmax(final, -1)
            losses = [F.kl_div(F.log_softmax(x, -1), soft, reduction="batchmean") for x in exits]
        else:
            losses = [F.cross_entropy(x, active().put(target[idx])) for x in exits]
        return torch.stack(losses).mean()

    schedule = Schedule(cfg.epochs, cfg.batch_size, cfg.learning_rate, 0.06, 0.01)
    try:
        lengths = [len(e) for e in encoded]
        result = optimize([heads], lengths, schedule, random.Random(seed), loss_fn, "exit heads", frozen=[encoder])
    finally:
        for p in encoder.parameters():
            p.requires_grad_(True)
    return heads.eval(), result


@torch.no_grad()
def exit_probabilities(
    encoder: Encoder, heads: ExitHeads, layers: Sequence[int], tokenizer: Tokenizer, texts: Sequence[str], seq_len: int
) -> list[np.ndarray]:
    """Softmax outputs at every exit and the final classifier, [N, C] each, batched by length."""
    encoded = tokenizer.encode(texts, seq_len)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out = [np.zeros((len(encoded), encoder.config.num_labels), dtype=np.float32) for _ in range(len(layers) + 1)]
    for start in range(0, len(order), 64):
        idx = order[start : start + 64]
        ids, mask = collate(encoded, idx, tokenizer)
        for k, logits in enumerate(exit_logits(encoder, heads, layers, ids, mask)):
            out[k][idx] = F.softmax(logits, -1).numpy()
    return out
