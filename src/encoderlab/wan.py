"""Chapter 9, *A second causal design: Wan 2.1's encoder*: the video encoder of Wan 2.1's VAE
(``diffusers.AutoencoderKLWan``), rebuilt from the book's parts plus the three it needs.

What is reused: :class:`~encoderlab.causal.CausalConv3d` (Wan pads ``2`` zero frames in front of every 3x3x3
convolution, exactly as the book's causal conv does), the residual recipe of
:class:`~encoderlab.resnet.CausalResnet3d`, the tokens and scaled dot-product attention of Chapter 4 and the
:class:`~encoderlab.distributions.DiagonalGaussian` posterior. What is new:

* :class:`ChannelRMSNorm` -- Wan's norm: every position's channel vector scaled to RMS 1. No statistic spans
  two frames (or two pixels), so it is causal without any per-frame reshaping.
* :class:`WanTimeDownsample` -- a ``(3, 1, 1)`` time convolution with stride 2 *whose first output frame is
  the first input frame itself*. diffusers skips the time convolution on the first chunk of its cache; written
  for a whole clip, that is "frame 0 passes, every later output is a causal stride-2 window".
* :class:`WanResample` -- per-frame ``3x3`` stride-2 convolution after padding only the right and bottom edge,
  then (in the levels that compress time) the time downsample.

Layout (Wan 2.1: ``base_dim=96``, ``dim_mult=(1, 2, 4, 4)``, ``z=16``): ``conv_in`` -> four levels of two
residual blocks each, the first three ending in a resample (space in all three, time in the last two) ->
mid-block (residual block, per-frame attention, residual block) -> RMS norm, SiLU, ``conv_out`` to ``2 z`` ->
``quant_conv`` (1x1x1). ``T`` frames give ``1 + (T - 1) // 4`` latent frames and ``H // 8 x W // 8`` pixels.
Streaming (:meth:`WanEncoder.encode_stream`) uses the book's exact cache and so works for any chunk plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import (
    check_bool,
    check_channels,
    check_dtype_matches,
    check_float,
    check_int,
    check_int_sequence,
    check_spatial_min,
    check_tensor,
)
from .attention import attention, from_tokens, to_tokens
from .causal import CausalConv3d, encode_stream
from .distributions import DiagonalGaussian
from .resnet import CausalResnet3d
from .video import latent_frames

__all__ = [
    "WAN21_CONFIG",
    "ChannelRMSNorm",
    "WanDownBlock",
    "WanEncoder",
    "WanFrameAttention",
    "WanMidBlock",
    "WanResample",
    "WanResidualBlock",
    "WanTimeDownsample",
]

# the encoder part of diffusers' AutoencoderKLWan defaults (Wan 2.1's released VAE)
WAN21_CONFIG = {"base_dim": 96, "dim_mult": (1, 2, 4, 4), "num_res_blocks": 2, "z_channels": 16,
                "temporal_downsample": (False, True, True)}

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _to_frames(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, T, H, W) -> (B*T, C, H, W)``: time folded into the batch, for per-frame 2-D layers."""
    b, c, t, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)


def _to_video(frames: torch.Tensor, batch: int, time: int) -> torch.Tensor:
    """``(B*T, C, H, W) -> (B, C, T, H, W)``, the inverse of :func:`_to_frames`."""
    _, c, h, w = frames.shape
    return frames.reshape(batch, time, c, h, w).permute(0, 2, 1, 3, 4)


class ChannelRMSNorm(nn.Module):
    """Wan's RMS norm over the channels of each position: ``y = x / ||x||_C * sqrt(C) * weight``.

    Chapter 9, *A second causal design: Wan 2.1's encoder* (diffusers' ``WanRMS_norm``). The channel vector at
    every (frame, pixel) is rescaled to root-mean-square 1 (``F.normalize`` divides by ``max(||x||, eps)``),
    then each channel by its learned ``weight`` (init 1; no shift). Nothing is averaged over positions or
    frames, so the norm is causal and chunk-invariant by construction. Half precision is normalised in float32.
    Shape: ``(B, C, *) -> (B, C, *)`` (any number of position axes: frames, or videos).
    """

    def __init__(self, channels: int, *, eps: float = 1e-12) -> None:
        super().__init__()
        self.channels = check_int("channels", channels, min_value=1)
        self.eps = check_float("eps", eps, positive=True)
        self.scale = math.sqrt(channels)
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, min_ndim=2, layout="(B, C, *)")
        check_channels("x", x, self.channels)
        upcast = x.float() if x.dtype in _LOW_PRECISION else x
        normed = F.normalize(upcast, dim=1, eps=self.eps).to(x.dtype)
        return normed * self.scale * self.weight.view(-1, *([1] * (x.dim() - 2)))

    def extra_repr(self) -> str:
        return f"{self.channels}"


