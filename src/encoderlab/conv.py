"""Chapter 2: convolution arithmetic and the learned down/upsampling layers the seeds use.

Causal convolution for video lives in :mod:`encoderlab.causal`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_block_input, check_bool, check_int, check_tensor

__all__ = [
    "AvgPoolDownsample",
    "Downsample",
    "StridedConvDownsample",
    "TransposedConvUpsample",
    "Upsample",
    "conv_output_size",
    "conv_transpose_output_size",
]


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution along one axis (the formula in the ``nn.Conv*d`` docs); Chapter 2,
    *Convolution arithmetic*.

    ``floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``. Raises ``ValueError`` when the
    (padded) input is shorter than the dilated kernel.
    """
    check_int("size", size, min_value=1)
    check_int("kernel_size", kernel_size, min_value=1)
    check_int("stride", stride, min_value=1)
    check_int("padding", padding, min_value=0)
    check_int("dilation", dilation, min_value=1)
    span = dilation * (kernel_size - 1) + 1
    padded = size + 2 * padding
    if padded < span:
        raise ValueError(
            f"the padded input ({size} + 2*{padding} = {padded}) is shorter than the dilated kernel ({span})"
        )
    return (padded - span) // stride + 1


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis (the ``nn.ConvTranspose*d`` formula); Chapter 2,
    *Convolution arithmetic*.

    ``(size - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1``; for the seed-003
    upsampler (kernel 4, stride 2, padding 1) that is exactly ``2 * size``.
    """
    check_int("size", size, min_value=1)
    check_int("kernel_size", kernel_size, min_value=1)
    check_int("stride", stride, min_value=1)
    check_int("padding", padding, min_value=0)
    check_int("output_padding", output_padding, min_value=0)
    check_int("dilation", dilation, min_value=1)
    if output_padding >= max(stride, dilation):
        raise ValueError(f"output_padding={output_padding} must be smaller than stride={stride} or "
                         f"dilation={dilation}")
    out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"padding={padding} removes the whole output (length {out})")
    return out


class _Resampler(nn.Module):
    """What the resamplers below share: ``in_channels`` and the one input check of a public block."""

    def _check_input(self, x: torch.Tensor, *, halves: bool = False) -> None:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        if halves and min(x.shape[2:]) < 2:
            raise ValueError(f"x must be at least 2x2 to halve, got spatial size {tuple(x.shape[2:])} (shape "
                             f"{tuple(x.shape)})")
        check_block_input("x", x, self, channels=self.in_channels)


class _ConvResampler(_Resampler):
    """LDM's resamplers: an optional 3x3 convolution ``conv`` (LDM's and diffusers' name) of ``in_channels``."""

    def __init__(self, in_channels: int, with_conv: bool, *, stride: int, padding: int) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, min_value=1)
        self.with_conv = check_bool("with_conv", with_conv)
        if with_conv:
            self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=stride, padding=padding)


class Downsample(_ConvResampler):
    """Latent-diffusion downsampling: halve H and W (Chapter 2, *Halving and doubling a feature map*).

    With ``with_conv`` (the default): pad one zero column on the right and one zero row at the bottom
    (the "asymmetric padding"), then a 3x3 convolution with stride 2 and no padding. Without it: 2x2 average
    pooling. ``(B, C, H, W) -> (B, C, floor(H/2), floor(W/2))`` either way (with the conv: ``(H + 1 - 3) // 2 + 1``).
    The parameter is named ``conv`` as in LDM and diffusers.
    """

    def __init__(self, in_channels: int, with_conv: bool = True) -> None:
        super().__init__(in_channels, with_conv, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, halves=True)
        if self.with_conv:
            return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0.0))
        return F.avg_pool2d(x, kernel_size=2, stride=2)


class Upsample(_ConvResampler):
    """Latent-diffusion upsampling: nearest-neighbour x2, then (with ``with_conv``) a 3x3 convolution, pad 1
    (Chapter 2, *Halving and doubling a feature map*).

    ``(B, C, H, W) -> (B, C, 2H, 2W)``. The parameter is named ``conv`` as in LDM and diffusers.
    """

    def __init__(self, in_channels: int, with_conv: bool = True) -> None:
        super().__init__(in_channels, with_conv, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x) if self.with_conv else x


def _out_channels(in_channels: int, out_channels: int | None) -> tuple[int, int]:
    check_int("in_channels", in_channels, min_value=1)
    if out_channels is None:
        return in_channels, in_channels
    return in_channels, check_int("out_channels", out_channels, min_value=1)


class StridedConvDownsample(_Resampler):
    """The seed-003 downsampler: a 4x4 convolution with stride 2 and padding 1 (``down_sample_conv``); Chapter 2,
    *Halving and doubling a feature map*.

    Symmetric padding and an even kernel: every output pixel reads a 4x4 patch centred between input
    pixels. ``(B, C_in, H, W) -> (B, C_out, floor(H/2), floor(W/2))``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels = _out_channels(in_channels, out_channels)
        self.conv = nn.Conv2d(self.in_channels, self.out_channels, kernel_size=4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, halves=True)
        return self.conv(x)


class AvgPoolDownsample(_Resampler):
    """Parameter-free downsampling: the mean of every 2x2 block (LDM's ``Downsample(with_conv=False)``);
    Chapter 2, *Halving and doubling a feature map*.

    ``(B, C, H, W) -> (B, C, floor(H/2), floor(W/2))``.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, min_value=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, halves=True)
        return F.avg_pool2d(x, kernel_size=2, stride=2)


class TransposedConvUpsample(_Resampler):
    """The seed-003 upsampler: a 4x4 transposed convolution with stride 2 and padding 1 (``up_sample_conv``);
    Chapter 2, *The checkerboard of the transposed convolution*.

    ``(B, C_in, H, W) -> (B, C_out, 2H, 2W)``. The kernel (4) is a multiple of the stride (2), so every
    output pixel receives the same number of kernel taps; the taps it receives depend on the pixel's
    parity, which is where the checkerboard pattern of transposed convolutions comes from (Chapter 2).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels = _out_channels(in_channels, out_channels)
        self.conv = nn.ConvTranspose2d(self.in_channels, self.out_channels, kernel_size=4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.conv(x)
