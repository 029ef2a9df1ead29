"""Chapter 7, *As fast as diffusers, and no more memory*: the CPU fast path of the autoencoder, all in one place.

The models' ``forward`` methods are the plain recipes of Chapters 3 and 7. Two measured optimisations sit here,
beside them, and change no value (tested bit for bit):

- :class:`ChannelsLastOnCPU`, a mixin of :class:`~encoderlab.ldm.Encoder` and :class:`~encoderlab.ldm.Decoder`:
  while the model lives on the CPU its convolution weights are stored channels-last, which makes every
  activation channels-last too (from ``conv_in`` on: a convolution with channels-last weights returns a
  channels-last result, and GroupNorm, SiLU, attention, padding and resampling keep the layout); a forward
  hook hands the caller an ordinary contiguous output.
- :func:`lean_resnet_forward`, which :class:`~encoderlab.ResnetBlock` runs when no autograd graph is recorded:
  the same layers, with SiLU and the residual addition in place, so one activation fewer is alive at the peak.

And one opt-in, applied from outside (Chapter 7, *Faster than production*): :func:`speed_up` swaps every
decoder upsampler for the transposed convolution it equals (:mod:`encoderlab.fast_upsample`) and runs the
encoder's and decoder's recipes as one flat sequence of layers (:func:`flat_forward`), so that no level's
input stays alive while the level runs. :func:`bfloat16_autocast` is the documented reduced-precision path.
"""

from __future__ import annotations

import types
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_bool, check_device, check_int

__all__ = ["ChannelsLastOnCPU", "bfloat16_autocast", "flat_forward", "lean_resnet_forward", "low_precision_group_norm",
           "speed_up"]


def _contiguous_output(module: nn.Module, args, output):
    """Forward hook: the caller gets a standard contiguous tensor, whatever layout the model computed in."""
    return output.contiguous() if isinstance(output, torch.Tensor) else output


def _contiguous_state(module: nn.Module, state_dict, prefix, local_metadata) -> None:
    """State-dict hook: ``state_dict()`` returns contiguous tensors (safetensors and friends need them)."""
    for key, value in state_dict.items():
        if key.startswith(prefix) and isinstance(value, torch.Tensor) and not value.is_contiguous():
            state_dict[key] = value.contiguous()


class ChannelsLastOnCPU(nn.Module):
    """Keeps a model's 4-D weights, and so its activations, channels-last while it lives on the CPU.

    Chapter 7, *As fast as diffusers, and no more memory*. oneDNN, PyTorch's CPU convolution library, works
    natively in channels-last layout. Given default-layout activations it computes in its own layout and copies
    the result back (time, and one extra activation per convolution); given channels-last activations with
    default-layout weights, PyTorch copies every weight into channels-last on every call. So on the CPU the 4-D
    weights are stored channels-last (re-arranged whenever the model moves: ``.to()``, ``.cpu()``, ``.double()``,
    ...; on other devices they stay in the default layout). A convolution with channels-last weights returns a
    channels-last activation even for a default-layout input, so the activations follow from ``conv_in`` on.
    The output is made contiguous by a forward hook, ``state_dict()`` returns contiguous tensors. Set
    ``cpu_channels_last = False`` on an instance to run everything in PyTorch's default layout.

    A subclass calls :meth:`_finish_init` at the end of its ``__init__``.
    """

    _cpu_channels_last = True

    @property
    def cpu_channels_last(self) -> bool:
        """Whether the weights (and so the activations) are channels-last while on the CPU (default True)."""
        return self._cpu_channels_last

    @cpu_channels_last.setter
    def cpu_channels_last(self, value: bool) -> None:
        self._cpu_channels_last = check_bool("cpu_channels_last", value)
        self._sync_weight_layout()

    def _sync_weight_layout(self) -> None:
        """Give every 4-D parameter the layout its device prefers (after a move, a load with ``assign``, ...)."""
        with torch.no_grad(), torch.inference_mode(False):
            for p in self.parameters():
                if p.dim() != 4 or p.is_meta:
                    continue
                fmt = torch.channels_last if self._cpu_channels_last and p.device.type == "cpu" else \
                    torch.contiguous_format
                if not p.is_contiguous(memory_format=fmt):
                    p.data = p.data.contiguous(memory_format=fmt)

    def _apply(self, fn, recurse=True):
        out = super()._apply(fn, recurse)
        self._sync_weight_layout()
        return out

    def _finish_init(self) -> None:
        self.register_forward_hook(_contiguous_output)
        self.register_state_dict_post_hook(_contiguous_state)
        self._sync_weight_layout()