class WanTimeDownsample(CausalConv3d):
    """Wan's temporal downsampler: a causal ``(3, 1, 1)`` conv with stride ``(2, 1, 1)``, except that output
    frame 0 *is* input frame 0.

    Chapter 9, *The resample block: frame 0 passes*. Output ``j >= 1`` is the window of input frames
    ``2j - 2, 2j - 1, 2j``: the book's causal conv with 2 zero frames in front gives exactly these windows, and
    its window 0 (two zero frames and frame 0) is replaced by frame 0 itself. diffusers gets the same by
    skipping the time conv on the first chunk of its cache (and, without a cache, on every frame, a different
    model). ``T -> ceil(T / 2)`` frames. Streaming: the inherited exact cache; frame 0 is replaced in the call
    that completes it.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels, channels, kernel_size=(3, 1, 1), stride=(2, 1, 1))
        self._started = False

    def reset_cache(self) -> None:
        super().reset_cache()
        self._started = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, H, W) -> (B, C, ceil(T / 2), H, W)``: frame 0 passes, then stride-2 windows."""
        out = super().forward(x)
        if self.streaming:
            if self._started or x.shape[2] == 0:  # frame 0 was an earlier chunk's (or has not come yet)
                return out
            self._started = True
        return torch.cat([x[:, :, :1], out[:, :, 1:]], dim=2)


class WanResample(nn.Module):
    """Wan's downsampling resample block (diffusers' ``WanResample``, modes ``downsample2d``/``downsample3d``).

    Chapter 9, *The resample block: frame 0 passes*. Per frame: zero-pad one column on the right and one row
    at the bottom, then ``resample``, a ``Conv2d(C, C, 3, stride=2)``: ``H -> H // 2``, ``W -> W // 2``.
    With ``temporal=True`` then :class:`WanTimeDownsample` (``time_conv``): ``T -> ceil(T / 2)``.
    Shape: ``(B, C, T, H, W) -> (B, C, T', H // 2, W // 2)``.
    """

    def __init__(self, channels: int, *, temporal: bool = False) -> None:
        super().__init__()
        self.channels = check_int("channels", channels, min_value=1)
        self.temporal = check_bool("temporal", temporal)
        self.resample = nn.Conv2d(channels, channels, kernel_size=3, stride=2)
        if temporal:
            self.time_conv = WanTimeDownsample(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, _, _ = x.shape
        frames = self.resample(F.pad(_to_frames(x), (0, 1, 0, 1)))  # pad right and bottom only
        x = _to_video(frames, b, t)
        return self.time_conv(x) if self.temporal else x


class WanResidualBlock(CausalResnet3d):
    """Wan's residual block: the book's causal residual recipe with :class:`ChannelRMSNorm` for both norms.

    Chapter 9, *A second causal design: Wan 2.1's encoder* (diffusers' ``WanResidualBlock``).
    ``out = shortcut(x) + conv2(dropout(SiLU(norm2(conv1(SiLU(norm1(x)))))))`` with 3x3x3 causal convs and a
    1x1x1 causal ``conv_shortcut`` when the width changes (the forward is
    :meth:`CausalResnet3d.forward`, unchanged). Shape: ``(B, in, T, H, W) -> (B, out, T, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, dropout: float = 0.0) -> None:
        super().__init__(in_channels, out_channels, dropout=dropout, num_groups=1, per_frame_norm=True)
        self.norm1 = ChannelRMSNorm(in_channels)
        self.norm2 = ChannelRMSNorm(out_channels)


class WanFrameAttention(nn.Module):
    """Single-head self-attention over the ``H*W`` pixels of each frame (diffusers' ``WanAttentionBlock``).

    Chapter 9, *A second causal design: Wan 2.1's encoder*. Per frame: ``n = ChannelRMSNorm(x)``, a fused
    1x1 ``to_qkv`` (``C -> 3C``, split into q, k, v), attention with scale ``1/sqrt(C)``, a 1x1 ``proj``
    and the residual. No token sees another frame, so it streams without a cache.
    Shape: ``(B, C, T, H, W) -> (B, C, T, H, W)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = check_int("channels", channels, min_value=1)
        self.norm = ChannelRMSNorm(channels)
        self.to_qkv = nn.Conv2d(channels, 3 * channels, kernel_size=1)
        self.proj = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        if t == 0:  # streaming: a chunk that completes no frame at this depth
            return x
        tokens = to_tokens(self.norm(_to_frames(x)))  # (B*T, H*W, C)
        q, k, v = F.linear(tokens, self.to_qkv.weight.flatten(1), self.to_qkv.bias).chunk(3, dim=-1)
        out = attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)).squeeze(1)
        out = F.linear(out, self.proj.weight.flatten(1), self.proj.bias)
        return x + _to_video(from_tokens(out, h, w), b, t)


