"""Chapter 7, *Faster than production*: nearest-neighbour x2 + 3x3 convolution as one transposed convolution.

LDM's and Stable Diffusion's decoder upsampler (:class:`~encoderlab.Upsample`, Chapter 2) repeats every pixel
into a 2x2 block, then runs a 3x3 convolution (padding 1) over the 4x larger map. Output pixel ``(2i+a, 2j+b)``
then reads only a 2x2 window of the low-resolution input: along each axis the three taps ``w0, w1, w2`` land
on two input rows, ``(i-1, i)`` with weights ``(w0, w1 + w2)`` for the even phase ``a = 0`` and ``(i, i+1)``
with weights ``(w0 + w1, w2)`` for the odd phase. Four 2x2 convolutions of the *small* input, one per output
phase, interleaved, are a stride-2 transposed convolution with a 4x4 kernel (Chapter 2, *The checkerboard of
the transposed convolution*); along each axis its taps are ``(w2, w1 + w2, w0 + w1, w0)``.

So "resize-convolution" costs 4 multiply-adds per output pixel and input channel instead of 9 (2.25x fewer),
and the 4x-sized upsampled intermediate is never stored. :func:`resize_conv_kernel` builds the kernel,
:class:`ResizeConvUpsample` is the drop-in module (same parameter, same state-dict keys), and
:func:`encoderlab.fast.speed_up` puts it into a decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_bool, check_channels, check_tensor
from .conv import Upsample

__all__ = ["KERNEL_ELEMENTS", "ResizeConvUpsample", "resize_conv_kernel"]

#: The largest transposed kernel :class:`ResizeConvUpsample` builds at once without autograd (4 MiB in float32);
#: a wider upsampler computes its output channels in groups. At 512 channels (Stable Diffusion's two lower
#: upsamplers) four groups halve the upsampler's peak memory at the same speed (measured on a 2-core CPU).
KERNEL_ELEMENTS = 1 << 20


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels-last for a channels-last ``x`` (that is not also plainly contiguous), else the default."""
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() \
        else torch.contiguous_format


# Which of the three taps (w0, w1, w2) of one axis each of the four transposed taps sums: (w2, w1 + w2, w0 + w1, w0).
_SUMMED = ((2,), (1, 2), (0, 1), (0,))


def _tap_sum(t: torch.Tensor, dim: int, taps: tuple[int, ...]) -> torch.Tensor:
    """The sum of the given taps (one or two) of ``t`` along ``dim``; that dimension disappears."""
    first = t.select(dim, taps[0])
    return first if len(taps) == 1 else first + t.select(dim, taps[1])


