"""Chapter 2: causal convolution in time, from 1-D to 3-D, and exact streaming with a cache.

A causal convolution pads ``dilation_t * (k_t - 1)`` frames in *front* of the clip and none after it, then
runs a valid (unpadded) convolution, so output frame ``t`` sees input frames ``<= t`` only. Spatial axes are
padded on both sides as usual, separately from time. The padding is an explicit ``F.pad`` in front of an
inner ``nn.Conv3d(..., padding=0)``, so ``print(CausalConv3d(3, 128, 3))`` shows exactly the seed-000
printout::

    CausalConv3d(
      (conv): Conv3d(3, 128, kernel_size=(3, 3, 3), stride=(1, 1, 1))
    )

Streaming: inside ``with streaming(model):`` every causal conv keeps a *tail*, the padded-input frames that
no output window has consumed yet, and puts it in front of the next chunk instead of the clip-start padding.
Because the concatenation of the padded chunks is exactly the padded clip, encoding chunk by chunk equals
encoding the whole clip for *any* chunk plan, also through strided layers (:func:`encode_stream`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import (
    check_channels,
    check_dtype_matches,
    check_int,
    check_int_sequence,
    check_int_tuple,
    check_one_of,
    check_spatial_min,
    check_tensor,
)

__all__ = [
    "PADDING_MODES",
    "CausalConv1d",
    "CausalConv3d",
    "StreamingModule",
    "causal_output_frames",
    "encode_stream",
    "reset_caches",
    "streaming",
    "temporal_receptive_field",
]

PADDING_MODES = ("zeros", "replicate")


def causal_output_frames(num_frames: int, stride: int = 1) -> int:
    """Frames out of a causal conv with temporal stride ``stride``: ``ceil(T / s) = (T - 1) // s + 1``.

    Chapter 2, *Temporal stride and the 1 + k 2^n rule*. The kernel size and dilation do not matter: the front
    padding always makes room for exactly one window starting at every ``s``-th frame. With ``s = 2`` a clip of
    ``1 + 2k`` frames gives ``1 + k`` frames, so ``n`` stride-2 stages map ``1 + k * 2**n`` frames to ``1 + k``
    and frame 0 stays a frame of its own.
    """
    check_int("num_frames", num_frames, min_value=1)
    check_int("stride", stride, min_value=1)
    return (num_frames - 1) // stride + 1


def temporal_receptive_field(kernel_sizes: Sequence[int], strides: Sequence[int] | None = None,
                             dilations: Sequence[int] | None = None) -> int:
    """Number of input frames one output frame of a stack of causal convs can see (including its own).

    Chapter 2, *The receptive field of a stack*.
    ``1 + sum_i d_i (k_i - 1) * prod_{j < i} s_j``; output frame ``j`` of the stack sees input frames
    ``max(0, j * prod(s) - R + 1) .. j * prod(s)``.
    """
    kernel_sizes = check_int_sequence("kernel_sizes", kernel_sizes, min_value=1, example="[3, 3, 3]")
    n = len(kernel_sizes)
    strides = (1,) * n if strides is None else check_int_sequence("strides", strides, min_value=1,
                                                                  example="[1, 2, 1]")
    dilations = (1,) * n if dilations is None else check_int_sequence("dilations", dilations, min_value=1,
                                                                      example="[1, 1, 2]")
    if len(strides) != n or len(dilations) != n:
        raise ValueError(f"kernel_sizes, strides and dilations must have the same length, got {n}, "
                         f"{len(strides)} and {len(dilations)}")
    field, jump = 1, 1
    for k, s, d in zip(kernel_sizes, strides, dilations, strict=True):
        field += d * (k - 1) * jump
        jump *= s
    return field


class StreamingModule(nn.Module):
    """Base class of the layers that carry state between chunks of one clip (the causal convs).

    Chapter 2, *Streaming: encoding a long clip chunk by chunk*.
    :func:`streaming` switches ``self.streaming`` on for every such layer inside a model and calls
    :meth:`reset_cache` on entry and exit. A subclass keeps whatever it needs in ``self._tail``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.streaming = False
        self._tail: torch.Tensor | None = None
        self._skip = 0

    def reset_cache(self) -> None:
        """Forget the previous chunks: the next input starts a new clip."""
        self._tail = None
        self._skip = 0

    @property
    def cached_frames(self) -> int:
        """How many padded-input frames the cache holds now (0 when empty)."""
        return 0 if self._tail is None else int(self._tail.shape[2])


