"""Checks for the exercises of Chapter 6 (ConvNeXt)."""

from __future__ import annotations

import torch

from ..convnext import ConvNeXtBlock
from ..utils import count_parameters
from ._common import ExerciseError, call_answer, close, expect_shape, passed

__all__ = ["check_block_params", "check_drop_path", "check_layer_norm_2d"]


def _reference_ln(x, weight, bias, eps):
    return torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), weight, bias, eps).permute(0, 3, 1, 2)


def check_layer_norm_2d(fn) -> None:
    """Check ``fn(x, weight, bias, eps) -> y``: ConvNeXt's channels-first LayerNorm of ``x`` ``(B, C, H, W)``.

    ``y`` must equal ``nn.LayerNorm(C)`` applied to ``x.permute(0, 2, 3, 1)`` and permuted back.
    """
    gen = torch.Generator().manual_seed(6)
    b, c, h, w = 2, 6, 5, 4
    x = torch.randn(b, c, h, w, generator=gen) * 2 + torch.linspace(-3, 3, h * w).view(1, 1, h, w)
    weight = torch.rand(c, generator=gen) + 0.5
    bias = torch.randn(c, generator=gen)
    for eps in (1e-6, 0.5):
        y = call_answer(fn, x, weight, bias, eps, what="your function")
        if isinstance(y, torch.Tensor) and tuple(y.shape) == (b, h, w, c):
            raise ExerciseError(f"y has the channels-last shape {tuple(y.shape)}: permute it back to (B, C, H, W).")
        expect_shape("y", y, (b, c, h, w), "The output has the shape of the input.")
        want = _reference_ln(x, weight, bias, eps)
        if close(y, want, atol=1e-4):
            continue
        normed = (y - bias.view(1, c, 1, 1)) / weight.view(1, c, 1, 1)
        if close(y, _reference_ln(x, None, None, eps), atol=1e-4):
            raise ExerciseError("y is normalised but not scaled and shifted: multiply by weight and add bias, "
                                "both viewed as (1, C, 1, 1).")
        if close(y, torch.nn.functional.group_norm(x, 1, weight, bias, eps), atol=1e-4):
            raise ExerciseError("y pools the mean and variance over (C, H, W): that is Chapter 1's LayerNorm, "
                                "GroupNorm(1, C). ConvNeXt's LayerNorm takes one mean and variance per position, "
                                "over the channels only: reduce over dim=1.")
        if close(y, torch.nn.functional.group_norm(x, c, weight, bias, eps), atol=1e-4):
            raise ExerciseError("y normalises each channel over the positions: that is InstanceNorm. Reduce over "
                                "the channels (dim=1), not over H and W.")
        mean = x.mean(1, keepdim=True)
        unbiased = (x - mean) / torch.sqrt(x.var(1, keepdim=True) + eps)
        if close(normed, unbiased, atol=1e-4):
            raise ExerciseError("y uses the unbiased variance (divides by C - 1). Normalisation layers use the "
                                "biased one: pass unbiased=False (or correction=0).")
        eps_outside = (x - mean) / (x.var(1, unbiased=False, keepdim=True).sqrt() + eps)
        if eps > 1e-3 and close(normed, eps_outside, atol=1e-4):
            raise ExerciseError("eps is added to the standard deviation: add it to the variance, inside the "
                                "square root, (x - mean) / sqrt(var + eps).")
        raise ExerciseError(f"y has the right shape but wrong values (eps={eps}): normalise each (b, h, w) "
                            "position over its C channel values, then apply weight and bias per channel.")
    passed("your LayerNorm equals nn.LayerNorm over the channels, at every position.")


