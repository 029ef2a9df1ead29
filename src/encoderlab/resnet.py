"""Chapter 3: the pre-activation residual block of the latent-diffusion autoencoder.

``out = skip(x) + conv2(dropout(SiLU(norm2(conv1(SiLU(norm1(x)))))))``
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_bool, check_channels, check_divisible, check_float, check_int, check_tensor
from .norm import GroupNorm

__all__ = ["ResnetBlock"]


class ResnetBlock(nn.Module):
    """LDM's ``ResnetBlock`` (diffusers' ``ResnetBlock2D`` without a time embedding).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (default: ``in_channels``).
        conv_shortcut: when the channel count changes, use a 3x3 ``conv_shortcut`` on the skip path instead
            of the default 1x1 ``nin_shortcut``.
        dropout: dropout probability between the two convolutions.
        num_groups, eps: GroupNorm settings (LDM: 32 groups, eps 1e-6).

    Layers, in LDM's names: ``norm1, conv1, norm2, dropout, conv2`` and, when ``in != out``, ``nin_shortcut``
    (1x1) or ``conv_shortcut`` (3x3). Shape: ``(B, in, H, W) -> (B, out, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, conv_shortcut: bool = False,
                 dropout: float = 0.0, num_groups: int = 32, eps: float = 1e-6) -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        out_channels = in_channels if out_channels is None else check_int("out_channels", out_channels, min_value=1)
        check_bool("conv_shortcut", conv_shortcut)
        check_float("dropout", dropout, min_value=0.0, max_value=1.0)
        check_int("num_groups", num_groups, min_value=1)
        check_divisible("in_channels", in_channels, "num_groups", num_groups)
        check_divisible("out_channels", out_channels, "num_groups", num_groups)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.use_conv_shortcut = conv_shortcut

        self.norm1 = GroupNorm(num_groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.norm2 = GroupNorm(num_groups, out_channels, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        if in_channels != out_channels:
            if conv_shortcut:
                self.conv_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
            else:
                self.nin_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The skip path: identity, or a 1x1 / 3x3 projection when the channel count changes."""
        if self.in_channels == self.out_channels:
            return x
        return self.conv_shortcut(x) if self.use_conv_shortcut else self.nin_shortcut(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_channels)
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.shortcut(x) + h
