"""Chapter 3: the pre-activation residual block of the latent-diffusion autoencoder.

``out = skip(x) + conv2(dropout(SiLU(norm2(conv1(SiLU(norm1(x)))))))``
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import (
    check_bool,
    check_channels,
    check_divisible,
    check_float,
    check_int,
    check_one_of,
    check_tensor,
)
from .causal import PADDING_MODES, CausalConv3d
from .norm import GroupNorm, PerFrameGroupNorm

__all__ = ["SHORTCUTS", "CausalResnet3d", "ResnetBlock", "SkipConvResnetBlock", "resnet_block_num_params"]

SHORTCUTS = ("nin", "conv", "always")


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
        if torch.is_grad_enabled():
            h = self.conv1(F.silu(self.norm1(x)))
            h = self.conv2(self.dropout(F.silu(self.norm2(h))))
            return self.shortcut(x) + h
        # Without autograd nothing needs the intermediates: SiLU and the residual addition work in place, and
        # each step rebinds `h` so the previous activation is freed before the next convolution runs. At most
        # three activations are alive at once instead of four (same values, bit for bit; tested).
        h = F.silu(self.norm1(x), inplace=True)
        h = self.conv1(h)
        h = F.silu(self.norm2(h), inplace=True)
        h = self.conv2(self.dropout(h))
        skip = self.shortcut(x)
        return h.add_(skip) if skip.dtype == h.dtype else skip + h  # dtypes differ under autocast


class SkipConvResnetBlock(nn.Module):
    """The seed-003 residual block: a 1x1 convolution on the skip path of *every* block.

    ``out = resnet_conv_second(resnet_conv_first(x)) + residual_input_conv(x)``, each ``resnet_conv_*`` an
    ``nn.Sequential(GroupNorm, SiLU, Conv2d 3x3)`` as in the seed's ``DownBlock``/``MidBlock``. Unlike LDM's
    block, the 1x1 ``residual_input_conv`` is there even when the channel count does not change, so the skip
    path is a learned channel mix rather than the identity. GroupNorm uses PyTorch's default eps (1e-5).

    Args:
        in_channels, out_channels: channels of input and output.
        norm_channels: the number of GroupNorm groups (the seed's name for it; 32 in the seed).

    Shape: ``(B, in, H, W) -> (B, out, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, norm_channels: int = 32) -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        out_channels = in_channels if out_channels is None else check_int("out_channels", out_channels, min_value=1)
        check_int("norm_channels", norm_channels, min_value=1)
        check_divisible("in_channels", in_channels, "norm_channels", norm_channels)
        check_divisible("out_channels", out_channels, "norm_channels", norm_channels)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resnet_conv_first = nn.Sequential(
            GroupNorm(norm_channels, in_channels), nn.SiLU(),
            nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1),
        )
        self.resnet_conv_second = nn.Sequential(
            GroupNorm(norm_channels, out_channels), nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1),
        )
        self.residual_input_conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_channels)
        return self.resnet_conv_second(self.resnet_conv_first(x)) + self.residual_input_conv(x)


def resnet_block_num_params(in_channels: int, out_channels: int | None = None, *, kernel_size: int = 3,
                            dims: int = 2, shortcut: str = "nin") -> int:
    """Parameters of a pre-activation residual block (two affine GroupNorms, two k^dims convs with bias, skip).

    ``2*C_in + (C_in*C_out*k^d + C_out) + 2*C_out + (C_out^2*k^d + C_out) + skip`` where the skip is

    - ``"nin"`` (LDM's default, diffusers, the causal block): ``C_in*C_out + C_out`` when ``C_in != C_out``, else 0;
    - ``"conv"`` (LDM ``conv_shortcut=True``): ``C_in*C_out*k^d + C_out`` when ``C_in != C_out``, else 0;
    - ``"always"`` (seed 003): ``C_in*C_out + C_out`` always.

    ``dims=2`` for :class:`ResnetBlock`/:class:`SkipConvResnetBlock`, ``dims=3`` for :class:`CausalResnet3d`.
    """
    check_int("in_channels", in_channels, min_value=1)
    out_channels = in_channels if out_channels is None else check_int("out_channels", out_channels, min_value=1)
    check_int("kernel_size", kernel_size, min_value=1)
    check_int("dims", dims, min_value=1)
    check_one_of("shortcut", shortcut, SHORTCUTS)
    cin, cout, taps = in_channels, out_channels, kernel_size**dims
    total = 2 * cin + (cin * cout * taps + cout) + 2 * cout + (cout * cout * taps + cout)
    if shortcut == "always" or cin != cout:
        total += cin * cout * (taps if shortcut == "conv" else 1) + cout
    return total


class CausalResnet3d(nn.Module):
    """The causal 3-D residual block of the seed-000 video encoder, field names and order as printed.

    ``out = shortcut(x) + conv2(dropout(SiLU(norm2(conv1(SiLU(norm1(x)))))))`` with 3x3x3 :class:`CausalConv3d`
    convolutions and, only when the channel count changes, a 1x1x1 causal ``conv_shortcut``.

    Args:
        in_channels, out_channels: channels of input and output (``out_channels`` defaults to ``in_channels``).
        dropout: dropout probability between the two convolutions (the seed: 0.0).
        num_groups, eps: GroupNorm settings (the seed: 2 groups, eps 1e-6).
        per_frame_norm: ``False`` (the seed) normalises over the whole clip with :class:`GroupNorm`, which makes
            the block *non-causal*; ``True`` uses :class:`PerFrameGroupNorm`, which keeps it causal and
            streamable (Chapter 9).
        padding_mode: temporal padding of the convs, ``"zeros"`` or ``"replicate"``.

    Shape: ``(B, in, T, H, W) -> (B, out, T, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, dropout: float = 0.0,
                 num_groups: int = 2, eps: float = 1e-6, per_frame_norm: bool = False,
                 padding_mode: str = "zeros") -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        out_channels = in_channels if out_channels is None else check_int("out_channels", out_channels, min_value=1)
        check_float("dropout", dropout, min_value=0.0, max_value=1.0)
        check_int("num_groups", num_groups, min_value=1)
        check_divisible("in_channels", in_channels, "num_groups", num_groups)
        check_divisible("out_channels", out_channels, "num_groups", num_groups)
        check_bool("per_frame_norm", per_frame_norm)
        check_one_of("padding_mode", padding_mode, PADDING_MODES)
        self.in_channels = in_channels
        self.out_channels = out_channels
        norm = PerFrameGroupNorm if per_frame_norm else GroupNorm

        self.norm1 = norm(num_groups, in_channels, eps=eps)
        self.conv1 = CausalConv3d(in_channels, out_channels, kernel_size=3, padding_mode=padding_mode)
        self.norm2 = norm(num_groups, out_channels, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = CausalConv3d(out_channels, out_channels, kernel_size=3, padding_mode=padding_mode)
        self.activation_fn = nn.SiLU()
        if in_channels != out_channels:
            self.conv_shortcut = CausalConv3d(in_channels, out_channels, kernel_size=1, padding_mode=padding_mode)
        else:
            self.conv_shortcut = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=5, layout="(B, C, T, H, W)")
        check_channels("x", x, self.in_channels)
        h = self.conv1(self.activation_fn(self.norm1(x)))
        h = self.conv2(self.dropout(self.activation_fn(self.norm2(h))))
        skip = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return skip + h
