"""Teacher fine-tuning and eager evaluation.

Speed matters because the default build has a time budget on a 2-core CPU: batches are
dynamically padded and grouped by length (SST-2 train rows are short phrases, so padding
everything to 64 wastes most of the compute), and the word-embedding matrix (half of
MiniLM's parameters) can be frozen, which cuts step time ~1.5x for little accuracy. AdamW
(fused) with linear warmup and decay, seeded shuffling, so the same recipe gives the same
weights. The models' dropout draws its mask from 16-bit words (edgesdk/models/dropout.py,
3x cheaper per mask); with fused AdamW a KD step is 1.05-1.07x faster on 2 AVX2 cores
(bench/train_step.py, interleaved; single runs ranged 0.99-1.27x on that noisy machine).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from edgesdk.devices import CPU as CPU_FP32
from edgesdk.devices import TrainDevice, active, configured, placed_on
from edgesdk.distributed import SINGLE, World, average, average_gradients, world
from edgesdk.models.encoder import Encoder
from edgesdk.progress import progress_bar
from edgesdk.recipe import TeacherConfig
from edgesdk.task import Split
from edgesdk.tokenizer import Tokenizer

# Batches are length-sorted within pools of this many batches, then the batches shuffled:
# near-uniform lengths inside a batch, still random order across the epoch.
LENGTH_POOL_BATCHES = 50


def available_cores() -> int:
    """Cores this process may run on: the affinity mask, not `os.cpu_count()`. Under
    `taskset` or a container's cpuset, more threads than cores oversubscribe them and every
    step waits on the others. OMP_NUM_THREADS lowers it (Ray sets it to a task's num_cpus:
    two sweep variants side by side must not each take every core)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity mask
        cores = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(cores, int(limit)) if limit.isdigit() and int(limit) > 0 else cores


def use_available_cores() -> int:
    """Give torch one thread per available core, shared out among the training processes
    torchrun started on this machine (more threads than cores oversubscribe them)."""
    cores = max(1, available_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(cores)
    return cores


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


def collate(
    encoded: Sequence[Sequence[int]], idx: Sequence[int], tokenizer: Tokenizer
) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(encoded[i]) for i in idx)
    ids, mask = tokenizer.pad([encoded[i] for i in idx], length)
    device = active()  # inside a training loop: where its models are (a no-op on the CPU)
    return device.put(torch.from_numpy(ids)), device.put(torch.from_numpy(mask))


@dataclass(frozen=True)
class Schedule:
    """What every training loop here shares: AdamW, linear warmup then linear decay."""

    epochs: float
    batch_size: int
    learning_rate: float
    warmup_ratio: float
    weight_decay: float


def optimize(
    modules: Sequence[torch.nn.Module],
    lengths: Sequence[int],
    schedule: Schedule,
    rng: random.Random,
    loss_fn: Callable[[list[int]], torch.Tensor],
    description: str,
    lr_scale: Optional[Callable[[str], float]] = None,
    frozen: Sequence[torch.nn.Module] = (),
    device: Optional[TrainDevice] = None,
) -> TrainResult:
    """Train every trainable parameter of `modules` on length-grouped batches of row indices;
    `lr_scale(parameter name)` multiplies a parameter's learning rate (layer-wise decay).
    `modules` and `frozen` (models the loss reads but does not train: a teacher, a backbone)
    run on `device` (default: the build's) and are back on the CPU when this returns."""
    # Data-parallel over the build's processes; a loop given its own device (QAT) runs alone.
    team = world() if device is None else SINGLE
    device = device or configured()
    with on_device(device, [*modules, *frozen]), placed_on(device):
        return _optimize(modules, lengths, schedule, rng, loss_fn, description, lr_scale, device, team)


def teacher_epochs(cfg, rows: int) -> float:
    """The epochs a teacher fine-tune runs on `rows` rows: `epochs`, raised when they give fewer
    than `min_steps` optimizer steps (a small data set needs more passes, not a smaller budget:
    Mosbach et al. 2021, Zhang et al. 2021 on few-sample BERT fine-tuning). Rounded up to
    1/100 epoch so the steps reach min_steps."""
    rows = min(rows, cfg.max_train_rows or rows)
    per_epoch = max(1, math.ceil(rows / cfg.batch_size))
    if cfg.min_steps is None or math.ceil(per_epoch * cfg.epochs) >= cfg.min_steps:  # as schedule_steps counts
        return cfg.epochs
    return math.ceil(cfg.min_steps / per_epoch * 100) / 100


def schedule_steps(rows: int, schedule: Schedule) -> int:
    """Optimizer steps `optimize` takes for `rows` rows (a curriculum keyed to them needs it)."""
    return max(1, math.ceil(math.ceil(rows / schedule.batch_size) * schedule.epochs))


@contextlib.contextmanager
def on_device(device: TrainDevice, modules: Sequence[torch.nn.Module]):
    for m in modules:
        m.to(device.type)
    try:
        yield
    finally:
        for m in modules:
            m.to("cpu")


