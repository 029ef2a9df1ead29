"""Small helpers every chapter uses: pick a device, seed every random number generator, count parameters.

Every chapter calls :func:`seed_everything` and :func:`get_device` in its first code cell (the set-up the
book's page *How to run this book* describes); Chapters 4 and 6 to 10 count their models with
:func:`count_parameters`.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch import nn

from ._validation import check_int

__all__ = ["count_parameters", "get_device", "seed_everything"]


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple's MPS, then the CPU (every chapter's first cell).

    ``prefer`` forces a device (``"cpu"``, ``"cuda"``, ``"mps"``); asking for one that is not available raises.
    Setting the environment variable ``ENCODERLAB_DEVICE`` has the same effect as ``prefer``.
    """
    prefer = prefer or os.environ.get("ENCODERLAB_DEVICE") or None
    if prefer is not None:
        if not isinstance(prefer, str):
            raise TypeError(f"prefer must be a str such as 'cpu' or 'cuda', got {type(prefer).__name__}")
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("prefer='cuda' but no CUDA device is available")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("prefer='mps' but the MPS backend is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU) so that a run repeats exactly (every
    chapter's first cell).

    Returns the seed, so a notebook can print or log it.
    """
    check_int("seed", seed, min_value=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """The number of scalar parameters in ``module`` (``sum(p.numel())``), as Chapters 4 and 6 to 10
    count their models (e.g. Chapter 9, *The seed: a printed model*: 61,238,016)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


#: How much bigger the experiments get on each kind of device (see :func:`experiment_scale`).
_SCALE_BY_DEVICE = {"cuda": 4, "mps": 2, "cpu": 1}


def experiment_scale(device: torch.device | str | None = None) -> int:
    """The factor by which the chapters' experiments grow on ``device``: the ``SCALE`` of every chapter's
    first cell (``SCALE = encoderlab.experiment_scale(device)``, the set-up of *How to run this book*).

    4 on a CUDA GPU, 2 on Apple's MPS (a laptop GPU that shares the CPU's memory and is a few times faster
    than its CPU, not tens: twice the work keeps a chapter to a few minutes there), 1 on the CPU, where every
    chapter runs in under a minute. The environment variable ``ENCODERLAB_SCALE`` (a positive integer)
    overrides the device, e.g. ``ENCODERLAB_SCALE=4`` runs the GPU-sized experiments on a CPU to check them.
    ``device=None`` asks :func:`get_device`.
    """
    forced = os.environ.get("ENCODERLAB_SCALE", "").strip()
    if forced:
        if not forced.isdigit() or int(forced) < 1:
            raise ValueError(f"the environment variable ENCODERLAB_SCALE must be a positive integer such as 4, "
                             f"got {forced!r}")
        return int(forced)
    if device is None:
        device = get_device()
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a torch.device or a str such as 'cuda', got {type(device).__name__}")
    return _SCALE_BY_DEVICE.get(torch.device(device).type, 1)