def lean_resnet_forward(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """:class:`~encoderlab.ResnetBlock`'s forward without autograd, in less memory (Chapter 7, *As fast as
    diffusers, and no more memory*).

    The plain recipe ``shortcut(x) + conv2(dropout(SiLU(norm2(conv1(SiLU(norm1(x)))))))``, with SiLU and the
    residual addition in place; each step rebinds ``h``, so the previous activation is freed before the next
    convolution runs: at most three activations are alive at once instead of four. Same values, bit for bit;
    ``x`` is never modified. ``(B, in, H, W) -> (B, out, H, W)``.
    """
    h = F.silu(block.norm1(x), inplace=True)
    h = block.conv1(h)
    h = F.silu(block.norm2(h), inplace=True)
    h = block.conv2(block.dropout(h))
    skip = block.shortcut(x)
    return h.add_(skip) if skip.dtype == h.dtype else skip + h  # dtypes differ under autocast


# --------------------------------------------------------------------------------------------------------
# speed_up: the opt-in fast path of Chapter 7, *Faster than production*


def _level_steps(level: nn.Module) -> Iterator[nn.Module]:
    """The layers of one ``DownLevel``/``UpLevel`` in the order its ``forward`` calls them (a flat copy of
    :meth:`encoderlab.ldm.levels._Level.forward`, kept on purpose; tested equal)."""
    for j, block in enumerate(level.block):
        yield block
        if len(level.attn) > 0:
            yield level.attn[j]
    resample = getattr(level, level._resampler[0], None)
    if resample is not None:
        yield resample


def _mid_steps(mid: nn.Module) -> Iterator[nn.Module]:
    yield from (mid.block_1, mid.attn_1, mid.block_2)  # MidLevel.forward


def _steps(model: nn.Module) -> Iterator[nn.Module]:
    """The recipe of :meth:`Encoder.forward <encoderlab.ldm.Encoder.forward>` / :meth:`Decoder.forward
    <encoderlab.ldm.Decoder.forward>` up to ``norm_out``, as a flat list of layers (a copy kept on purpose)."""
    from .ldm import Encoder

    yield model.conv_in
    if isinstance(model, Encoder):
        for level in model.down:
            yield from _level_steps(level)
        yield from _mid_steps(model.mid)
    else:
        yield from _mid_steps(model.mid)
        for level in reversed(model.up):
            yield from _level_steps(level)


def flat_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The forward pass of an LDM :class:`~encoderlab.ldm.Encoder` or :class:`~encoderlab.ldm.Decoder`, layer
    after layer from one loop (Chapter 7, *Faster than production*).

    The same layers in the same order as the model's ``forward``, so the same values, bit for bit. In the
    plain recipe ``h = level(h)`` keeps the level's input alive in the caller while the level runs (CPython
    holds a call's arguments until it returns): one extra full-resolution activation at the memory peak. Here
    every activation is dropped as soon as the next layer has consumed it, and without autograd the final
    SiLU runs in place. ``x``: the model's input; returns its output.
    """
    from .ldm import Decoder

    model.check_input(x)
    h = x
    for step in _steps(model):
        h = step(h)
    if isinstance(model, Decoder) and model.give_pre_end:
        return h
    h = model.norm_out(h)
    h = model.conv_out(F.silu(h, inplace=not torch.is_grad_enabled()))
    return torch.tanh(h) if isinstance(model, Decoder) and model.tanh_out else h


def speed_up(model: nn.Module, *, winograd_min_channels: int | None = None) -> nn.Module:
    """Switch an LDM model to the fast path, in place, and return it (Chapter 7, *Faster than production*).

    For every :class:`~encoderlab.ldm.Encoder` and :class:`~encoderlab.ldm.Decoder` inside ``model`` (the model
    itself, or the halves of an :class:`~encoderlab.AutoencoderKL`):

    - every ``Upsample(with_conv=True)`` becomes a :class:`~encoderlab.fast_upsample.ResizeConvUpsample` (the
      transposed convolution nearest x2 + 3x3 convolution equals: 2.25x fewer multiply-adds, no 4x-sized
      intermediate); it shares the upsampler's parameters, so ``state_dict()`` is unchanged, and without
      autograd it keeps its transposed kernel between calls (``keep_kernel``: 16/9 of the upsampler's weight,
      rebuilt when the weight changes);
    - ``forward`` runs as :func:`flat_forward` (same layers, one activation fewer at the peak);
    - every :class:`~encoderlab.GroupNorm` gives a bfloat16 CPU input to PyTorch's kernel without the float32
      round trip (:func:`low_precision_group_norm`; float32 statistics still, fewer copies);
    - every 3x3 stride-1 convolution with at least ``winograd_min_channels`` input and output channels (default
      :func:`~encoderlab.fast_winograd.default_min_channels`: 256 where it pays, off where PyTorch's CPU
      convolution runs with AVX-512) computes, without autograd, by Winograd's
      F(2x2, 3x3) (:func:`~encoderlab.fast_winograd.winograd_forward`: 2.25x fewer multiplications; it keeps
      the transformed kernel, 16/9 of the weight, beside it). ``winograd_min_channels=0`` switches that off.

    Values equal the plain model's to float rounding (the resize-convolution sums kernel taps before
    multiplying, Winograd's algorithm adds before and after its products; float64 agrees to 1e-12);
    everything else is bit for bit. The classes' ``forward`` methods stay
    the plain recipes.
    """
    from .conv import Upsample
    from .fast_upsample import ResizeConvUpsample
    from .fast_winograd import default_min_channels, winograd_applies, winograd_forward
    from .ldm import Decoder, Encoder
    from .norm import GroupNorm

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if winograd_min_channels is None:
        winograd_min_channels = default_min_channels()
    check_int("winograd_min_channels", winograd_min_channels, min_value=0)
    halves = [m for m in model.modules() if isinstance(m, (Encoder, Decoder))]
    if not halves:
        raise ValueError(f"model ({type(model).__name__}) contains no encoderlab.ldm Encoder or Decoder to speed up")
    for half in halves:
        for level in getattr(half, "up", ()):
            if isinstance(getattr(level, "upsample", None), Upsample) and level.upsample.with_conv:
                level.upsample = ResizeConvUpsample(level.upsample, keep_kernel=True)
        half.forward = types.MethodType(flat_forward, half)
        for norm in half.modules():
            if isinstance(norm, GroupNorm) and type(norm) is GroupNorm and norm.fused:
                norm.forward = types.MethodType(low_precision_group_norm, norm)
        for conv in half.modules():
            if (winograd_min_channels and winograd_applies(conv)
                    and min(conv.in_channels, conv.out_channels) >= winograd_min_channels):
                conv.forward = types.MethodType(winograd_forward, conv)
    return model


def low_precision_group_norm(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """:class:`~encoderlab.GroupNorm`'s forward, with a bfloat16/float16 CPU input handed to PyTorch's kernel
    as it is (Chapter 7, *Faster than production*, *bfloat16 done right*).

    The plain forward upcasts a half-precision input to float32, normalises and casts back: two extra passes
    over the activation and a float32 copy of it. PyTorch's CPU ``group_norm`` kernel already accumulates the
    means and variances of a bfloat16 input in float32 (and takes float32 ``weight`` and ``bias``), so the
    statistics stay float32 without the copies (tested on an offset input). Other inputs run the plain
    forward. ``(B, C, *) -> same shape and dtype``.
    """
    if x.device.type != "cpu" or x.dtype not in (torch.bfloat16, torch.float16):
        return type(norm).forward(norm, x)
    norm._check_input(x)
    return F.group_norm(x, norm.num_groups, norm.weight, norm.bias, norm.eps)


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX, read from ``/proc/cpuinfo``).

    Without either, PyTorch runs a bfloat16 convolution through a slow generic kernel (measured on an AVX2
    EPYC: 75 times slower than float32), so bfloat16 only pays where this is true. Chapter 7, *Faster than
    production*, *bfloat16 done right*.
    """
    try:
        with open("/proc/cpuinfo") as handle:
            text = handle.read()
    except OSError:  # not Linux: no way to tell here, assume not
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def bfloat16_autocast(device: torch.device | str = "cpu") -> torch.autocast:
    """The book's reduced-precision path: ``torch.autocast(device.type, dtype=torch.bfloat16)`` (Chapter 7,
    *Faster than production*, *bfloat16 done right*).

    Use it as ``with bfloat16_autocast(device): y = model(x)`` on the CPU or on CUDA. Inside it the
    convolutions and matrix products run in bfloat16 (8 bits of mantissa; float32's range, so no loss
    scaling), on CPUs with AVX-512 BF16 (and on GPUs) at about twice the float32 rate, while what is unsafe in
    8 bits stays in float32: :class:`~encoderlab.GroupNorm` computes its means and variances in float32
    (a mean over 16k values in bfloat16 loses every digit), and the softmax of attention is taken in float32
    (:func:`~encoderlab.attention` ``"explicit"`` upcasts; the fused SDPA kernel accumulates in float32).
    Activations are stored in bfloat16: about half the memory. The output is bfloat16; its largest
    difference from the float32 output is printed in Chapter 7 and by ``benchmarks/ldm_vs_diffusers.py``.
    """
    device = check_device("device", device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be a CPU or CUDA device, got {device}")
    return torch.autocast(device.type, dtype=torch.bfloat16)


def kept_derived(module: nn.Module, name: str, weight: torch.Tensor, build) -> torch.Tensor:
    """``build(weight)``, kept on ``module`` as attribute ``name`` and reused while ``weight`` is the same tensor
    with the same values (a new tensor, a move, a cast or any in-place update -- an optimiser step,
    ``load_state_dict`` -- builds it again), computed without autograd. The fast path's derived kernels (the
    upsamplers' transposed kernels, Winograd's transformed ones) are kept this way.

    The entry ``(source, version, derived)`` holds the weight tensor it came from, so that storage cannot be
    freed and its address reused while the entry exists: "same storage, same version" means "same values".
    """
    kept = getattr(module, name, None)
    if (kept is None or kept[0].untyped_storage().data_ptr() != weight.untyped_storage().data_ptr()
            or kept[0].dtype != weight.dtype or kept[0].device != weight.device
            or kept[0].stride() != weight.stride() or kept[1] != weight._version):
        with torch.no_grad():
            source = weight.detach()
            kept = (source, weight._version, build(source))
        setattr(module, name, kept)
    return kept[2]
