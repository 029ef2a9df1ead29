"""Checks for the causal-convolution exercises of Chapter 2."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import ExerciseError, call_answer, close, expect_shape, passed

__all__ = ["check_causal_conv1d", "check_next_window_start"]


def check_causal_conv1d(fn) -> None:
    """Check ``fn(x, weight, bias, dilation) -> y``: a causal 1-D convolution with zero front padding.

    ``x`` is ``(B, C_in, T)``, ``weight`` ``(C_out, C_in, k)``, ``bias`` ``(C_out,)``; ``y`` must be
    ``(B, C_out, T)`` and output ``t`` may only read inputs ``<= t``.
    """
    gen = torch.Generator().manual_seed(4)
    for k, d in ((3, 1), (3, 2), (2, 3), (1, 1)):
        x = torch.randn(2, 3, 10, generator=gen)
        weight = torch.randn(4, 3, k, generator=gen)
        bias = torch.randn(4, generator=gen)
        y = call_answer(fn, x, weight, bias, d, what=f"your function (k={k}, dilation={d})")
        pad = d * (k - 1)
        want = F.conv1d(F.pad(x, (pad, 0)), weight, bias, dilation=d)
        if close(y, want, atol=1e-4):
            continue
        if not isinstance(y, torch.Tensor) or y.dim() != 3:
            expect_shape("y", y, (2, 4, 10), "(B, C_out, T): one output frame per input frame.")
        if pad % 2 == 0 and close(y, F.conv1d(x, weight, bias, dilation=d, padding=pad // 2), atol=1e-4):
            raise ExerciseError(f"k={k}, dilation={d}: y is a centred ('same') convolution, so output t reads "
                                "future inputs. Put all the padding in front.")
        if close(y, F.conv1d(F.pad(x, (0, pad)), weight, bias, dilation=d), atol=1e-4):
            raise ExerciseError(f"k={k}, dilation={d}: you padded at the end, so output t reads inputs t..t+"
                                f"{pad}. The padding goes in front: F.pad(x, ({pad}, 0)).")
        if close(y, F.conv1d(F.pad(x, (pad, 0)), weight, bias), atol=1e-4):
            raise ExerciseError(f"k={k}, dilation={d}: the padding is right but the convolution ignores the "
                                "dilation: pass dilation=... to F.conv1d.")
        if close(y, F.conv1d(F.pad(x, (pad, 0)), weight.flip(-1), bias, dilation=d), atol=1e-4):
            raise ExerciseError("the kernel is flipped: F.conv1d is a cross-correlation, use the weight as is.")
        if pad and y.shape[-1] == 10 - pad:
            raise ExerciseError(f"k={k}, dilation={d}: y has {y.shape[-1]} frames instead of 10. Pad "
                                f"dilation*(k-1) = {pad} zero frames in front before the convolution.")
        if pad and y.shape[-1] == 10 + pad:
            raise ExerciseError(f"k={k}, dilation={d}: y has {y.shape[-1]} frames: you padded both ends "
                                "(nn.Conv1d's padding=). Pad the front only.")
        expect_shape("y", y, (2, 4, 10))
        raise ExerciseError(f"k={k}, dilation={d}: right shape, wrong values. Compare with "
                            "F.conv1d(F.pad(x, (d*(k-1), 0)), weight, bias, dilation=d).")
    # causality, checked directly
    x = torch.randn(1, 3, 10, generator=gen)
    x2 = x.clone()
    x2[..., 6:] += 5
    w, b = torch.randn(4, 3, 3, generator=gen), torch.zeros(4)
    y, y2 = (call_answer(fn, inputs, w, b, 2, what="your function (k=3, dilation=2)") for inputs in (x, x2))
    expect_shape("y", y, (1, 4, 10))
    expect_shape("y", y2, (1, 4, 10))
    if not torch.equal(y[..., :6], y2[..., :6]):
        raise ExerciseError("changing inputs 6..9 changed outputs 0..5: the convolution is not causal.")
    passed("y equals F.conv1d on front-padded input, and future inputs never change past outputs.")


def _next_start(padded: int, k: int, s: int, d: int) -> int:
    span = d * (k - 1) + 1
    n_out = (padded - span) // s + 1 if padded >= span else 0
    return n_out * s


def check_next_window_start(fn) -> None:
    """Check ``fn(padded_frames, kernel_size, stride, dilation) -> int``: after a streaming causal conv has seen
    ``padded_frames`` padded-input frames and computed every output window that fits, the index at which the
    next output window starts. The cache must keep every frame from that index on."""
    cases = [(p, k, s, d) for k in (1, 2, 3, 4) for s in (1, 2, 3) for d in (1, 2) for p in range(1, 14)]
    for p, k, s, d in cases:
        got = call_answer(fn, p, k, s, d, what=f"your function for padded_frames={p}, k={k}, s={s}, d={d}")
        if isinstance(got, bool) or not isinstance(got, int):
            raise ExerciseError(f"return an int, got {type(got).__name__} {got!r}")
        want = _next_start(p, k, s, d)
        if got == want:
            continue
        where = f"padded_frames={p}, kernel_size={k}, stride={s}, dilation={d}: expected {want}, got {got}."
        if got == max(0, p - d * (k - 1)):
            raise ExerciseError(f"{where} Keeping the last d*(k-1) frames is right only at stride 1. At stride "
                                f"{s} the windows start at 0, {s}, {2 * s}, ...: the next one starts at n_out * stride.")
        if got == max(0, p - (k - 1)):
            raise ExerciseError(f"{where} p - (k - 1) ignores dilation and stride: count the windows n_out that "
                                "fit, then the next starts at n_out * stride.")
        if p >= d * (k - 1) + 1 and got == want - s:
            raise ExerciseError(f"{where} Off by one window: that is where the last computed window starts; "
                                "the next one starts one stride later.")
        raise ExerciseError(f"{where} Count the windows that fit, n_out = (padded - span) // stride + 1 "
                            "(0 if padded < span), and return n_out * stride.")
    passed("your index is exact for every kernel, stride, dilation and length tried.")