def check_drop_path(fn) -> None:
    """Check ``fn(x, p, training) -> y``: stochastic depth on a residual branch ``x`` of shape ``(B, ...)``.

    The check seeds torch's global generator before each call, so draw the random numbers from it
    (e.g. ``torch.rand`` or ``Tensor.bernoulli_`` without a generator).
    """
    n, p = 4000, 0.3
    x = torch.rand(n, 3, 2, 2, generator=torch.Generator().manual_seed(7)) + 0.5
    for training, prob in ((False, p), (True, 0.0)):
        torch.manual_seed(0)
        y = call_answer(fn, x, prob, training, what=f"your function with p={prob}, training={training}")
        expect_shape("y", y, tuple(x.shape))
        if not close(y, x, atol=1e-6):
            when = "in evaluation (training=False)" if not training else "with p = 0"
            raise ExerciseError(f"{when} stochastic depth must return x unchanged, but y differs from x.")
    torch.manual_seed(0)
    y = call_answer(fn, x, p, True, what=f"your function with p={p}, training=True")
    expect_shape("y", y, tuple(x.shape))
    factor = (y / x).reshape(n, -1)
    if not close(factor, factor[:, :1].expand_as(factor), atol=1e-5):
        raise ExerciseError("some samples are partly dropped: that is Dropout, which drops single values. "
                            "Stochastic depth draws ONE number per sample, a mask of shape (B, 1, 1, 1), and "
                            "drops that sample's whole branch.")
    factor = factor[:, 0]
    kept = factor != 0
    rate = kept.double().mean().item()
    tolerance = 5 * (p * (1 - p) / n) ** 0.5
    if abs(rate - p) < tolerance:
        raise ExerciseError(f"you keep {rate:.0%} of the samples, about p = {p}: p is the probability to DROP a "
                            "sample; keep it with probability 1 - p.")
    if abs(rate - (1 - p)) > tolerance:
        raise ExerciseError(f"you keep {rate:.0%} of the samples; with p = {p} about {1 - p:.0%} should be kept.")
    scale = factor[kept].mean().item()
    if abs(scale - 1.0) < 1e-4:
        raise ExerciseError("kept samples are not rescaled, so the expected output shrinks to (1 - p) * x. "
                            "Divide the kept samples by 1 - p.")
    if abs(scale - (1 - p)) < 1e-4:
        raise ExerciseError("kept samples are multiplied by 1 - p; they must be DIVIDED by 1 - p, so that the "
                            "expected output equals x.")
    if abs(scale - 1 / (1 - p)) > 1e-4:
        raise ExerciseError(f"kept samples are scaled by {scale:.3f}; the right factor is 1 / (1 - p) = "
                            f"{1 / (1 - p):.3f}.")
    passed(f"whole samples are dropped ({1 - rate:.1%} of them with p = {p}) and the kept ones rescaled by "
           f"1 / (1 - p); at eval, x comes back unchanged.")


def check_block_params(fn) -> None:
    """Check ``fn(dim, kernel_size, expansion) -> int``: the parameter count of a ConvNeXt block, by hand."""
    for dim, k, e in ((96, 7, 4), (768, 7, 4), (8, 3, 2), (40, 5, 3)):
        got = call_answer(fn, dim, k, e, what=f"your function for dim={dim}, kernel_size={k}, expansion={e}")
        if isinstance(got, bool) or not isinstance(got, int):
            raise ExerciseError(f"return an int, got {type(got).__name__} {got!r}")
        with torch.device("meta"):
            want = count_parameters(ConvNeXtBlock(dim, kernel_size=k, expansion=e))
        if got == want:
            continue
        diff = got - want
        where = f"for dim={dim}, kernel_size={k}, expansion={e} you gave {got:,}, expected {want:,}"
        if diff == k * k * dim * (dim - 1):
            raise ExerciseError(f"{where}: the 7x7 conv is depthwise (groups=dim), so it has k*k weights per "
                                "channel, not k*k*dim.")
        if diff == -(dim + e * dim + dim):
            raise ExerciseError(f"{where}: you left out the biases (one per output channel of the depthwise "
                                "conv and of both pointwise layers).")
        if diff == -2 * dim:
            raise ExerciseError(f"{where}: the LayerNorm has a weight and a bias per channel (2 * dim).")
        if diff == -dim:
            raise ExerciseError(f"{where}: the layer scale gamma has one value per channel (dim).")
        if diff == 2 * (4 - e) * dim * dim + (4 - e) * dim:
            raise ExerciseError(f"{where}: the hidden width is expansion * dim; you used 4 * dim.")
        raise ExerciseError(f"{where}. Add up: depthwise conv (k*k*dim + dim), LayerNorm (2*dim), pwconv1 "
                            "(dim*e*dim + e*dim), pwconv2 (e*dim*dim + dim), gamma (dim).")
    passed("your formula matches the block's parameter count for every size tried.")
