"""Chapter 7, *The encoder, level by level*: the parts both halves of the LDM autoencoder are made of.

A resolution level is a few :class:`~encoderlab.ResnetBlock` (Chapter 3), each followed by attention at the
resolutions listed in ``attn_resolutions`` (:func:`~encoderlab.make_attn`, Chapter 4), then a resampler
(:class:`~encoderlab.Downsample` / :class:`~encoderlab.Upsample`, Chapter 2). The middle is block, attention,
block. ``_LDMHalf`` checks and stores the ``ddconfig`` shared by :class:`~encoderlab.ldm.Encoder` and
:class:`~encoderlab.ldm.Decoder`. The levels do not re-check their inputs: the models check them once.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import check_bool, check_float, check_int, check_int_sequence, check_one_of
from ..attention import ATTN_TYPES, make_attn
from ..conv import Downsample, Upsample
from ..fast import ChannelsLastOnCPU
from ..resnet import ResnetBlock

__all__ = ["EPS", "NUM_GROUPS", "DownLevel", "MidLevel", "UpLevel", "ldm_level_resolutions"]

NUM_GROUPS = 32  # LDM's Normalize(): GroupNorm(32, C, eps=1e-6) everywhere (the default of norm_num_groups)
EPS = 1e-6


def ldm_level_resolutions(resolution: int, num_levels: int) -> list[int]:
    """The nominal resolution at which each of the ``num_levels`` encoder levels runs: ``resolution // 2**i``
    (Chapter 7, *The encoder, level by level*)."""
    check_int("resolution", resolution, min_value=1)
    check_int("num_levels", num_levels, min_value=1)
    return [resolution // 2**i for i in range(num_levels)]


class _LDMHalf(ChannelsLastOnCPU):
    """What :class:`~encoderlab.ldm.Encoder` and :class:`~encoderlab.ldm.Decoder` share: the ``ddconfig``
    settings of both halves, checked and stored under LDM's attribute names (and the CPU fast path)."""

    def _configure(self, ch, ch_mult, num_res_blocks, attn_resolutions, dropout, resamp_with_conv, resolution,
                   z_channels, attn_type, use_linear_attn,
                   norm_num_groups) -> tuple[tuple[int, ...], tuple[int, ...], str]:
        """Validate and store the shared arguments; return ``(ch_mult, attn_resolutions, attn_type)`` as tuples,
        ``attn_type`` after LDM's ``use_linear_attn`` switch."""
        check_int("ch", ch, min_value=1)
        ch_mult = check_int_sequence("ch_mult", ch_mult, min_value=1, min_len=1, example="(1, 2, 4, 4)")
        check_int("num_res_blocks", num_res_blocks, min_value=1)
        check_float("dropout", dropout, min_value=0.0, max_value=1.0)
        check_bool("resamp_with_conv", resamp_with_conv)
        check_int("resolution", resolution, min_value=1)
        check_int("z_channels", z_channels, min_value=1)
        check_bool("use_linear_attn", use_linear_attn)
        check_one_of("attn_type", attn_type, ATTN_TYPES)
        check_int("norm_num_groups", norm_num_groups, min_value=1)
        if use_linear_attn:  # LDM's older switch, kept for its configs
            attn_type = "linear"
        factor = 2 ** (len(ch_mult) - 1)
        if resolution % factor != 0:
            raise ValueError(f"resolution={resolution} must be divisible by 2**(len(ch_mult) - 1) = {factor}: "
                             f"the {len(ch_mult)} levels halve it {len(ch_mult) - 1} times")
        for i, m in enumerate(ch_mult):
            if (ch * m) % norm_num_groups != 0:
                raise ValueError(f"ch * ch_mult[{i}] = {ch} * {m} = {ch * m} channels must be divisible by the "
                                 f"norm_num_groups={norm_num_groups} GroupNorm groups")
        attn_resolutions = check_int_sequence("attn_resolutions", attn_resolutions, example="[16] (or [])")
        levels = ldm_level_resolutions(resolution, len(ch_mult))
        for r in attn_resolutions:
            if r not in levels:
                raise ValueError(f"attn_resolutions contains {r}, which is not the resolution of any level: with "
                                 f"resolution={resolution} and {len(ch_mult)} levels they are {levels}")
        self.ch, self.ch_mult, self.num_res_blocks = ch, ch_mult, num_res_blocks
        self.attn_resolutions, self.attn_type, self.dropout = attn_resolutions, attn_type, float(dropout)
        self.resamp_with_conv, self.resolution, self.z_channels = resamp_with_conv, resolution, z_channels
        self.num_resolutions, self.norm_num_groups = len(ch_mult), norm_num_groups
        return ch_mult, attn_resolutions, attn_type

    @staticmethod
    def _check_ignored(**settings) -> None:
        """The other half's settings, accepted and ignored so that one ``ddconfig`` builds both: ``None`` or a
        value of the right type (``name=(value, int or bool)``)."""
        for name, (value, kind) in settings.items():
            if value is not None and kind is int:
                check_int(name, value, min_value=1)
            elif value is not None:
                check_bool(name, value)

    def _check_group_sizes(self, name: str, x: torch.Tensor, sizes: list[tuple[int, ...]]) -> None:
        """Raise unless every GroupNorm normalises at least 2 values per group: ``sizes[i]`` is the map of level
        ``i`` (0: full resolution), where the norms have the channels of that level or of a neighbour."""
        widths = [self.ch] + [self.ch * m for m in self.ch_mult]  # conv_in's width, then the levels'
        for i, size in enumerate(sizes):
            channels = min(widths[i:i + 3])
            if channels // self.norm_num_groups * math.prod(size) < 2:
                raise ValueError(f"{name} of spatial size {tuple(x.shape[2:])} is too small: level {i} runs at "
                                 f"{size}, where a GroupNorm of {channels} channels in {self.norm_num_groups} groups "
                                 "would "
                                 "normalise a single value per group; use a larger input")