def _optimize(
    modules, lengths, schedule: Schedule, rng, loss_fn, description: str, lr_scale, device: TrainDevice, team: World
):
    import time

    named = [(n, p) for m in modules for n, p in m.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
    for name, param in named:  # no decay on biases and LayerNorm gains
        groups.setdefault((lr_scale(name) if lr_scale else 1.0, param.ndim >= 2), []).append(param)
    optimizer = torch.optim.AdamW(
        [
            {"params": ps, "lr": schedule.learning_rate * scale, "weight_decay": schedule.weight_decay * decays}
            for (scale, decays), ps in sorted(groups.items(), key=lambda kv: kv[0])
        ],
        lr=schedule.learning_rate,
        fused=True,  # one kernel per step instead of ~10 ops per tensor
    )
    total_steps = schedule_steps(len(lengths), schedule)
    warmup = int(total_steps * schedule.warmup_ratio)

    def lr_factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / max(1, warmup)
        return max(0.0, (total_steps - s) / max(1, total_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    scaler = device.grad_scaler()
    for m in modules:
        m.train()
    step, ema = 0, None
    start = time.perf_counter()
    with progress_bar(description, total_steps) as bar:
        while step < total_steps:
            for idx in length_grouped_batches(lengths, schedule.batch_size, rng):
                if step >= total_steps:
                    break
                value = _train_step(idx, loss_fn, optimizer, params, device, scaler, team)
                scheduler.step()
                step += 1
                ema = value if ema is None else 0.98 * ema + 0.02 * value
                bar.advance(1, f"loss {ema:.4f}")
    for m in modules:
        m.eval()
    return TrainResult(step, round(ema or 0.0, 6), round(time.perf_counter() - start, 2))


def _train_step(idx, loss_fn, optimizer, params, device: TrainDevice, scaler, team: World) -> float:
    """One optimizer step on a global batch: this rank's share of it (all of it in one process),
    gradients averaged over the ranks, clipped, applied. Returns the (rank-averaged) loss."""
    mine = team.share(idx) if team.size > 1 else idx
    optimizer.zero_grad(set_to_none=True)
    value = 0.0
    if mine:
        with device.autocast():
            loss = loss_fn(mine)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        value = loss.item()
    if team.size > 1:
        average_gradients(params)
        value = average(value)
    if scaler is not None:  # fp16 on CUDA: unscale before clipping
        scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return value


def subsample(texts: Sequence[str], labels: Sequence[int], cap, rng: random.Random) -> tuple[list, list]:
    if cap is None or len(texts) <= cap:
        return list(texts), list(labels)
    keep = sorted(rng.sample(range(len(texts)), cap))
    return [texts[i] for i in keep], [labels[i] for i in keep]


def layerwise_lr_scale(layers: int, decay: float) -> Callable[[str], float]:
    """Layer-wise learning-rate decay (ULMFiT, ELECTRA): the head trains at the full rate, layer
    i at decay**(layers - i), the embeddings at decay**(layers + 1), so fine-tuning moves the
    general lower layers less than the task-specific top."""

    def scale(name: str) -> float:
        parts = name.split(".")
        if parts[0] == "layers" and parts[1].isdigit():
            return decay ** (layers - int(parts[1]))
        if parts[0] in {"pooler", "classifier"}:
            return 1.0
        return decay ** (layers + 1)  # embeddings, their norm and projection

    return scale


def fine_tune(model: Encoder, tokenizer: Tokenizer, train: Split, cfg: TeacherConfig, seed: int) -> TrainResult:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    texts, labels = subsample(train.texts, train.labels, cfg.max_train_rows, rng)
    encoded = tokenizer.encode(texts, cfg.max_length)
    target = torch.tensor(labels, dtype=torch.long)

    def loss_fn(idx: list[int]) -> torch.Tensor:
        ids, mask = collate(encoded, idx, tokenizer)
        return F.cross_entropy(model(ids, mask), active().put(target[idx]))

    if cfg.freeze_word_embeddings:
        model.word_embeddings.weight.requires_grad_(False)
    epochs = teacher_epochs(cfg, len(texts))
    schedule = Schedule(epochs, cfg.batch_size, cfg.learning_rate, cfg.warmup_ratio, cfg.weight_decay)
    scale = layerwise_lr_scale(len(model.layers), cfg.layerwise_lr_decay) if cfg.layerwise_lr_decay < 1 else None
    try:
        return optimize([model], [len(e) for e in encoded], schedule, rng, loss_fn, "fine-tune teacher", scale)
    finally:
        model.word_embeddings.weight.requires_grad_(True)


def predict_logits(model, tokenizer: Tokenizer, texts: Sequence[str], seq_len: int, batch_size: int = 64) -> np.ndarray:
    """Eager logits with the same truncation as the artifacts (seq_len), batched by length."""
    return logits_for_ids(model, tokenizer, tokenizer.encode(texts, seq_len), batch_size)


@torch.no_grad()
def logits_for_ids(
    model,
    tokenizer: Tokenizer,
    encoded: Sequence[Sequence[int]],
    batch_size: int = 64,
    description: str = "",
    device: TrainDevice = CPU_FP32,
) -> np.ndarray:
    """Eager logits of id sequences, batched by length; a progress bar when described. On the
    CPU unless `device` says otherwise (the teacher's labelling pass follows the build's)."""
    with on_device(device, [model]), placed_on(device):
        return _logits(model, tokenizer, encoded, batch_size, description)


def _logits(model, tokenizer: Tokenizer, encoded, batch_size: int, description: str) -> np.ndarray:
    model.eval()
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out = np.zeros((len(encoded), model.config.num_labels), dtype=np.float32)
    starts = range(0, len(order), batch_size)
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(progress_bar(description, len(starts))) if description else None
        for start in starts:
            idx = order[start : start + batch_size]
            ids, mask = collate(encoded, idx, tokenizer)
            out[idx] = model(ids, mask).float().cpu().numpy()
            if bar is not None:
                bar.advance(1)
    return out


def accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))