class WanMidBlock(nn.Module):
    """The mid-block: residual block, per-frame attention, residual block (diffusers' ``WanMidBlock``).

    Chapter 9, *A second causal design: Wan 2.1's encoder*. Shape: ``(B, C, T, H, W) -> (B, C, T, H, W)``.
    """

    def __init__(self, channels: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.channels = check_int("channels", channels, min_value=1)
        self.resnets = nn.ModuleList([WanResidualBlock(channels, channels, dropout=dropout) for _ in range(2)])
        self.attentions = nn.ModuleList([WanFrameAttention(channels)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resnets[0](x)
        x = self.attentions[0](x)
        return self.resnets[1](x)


class WanDownBlock(nn.Module):
    """One level of Wan's encoder: ``num_res_blocks`` :class:`WanResidualBlock` (the first changes the width),
    then optionally a :class:`WanResample` (``downsampler``).

    Chapter 9, *A second causal design: Wan 2.1's encoder*. diffusers keeps these layers in one flat list;
    :mod:`encoderlab.video_weights` maps its indices to ours.
    Shape: ``(B, in, T, H, W) -> (B, out, T', H', W')``.
    """

    def __init__(self, in_channels: int, out_channels: int, num_res_blocks: int = 2, *, downsample: bool = False,
                 temporal: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        check_int("num_res_blocks", num_res_blocks, min_value=1)
        check_bool("downsample", downsample)
        self.resnets = nn.ModuleList([
            WanResidualBlock(in_channels if i == 0 else out_channels, out_channels, dropout=dropout)
            for i in range(num_res_blocks)
        ])
        self.downsampler = WanResample(out_channels, temporal=temporal) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        return x if self.downsampler is None else self.downsampler(x)


class WanEncoder(nn.Module):
    """Wan 2.1's video encoder with its ``quant_conv``: video -> moments of the diagonal Gaussian posterior.

    Chapter 9, *A second causal design: Wan 2.1's encoder*; equal to ``diffusers.AutoencoderKLWan``'s
    ``encode`` once the weights are transplanted (:func:`encoderlab.video_weights.load_wan_encoder`).

    Args:
        in_channels: channels of the video (3).
        base_dim: width of ``conv_in``; level ``i`` has width ``base_dim * dim_mult[i]`` (Wan 2.1: 96).
        dim_mult: width multipliers of the levels (Wan 2.1: ``(1, 2, 4, 4)``).
        num_res_blocks: residual blocks per level (2).
        z_channels: latent channels (16); ``conv_out`` and ``quant_conv`` give ``2 * z_channels`` moments.
        temporal_downsample: per resampling level (all but the last), whether it also halves time
            (Wan 2.1: ``(False, True, True)``, 4x in time).
        dropout: dropout inside the residual blocks (0.0).

    Shape: ``(B, 3, T, H, W) -> (B, 2 z, 1 + (T - 1) // 4, H // 8, W // 8)`` with the defaults; ``H, W >= 8``.
    Weights: PyTorch's default initialisation (diffusers' too); load trained ones to use it.
    """

    def __init__(self, in_channels: int = 3, base_dim: int = 96, dim_mult: Sequence[int] = (1, 2, 4, 4),
                 num_res_blocks: int = 2, *, z_channels: int = 16,
                 temporal_downsample: Sequence[bool] = (False, True, True), dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, min_value=1)
        self.base_dim = check_int("base_dim", base_dim, min_value=1)
        self.dim_mult = check_int_sequence("dim_mult", dim_mult, min_value=1, min_len=1, example="(1, 2, 4, 4)")
        self.num_res_blocks = check_int("num_res_blocks", num_res_blocks, min_value=1)
        self.z_channels = check_int("z_channels", z_channels, min_value=1)
        levels = len(self.dim_mult)
        if isinstance(temporal_downsample, (str, bytes)) or not isinstance(temporal_downsample, Sequence):
            raise TypeError(f"temporal_downsample must be a sequence of {levels - 1} bools such as "
                            f"(False, True, True), got {type(temporal_downsample).__name__} {temporal_downsample!r}")
        if len(temporal_downsample) != levels - 1:
            raise ValueError(f"temporal_downsample must have one entry per resampling level (len(dim_mult) - 1 = "
                             f"{levels - 1}), got {len(temporal_downsample)}: {temporal_downsample!r}")
        self.temporal_downsample = tuple(check_bool("entries of temporal_downsample", t) for t in temporal_downsample)
        check_float("dropout", dropout, min_value=0.0, max_value=1.0)
        widths = [base_dim * m for m in (1, *self.dim_mult)]

        self.conv_in = CausalConv3d(in_channels, widths[0], kernel_size=3)
        self.down_blocks = nn.ModuleList([
            WanDownBlock(widths[i], widths[i + 1], num_res_blocks, downsample=i < levels - 1,
                         temporal=i < levels - 1 and self.temporal_downsample[i], dropout=dropout)
            for i in range(levels)
        ])
        self.mid_block = WanMidBlock(widths[-1], dropout=dropout)
        self.norm_out = ChannelRMSNorm(widths[-1])
        self.conv_act = nn.SiLU()
        self.conv_out = CausalConv3d(widths[-1], 2 * z_channels, kernel_size=3)
        self.quant_conv = CausalConv3d(2 * z_channels, 2 * z_channels, kernel_size=1)

    @property
    def temporal_factor(self) -> int:
        """Temporal compression: 2 to the number of levels that halve time (Wan 2.1: 4)."""
        return 2 ** sum(self.temporal_downsample)

    @property
    def spatial_factor(self) -> int:
        """Spatial compression: 2 to the number of resampling levels (Wan 2.1: 8)."""
        return 2 ** (len(self.dim_mult) - 1)

    def output_frames(self, num_frames: int) -> int:
        """Latent frames for ``num_frames`` frames: ``ceil(T / 2)`` per time-halving level (Wan 2.1:
        ``1 + (T - 1) // 4``)."""
        return latent_frames(num_frames, sum(self.temporal_downsample))

    def _check_video(self, x: torch.Tensor) -> None:
        check_tensor("x", x, ndim=5, layout="(B, C, T, H, W)")
        check_channels("x", x, self.in_channels)
        check_dtype_matches("x", x, self)
        check_spatial_min("x", x, self.spatial_factor,
                          why=f"each of the {len(self.dim_mult) - 1} resampling levels needs at least 2 pixels")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The moments ``(B, 2 z, T', H', W')``: mean in the first ``z`` channels, log-variance in the last."""
        self._check_video(x)
        h = self.conv_in(x)
        for block in self.down_blocks:
            h = block(h)
        h = self.mid_block(h)
        h = self.conv_out(self.conv_act(self.norm_out(h)))
        return self.quant_conv(h)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """The posterior ``q(z | x)`` of a whole clip (or an image, ``T = 1``)."""
        return DiagonalGaussian(self(x))

    def encode_stream(self, video: torch.Tensor, chunk_sizes: Sequence[int]) -> torch.Tensor:
        """The moments of ``video`` computed chunk by chunk with the book's exact cache (eval mode, no grad).

        ``chunk_sizes``: any positive ints summing to ``T`` (``[1, 4, 4, 4]`` is diffusers' plan; ``[3, 5, 2,
        7]`` or ``[1] * T`` work as well). Equal to ``self(video)`` up to float rounding.
        """
        # the same three lines as CausalVideoEncoder.encode_stream (encoderlab.video), kept for this class's checks
        self._check_video(video)
        if self.training:
            raise RuntimeError("encode_stream needs eval mode: call model.eval() (the cache is for inference)")
        return encode_stream(self, video, chunk_sizes)