class _CausalConvNd(StreamingModule):
    """Causal in dim 2 (time), 'same'-style zero padding in the spatial dims that follow."""

    _spatial_dims = 0
    _layout = ""
    _conv_cls: type[nn.Module] = nn.Conv1d

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, dilation=1,
                 padding_mode: str = "zeros") -> None:
        super().__init__()
        nd = 1 + self._spatial_dims
        self.in_channels = check_int("in_channels", in_channels, min_value=1)
        self.out_channels = check_int("out_channels", out_channels, min_value=1)
        self.kernel_size = kernel = check_int_tuple("kernel_size", kernel_size, nd, min_value=1)
        self.stride = check_int_tuple("stride", stride, nd, min_value=1)
        self.dilation = dilations = check_int_tuple("dilation", dilation, nd, min_value=1)
        self.padding_mode = check_one_of("padding_mode", padding_mode, PADDING_MODES)
        # time: everything in front; space: dilation * (k // 2) on both sides (k // 2 as in the seed)
        self.time_pad = dilations[0] * (kernel[0] - 1)
        self.space_pad = tuple(d * (k // 2) for k, d in zip(kernel[1:], dilations[1:], strict=True))
        self.conv = self._conv_cls(in_channels, out_channels, kernel_size=kernel, stride=self.stride,
                                   dilation=dilations, padding=0)

    # -- the parts a reader can inspect --------------------------------------------------------------------
    @property
    def time_span(self) -> int:
        """Frames covered by one (dilated) kernel window: ``dilation_t * (k_t - 1) + 1``."""
        return self.time_pad + 1

    def output_frames(self, padded_frames: int) -> int:
        """Output windows that fit in ``padded_frames`` padded-input frames (0 if not even one)."""
        check_int("padded_frames", padded_frames, min_value=0)
        if padded_frames < self.time_span:
            return 0
        return (padded_frames - self.time_span) // self.stride[0] + 1

    def next_window_start(self, padded_frames: int, n_out: int) -> int:
        """Index (in the padded frames seen so far) where the next, not yet computed, output window starts.

        Chapter 2, *Streaming: encoding a long clip chunk by chunk* (and its exercise).
        After ``n_out`` windows that is ``n_out * stride_t``: every frame from there on is kept in the cache,
        everything before it is never needed again. This is the rule that makes streaming exact for any chunk
        plan; a fixed "keep the last k_t - 1 frames" is only right when ``stride_t == 1``. When the stride is
        longer than the kernel span the next window can start *after* the frames seen so far; the frames in
        between are skipped when they arrive.
        """
        check_int("padded_frames", padded_frames, min_value=0)
        check_int("n_out", n_out, min_value=0)
        return n_out * self.stride[0]

    # -- forward ---------------------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        check_tensor("x", x, ndim=3 + self._spatial_dims, layout=self._layout)
        check_channels("x", x, self.in_channels)
        if self._spatial_dims:
            check_spatial_min("x", x, 1, dims=self._spatial_dims, why="an empty frame has nothing to convolve")
        check_dtype_matches("x", x, self)
        if self.streaming:
            if self.training:
                raise RuntimeError("streaming needs eval mode: call model.eval() (the cache is for inference)")
            if torch.is_grad_enabled():
                raise RuntimeError("streaming needs gradients off: run it under torch.no_grad() "
                                   "(the cache is for inference)")
        elif x.shape[2] == 0:
            raise ValueError(f"x has 0 frames (shape {tuple(x.shape)}); outside streaming a clip needs >= 1 frame")

    def _front(self, x: torch.Tensor) -> torch.Tensor:
        """The clip-start padding: ``time_pad`` zero frames, or copies of the first frame."""
        shape = (x.shape[0], x.shape[1], self.time_pad, *x.shape[3:])
        if self.padding_mode == "replicate":
            return x[:, :, :1].expand(shape)
        return x.new_zeros(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, T, *S) -> (B, C_out, ceil(T / s_t), *S')``; in streaming mode, the frames this chunk
        completes (possibly 0)."""
        self._check_input(x)
        if self.space_pad and any(self.space_pad):
            pad: list[int] = []
            for p in reversed(self.space_pad):  # F.pad lists the last dim first
                pad += [p, p]
            x = F.pad(x, (*pad, 0, 0), mode="constant", value=0.0)
        if self.streaming and self._tail is not None:
            if x.shape[0] != self._tail.shape[0] or x.shape[3:] != self._tail.shape[3:]:
                raise ValueError(f"this chunk (padded shape {tuple(x.shape)}) does not continue the clip in the "
                                 f"cache (padded shape {tuple(self._tail.shape)}): batch and spatial sizes must "
                                 "match; call reset_cache() to start a new clip")
            x = torch.cat([self._tail, x], dim=2)
            if self._skip:  # frames that fall between two windows of a stride longer than the kernel span
                drop = min(self._skip, x.shape[2])
                x, self._skip = x[:, :, drop:], self._skip - drop
        elif x.shape[2] == 0:  # streaming, clip not started, empty chunk: nothing to do yet
            return self._empty_output(x)
        elif self.time_pad:
            x = torch.cat([self._front(x), x], dim=2)
        n_out = self.output_frames(x.shape[2])
        if self.streaming:
            start = self.next_window_start(x.shape[2], n_out)
            # A copy, not a view: a view of the last frames would keep the whole padded chunk alive until the next
            # chunk arrives, and streaming memory would grow with the chunk size instead of the kernel's span.
            self._tail = x[:, :, start:].detach().clone()
            self._skip += max(0, start - x.shape[2])  # (a leftover skip only remains when x ran out)
        if n_out == 0:
            return self._empty_output(x)
        return self.conv(x)

    def _empty_output(self, padded: torch.Tensor) -> torch.Tensor:
        space = [
            (size - d * (k - 1) - 1) // s + 1
            for size, k, s, d in zip(padded.shape[3:], self.kernel_size[1:], self.stride[1:], self.dilation[1:],
                                     strict=True)
        ]
        return padded.new_zeros((padded.shape[0], self.out_channels, 0, *space))


class CausalConv1d(_CausalConvNd):
    """Causal 1-D convolution over a sequence ``(B, C, T)``: ``dilation * (k - 1)`` frames of padding in front.

    Chapter 2, *1-D: all the padding goes in front*. The teaching version (WaveNet's causal convolution):
    output ``t`` depends on inputs ``<= t`` only. ``padding_mode`` is ``"zeros"`` or ``"replicate"`` (copies of
    the first frame). Shape: ``(B, C_in, T) -> (B, C_out, ceil(T / stride))``.
    """

    _spatial_dims = 0
    _layout = "(B, C, T)"
    _conv_cls = nn.Conv1d


class CausalConv3d(_CausalConvNd):
    """Causal 3-D convolution over a video ``(B, C, T, H, W)`` (the seed-000 ``CausalConv3d``).

    Chapter 2, *3-D: the seed's CausalConv3d* and *Padding modes: zeros or the first frame*.

    Args:
        in_channels, out_channels: channels of input and output.
        kernel_size, stride, dilation: an int or a tuple ``(t, h, w)``.
        padding_mode: temporal clip-start padding, ``"zeros"`` (the seed, Pyramid Flow, Wan) or
            ``"replicate"`` (copies of the first frame, as CogVideoX/LTX). The spatial borders are always
            zero-padded, never replicated.

    Padding: ``dilation_t * (k_t - 1)`` frames in front, none after; ``dilation * (k // 2)`` on both sides of
    H and W. Then ``self.conv``, an ``nn.Conv3d`` with ``padding=0``.
    Shape: ``(B, C_in, T, H, W) -> (B, C_out, ceil(T / s_t), H', W')`` with ``H' = H`` for odd kernels and
    stride 1. In streaming mode (see :func:`streaming`) a chunk may produce 0 frames.
    """

    _spatial_dims = 2
    _layout = "(B, C, T, H, W)"
    _conv_cls = nn.Conv3d


def _streaming_layers(module: nn.Module) -> list[StreamingModule]:
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    return [m for m in module.modules() if isinstance(m, StreamingModule)]


def reset_caches(module: nn.Module) -> None:
    """Empty the cache of every causal conv inside ``module`` (start a new clip).

    Chapter 2, *Using the cache safely*.
    """
    for layer in _streaming_layers(module):
        layer.reset_cache()


@contextlib.contextmanager
def streaming(module: nn.Module) -> Iterator[nn.Module]:
    """Turn streaming on for every causal conv inside ``module``; caches are reset on entry and on exit.

    Chapter 2, *Streaming: encoding a long clip chunk by chunk* and *Using the cache safely*.
    Inside the block, calling ``module(chunk)`` on consecutive chunks of one clip returns the output frames
    that each chunk completes. Refuses (``RuntimeError``) when ``module`` is in training mode or gradients
    are enabled: the cache is for inference; and (``TypeError``) a module without causal convs. Use :func:`reset_caches` between two clips.
    """
    layers = _streaming_layers(module)
    if not layers:
        raise TypeError(f"module ({type(module).__name__}) has no streaming layers (CausalConv1d, CausalConv3d, "
                        "...): chunk by chunk it would treat every chunk as a clip of its own")
    training = [name for name, m in module.named_modules() if m.training]
    if training:
        where = training[0] or type(module).__name__
        raise RuntimeError(f"streaming needs eval mode, but {where!r} is in training mode: call module.eval()")
    if torch.is_grad_enabled():
        raise RuntimeError("streaming needs gradients off: use `with torch.no_grad(), streaming(model):`")
    if any(layer.streaming for layer in layers):
        raise RuntimeError("streaming(...) is already active for this module")
    try:
        for layer in layers:
            layer.reset_cache()
            layer.streaming = True
        yield module
    finally:
        for layer in layers:
            layer.streaming = False
            layer.reset_cache()


def encode_stream(module: nn.Module, video: torch.Tensor, chunk_sizes: Sequence[int]) -> torch.Tensor:
    """Run ``module`` over ``video`` chunk by chunk with the streaming caches; concatenate along time.

    Chapter 2, *Streaming: encoding a long clip chunk by chunk*.
    ``video``: ``(B, C, T, H, W)`` (or ``(B, C, T)`` for 1-D models); ``chunk_sizes``: positive ints that sum
    to ``T``, e.g. ``[3, 5, 2, 7, 8]`` or ``[1] * T``. ``module`` must contain causal convs (a
    :class:`StreamingModule`), have the dtype of ``video`` and be in eval mode; it runs under
    ``torch.no_grad()``. The caches are reset before and after, so clips never leak into each other. For a
    causal model this equals ``module(video)`` (same frames, same values up to float rounding).
    """
    check_tensor("video", video, ndim=(3, 5), layout="(B, C, T, H, W)")
    plan = check_int_sequence("chunk_sizes", chunk_sizes, min_value=1, min_len=1, example="[1, 8, 8]")
    if sum(plan) != video.shape[2]:
        raise ValueError(f"chunk_sizes must sum to the number of frames {video.shape[2]}, got sum {sum(plan)} "
                         f"for {chunk_sizes!r}")
    outputs = []
    with torch.no_grad(), streaming(module):
        check_dtype_matches("video", video, module)
        start = 0
        for size in plan:
            outputs.append(module(video[:, :, start:start + size]))
            start += size
    return torch.cat(outputs, dim=2)
