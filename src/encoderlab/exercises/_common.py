"""What every exercise check shares."""

from __future__ import annotations

import textwrap

import torch

__all__ = ["ExerciseError", "call_answer", "close", "expect_shape", "passed"]


class ExerciseError(AssertionError):
    """Raised by a check when an answer is wrong; the message says what to fix."""


def passed(message: str) -> None:
    """Print the confirmation of a check that passed, wrapped to the width of the book's code box (79)."""
    print(textwrap.fill(f"Correct! {message}", width=79, break_on_hyphens=False))


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
    """Raise unless ``value`` is a real floating-point CPU tensor (the checks' inputs are) of exactly ``shape``."""
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{name} should be a torch.Tensor, got {type(value).__name__}")
    if value.device.type != "cpu":
        raise ExerciseError(f"{name} is on the device {value.device}, but the check's inputs are on the CPU: do not "
                            "move tensors inside your function")
    if value.is_complex() or not value.is_floating_point():
        raise ExerciseError(f"{name} has dtype {value.dtype}: it should be a real floating-point tensor (did an "
                            "integer or complex operation slip in?)")
    if tuple(value.shape) != tuple(shape):
        extra = f" {hint}" if hint else ""
        raise ExerciseError(f"{name} has shape {tuple(value.shape)}, expected {tuple(shape)}.{extra}")


def close(a, b: torch.Tensor, atol: float = 1e-5) -> bool:
    """True when ``a`` is a real floating-point tensor of ``b``'s shape and device that agrees with ``b`` to
    ``atol`` (compared in ``b``'s dtype). Anything else a reader's function may return (``None``, a list, an
    integer or complex tensor, a tensor on another device) is simply not close."""
    if not (isinstance(a, torch.Tensor) and a.shape == b.shape and a.device == b.device):
        return False
    if a.is_complex() or not a.is_floating_point():
        return False
    return bool(torch.allclose(a.detach().to(b.dtype), b.detach(), atol=atol, rtol=0))
