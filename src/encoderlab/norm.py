"""Chapter 1: GroupNorm from scratch, and a per-frame GroupNorm for video.

GroupNorm (Wu & He, 2018) splits the C channels of every sample into G groups and normalises each group
with its own mean and variance, computed over the group's channels and all positions. Nothing is shared
across the batch, so one image's output never depends on the other images in the batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import (
    check_block_input,
    check_bool,
    check_divisible,
    check_float,
    check_int,
    check_tensor,
)

__all__ = ["GroupNorm", "PerFrameGroupNorm", "group_norm", "per_frame_group_norm"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _check_group_args(num_groups, num_channels, eps) -> None:
    check_int("num_groups", num_groups, min_value=1)
    check_int("num_channels", num_channels, min_value=1)
    check_divisible("num_channels", num_channels, "num_groups", num_groups)
    check_float("eps", eps, positive=True)


def _check_affine(weight, bias, channels: int) -> None:
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor or None, got {type(p).__name__}")
        check_tensor(name, p)
        if p.shape != (channels,):
            raise ValueError(f"{name} must have shape ({channels},) to match the channels, got {tuple(p.shape)}")


def _check_call(x: torch.Tensor, num_groups, weight, bias, eps, *, per_frame: bool = False) -> torch.Tensor:
    """The checks of a functional norm call on ``(B, C, *)``; return ``x`` in at least float32 for the statistics."""
    channels = x.shape[1]
    _check_group_args(num_groups, channels, eps)
    _check_affine(weight, bias, channels)
    _check_group_size(x, num_groups, per_frame=per_frame)
    return _upcast(x)


def _check_group_size(x: torch.Tensor, num_groups: int, *, per_frame: bool = False) -> None:
    """A group of a single value has variance 0: the output would be the bias alone (PyTorch's fused kernel
    refuses it). Raise unless every group holds at least 2 values. An empty map (no position) is normalised
    to an empty map, as by PyTorch: a streamed video can hand a norm an empty chunk of frames."""
    positions = math.prod(x.shape[3:] if per_frame else x.shape[2:])
    values = x.shape[1] // num_groups * positions
    if values == 1 or (values < 2 and positions > 0):
        where = "per frame" if per_frame else "per sample"
        raise ValueError(f"x of shape {tuple(x.shape)} gives every one of the {num_groups} groups a single value "
                         f"{where} ({x.shape[1] // num_groups} channel(s) x {positions} position(s)); a group "
                         "needs at least 2 values to be normalised: use a larger map or fewer groups")


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """float32 for half precision (means and variances are unsafe in float16/bfloat16), else ``x`` itself."""
    return x.float() if x.dtype in _LOW_PRECISION else x


_BC_LAYOUT = "(B, C, *) with at least one position axis"


def _register_affine(module: nn.Module, channels: int, affine: bool) -> None:
    """Give a norm module its per-channel ``weight`` (init 1) and ``bias`` (init 0), or ``None`` for both."""
    for name, init in (("weight", torch.ones), ("bias", torch.zeros)):
        module.register_parameter(name, nn.Parameter(init(channels)) if affine else None)


def _apply_affine(normed: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
    """Per-channel scale and shift of a ``(B, C, *)`` tensor: gamma and beta viewed as ``(1, C, 1, ..., 1)``."""
    shape = (1, normed.shape[1]) + (1,) * (normed.dim() - 2)
    if weight is not None:
        normed = normed * weight.to(normed.dtype).reshape(shape)
    if bias is not None:
        normed = normed + bias.to(normed.dtype).reshape(shape)
    return normed


def group_norm(x: torch.Tensor, num_groups: int, weight: torch.Tensor | None = None,
               bias: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """Group normalisation written out step by step (equal to ``torch.nn.functional.group_norm``); Chapter 1,
    *GroupNorm, step by step*.

    x: ``(B, C, *)`` with at least one position axis, e.g. ``(B, C, L)``, ``(B, C, H, W)`` or ``(B, C, T, H, W)``.
    Returns a tensor of the same shape. Each of the G groups of ``C // G`` channels of each sample is
    shifted to mean 0 and scaled to variance 1 (biased variance, as in the paper and in PyTorch), then the
    optional per-channel ``weight`` (gamma) and ``bias`` (beta) are applied.

    Half-precision inputs are normalised in float32 and cast back, so the statistics stay accurate under
    autocast.
    """
    check_tensor("x", x, min_ndim=3, layout=_BC_LAYOUT)
    in_dtype = x.dtype
    x = _check_call(x, num_groups, weight, bias, eps)
    batch = x.shape[0]
    # (B, C, *) -> (B, G, C//G * positions): every row holds exactly the values one group shares.
    grouped = x.reshape(batch, num_groups, -1)
    mean = grouped.mean(dim=-1, keepdim=True)
    var = grouped.var(dim=-1, unbiased=False, keepdim=True)
    normed = ((grouped - mean) * torch.rsqrt(var + eps)).reshape(x.shape)

    # gamma and beta are per channel: viewed as (1, C, 1, ..., 1) they broadcast over positions.
    return _apply_affine(normed, weight, bias).to(in_dtype)


def per_frame_group_norm(x: torch.Tensor, num_groups: int, weight: torch.Tensor | None = None,
                         bias: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """GroupNorm of a video ``(B, C, T, H, W)`` whose statistics never mix frames (Chapter 1, *Video: per-frame
    or clip-wide statistics?*).

    Equal to applying :func:`group_norm` to every frame ``x[:, :, t]`` separately: the mean and variance of
    a group are taken over its channels and the H*W positions of one frame only. This is what makes a
    normalised video encoder causal (Chapter 9).
    """
    check_tensor("x", x, ndim=5, layout="(B, C, T, H, W)")
    in_dtype = x.dtype
    x = _check_call(x, num_groups, weight, bias, eps, per_frame=True)
    b, c, t, h, w = x.shape
    # (B, G, C//G, T, H*W): reduce over the channels of a group (dim 2) and the positions (dim 4), not time.
    grouped = x.reshape(b, num_groups, c // num_groups, t, h * w)
    mean = grouped.mean(dim=(2, 4), keepdim=True)
    var = grouped.var(dim=(2, 4), unbiased=False, keepdim=True)
    normed = ((grouped - mean) * torch.rsqrt(var + eps)).reshape(x.shape)
    return _apply_affine(normed, weight, bias).to(in_dtype)


class GroupNorm(nn.Module):
    """GroupNorm with the ``torch.nn.GroupNorm`` signature and state-dict keys (``weight``, ``bias``); Chapter 1,
    *GroupNorm, step by step*.

    Args:
        num_groups: G, the number of groups; must divide ``num_channels``.
        num_channels: C, the channel count the input must have.
        eps: added to the variance before the square root (> 0).
        affine: learn a per-channel scale (init 1) and shift (init 0).
        fused: compute with PyTorch's fused kernel ``F.group_norm`` (the default, fastest) instead of the
            step-by-step :func:`group_norm`. The two are tested equal; the switch exists so that a reader can
            run whole models on the from-scratch code.

    Shape: ``(B, C, *)`` -> same shape.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 fused: bool = True) -> None:
        super().__init__()
        _check_group_args(num_groups, num_channels, eps)
        check_bool("affine", affine)
        check_bool("fused", fused)
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = float(eps)
        self.affine = affine
        self.fused = fused
        _register_affine(self, num_channels, affine)

    def _check_input(self, x: torch.Tensor) -> None:
        check_block_input("x", x, self, channels=self.num_channels, ndim=None, min_ndim=3, layout=_BC_LAYOUT,
                          min_size=0)
        _check_group_size(x, self.num_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        if self.fused:  # statistics in float32, as group_norm computes them
            return F.group_norm(_upcast(x), self.num_groups, self.weight, self.bias, self.eps).to(x.dtype)
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class PerFrameGroupNorm(GroupNorm):
    """GroupNorm for videos ``(B, C, T, H, W)`` with statistics per frame (see :func:`per_frame_group_norm`);
    Chapter 1, *Video: per-frame or clip-wide statistics?*.

    Same arguments and parameters as :class:`GroupNorm`; the input must be 5-D.
    """

    def _check_input(self, x: torch.Tensor) -> None:
        check_block_input("x", x, self, channels=self.num_channels, ndim=5, layout="(B, C, T, H, W)", min_size=0)
        _check_group_size(x, self.num_groups, per_frame=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        if not self.fused:
            return per_frame_group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        b, c, t, h, w = x.shape
        # Fold time into the batch: (B, C, T, H, W) -> (B*T, C, H, W), normalise, unfold.
        frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        out = F.group_norm(_upcast(frames), self.num_groups, self.weight, self.bias, self.eps).to(x.dtype)
        return out.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)
