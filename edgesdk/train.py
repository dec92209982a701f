"""Teacher fine-tuning and eager evaluation.

Speed matters because the default build has a time budget on a 2-core CPU: batches are
dynamically padded and grouped by length (SST-2 train rows are short phrases, so padding
everything to 64 wastes most of the compute), and the word-embedding matrix (half of
MiniLM's parameters) can be frozen, which cuts step time ~1.5x for little accuracy. AdamW
with linear warmup and decay, seeded shuffling, so the same recipe gives the same weights.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from edgesdk.data import Split
from edgesdk.models.encoder import Encoder
from edgesdk.progress import progress_bar
from edgesdk.recipe import TeacherConfig
from edgesdk.tokenizer import Tokenizer

# Batches are length-sorted within pools of this many batches, then the batches shuffled:
# near-uniform lengths inside a batch, still random order across the epoch.
LENGTH_POOL_BATCHES = 50


@dataclass(frozen=True)
class TrainResult:
    steps: int
    final_loss: float
    seconds: float


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * LENGTH_POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _collate(
    encoded: Sequence[Sequence[int]], idx: Sequence[int], tokenizer: Tokenizer
) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(encoded[i]) for i in idx)
    ids, mask = tokenizer.pad([encoded[i] for i in idx], length)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def fine_tune(model: Encoder, tokenizer: Tokenizer, train: Split, cfg: TeacherConfig, seed: int) -> TrainResult:
    import time

    torch.manual_seed(seed)
    rng = random.Random(seed)
    texts, labels = train.texts, train.labels
    if cfg.max_train_rows is not None and len(texts) > cfg.max_train_rows:
        keep = sorted(rng.sample(range(len(texts)), cfg.max_train_rows))
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    encoded = tokenizer.encode(texts, cfg.max_length)
    target = torch.tensor(labels, dtype=torch.long)

    if cfg.freeze_word_embeddings:
        model.word_embeddings.weight.requires_grad_(False)
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.learning_rate,
    )
    lengths = [len(e) for e in encoded]
    steps_per_epoch = math.ceil(len(encoded) / cfg.batch_size)
    total_steps = max(1, math.ceil(steps_per_epoch * cfg.epochs))
    warmup = int(total_steps * cfg.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup))
        ),
    )

    model.train()
    step, ema = 0, None
    start = time.perf_counter()
    with progress_bar("fine-tune teacher", total_steps) as bar:
        while step < total_steps:
            for idx in length_grouped_batches(lengths, cfg.batch_size, rng):
                if step >= total_steps:
                    break
                ids, mask = _collate(encoded, idx, tokenizer)
                loss = F.cross_entropy(model(ids, mask), target[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                step += 1
                value = loss.item()
                ema = value if ema is None else 0.98 * ema + 0.02 * value
                bar.advance(1, f"loss {ema:.4f}")
    model.eval()
    model.word_embeddings.weight.requires_grad_(True)
    return TrainResult(step, round(ema or 0.0, 6), round(time.perf_counter() - start, 2))


@torch.no_grad()
def predict_logits(
    model: Encoder, tokenizer: Tokenizer, texts: Sequence[str], seq_len: int, batch_size: int = 64
) -> np.ndarray:
    """Eager logits with the same truncation as the artifacts (seq_len), batched by length."""
    model.eval()
    encoded = tokenizer.encode(texts, seq_len)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out = np.zeros((len(encoded), model.config.num_labels), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, mask = _collate(encoded, idx, tokenizer)
        out[idx] = model(ids, mask).numpy()
    return out


def accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))
