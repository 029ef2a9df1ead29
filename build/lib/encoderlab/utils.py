"""Small helpers every chapter uses: pick a device, seed every random number generator, count parameters."""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch import nn

from ._validation import check_int

__all__ = ["count_parameters", "get_device", "seed_everything"]


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple's MPS, then the CPU.

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
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU) so that a run repeats exactly.

    Returns the seed, so a notebook can print or log it.
    """
    check_int("seed", seed, min_value=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """The number of scalar parameters in ``module`` (``sum(p.numel())``)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
