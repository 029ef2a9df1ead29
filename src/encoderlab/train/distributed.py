"""Chapter 8, *Longer runs: the command line and ``torchrun``*: training data-parallel over several processes.

torchrun starts one process per device and sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``;
:func:`init_distributed` reads them and joins the process group, and :func:`data_parallel` wraps the objective
in DistributedDataParallel, which averages the gradients of all processes after every backward pass. Each
process trains on its slice of the same global batch (see :class:`~encoderlab.data.StepBatchSampler`), so
``N`` processes compute what one process computes on the whole batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistributedContext", "data_parallel", "finish_distributed", "init_distributed", "mean_over_processes"]


@dataclass
class DistributedContext:
    """Who this process is in a torchrun job (``world_size == 1``: a single process).

    Chapter 8, *Longer runs: the command line and ``torchrun``*.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """More than one process?"""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """The process that logs, evaluates and writes files (rank 0)."""
        return self.rank == 0


def init_distributed(device: str | torch.device | None = None) -> DistributedContext:
    """Join the torchrun process group when launched by torchrun with more than one process.

    torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (and the rendezvous address); the backend is NCCL
    when training on CUDA and Gloo otherwise (``device="cpu"`` or ``ENCODERLAB_DEVICE=cpu`` forces Gloo on a GPU
    machine). Without those variables (or with ``WORLD_SIZE=1``) nothing is initialised.
    Chapter 8, *Longer runs: the command line and ``torchrun``*.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        wanted = torch.device(device or os.environ.get("ENCODERLAB_DEVICE") or "cuda").type
        use_cuda = torch.cuda.is_available() and wanted == "cuda"
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def data_parallel(module: nn.Module, ctx: DistributedContext, device: torch.device) -> nn.Module:
    """``module`` wrapped in DistributedDataParallel when ``ctx`` has several processes, else ``module`` itself.

    Chapter 8, *Longer runs: the command line and ``torchrun``*.
    """
    if not ctx.enabled:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def mean_over_processes(values: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """The mean of ``values`` over all processes (``values`` itself in a single process), e.g. for logging the
    global batch's loss rather than this process's share. Chapter 8, *Longer runs: the command line and ``torchrun``*."""
    if ctx.enabled:
        dist.all_reduce(values)
        values /= ctx.world_size
    return values


def finish_distributed(ctx: DistributedContext) -> None:
    """Wait for every process, then leave the process group (a no-op in a single process).

    Chapter 8, *Longer runs: the command line and ``torchrun``*.
    """
    if ctx.enabled:
        dist.barrier()
        dist.destroy_process_group()
