"""Checks for the exercises of Chapter 1 (GroupNorm)."""

from __future__ import annotations

import torch

from ..norm import group_norm
from ._common import ExerciseError, call_answer, close, expect_shape, passed

__all__ = ["check_group_stats", "check_norm_as_groups", "check_per_frame"]


def check_group_stats(fn) -> None:
    """Check ``fn(x, num_groups) -> (mean, var)``, the per-sample, per-group statistics of GroupNorm.

    ``x`` is ``(B, C, H, W)``; ``mean`` and ``var`` must both be ``(B, G)``, with the biased variance.
    """
    gen = torch.Generator().manual_seed(1)
    b, c, h, w, g = 3, 12, 5, 4, 4
    x = torch.randn(b, c, h, w, generator=gen) * torch.linspace(0.5, 3.0, c).view(1, c, 1, 1) + 2.0
    out = call_answer(fn, x, g, what="your function")
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ExerciseError(f"return a tuple (mean, var), got {type(out).__name__}")
    mean, var = out
    grouped = x.reshape(b, g, -1)
    want_mean, want_var = grouped.mean(-1), grouped.var(-1, unbiased=False)
    if isinstance(mean, torch.Tensor) and tuple(mean.shape) == (b, c):
        raise ExerciseError("mean has one value per channel (B, C): that is InstanceNorm. Pool the C // G "
                            "channels of each group together, e.g. with x.reshape(B, G, -1).")
    if isinstance(mean, torch.Tensor) and tuple(mean.shape) == (g,):
        raise ExerciseError("mean has shape (G,): you pooled over the batch too, which is what BatchNorm does. "
                            "GroupNorm keeps one mean per sample and group: (B, G).")
    expect_shape("mean", mean, (b, g), "One value per sample and group.")
    expect_shape("var", var, (b, g), "One value per sample and group.")
    if not close(mean, want_mean):
        if close(mean, x.reshape(b, -1, g).mean(1)):
            raise ExerciseError("mean picks every G-th channel into a group. Groups are runs of consecutive "
                                "channels: reshape to (B, G, C // G * H * W), with G before C // G.")
        raise ExerciseError("mean has the right shape but wrong values: average over every channel of the "
                            "group and every position.")
    if not close(var, want_var, atol=1e-4):
        n = grouped.shape[-1]
        if close(var, want_var * n / (n - 1), atol=1e-4):
            raise ExerciseError("var is the unbiased variance (divides by n - 1). Normalisation layers use the "
                                "biased one: pass unbiased=False (or correction=0).")
        if close(var, want_var.sqrt(), atol=1e-4):
            raise ExerciseError("var looks like a standard deviation: return the variance (no square root).")
        raise ExerciseError("var has the right shape but wrong values: take the mean of (x - mean)**2 over "
                            "the same values as the mean.")
    passed(f"mean and var have shape {tuple(mean.shape)} and match the reference.")


def check_norm_as_groups(fn) -> None:
    """Check ``fn(norm, num_channels) -> num_groups``: which GroupNorm equals LayerNorm / InstanceNorm.

    ``norm`` is ``"layer"`` (LayerNorm over C, H, W) or ``"instance"`` (InstanceNorm, per channel).
    """
    for c in (8, 32, 96):
        for norm, want in (("layer", 1), ("instance", c)):
            got = call_answer(fn, norm, c, what=f"your function for norm={norm!r}, C={c}")
            if isinstance(got, bool) or not isinstance(got, int):
                raise ExerciseError(f"return an int number of groups, got {type(got).__name__} {got!r}")
            if got != want:
                if norm == "layer":
                    raise ExerciseError(f"for LayerNorm with C={c} you gave G={got}. LayerNorm pools every channel "
                                        "of a sample together, so all C channels must be in one group.")
                raise ExerciseError(f"for InstanceNorm with C={c} you gave G={got}. InstanceNorm gives every "
                                    "channel its own statistics: how many groups of one channel is that?")
    # the claim, checked numerically against torch's own layers
    x = torch.randn(2, 8, 5, 5, generator=torch.Generator().manual_seed(2))
    ln = torch.nn.functional.layer_norm(x, x.shape[1:])
    inn = torch.nn.functional.instance_norm(x)
    assert torch.allclose(group_norm(x, fn("layer", 8)), ln, atol=1e-5)
    assert torch.allclose(group_norm(x, fn("instance", 8)), inn, atol=1e-5)
    passed("G = 1 gives LayerNorm and G = C gives InstanceNorm (checked against torch).")


def check_per_frame(fn) -> None:
    """Check ``fn(x, norm) -> y`` that applies a 4-D GroupNorm module ``norm`` to every frame of a video.

    ``x`` is ``(B, C, T, H, W)``; ``y`` must have the same shape and equal ``norm(x[:, :, t])`` for every t.
    """
    gen = torch.Generator().manual_seed(3)
    b, c, t, h, w = 2, 8, 5, 3, 4
    x = torch.randn(b, c, t, h, w, generator=gen) + torch.arange(t).view(1, 1, t, 1, 1) * 3.0
    norm = torch.nn.GroupNorm(4, c)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, c))
        norm.bias.copy_(torch.linspace(-1.0, 1.0, c))
    y = call_answer(fn, x, norm, what="your function")
    expect_shape("y", y, (b, c, t, h, w), "Fold time into the batch, normalise, then restore (B, C, T, H, W).")
    want = torch.stack([norm(x[:, :, i]) for i in range(t)], dim=2)
    if close(y, want, atol=1e-4):
        passed("every frame is normalised with its own statistics.")
        return
    clip = torch.nn.functional.group_norm(x, 4, norm.weight, norm.bias, norm.eps)
    if close(y, clip, atol=1e-4):
        raise ExerciseError("y equals GroupNorm over the whole clip: the statistics mix frames. Move T next to B "
                            "(permute to (B, T, C, H, W)) and reshape to (B*T, C, H, W) before normalising.")
    raise ExerciseError("y has the right shape but wrong values. A plain reshape of (B, C, T, H, W) to "
                        "(B*T, C, H, W) scrambles channels and frames: permute first, and permute back after.")
