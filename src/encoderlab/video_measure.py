"""Chapter 9's tools for looking inside the causal video encoder: which frames changed, the shape after each
stage, a fixed-size cache as the negative control of streaming, chunk plans, and memory against clip length.

The model itself is in :mod:`encoderlab.video`; the peak-memory probe these tools use is
:func:`encoderlab.cost.peak_memory` (``method="allocator"``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn

from ._validation import check_bool, check_device, check_int, check_int_sequence, check_tensor
from .causal import CausalConv3d
from .cost import one_conv_algorithm, peak_memory, time_call
from .video import CausalEncoder3D, CausalVideoEncoder

__all__ = ["fixed_tail_cache", "memory_vs_length", "per_frame_change", "stage_shapes", "streaming_plan"]


def per_frame_change(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``max |a - b|`` per frame: two videos ``(B, C, T, H, W)`` of the same shape, dtype and device (and at least
    one value in a frame) -> a vector ``(T,)``.

    Chapter 9, *The future leaks into the past* and *The fix: per-frame GroupNorm*: which output frames a
    change of the input moved.
    """
    check_tensor("a", a, ndim=5, layout="(B, C, T, H, W)")
    check_tensor("b", b, ndim=5, layout="(B, C, T, H, W)")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if (a.dtype, a.device) != (b.dtype, b.device):
        raise TypeError(f"a and b must have the same dtype and device, got {a.dtype} on {a.device} and {b.dtype} "
                        f"on {b.device}")
    if 0 in (a.shape[0], a.shape[1], a.shape[3], a.shape[4]):
        raise ValueError(f"a and b have no values in a frame (shape {tuple(a.shape)}): B, C, H and W must be >= 1")
    return (a - b).abs().amax(dim=(0, 1, 3, 4))


