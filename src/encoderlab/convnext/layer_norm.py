"""Chapter 6, *A LayerNorm over channels*: ConvNeXt's "channels-first" LayerNorm.

Every position of every sample is normalised over its C channel values alone: ``nn.LayerNorm(C)`` applied
to ``x.permute(0, 2, 3, 1)``, NOT the LayerNorm over ``(C, H, W)`` of Chapter 1 (that is ``GroupNorm(1, C)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import (
    check_block_input,
    check_bool,
    check_float,
    check_int,
    check_tensor,
)
from ..norm import _LOW_PRECISION, _apply_affine, _check_affine

__all__ = ["LayerNorm2d", "layer_norm_2d"]

_CHANNELS_FIRST = "(B, C, *) with at least one position axis"


def layer_norm_2d(x: torch.Tensor, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                  eps: float = 1e-6) -> torch.Tensor:
    """ConvNeXt's channels-first LayerNorm, step by step (Chapter 6, *A LayerNorm over channels*).

    x: ``(B, C, *)`` (e.g. ``(B, C, H, W)``). Every position of every sample is normalised over its C channel
    values alone -- one mean and one (biased) variance per ``(b, h, w)`` -- then scaled by ``weight`` and
    shifted by ``bias`` (both ``(C,)``). Equal to ``nn.LayerNorm(C)`` applied to the channels-last tensor
    ``x.permute(0, 2, 3, 1)``. Half-precision inputs are normalised in float32 and cast back.
    """
    check_tensor("x", x, min_ndim=3, layout=_CHANNELS_FIRST)
    check_float("eps", eps, positive=True)
    _check_affine(weight, bias, x.shape[1])
    in_dtype = x.dtype
    if in_dtype in _LOW_PRECISION:
        x = x.float()
    mean = x.mean(dim=1, keepdim=True)                      # (B, 1, *): one mean per position
    var = x.var(dim=1, unbiased=False, keepdim=True)        # biased, as every normalisation layer
    y = (x - mean) * torch.rsqrt(var + eps)
    return _apply_affine(y, weight, bias).to(in_dtype)     # per-channel affine, broadcast over positions


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of a channels-first tensor (Chapter 6, *A LayerNorm over channels*;
    ConvNeXt's ``data_format="channels_first"``).

    Args:
        num_channels: C, the channel count the input must have.
        eps: added to the variance (ConvNeXt: 1e-6).
        affine: learn a per-channel ``weight`` (init 1) and ``bias`` (init 0), as ``nn.LayerNorm``.
        fused: compute with ``F.layer_norm`` on the permuted tensor (the default) instead of the step-by-step
            :func:`layer_norm_2d`. Both are tested equal to ``nn.LayerNorm``.

    Shape: ``(B, C, *) -> (B, C, *)``. State-dict keys ``weight``, ``bias`` (as ``nn.LayerNorm(C)``).
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, affine: bool = True, fused: bool = True) -> None:
        super().__init__()
        self.num_channels = check_int("num_channels", num_channels, min_value=1)
        self.eps = check_float("eps", eps, positive=True)
        self.affine = check_bool("affine", affine)
        self.fused = check_bool("fused", fused)
        # the per-channel affine of encoderlab.GroupNorm (norm.py), written again for this norm
        if affine:
            self.weight = nn.Parameter(torch.ones(num_channels))
            self.bias = nn.Parameter(torch.zeros(num_channels))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_block_input("x", x, self, channels=self.num_channels, ndim=None, min_ndim=3, layout=_CHANNELS_FIRST,
                          min_size=0)  # an empty map gives an empty map, as GroupNorm
        if not self.fused:
            return layer_norm_2d(x, self.weight, self.bias, self.eps)
        # channels last, normalise the last axis, channels first again
        to_last = [0, *range(2, x.dim()), 1]
        to_first = [0, x.dim() - 1, *range(1, x.dim() - 1)]
        y = x.permute(to_last)
        if y.dtype in _LOW_PRECISION:
            out = F.layer_norm(y.float(), (self.num_channels,), self.weight, self.bias, self.eps).to(y.dtype)
        else:
            out = F.layer_norm(y, (self.num_channels,), self.weight, self.bias, self.eps)
        return out.permute(to_first)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}, affine={self.affine}"