class _Level(nn.Module):
    """A resolution level: ResnetBlocks, each followed by attention if the level has any, then a resampler.

    A subclass names its resampler (``_resampler``: LDM's attribute name, and its class).
    """

    _resampler: tuple[str, type[nn.Module]]

    def __init__(self, block_in: int, block_out: int, num_blocks: int, with_attn: bool, attn_type: str,
                 dropout: float, resample: bool, resamp_with_conv: bool, num_groups: int = NUM_GROUPS) -> None:
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()
        for _ in range(num_blocks):
            self.block.append(ResnetBlock(block_in, block_out, dropout=dropout, num_groups=num_groups, eps=EPS))
            block_in = block_out
            if with_attn:
                self.attn.append(make_attn(block_in, attn_type, num_groups=num_groups))
        self.out_channels = block_out
        name, cls = self._resampler
        if resample:
            self.add_module(name, cls(block_out, with_conv=resamp_with_conv))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for j, block in enumerate(self.block):
            h = block(h)
            if len(self.attn) > 0:
                h = self.attn[j](h)
        resample = getattr(self, self._resampler[0], None)
        return h if resample is None else resample(h)


class DownLevel(_Level):
    """One encoder level: ``num_blocks`` x [ResnetBlock, attention if any], then an optional Downsample
    (Chapter 7, *The encoder, level by level*).

    Holds LDM's ``block`` (ModuleList), ``attn`` (ModuleList, empty at levels without attention) and, except at
    the last level (``resample=False``), ``downsample``. ``(B, cin, H, W) -> (B, cout, H/2, W/2)`` (no halving
    at the last level).
    """

    _resampler = ("downsample", Downsample)


class UpLevel(_Level):
    """One decoder level: ``num_blocks`` (LDM: ``num_res_blocks + 1``) x [ResnetBlock, attention if any], then an
    optional Upsample (Chapter 7, *The decoder, mirrored*).

    Holds LDM's ``block``, ``attn`` and, except at level 0 (full resolution, ``resample=False``), ``upsample``.
    ``(B, cin, h, w) -> (B, cout, 2h, 2w)`` (no doubling at level 0).
    """

    _resampler = ("upsample", Upsample)


class MidLevel(nn.Module):
    """The bottleneck at the lowest resolution: ``block_1`` -> ``attn_1`` -> ``block_2`` (LDM's ``mid``;
    Chapter 7, *The encoder, level by level*).

    ``attn_1`` always exists: an :class:`~encoderlab.AttnBlock`, a :class:`~encoderlab.LinAttnBlock`, or
    ``nn.Identity`` for ``attn_type="none"``. ``(B, C, h, w) -> (B, C, h, w)``.
    """

    def __init__(self, channels: int, attn_type: str, dropout: float, num_groups: int = NUM_GROUPS) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, dropout=dropout, num_groups=num_groups, eps=EPS)
        self.attn_1 = make_attn(channels, attn_type, num_groups=num_groups)
        self.block_2 = ResnetBlock(channels, channels, dropout=dropout, num_groups=num_groups, eps=EPS)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(h)))