def stage_shapes(model: CausalEncoder3D, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Run ``model`` on ``x`` (no grad) and return ``(stage name, output shape)`` for every top-level stage:
    ``conv_in``, each down block (and its downsamplers), ``mid_block``, ``conv_out``, ``quant_conv``.

    Chapter 9, *Completing the encoder*: ``x`` is ``(B, C, T, H, W)``; each shape is that stage's output.
    """
    if not isinstance(model, CausalEncoder3D):
        raise TypeError(f"model must be a CausalEncoder3D, got {type(model).__name__}")
    model._check_video(x)
    names = ["conv_in"]
    for i, block in enumerate(model.down_blocks):
        names.append(f"down_blocks.{i}.resnets")
        names += [f"down_blocks.{i}.{n}" for n in ("spatial_downsampler", "temporal_downsampler") if hasattr(block, n)]
    names += [n for n in ("mid_block", "conv_out", "quant_conv") if hasattr(model, n)]
    modules = dict(model.named_modules())
    shapes: list[tuple[str, tuple[int, ...]]] = []
    hooks = []
    for name in names:
        target = modules[name][-1] if name.endswith(".resnets") else modules[name]
        hooks.append(target.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.append((name, tuple(out.shape)))))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


class fixed_tail_cache:  # noqa: N801 (a context manager, named like one)
    """Context manager: replace the exact streaming cache by a *fixed-size* one, as in Pyramid Flow and Wan.

    Chapter 9, *Streaming a long clip* (the negative control; Chapter 2, *Negative controls: fixed-size
    caches*, builds the same rule by subclassing). Inside the ``with`` block every causal conv of ``model``
    with a temporal kernel longer than 1 keeps the last ``keep`` padded frames of each chunk (default
    ``k_t - s_t``: 2 at stride 1, 1 at stride 2, Pyramid Flow's rule) instead of "every frame an output window
    still needs". It is exact only for the chunk plans it was designed for (a first chunk of ``1 + 8m``
    frames, then multiples of 8).
    """

    def __init__(self, model: nn.Module, keep: int | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if keep is not None:
            check_int("keep", keep, min_value=0)
        self.model = model
        self.keep = keep
        self._patched: list[CausalConv3d] = []

    def __enter__(self) -> nn.Module:
        if not hasattr(CausalConv3d, "next_window_start"):  # the hook of encoderlab.causal this relies on
            raise RuntimeError("CausalConv3d has no next_window_start(): fixed_tail_cache needs updating")
        for conv in self.model.modules():
            if isinstance(conv, CausalConv3d) and conv.time_span > 1:  # a 1-frame kernel needs no cache
                keep = conv.time_span - conv.stride[0] if self.keep is None else self.keep
                # the exact rule keeps every frame from the next window's start on; this one the last `keep`
                conv.next_window_start = lambda padded, n_out, keep=keep: max(padded - keep, 0)
                self._patched.append(conv)
        return self.model

    def __exit__(self, *exc) -> None:
        for conv in self._patched:
            del conv.next_window_start  # back to the class's exact rule
        self._patched.clear()


def streaming_plan(num_frames: int, chunk: int = 8, first: int = 1) -> list[int]:
    """The chunk plan ``[first, chunk, chunk, ..., rest]`` for a clip of ``num_frames`` frames.

    Chapter 9, *Streaming a long clip*: ``streaming_plan(25)`` is Pyramid Flow's ``[1, 8, 8, 8]``.
    """
    check_int("num_frames", num_frames, min_value=1)
    check_int("chunk", chunk, min_value=1)
    check_int("first", first, min_value=1)
    plan = [min(first, num_frames)]
    left = num_frames - plan[0]
    while left > 0:
        plan.append(min(chunk, left))
        left -= plan[-1]
    return plan


def memory_vs_length(model: CausalVideoEncoder, lengths: Sequence[int], *, height: int = 16, width: int = 16,
                     chunk: int = 8, timed: bool = False, device: torch.device | str | None = None,
                     pin_conv_algorithm: bool = True) -> list[dict]:
    """Peak memory (and optionally time) of whole-clip vs streaming encoding for clips of several lengths.

    Chapter 9, *Memory: flat in the length of the clip*. For every ``T`` in ``lengths`` a clip
    ``(1, in_channels, T, height, width)`` is made first, then :func:`~encoderlab.cost.peak_memory` with
    ``method="allocator"`` (which sees the convolutions' scratch buffers and the caches) measures
    ``model(clip)`` and ``model.encode_stream(clip, streaming_plan(T, chunk))``. Returns one dict per length
    with ``frames``, ``whole_bytes``, ``stream_bytes`` and, when ``timed``, ``whole_s`` and ``stream_s`` (a
    separate, unprofiled run of each, :func:`~encoderlab.cost.time_call`). On CPU ``pin_conv_algorithm`` runs
    everything inside :func:`~encoderlab.cost.one_conv_algorithm`. The clips are made on ``device`` (by default,
    and necessarily, the model's) in the dtype of the model's parameters.
    """
    if not isinstance(model, CausalVideoEncoder):
        raise TypeError(f"model must be a CausalVideoEncoder, got {type(model).__name__}")
    if model.training:
        raise RuntimeError("memory_vs_length needs eval mode: call model.eval()")
    lengths = check_int_sequence("lengths", lengths, min_value=1, min_len=1, example="(9, 17, 33)")
    for name, value in (("height", height), ("width", width), ("chunk", chunk)):
        check_int(name, value, min_value=1)
    check_bool("timed", timed)
    check_bool("pin_conv_algorithm", pin_conv_algorithm)
    param = next(model.parameters())
    device = param.device if device is None else check_device("device", device)
    if device.type != param.device.type or device.index not in (None, param.device.index):
        raise ValueError(f"device={device} but the model is on {param.device}: move it there first (model.to(device))")
    pinned = one_conv_algorithm() if pin_conv_algorithm and device.type == "cpu" else contextlib.nullcontext()
    rows = []
    with pinned, torch.no_grad():
        for t in lengths:
            clip = torch.randn(1, model.in_channels, t, height, width, device=device, dtype=param.dtype)
            plan = streaming_plan(t, chunk)
            runs = {"whole": lambda clip=clip: model(clip),
                    "stream": lambda clip=clip, plan=plan: model.encode_stream(clip, plan)}
            row = {"frames": t}
            for name, run in runs.items():
                row[f"{name}_bytes"] = peak_memory(run, device=device, method="allocator")
            if timed:
                for name, run in runs.items():
                    row[f"{name}_s"] = time_call(run, repeats=1, warmup=0)
            rows.append(row)
    return rows
