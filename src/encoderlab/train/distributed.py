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

from .._validation import check_device
from ..utils import get_device

__all__ = ["DistributedContext", "data_parallel", "finish_distributed", "init_distributed", "mean_over_processes",
           "resolve_device"]


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


def resolve_device(device: str | torch.device | None, ctx: DistributedContext | None = None) -> torch.device:
    """The device this process trains on: ``device`` checked (a name PyTorch knows, available on this machine)
    before any work, or the best available one; under torchrun a bare ``"cuda"`` means this process's GPU.

    Chapter 8, *Longer runs: the command line and ``torchrun``*.
    """
    if device is None:
        device = get_device()
    else:
        device = check_device("device", device)
        if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
            raise ValueError(f"device={str(device)!r} but this machine has {torch.cuda.device_count()} CUDA "
                             "device(s); use 'cpu' or leave the device out (the best available)")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("device='mps' but the MPS backend is not available here; use 'cpu'")
        if device.type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"device={str(device)!r}: encoderlab trains on 'cpu', 'cuda' or 'mps'")
    if device.type == "cuda" and device.index is None and ctx is not None and ctx.enabled:
        device = torch.device("cuda", ctx.local_rank)  # one GPU per process
    return device


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
