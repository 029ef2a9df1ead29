"""Chapter 6, *A ConvNeXt block inside our encoder*: a ConvNeXt-style block with the interface of
:class:`encoderlab.ResnetBlock`, and a tiny LDM-style autoencoder whose encoder blocks can be either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import (
    check_block_input,
    check_divisible,
    check_int,
    check_int_sequence,
    check_one_of,
    check_spatial_multiple,
)
from ..conv import Downsample, Upsample
from ..norm import GroupNorm
from ..resnet import ResnetBlock
from .networks import _add_convnext_layers, _convnext_branch

__all__ = ["BLOCK_TYPES", "ConvNeXtResnetBlock", "SmallDecoder", "SmallEncoder"]

#: Block types :class:`SmallEncoder` accepts.
BLOCK_TYPES = ("resnet", "convnext")


class ConvNeXtResnetBlock(nn.Module):
    """A ConvNeXt block with the interface of :class:`encoderlab.ResnetBlock` (``in_channels -> out_channels``);
    Chapter 6, *A ConvNeXt block inside our encoder*.

    ``skip(x) + drop_path(gamma * pwconv2(GELU(pwconv1(LayerNorm(dwconv(x))))))``: a depthwise
    ``kernel_size`` conv on the ``in_channels``, a channels LayerNorm, the pointwise MLP
    ``in_channels -> expansion * out_channels -> out_channels`` and a layer scale of ``out_channels``
    entries. ``skip`` is the identity, or a 1x1 ``nin_shortcut`` when the channel count changes (as in
    ResnetBlock). With ``in_channels == out_channels`` it is exactly :class:`ConvNeXtBlock` (same keys).

    Shape: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, kernel_size: int = 7,
                 expansion: int = 4, layer_scale_init_value: float = 1e-6, drop_path: float = 0.0,
                 eps: float = 1e-6) -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        out_channels = in_channels if out_channels is None else check_int("out_channels", out_channels, min_value=1)
        self.in_channels, self.out_channels = in_channels, out_channels
        _add_convnext_layers(self, in_channels, out_channels, kernel_size=kernel_size, expansion=expansion,
                            layer_scale_init_value=layer_scale_init_value, drop_path=drop_path, eps=eps)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The skip path: identity, or the 1x1 ``nin_shortcut`` when the channel count changes."""
        return x if self.in_channels == self.out_channels else self.nin_shortcut(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_block_input("x", x, self, channels=self.in_channels)
        return self.shortcut(x) + self.drop_path(_convnext_branch(self, x))


class _ResolutionLevel(nn.Module):
    """One resolution level of :class:`SmallEncoder` / :class:`SmallDecoder`: the blocks of LDM's ``block``
    (a ModuleList), then, except at the last level, the resampler under LDM's name (``downsample`` or
    ``upsample``). ``encoderlab.ldm.DownLevel`` / ``UpLevel`` are the full LDM levels (with attention)."""

    def __init__(self, blocks: list[nn.Module], resampler_name: str, resampler: nn.Module | None) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.resampler_name = None if resampler is None else resampler_name
        if resampler is not None:
            self.add_module(resampler_name, resampler)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.block:
            h = block(h)
        return h if self.resampler_name is None else getattr(self, self.resampler_name)(h)


def _check_widths(ch, ch_mult, num_blocks, num_groups) -> tuple[int, ...]:
    """The width arguments :class:`SmallEncoder` and :class:`SmallDecoder` share; returns ``ch_mult``."""
    check_int("ch", ch, min_value=1)
    ch_mult = check_int_sequence("ch_mult", ch_mult, min_value=1, min_len=1, example="(1, 2)")
    check_int("num_blocks", num_blocks, min_value=1)
    check_int("num_groups", num_groups, min_value=1)
    for m in ch_mult:
        check_divisible("ch * ch_mult[i]", ch * m, "num_groups", num_groups)
    return ch_mult


def _levels(c: int, widths: Sequence[int], num_blocks: int, make_block: Callable[[int, int], nn.Module],
            resampler_name: str, make_resampler: Callable[[int], nn.Module]) -> tuple[nn.ModuleList, int]:
    """The levels from ``c`` channels through ``widths`` (in running order), a resampler after all but the
    last; returns them and the final channel count."""
    levels = nn.ModuleList()
    for i, width in enumerate(widths):
        blocks = []
        for _ in range(num_blocks):
            blocks.append(make_block(c, width))
            c = width
        last = i == len(widths) - 1
        levels.append(_ResolutionLevel(blocks, resampler_name, None if last else make_resampler(c)))
    return levels, c


def _through_levels(model: nn.Module, levels: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """``conv_out(SiLU(norm_out(levels(conv_in(x)))))``: the path :class:`SmallEncoder` and :class:`SmallDecoder`
    share, level by level."""
    h = model.conv_in(x)
    for level in levels:
        h = level(h)
    return model.conv_out(F.silu(model.norm_out(h)))


class SmallEncoder(nn.Module):
    """A small LDM-style encoder whose residual blocks are ResnetBlocks or ConvNeXtResnetBlocks (Chapter 6,
    *A ConvNeXt block inside our encoder*).

    ``conv_in`` (3x3) -> for each level i: ``num_blocks`` blocks to ``ch * ch_mult[i]`` channels, then
    (except at the last level) :class:`encoderlab.Downsample` -> ``norm_out`` (GroupNorm) -> SiLU ->
    ``conv_out`` (3x3) to ``z_channels``. Only the blocks depend on ``block_type``; conv_in, the
    downsamplers and the head are the same, so a comparison isolates the block.

    Args:
        in_channels: image channels.
        ch, ch_mult, num_blocks: widths per level (``ch * ch_mult[i]``) and blocks per level.
        z_channels: output channels.
        block_type: ``"resnet"`` (:class:`encoderlab.ResnetBlock`) or ``"convnext"``
            (:class:`ConvNeXtResnetBlock`).
        num_groups: GroupNorm groups of the ResnetBlocks and of ``norm_out``.
        **block_kwargs: passed to every block (e.g. ``kernel_size=3`` or ``drop_path=0.1`` for ConvNeXt).

    Shape: ``(B, in_channels, H, W) -> (B, z_channels, H / 2**(L-1), W / 2**(L-1))`` for ``L`` levels
    (H and W divisible by ``2**(L-1)``).
    """

    def __init__(self, in_channels: int = 3, *, ch: int = 32, ch_mult: Sequence[int] = (1, 2), num_blocks: int = 1,
                 z_channels: int = 4, block_type: str = "resnet", num_groups: int = 8, **block_kwargs) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, min_value=1)
        ch_mult = _check_widths(ch, ch_mult, num_blocks, num_groups)
        check_divisible("ch", ch, "num_groups", num_groups)
        check_int("z_channels", z_channels, min_value=1)
        self.block_type = check_one_of("block_type", block_type, BLOCK_TYPES)
        self.num_levels = len(ch_mult)

        def make_block(cin: int, cout: int) -> nn.Module:
            if block_type == "resnet":
                return ResnetBlock(cin, cout, num_groups=num_groups, **block_kwargs)
            return ConvNeXtResnetBlock(cin, cout, **block_kwargs)

        self.conv_in = nn.Conv2d(in_channels, ch, kernel_size=3, padding=1)
        self.down, c = _levels(ch, [ch * m for m in ch_mult], num_blocks, make_block, "downsample", Downsample)
        self.norm_out = GroupNorm(num_groups, c, eps=1e-6)
        self.conv_out = nn.Conv2d(c, z_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_block_input("x", x, self, channels=self.in_channels, min_size=0)
        factor = 2 ** (self.num_levels - 1)
        check_spatial_multiple("x", x, factor, why=f"2**(levels - 1) = {factor} for {self.num_levels} levels")
        return _through_levels(self, self.down, x)


class SmallDecoder(nn.Module):
    """The mirror of :class:`SmallEncoder` with ResnetBlocks only: the fixed decoder of the chapter's experiment
    (Chapter 6, *A short training run*).

    ``conv_in`` (3x3, z -> widest) -> for each level from the last: ``num_blocks`` ResnetBlocks, then
    (except at level 0) :class:`encoderlab.Upsample` -> ``norm_out`` -> SiLU -> ``conv_out`` (3x3).
    Shape: ``(B, z_channels, h, w) -> (B, out_channels, h * 2**(L-1), w * 2**(L-1))``.
    """

    def __init__(self, out_channels: int = 3, *, ch: int = 32, ch_mult: Sequence[int] = (1, 2), num_blocks: int = 1,
                 z_channels: int = 4, num_groups: int = 8) -> None:
        super().__init__()
        check_int("out_channels", out_channels, min_value=1)
        ch_mult = _check_widths(ch, ch_mult, num_blocks, num_groups)
        self.z_channels = check_int("z_channels", z_channels, min_value=1)

        def make_block(cin: int, cout: int) -> nn.Module:
            return ResnetBlock(cin, cout, num_groups=num_groups)

        c = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, c, kernel_size=3, padding=1)
        self.up, c = _levels(c, [ch * m for m in reversed(ch_mult)], num_blocks, make_block, "upsample", Upsample)
        self.norm_out = GroupNorm(num_groups, c, eps=1e-6)
        self.conv_out = nn.Conv2d(c, out_channels, kernel_size=3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_block_input("z", z, self, channels=self.z_channels)
        return _through_levels(self, self.up, z)
