"""Chapter 9: the seed-000 causal video encoder, why its GroupNorm breaks causality, the fix, the completed
encoder and exact streaming of long clips.

Three models, each a stage of the next:

* :class:`CausalEncoder3D` with its defaults *is* the seed-000 printout: ``conv_in`` and four
  :class:`CausalDownEncoder3d` blocks of two :class:`~encoderlab.resnet.CausalResnet3d` each, widths
  (128, 256, 512, 512), ``GroupNorm(2, C)``. It keeps the shape, ``(B, 3, T, H, W) -> (B, 512, T, H, W)``, and
  has 61,238,016 parameters. Its clip-wide GroupNorm lets future frames change past outputs.
* ``CausalEncoder3D(per_frame_norm=True)`` is the fix: every GroupNorm takes its statistics per frame, so the
  model is causal and can be streamed exactly.
* :class:`CausalVideoEncoder` completes it as in Pyramid Flow's ``CausalVaeEncoder``: strided causal
  downsampling (space ``(1, 2, 2)`` then time ``(2, 1, 1)``) in the first three blocks, a mid-block with
  attention over the pixels of each frame, GroupNorm -> SiLU -> causal conv to ``2 z`` channels, a 1x1x1
  ``quant_conv`` and the diagonal Gaussian posterior. ``z = 16``, 8x compression in time and space: a clip of
  ``T`` frames gives ``1 + (T - 1) // 8`` latent frames; an image is the clip ``T = 1``.

Streaming (:meth:`CausalVideoEncoder.encode_stream`) runs a long clip chunk by chunk through the per-conv caches
of :mod:`encoderlab.causal` and equals whole-clip encoding for any chunk plan. The chapter's tools for looking
inside (changed frames, stage shapes, a fixed-size cache, memory against clip length) are in
:mod:`encoderlab.video_measure`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._validation import (
    check_bool,
    check_channels,
    check_divisible,
    check_dtype_matches,
    check_int,
    check_int_sequence,
    check_spatial_min,
    check_tensor,
)
from .attention import AttnBlock
from .causal import CausalConv3d, causal_output_frames, encode_stream, temporal_receptive_field
from .distributions import DiagonalGaussian
from .norm import GroupNorm, PerFrameGroupNorm
from .resnet import CausalResnet3d

__all__ = [
    "SEED_BLOCK_OUT_CHANNELS",
    "CausalDownEncoder3d",
    "CausalEncoder3D",
    "CausalMidBlock3d",
    "CausalVideoEncoder",
    "FrameAttention",
    "latent_frames",
]

SEED_BLOCK_OUT_CHANNELS = (128, 256, 512, 512)


def latent_frames(num_frames: int, temporal_downsamples: int = 3) -> int:
    """Latent frames of a clip of ``num_frames`` frames after ``temporal_downsamples`` causal stride-2 stages.

    Chapter 9, *The 1 + 8k frame rule*. Each stage maps ``T`` to ``ceil(T / 2)``, so three stages give
    ``1 + (T - 1) // 8 = ceil(T / 8)``: the first frame gets a latent frame of its own and every further 8
    frames one more (17 -> 3, 49 -> 7, 121 -> 16).
    """
    check_int("num_frames", num_frames, min_value=1)
    check_int("temporal_downsamples", temporal_downsamples, min_value=0)
    for _ in range(temporal_downsamples):
        if num_frames == 1:  # one frame stays one frame (and a huge count of stages ends at once)
            break
        num_frames = causal_output_frames(num_frames, 2)
    return num_frames


def _check_clip(x: torch.Tensor, module: nn.Module, channels: int, name: str = "x") -> None:
    """The input check of every video module here: a real float ``(B, channels, T, H, W)`` tensor with frames of
    at least 1x1 pixels, in the dtype of ``module``'s parameters (outside autocast)."""
    check_tensor(name, x, ndim=5, layout="(B, C, T, H, W)")
    check_channels(name, x, channels)
    check_spatial_min(name, x, 1, why="an empty frame has nothing to encode")
    check_dtype_matches(name, x, module)


