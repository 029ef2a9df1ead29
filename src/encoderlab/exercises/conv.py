"""Checks for the convolution-arithmetic exercises of Chapter 2."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from ._common import ExerciseError, call_answer, passed

__all__ = ["check_output_size", "check_same_padding"]


def _true_size(size: int, k: int, s: int, p: int, d: int) -> int:
    """What PyTorch really returns (the oracle)."""
    return F.conv1d(torch.zeros(1, 1, size), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]


def check_output_size(fn) -> None:
    """Check ``fn(size, kernel_size, stride, padding, dilation) -> int``, a convolution's output length.

    Compared with the length ``F.conv1d`` actually returns over a grid of settings, odd and even sizes.
    """
    for size, k, s, p, d in itertools.product((7, 8, 9), (1, 2, 3, 4), (1, 2, 3), (0, 1, 2), (1, 2)):
        if size + 2 * p < d * (k - 1) + 1:
            continue
        want = _true_size(size, k, s, p, d)
        got = call_answer(fn, size, k, s, p, d, what=f"your function for size={size}, k={k}, s={s}, p={p}, d={d}")
        if isinstance(got, float) and got.is_integer():
            raise ExerciseError(f"return an int, got the float {got!r}: use integer division // (it also floors).")
        if isinstance(got, bool) or not isinstance(got, int):
            raise ExerciseError(f"return an int, got {type(got).__name__} {got!r}")
        if got == want:
            continue
        where = f"size={size}, kernel={k}, stride={s}, padding={p}, dilation={d}: expected {want}, got {got}."
        span = d * (k - 1) + 1
        if got == (size + 2 * p - k) // s + 1:
            raise ExerciseError(f"{where} You ignore the dilation: a dilated kernel spans d*(k-1)+1 inputs.")
        if got == (size + p - span) // s + 1:
            raise ExerciseError(f"{where} Padding is added on both sides: use size + 2*padding.")
        if got == (size + 2 * p - span) // s:
            raise ExerciseError(f"{where} Off by one: count the first window too (the +1).")
        if got == -(-(size + 2 * p - span) // s) + 1:
            raise ExerciseError(f"{where} You rounded up: a window that does not fit is dropped, so floor.")
        if got == (size + 2 * p - span + 1) // s:
            raise ExerciseError(f"{where} Close, but the stride divides the positions *after* the first window: "
                                "(padded - span) // stride + 1.")
        raise ExerciseError(f"{where} Write it as (size + 2*padding - span) // stride + 1 with span = d*(k-1)+1.")
    passed("your formula matches F.conv1d on 400+ settings.")


def check_same_padding(fn) -> None:
    """Check ``fn(kernel_size, dilation) -> padding`` that keeps the length unchanged at stride 1 (odd kernels)."""
    for k, d in itertools.product((1, 3, 5, 7), (1, 2, 3)):
        got = call_answer(fn, k, d, what=f"your function for kernel_size={k}, dilation={d}")
        if isinstance(got, bool) or not isinstance(got, int):
            raise ExerciseError(f"return an int, got {type(got).__name__} {got!r}")
        want = d * (k - 1) // 2
        if got == want:
            continue
        if got == k // 2:
            raise ExerciseError(f"kernel_size={k}, dilation={d}: you gave {got} = k // 2, which ignores the "
                                f"dilation; the dilated kernel spans {d * (k - 1) + 1} inputs.")
        if got == d * (k - 1):
            raise ExerciseError(f"kernel_size={k}, dilation={d}: {got} is the total padding d*(k-1); padding is "
                                "applied on *each* side, so use half of it.")
        if got < 0:
            raise ExerciseError(f"kernel_size={k}, dilation={d}: padding {got} is negative; padding adds zeros "
                                "on each side, so it is >= 0.")
        if got > 16 * d * k:
            raise ExerciseError(f"kernel_size={k}, dilation={d}: padding {got} is far more than the kernel spans "
                                f"({d * (k - 1) + 1} inputs).")
        raise ExerciseError(f"kernel_size={k}, dilation={d}: padding {got} gives length "
                            f"{_true_size(16, k, 1, got, d)} for 16 inputs, expected 16.")
    passed("every odd kernel keeps the length with your padding.")
