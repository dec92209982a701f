"""Data-parallel training across processes started by torchrun (`edgesdk build --nproc N`, or
`torchrun --nproc-per-node N -m edgesdk.cli build ...`; multi-node by torchrun's own
rendezvous flags, docs/scale.md).

Every rank runs the training steps in lockstep on the same global batches; each computes the
loss on its share of every batch and the gradients are averaged across ranks (all-reduce after
each backward, what DistributedDataParallel does, without its bucketing overlap: the losses
here call the models directly, so there is no wrapper forward for DDP to hook). Same global
batch size and learning rate as one process. Rank 0 alone writes the build dir and runs the
steps that do not train; the other ranks write their copies of the training outputs to a
scratch dir and read rank 0's outputs as their inputs. gloo on the CPU, NCCL on CUDA.

With one process (the default) nothing here runs a collective.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import distributed as dist

from edgesdk.errors import EdgeSDKError


class RankFailed(EdgeSDKError):
    """Another training process died: its own error is in torchrun's output above."""


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def writes(self) -> bool:
        """Whether this process writes the build dir (rank 0)."""
        return self.rank == 0

    def share(self, idx: Sequence[int]) -> list[int]:
        """This rank's rows of a global batch (every rank sees the same global batches)."""
        return list(idx[self.rank :: self.size])


SINGLE = World()


def world() -> World:
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return SINGLE


def join_from_env() -> World:
    """Join the process group torchrun describes in the environment (WORLD_SIZE > 1)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or (dist.is_available() and dist.is_initialized()):
        return world()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return world()


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


PEER_STOPPED = "another training process stopped"


def _collective(fn, *args):
    try:
        return fn(*args)
    except RuntimeError as exc:  # gloo/NCCL: a peer process died or timed out
        raise RankFailed(
            f"{PEER_STOPPED} ({str(exc).strip().splitlines()[0][:120]}); its error is above; "
            "run the same command to resume from the last finished step"
        ) from None


def barrier() -> None:
    if world().size > 1:
        _collective(dist.barrier)


def from_rank0(obj: Any) -> Any:
    """Rank 0's value of `obj` on every rank (decisions every rank must take alike)."""
    if world().size == 1:
        return obj
    box = [obj]
    _collective(dist.broadcast_object_list, box, 0)
    return box[0]


def average_gradients(params: Sequence[torch.nn.Parameter]) -> None:
    """Each parameter's gradient averaged over the ranks (a rank with no rows this step adds zeros)."""
    size = world().size
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        _collective(dist.all_reduce, p.grad)
        p.grad.div_(size)


def average(value: float) -> float:
    if world().size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    _collective(dist.all_reduce, t)
    return float(t.item()) / world().size
