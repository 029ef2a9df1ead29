"""Chapter 8, *Checkpoints: stop, resume, and get exactly the same model*: what makes a CUDA run repeat bit for bit.

On the CPU the trainer's kernels already repeat exactly. On a CUDA GPU some kernels (cuDNN's auto-tuned
convolutions, cuBLAS with several workspaces, atomic-add reductions in backward passes) may add the same
numbers in a different order from one run to the next, so an interrupted and resumed run would drift from an
uninterrupted one. :func:`make_deterministic` turns on what PyTorch documents for reproducibility
(https://pytorch.org/docs/stable/notes/randomness.html); the :class:`~encoderlab.train.Trainer` calls it
when it trains on CUDA, because it promises exact resume.
"""

from __future__ import annotations

import os
import warnings

import torch

from .._validation import check_device

__all__ = ["CUBLAS_WORKSPACE", "make_deterministic", "restore_determinism"]

#: The cuBLAS workspace setting PyTorch documents for deterministic matrix multiplies.
CUBLAS_WORKSPACE = ":4096:8"


def make_deterministic(device: torch.device | str) -> dict:
    """Make this process's kernels on ``device`` deterministic; return the previous settings.

    On ``cuda`` (nothing changes elsewhere): ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an
    op with no deterministic CUDA kernel warns instead of failing, so a run that may not repeat says so),
    ``torch.backends.cudnn.benchmark = False`` (no auto-tuning, which may pick a different algorithm per run),
    ``torch.backends.cudnn.deterministic = True`` and, when it is unset, the environment variable
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8``. cuBLAS reads that variable once, at its first matrix multiply in
    the process: if CUDA is already in use and the variable was unset, a warning says to set it in the
    shell (or the notebook's first cell) and start again. The settings are process-wide and stay on;
    :func:`restore_determinism` puts back what this returned.
    """
    device = check_device("device", device)
    previous = {"deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
                "cudnn_benchmark": torch.backends.cudnn.benchmark,
                "cudnn_deterministic": torch.backends.cudnn.deterministic,
                "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}
    if device.type != "cuda":
        return previous
    if previous["cublas_workspace_config"] is None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            warnings.warn(f"CUDA is already in use: set CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE} before "
                          "the first CUDA operation (in the shell or the first cell) for deterministic matrix "
                          "multiplies", stacklevel=2)
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    return previous


def restore_determinism(previous: dict) -> None:
    """Put back the settings :func:`make_deterministic` returned (tests use it to leave the process as found)."""
    torch.use_deterministic_algorithms(previous["deterministic_algorithms"], warn_only=previous["warn_only"])
    torch.backends.cudnn.benchmark = previous["cudnn_benchmark"]
    torch.backends.cudnn.deterministic = previous["cudnn_deterministic"]
    if previous["cublas_workspace_config"] is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = previous["cublas_workspace_config"]