def resize_conv_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The transposed-convolution kernel equal to nearest x2 followed by a 3x3 convolution with ``weight``
    (Chapter 7, *Faster than production*).

    ``weight``: ``(C_out, C_in, 3, 3)``, a ``Conv2d`` kernel. Returns ``(C_in, C_out, 4, 4)``, a
    ``conv_transpose2d`` kernel for ``stride=2, padding=1``: along each axis the taps ``(w0, w1, w2)``
    become ``(w2, w1 + w2, w0 + w1, w0)``. Every entry is a sum of 1, 2 or 4 entries of ``weight``; the layout follows ``weight``'s
    (channels-last in, channels-last out).
    """
    check_tensor("weight", weight, ndim=4, layout="(C_out, C_in, 3, 3)")
    if weight.shape[2:] != (3, 3):
        raise ValueError(f"weight must be a 3x3 kernel (C_out, C_in, 3, 3), got shape {tuple(weight.shape)}")
    w = weight.transpose(0, 1)  # (C_in, C_out, 3, 3), a view
    kernel = torch.empty(w.shape[:2] + (4, 4), dtype=w.dtype, device=w.device,
                         memory_format=_memory_format(weight))
    # Filled in place, one (C_in, C_out) slice at a time, with additions only: besides the kernel, at most
    # one slab of 3 rows is alive (a whole-tensor formula would hold two more kernel-sized temporaries).
    for a, rows in enumerate(_SUMMED):
        row = _tap_sum(w, 2, rows)  # (C_in, C_out, 3)
        for b, cols in enumerate(_SUMMED):
            kernel[:, :, a, b] = _tap_sum(row, 2, cols)
    return kernel


class ResizeConvUpsample(nn.Module):
    """:class:`~encoderlab.Upsample` (nearest x2, then 3x3 convolution) computed as the 4x4 stride-2 transposed
    convolution it equals (Chapter 7, *Faster than production*).

    Built from an ``Upsample(with_conv=True)``: it shares that module's ``conv`` (the same parameters, so the
    state-dict keys ``conv.weight`` and ``conv.bias`` do not change) and computes the transposed kernel
    (:func:`resize_conv_kernel`) from it on every call, so it trains like the ``Upsample``. With
    ``keep_kernel=True`` a call without autograd reuses the kernel of the last one while the weight is unchanged
    (:meth:`kept_kernel`): faster, for 16/9 of the weight's memory.
    ``(B, C, H, W) -> (B, C, 2H, 2W)``, equal to the ``Upsample`` to float rounding (tested in float64 to 1e-12).
    """

    def __init__(self, upsample: Upsample, *, keep_kernel: bool = False) -> None:
        super().__init__()
        if not isinstance(upsample, Upsample):
            raise TypeError(f"upsample must be an encoderlab.Upsample, got {type(upsample).__name__}")
        if not upsample.with_conv:
            raise ValueError("upsample must have with_conv=True: without its convolution there is nothing to fold")
        self.in_channels = upsample.in_channels
        self.with_conv = True
        self.conv = upsample.conv
        self.keep_kernel = check_bool("keep_kernel", keep_kernel)
        self._kept = None  # kept_derived's entry: (the weight it came from, its version, the kernel)

    def kernel(self) -> torch.Tensor:
        """The ``(C, C, 4, 4)`` transposed kernel of the current ``conv.weight``.

        Derived on every call: never stale after a weight update, gradients reach ``conv.weight``, and nothing
        is stored beside the parameters. The additions are few but strided (the kernel is the weight with its
        two channel axes swapped): at 512 channels building it took 6 ms beside the 8 ms convolution on a
        2-core Xeon, so the fast path (:func:`~encoderlab.fast.speed_up`) keeps it instead (``keep_kernel``).
        """
        return resize_conv_kernel(self.conv.weight)

    def kept_kernel(self) -> torch.Tensor:
        """The transposed kernel kept from an earlier call while ``conv.weight`` is the same tensor with the
        same values (a new tensor, a move, a cast or any in-place update, an optimiser step or
        ``load_state_dict``, makes a new one), without autograd. It holds 16/9 of the weight's size (36 MiB
        for Stable Diffusion's decoder, 19% of its weights)."""
        from .fast import kept_derived

        return kept_derived(self, "_kept", self.conv.weight, resize_conv_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_channels)
        weight, bias = self.conv.weight, self.conv.bias
        if self.keep_kernel and not torch.is_grad_enabled() and not torch.compiler.is_compiling():
            return F.conv_transpose2d(x, self.kept_kernel(), bias, stride=2, padding=1)
        groups = -(-weight.numel() * 16 // 9 // KERNEL_ELEMENTS)  # output-channel groups of at most that size
        if torch.is_grad_enabled() or groups <= 1:
            return F.conv_transpose2d(x, self.kernel(), bias, stride=2, padding=1)
        # Without autograd, a group of output channels at a time: each group's kernel (and the copy of it
        # that oneDNN reorders) exists only while that group is computed. Same values (bit for bit where oneDNN
        # picks the same kernel for a group as for the whole, to 1e-6 relative where it does not).
        out = torch.empty(x.shape[0], weight.shape[0], 2 * x.shape[2], 2 * x.shape[3], dtype=x.dtype,
                          device=x.device, memory_format=_memory_format(x))
        step = -(-weight.shape[0] // groups)
        for lo in range(0, weight.shape[0], step):
            part = slice(lo, lo + step)
            out[:, part] = F.conv_transpose2d(x, resize_conv_kernel(weight[part]),
                                              None if bias is None else bias[part], stride=2, padding=1)
        return out

    def extra_repr(self) -> str:
        kept = ", kernel kept" if self.keep_kernel else ""
        return f"in_channels={self.in_channels}, as conv_transpose2d(kernel 4, stride 2, padding 1){kept}"
