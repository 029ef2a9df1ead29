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

from ._validation import check_bool, check_device, check_int

__all__ = ["count_parameters", "experiment_scale", "get_device", "seed_everything"]

MAX_SEED = 2**64 - 1  # the largest seed torch.manual_seed takes


def _available_device(name: str, value) -> torch.device:
    """``value`` (a str or a ``torch.device``) as a device this machine has: the CPU, an existing CUDA device or
    MPS; anything else raises before any work is done (also used by :func:`encoderlab.cost.peak_memory` and
    :func:`encoderlab.video_data.moving_shapes`)."""
    device = check_device(name, value)
    shown = value if isinstance(value, str) else str(device)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name}={shown!r} but no CUDA device is available")
        if device.index is not None and device.index >= count:
            raise ValueError(f"{name}={shown!r} but this machine has {count} CUDA device(s), "
                             f"cuda:0 to cuda:{count - 1}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{name}={shown!r} but the MPS backend is not available")
    elif device.type != "cpu":
        raise ValueError(f"{name}={shown!r}: encoderlab runs on 'cpu', 'cuda' or 'mps', got device type "
                         f"{device.type!r}")
    return device


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple's MPS, then the CPU (every chapter's first cell).

    ``prefer`` forces a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``); asking for
    one that this machine does not have raises. Setting the environment variable ``ENCODERLAB_DEVICE`` has the
    same effect as ``prefer``.
    """
    if prefer is None and os.environ.get("ENCODERLAB_DEVICE"):
        return _available_device("ENCODERLAB_DEVICE", os.environ["ENCODERLAB_DEVICE"])
    if prefer is not None:
        return _available_device("prefer", prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU) so that a run repeats exactly (every
    chapter's first cell).

    ``0 <= seed <= 2**64 - 1`` (torch's range), checked before any generator is touched. Returns the seed, so
    a notebook can print or log it.
    """
    check_int("seed", seed, min_value=0, max_value=MAX_SEED)  # checked before anything is seeded
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """The number of scalar parameters in ``module`` (``sum(p.numel())``), as Chapters 4 and 6 to 10
    count their models (e.g. Chapter 9, *The seed: a printed model*: 61,238,016)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    check_bool("trainable_only", trainable_only)
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