def _per_block(name: str, value, n: int, kind: type) -> tuple:
    """Expand a scalar to ``n`` entries, or check a sequence of ``n`` entries: ints >= 1 or bools (``kind``)."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return ((check_int(name, value, min_value=1) if kind is int else value),) * n
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(f"{name} must have one entry per block ({n}), got {len(value)}: {value!r}")
        if kind is int:
            return check_int_sequence(name, value, min_value=1)
        return tuple(check_bool(f"entries of {name}", item) for item in value)
    raise TypeError(f"{name} must be {'an int' if kind is int else 'a bool'} or a sequence of {n} of them, got "
                    f"{type(value).__name__} {value!r}")


class CausalDownEncoder3d(nn.Module):
    """One down block of the causal video encoder (Pyramid Flow's ``DownEncoderBlockCausal3D``).

    Chapter 9, *The seed: a printed model* (resnets only) and *Completing the encoder* (the downsamplers).
    ``num_layers`` chained :class:`CausalResnet3d` (the first maps ``in_channels`` to ``out_channels``), then
    optionally a spatial downsampler ``CausalConv3d(C, C, 3, stride=(1, 2, 2))`` and a temporal downsampler
    ``CausalConv3d(C, C, 3, stride=(2, 1, 1))``. With both off (the seed printout) only ``resnets`` exists.

    Shape: ``(B, in, T, H, W) -> (B, out, T', H', W')`` with ``T' = ceil(T / 2)`` when temporal downsampling is on
    and ``H' = ceil(H / 2)``, ``W' = ceil(W / 2)`` when spatial downsampling is on.
    """

    def __init__(self, in_channels: int, out_channels: int, num_layers: int = 2, *, num_groups: int = 2,
                 eps: float = 1e-6, dropout: float = 0.0, per_frame_norm: bool = False,
                 spatial_downsample: bool = False, temporal_downsample: bool = False,
                 padding_mode: str = "zeros") -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("num_layers", num_layers)):
            check_int(name, value, min_value=1)
        check_bool("spatial_downsample", spatial_downsample)
        check_bool("temporal_downsample", temporal_downsample)
        # num_groups, eps, dropout, per_frame_norm and padding_mode are checked, with these names, by the first
        # CausalResnet3d below (and its norms and convs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resnets = nn.ModuleList([
            CausalResnet3d(in_channels if i == 0 else out_channels, out_channels, dropout=dropout,
                           num_groups=num_groups, eps=eps, per_frame_norm=per_frame_norm,
                           padding_mode=padding_mode)
            for i in range(num_layers)
        ])
        if spatial_downsample:
            self.spatial_downsampler = CausalConv3d(out_channels, out_channels, kernel_size=(3, 3, 3),
                                                    stride=(1, 2, 2), padding_mode=padding_mode)
        if temporal_downsample:
            self.temporal_downsampler = CausalConv3d(out_channels, out_channels, kernel_size=(3, 3, 3),
                                                     stride=(2, 1, 1), padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in, T, H, W) -> (B, out, T', H', W')``."""
        _check_clip(x, self, self.in_channels)
        for resnet in self.resnets:  # chained: each resnet takes the previous one's output
            x = resnet(x)
        if hasattr(self, "spatial_downsampler"):
            x = self.spatial_downsampler(x)
        if hasattr(self, "temporal_downsampler"):
            x = self.temporal_downsampler(x)
        return x


class CausalEncoder3D(nn.Module):
    """The seed-000 ``CausalEncoder3D``: ``conv_in`` then one :class:`CausalDownEncoder3d` per entry of
    ``block_out_channels``.

    Chapter 9, *The seed: a printed model* (the defaults) and *The fix: per-frame GroupNorm*
    (``per_frame_norm=True``).

    Args:
        in_channels: channels of the video (3).
        block_out_channels: output width of each block (the seed: ``(128, 256, 512, 512)``).
        num_layers: resnets per block, an int or one per block (the seed: 2).
        num_groups, eps: GroupNorm settings (the seed: 2 groups, eps 1e-6).
        dropout: dropout in the resnets (the seed: 0.0).
        per_frame_norm: ``False`` reproduces the seed, whose ``GroupNorm`` pools its statistics over all frames of
            the clip and so makes the encoder *non-causal*; ``True`` is the fix (:class:`PerFrameGroupNorm`).
        spatial_downsample, temporal_downsample: per block (or one bool for all); off in the seed printout.
        padding_mode: temporal padding of every causal conv, ``"zeros"`` (the seed) or ``"replicate"``.
        init_weights: the seed's (and Pyramid Flow's) initialisation: trunc-normal std 0.02 conv weights, zero
            biases; GroupNorm scale 1 and shift 0.

    With the defaults, ``print(model)`` is the seed's module tree and ``(B, 3, T, H, W) -> (B, 512, T, H, W)``.
    """

    def __init__(self, in_channels: int = 3, block_out_channels: Sequence[int] = SEED_BLOCK_OUT_CHANNELS,
                 num_layers: int | Sequence[int] = 2, *, num_groups: int = 2, eps: float = 1e-6,
                 dropout: float = 0.0, per_frame_norm: bool = False,
                 spatial_downsample: bool | Sequence[bool] = False,
                 temporal_downsample: bool | Sequence[bool] = False, padding_mode: str = "zeros",
                 init_weights: bool = True) -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        widths = check_int_sequence("block_out_channels", block_out_channels, min_value=1, min_len=1,
                                    example="(128, 256, 512, 512)")
        n = len(widths)
        layers = _per_block("num_layers", num_layers, n, int)
        spatial = _per_block("spatial_downsample", spatial_downsample, n, bool)
        temporal = _per_block("temporal_downsample", temporal_downsample, n, bool)
        check_int("num_groups", num_groups, min_value=1)
        for i, width in enumerate(widths):
            check_divisible(f"block_out_channels[{i}]", width, "num_groups", num_groups)
        check_bool("per_frame_norm", per_frame_norm)
        check_bool("init_weights", init_weights)
        # eps, dropout and padding_mode are checked, with these names, by the blocks built below
        self.in_channels = in_channels
        self.block_out_channels = widths
        self.out_channels = widths[-1]
        self.per_frame_norm = per_frame_norm
        self.spatial_downsample = spatial
        self.temporal_downsample = temporal

        self.conv_in = CausalConv3d(in_channels, widths[0], kernel_size=(3, 3, 3), padding_mode=padding_mode)
        self.down_blocks = nn.ModuleList([
            CausalDownEncoder3d(widths[max(i - 1, 0)], widths[i], layers[i], num_groups=num_groups, eps=eps,
                                dropout=dropout, per_frame_norm=per_frame_norm, spatial_downsample=spatial[i],
                                temporal_downsample=temporal[i], padding_mode=padding_mode)
            for i in range(n)
        ])
        if init_weights:
            self.apply(_init_weights)

    @property
    def temporal_factor(self) -> int:
        """Temporal compression: 2 to the number of blocks with temporal downsampling."""
        return 2 ** sum(self.temporal_downsample)

    @property
    def spatial_factor(self) -> int:
        """Spatial compression: 2 to the number of blocks with spatial downsampling."""
        return 2 ** sum(self.spatial_downsample)

    def output_frames(self, num_frames: int) -> int:
        """Frames out for ``num_frames`` frames in: ``ceil(T / 2)`` per temporal downsampler."""
        return latent_frames(num_frames, sum(self.temporal_downsample))

    def causal_convs(self) -> list[CausalConv3d]:
        """Every causal conv in the order the data goes through them (shortcuts, whose kernel is 1, skipped)."""
        return [m for m in self.modules() if isinstance(m, CausalConv3d) and m.kernel_size[0] > 1]

    def temporal_receptive_field(self) -> int:
        """How many input frames one output frame can depend on: the last output frame ``j`` of a clip sees
        input frames ``max(0, j * f - R + 1) .. j * f`` with ``f`` = :attr:`temporal_factor` and ``R`` this."""
        convs = self.causal_convs()
        return temporal_receptive_field([c.kernel_size[0] for c in convs], [c.stride[0] for c in convs],
                                        [c.dilation[0] for c in convs])

    def _check_video(self, x: torch.Tensor, name: str = "x") -> None:
        _check_clip(x, self, self.in_channels, name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in, T, H, W) -> (B, block_out_channels[-1], T', H', W')`` (no downsampling: the same T, H, W)."""
        self._check_video(x)
        h = self.conv_in(x)
        for block in self.down_blocks:
            h = block(h)
        return h


class FrameAttention(nn.Module):
    """Self-attention over the ``H*W`` pixels of each frame separately (never across frames).

    Chapter 9, *Completing the encoder* (the attention of the mid-block).

    Folds time into the batch, ``(B, C, T, H, W) -> (B*T, C, H, W)``, and applies LDM's single-head
    :class:`~encoderlab.attention.AttnBlock` (GroupNorm, 1x1 ``q, k, v, proj_out``, residual): its GroupNorm then
    also works per frame. Causal and streamable because no token sees another frame.
    Shape: ``(B, C, T, H, W) -> (B, C, T, H, W)``.
    """

    def __init__(self, channels: int, *, num_groups: int = 32, eps: float = 1e-6) -> None:
        super().__init__()
        check_int("channels", channels, min_value=1)
        self.channels = channels
        self.attention = AttnBlock(channels, num_groups=num_groups, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_clip(x, self, self.channels)
        b, c, t, h, w = x.shape
        if t == 0:  # streaming: a chunk that completes no frame at this depth
            return x
        frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        out = self.attention(frames)
        return out.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)


class CausalMidBlock3d(nn.Module):
    """The mid-block: resnet, per-frame spatial attention, resnet (Pyramid Flow's ``CausalUNetMidBlock2D``).

    Chapter 9, *Completing the encoder*.

    Layers: ``resnets[0]``, ``attentions[0]`` (:class:`FrameAttention`), ``resnets[1]``.
    Shape: ``(B, C, T, H, W) -> (B, C, T, H, W)``.
    """

    def __init__(self, channels: int, *, num_groups: int = 32, eps: float = 1e-6, dropout: float = 0.0,
                 per_frame_norm: bool = True, attention: bool = True, padding_mode: str = "zeros") -> None:
        super().__init__()
        check_int("channels", channels, min_value=1)
        check_bool("attention", attention)
        self.channels = channels
        kwargs = {"dropout": dropout, "num_groups": num_groups, "eps": eps, "per_frame_norm": per_frame_norm,
                  "padding_mode": padding_mode}
        self.resnets = nn.ModuleList([CausalResnet3d(channels, channels, **kwargs) for _ in range(2)])
        self.attentions = nn.ModuleList(
            [FrameAttention(channels, num_groups=num_groups, eps=eps) if attention else nn.Identity()]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, H, W) -> (B, C, T, H, W)``."""
        _check_clip(x, self, self.channels)
        x = self.resnets[0](x)
        x = self.attentions[0](x)
        return self.resnets[1](x)


class CausalVideoEncoder(CausalEncoder3D):
    """The completed causal video encoder (the layout of Pyramid Flow's ``CausalVaeEncoder`` + ``quant_conv``).

    Chapter 9, *Completing the encoder*; *Streaming a long clip* (:meth:`encode_stream`).

    ``conv_in`` -> ``down_blocks`` (resnets, then spatial then temporal strided causal downsampling, in all but
    the last block) -> ``mid_block`` (resnet, per-frame attention, resnet) -> ``conv_norm_out`` -> ``conv_act``
    (SiLU) -> ``conv_out`` (3x3x3 causal, to ``2 * z_channels``) -> ``quant_conv`` (1x1x1 causal) -> moments,
    split into the mean and log-variance of a :class:`~encoderlab.distributions.DiagonalGaussian`.

    Args:
        in_channels: channels of the video (3).
        block_out_channels: widths of the blocks (Pyramid Flow: ``(128, 256, 512, 512)``; tiny ones for tests).
        num_layers: resnets per block (2).
        z_channels: latent channels (16).
        num_groups, eps: GroupNorm settings (Pyramid Flow: 32 groups, eps 1e-6).
        per_frame_norm: per-frame GroupNorm everywhere (the default, causal); ``False`` puts back the seed's
            clip-wide GroupNorm in the resnets and the output head, for the negative controls.
        mid_attention: include the per-frame attention of the mid-block.
        spatial_downsample, temporal_downsample: per block; default: every block but the last.
        padding_mode: temporal padding, ``"zeros"`` or ``"replicate"`` (copies of the first frame).
        init_weights: Pyramid Flow's initialisation (trunc-normal std 0.02 weights, zero biases).

    Shape: ``(B, 3, T, H, W) -> moments (B, 2 z, 1 + (T - 1) // 8, ceil(H / 8), ceil(W / 8))`` with the default
    three downsampling blocks. With the Pyramid Flow widths it has 109,633,088 parameters.
    """

    def __init__(self, in_channels: int = 3, block_out_channels: Sequence[int] = SEED_BLOCK_OUT_CHANNELS,
                 num_layers: int | Sequence[int] = 2, *, z_channels: int = 16, num_groups: int = 32,
                 eps: float = 1e-6, dropout: float = 0.0, per_frame_norm: bool = True, mid_attention: bool = True,
                 spatial_downsample: bool | Sequence[bool] | None = None,
                 temporal_downsample: bool | Sequence[bool] | None = None, padding_mode: str = "zeros",
                 init_weights: bool = True) -> None:
        if isinstance(block_out_channels, Sequence) and not isinstance(block_out_channels, (str, bytes)):
            default = tuple(i < len(block_out_channels) - 1 for i in range(len(block_out_channels)))
        else:
            default = False  # the parent class reports the bad block_out_channels
        super().__init__(in_channels, block_out_channels, num_layers, num_groups=num_groups, eps=eps,
                         dropout=dropout, per_frame_norm=per_frame_norm,
                         spatial_downsample=default if spatial_downsample is None else spatial_downsample,
                         temporal_downsample=default if temporal_downsample is None else temporal_downsample,
                         padding_mode=padding_mode, init_weights=False)
        check_int("z_channels", z_channels, min_value=1)
        check_bool("mid_attention", mid_attention)
        check_bool("init_weights", init_weights)
        self.z_channels = z_channels
        width = self.out_channels
        self.mid_block = CausalMidBlock3d(width, num_groups=num_groups, eps=eps, dropout=dropout,
                                          per_frame_norm=per_frame_norm, attention=mid_attention,
                                          padding_mode=padding_mode)
        norm = PerFrameGroupNorm if per_frame_norm else GroupNorm
        self.conv_norm_out = norm(num_groups, width, eps=eps)
        self.conv_act = nn.SiLU()
        self.conv_out = CausalConv3d(width, 2 * z_channels, kernel_size=(3, 3, 3), padding_mode=padding_mode)
        self.quant_conv = CausalConv3d(2 * z_channels, 2 * z_channels, kernel_size=(1, 1, 1),
                                       padding_mode=padding_mode)
        if init_weights:
            self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The moments ``(B, 2 z, T', H', W')``: mean in the first ``z`` channels, log-variance in the last."""
        h = super().forward(x)
        h = self.mid_block(h)
        h = self.conv_out(self.conv_act(self.conv_norm_out(h)))
        return self.quant_conv(h)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """The posterior ``q(z | x)`` of a whole clip (or an image, ``T = 1``)."""
        return DiagonalGaussian(self(x))

    def encode_stream(self, video: torch.Tensor, chunk_sizes: Sequence[int]) -> torch.Tensor:
        """The moments of ``video``, computed chunk by chunk with the causal-conv caches (eval mode, no grad).

        ``chunk_sizes``: positive ints summing to ``T``, any plan (e.g. ``[1, 8, 8]``, ``[3, 5, 2, 7]``,
        ``[1] * T``). Equal to ``self(video)`` up to float rounding when ``per_frame_norm`` is on; memory is set
        by the chunk size, not by ``T``. The caches are reset before and after, so clips never mix.
        """
        self._check_video(video, "video")
        if self.training:
            raise RuntimeError("encode_stream needs eval mode: call model.eval() (the cache is for inference)")
        return encode_stream(self, video, chunk_sizes)


def _init_weights(module: nn.Module) -> None:
    """Pyramid Flow's ``_init_weights``: trunc-normal(0.02) for conv and linear weights, zero biases."""
    if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
