"""What every exercise check shares."""

from __future__ import annotations

import torch

__all__ = ["ExerciseError", "call_answer", "close", "expect_shape", "passed"]


class ExerciseError(AssertionError):
    """Raised by a check when an answer is wrong; the message says what to fix."""


def passed(message: str) -> None:
    """Print the confirmation line of a check that passed."""
    print(f"Correct! {message}")


def call_answer(fn, *args, what: str):
    """Call the reader's function, turning a crash into a readable :class:`ExerciseError`."""
    if not callable(fn):
        raise ExerciseError(f"expected a function for {what}, got {type(fn).__name__}")
    try:
        return fn(*args)
    except NotImplementedError:
        raise ExerciseError(f"{what} still raises NotImplementedError: replace the placeholder with your code") from None
    except Exception as err:  # show the reader their own error, briefly
        raise ExerciseError(f"{what} raised {type(err).__name__}: {err}") from err


def expect_shape(name: str, value, shape: tuple[int, ...], hint: str = "") -> None:
    """Raise unless ``value`` is a tensor of exactly ``shape``."""
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{name} should be a torch.Tensor, got {type(value).__name__}")
    if tuple(value.shape) != tuple(shape):
        extra = f" {hint}" if hint else ""
        raise ExerciseError(f"{name} has shape {tuple(value.shape)}, expected {tuple(shape)}.{extra}")


def close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5) -> bool:
    """True when two tensors of the same shape agree to ``atol``."""
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=atol, rtol=0))
