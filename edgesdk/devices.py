"""Where the training and labelling loops run: CPU, CUDA or Apple MPS, in fp32 or under bf16 /
fp16 autocast (recipe `train:`, `edgesdk build --device`).

Models are trained on the device and moved back to the CPU in fp32 afterwards (autocast never
changes a parameter's dtype), so export, verification and the artifacts do not depend on where
training ran beyond the numerics of the training itself. The CPU in fp32 is the default, and on
it every call here is a no-op: a CPU build is bit-identical to one from before devices existed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Optional

import torch

from edgesdk.errors import RecipeError
from edgesdk.recipe import TrainConfig

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TrainDevice:
    type: str  # cpu | cuda | mps
    precision: str  # fp32 | bf16 | fp16
    world_size: int = 1

    @property
    def is_default(self) -> bool:
        return self.type == "cpu" and self.precision == "fp32" and self.world_size == 1

    def put(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor if self.type == "cpu" else tensor.to(self.type, non_blocking=True)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.type, dtype=DTYPES[self.precision])

    def grad_scaler(self) -> Optional["torch.amp.GradScaler"]:
        """fp16 gradients underflow without loss scaling (bf16 has fp32's range)."""
        return torch.amp.GradScaler(self.type) if self.precision == "fp16" and self.type == "cuda" else None

    def to_json(self) -> dict:
        return {"device": self.type, "precision": self.precision, "world_size": self.world_size}


CPU = TrainDevice("cpu", "fp32")


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return True


def resolve(cfg: TrainConfig) -> TrainDevice:
    """The recipe's device and precision made concrete: `auto` takes CUDA, then MPS, then the
    CPU; bf16 on CUDA when the GPU supports it, else fp32."""
    kind = cfg.device
    if kind == "auto":
        kind = next(k for k in ("cuda", "mps", "cpu") if _available(k))
    elif not _available(kind):
        raise RecipeError(
            f"train.device is {kind} but torch sees no {kind.upper()} device here "
            f"(torch {torch.__version__}); use --device cpu or auto"
        )
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if kind == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if precision == "fp16" and kind == "cpu":
        raise RecipeError("train.precision fp16 needs a GPU (CPU autocast is bf16 only); use bf16 or fp32")
    return TrainDevice(kind, precision)


# Two settings: where the build trains (set around the build), and where tensors go right now
# (set only inside a training or labelling loop, which moves its models there). Code outside
# those loops (importance passes, calibration, evaluation) keeps its tensors on the CPU, beside
# its CPU models, whatever the build trains on.
_configured = CPU
_placed = CPU


def configured() -> TrainDevice:
    """The device the current build trains on (CPU fp32 outside a build)."""
    return _configured


def active() -> TrainDevice:
    """Where batches and targets go now: the loop's device inside a training or labelling loop,
    else the CPU."""
    return _placed


@contextlib.contextmanager
def training_on(device: TrainDevice) -> Iterator[TrainDevice]:
    """The build trains on `device` (pipeline.run_steps, around every step)."""
    global _configured
    before, _configured = _configured, device
    try:
        yield device
    finally:
        _configured = before


@contextlib.contextmanager
def placed_on(device: TrainDevice) -> Iterator[TrainDevice]:
    """Tensors go to `device` (a loop whose models are there)."""
    global _placed
    before, _placed = _placed, device
    try:
        yield device
    finally:
        _placed = before
