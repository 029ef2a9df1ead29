"""Chapter 7, *Faster than production*: a 3x3 convolution with 2.25x fewer multiplications (Winograd's F(2x2, 3x3)).

A 3x3 convolution (stride 1, padding 1) computes each output pixel from 9 multiply-adds per input channel. Cut
the output into 2x2 tiles: the four outputs of a tile read a 4x4 patch ``d`` of the (padded) input, and
Winograd's minimal filtering algorithm (Lavin and Gray, 2016) gives them exactly as

    Y = A^T [(G g G^T) * (B^T d B)] A,

with ``*`` the elementwise product of two 4x4 arrays and small constant matrices ``A`` (4x2), ``B`` (4x4),
``G`` (4x3) whose entries are 0, 1, -1 and 1/2. ``U = G g G^T`` depends only on the kernel ``g`` and is
computed once; ``V = B^T d B`` takes only additions. Over ``C_in`` input and ``C_out`` output channels the
elementwise products become 16 matrix products, ``(tiles, C_in) @ (C_in, C_out)``, one per position of the
4x4 array (computed as 1x1 convolutions: oneDNN's kernels, about twice the speed of PyTorch's float32 CPU
matrix product on an AMD CPU with AVX-512): 16 multiply-adds per tile and channel pair instead of 4 x 9 = 36.
The identity is exact (float64 agrees with the direct convolution to 1e-13); in float32 the additions around
the products round a little.

The transforms are additions over arrays four times the size of the input and output, so the algorithm pays
only where the matrix products dominate: many channels on a small map. :func:`winograd_conv3x3` is the
function, :func:`winograd_weight` the kernel transform, and :func:`encoderlab.fast.speed_up` switches the
wide convolutions of an LDM model to it (inference only; with autograd the plain convolution runs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_channels, check_tensor

__all__ = ["BAND_ELEMENTS", "WINOGRAD_MIN_CHANNELS", "default_min_channels", "winograd_applies", "winograd_conv3x3", "winograd_forward", "winograd_weight"]

#: The narrowest convolution (input and output channels) :func:`~encoderlab.fast.speed_up` computes with
#: Winograd's algorithm where it pays (:func:`default_min_channels`). Measured on a 2-core AMD EPYC with AVX2,
#: float32, batch 1, against oneDNN's direct convolution: 128 -> 128 channels on 128x128 as fast (the
#: transforms are memory-bound), 256 -> 128 on 128x128 4% faster for 4 MiB more memory, 256 -> 256 on 64x64
#: 1.24x faster, 512 -> 256 on 64x64 1.28x, 512 -> 512 on 32x32 1.57x, on 16x16 1.49x
#: (``benchmarks/ldm_vs_diffusers.py`` measures the whole models).
WINOGRAD_MIN_CHANNELS = 256

#: The most values the transformed input of one band of tiles holds by default (4 MiB in float32): it bounds
#: the extra memory (the band's transformed input and its products) below the activations of Stable
#: Diffusion's widest levels, and keeps the matrix products large enough to run efficiently (bands of a
#: 128x128 map with 128 channels ran 1.7x faster than the whole map at once; a 32x32 map with 512 channels
#: runs in two bands, 5% slower than whole).
BAND_ELEMENTS = 1 << 20


def default_min_channels() -> int:
    """The ``winograd_min_channels`` :func:`~encoderlab.fast.speed_up` uses when given none: 0 (Winograd's
    algorithm off) where PyTorch's CPU kernels run with AVX-512, :data:`WINOGRAD_MIN_CHANNELS` elsewhere.

    With AVX-512 (measured on a 2-core AMD EPYC of CPU family 26, float32) oneDNN's direct 3x3 convolution runs
    at about the cores' peak, over 200 G multiply-adds per second, and the algorithm's transforms, passes over
    memory that PyTorch cannot fuse into the products, cost what the 2.25x fewer multiply-adds save: 512 -> 512
    channels on 32x32 and on 64x64 as fast, on 16x16 1.15x slower, 256 -> 256 on 64x64 1.11x slower. With AVX2
    the direct convolution is further from the peak and the algorithm is 1.2 to 1.6x faster (see
    :data:`WINOGRAD_MIN_CHANNELS`). On a 2-core Intel Xeon with AVX-512 and AMX it loses too: with the
    algorithm on from 256 channels Stable Diffusion's encoder took 1.10 of diffusers' time at 128x128 against
    0.91 without, its decoder 0.97 against 0.87 (two runs minutes apart; ``benchmarks/ldm_vs_diffusers.py
    --winograd-min-channels 256``).
    """
    return 0 if torch.backends.cpu.get_cpu_capability() == "AVX512" else WINOGRAD_MIN_CHANNELS


# G (4x3): U = G g G^T, the kernel transform.
_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def winograd_weight(weight: torch.Tensor) -> torch.Tensor:
    """``U = G g G^T`` of every ``(C_out, C_in, 3, 3)`` kernel slice, as the 16 matrices of the algorithm, each
    a 1x1 convolution's kernel: ``(16, C_out, C_in, 1, 1)``, position ``4 * i + j`` of the 4x4 array first
    (Chapter 7, *Faster than production*)."""
    check_tensor("weight", weight, ndim=4, layout="(C_out, C_in, 3, 3)")
    if weight.shape[2:] != (3, 3):
        raise ValueError(f"weight must be a 3x3 kernel (C_out, C_in, 3, 3), got shape {tuple(weight.shape)}")
    g = torch.tensor(_G, dtype=weight.dtype, device=weight.device)
    u = torch.einsum("ik,ockl,jl->ijoc", g, weight, g)  # (4, 4, C_out, C_in)
    return u.reshape(16, weight.shape[0], weight.shape[1], 1, 1).contiguous()


def _input_transform(d: torch.Tensor, dim: int) -> list[torch.Tensor]:
    """``B^T`` along ``dim`` (size 4) of ``d``: ``(d0 - d2, d1 + d2, d2 - d1, d1 - d3)``."""
    s = [d.select(dim, k) for k in range(4)]
    return [s[0] - s[2], s[1] + s[2], s[2] - s[1], s[1] - s[3]]


def _output_transform(m: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``A^T`` applied to four arrays ``m``: ``(m0 + m1 + m2, m1 - m2 - m3)``."""
    return m[0] + m[1] + m[2], m[1] - m[2] - m[3]


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None = None, *,
                     max_chunk_elements: int | None = None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` by Winograd's F(2x2, 3x3), with ``u = winograd_weight(weight)``
    (Chapter 7, *Faster than production*).

    ``x``: ``(B, C_in, H, W)`` with even ``H`` and ``W``, in any memory format. Returns ``(B, C_out, H, W)``,
    channels-last (the layout the algorithm produces). The tiles are processed a band of tile rows at a time,
    so that the transformed input of a band holds at most ``max_chunk_elements`` values (default
    :data:`BAND_ELEMENTS`; at least one row of tiles): the 4x-sized intermediates of a large map never exist
    for the whole map at once.
    """
    b, c, h, w = x.shape
    co = u.shape[1]
    nh, nw = h // 2, w // 2
    rows_of = x.permute(0, 2, 3, 1)  # (B, H, W, C_in): channels innermost (a view of a channels-last x)
    out = torch.empty(b, h, w, co, dtype=x.dtype, device=x.device)
    by_tile = out.view(b, nh, 2, nw, 2, co)
    budget = BAND_ELEMENTS if max_chunk_elements is None else max_chunk_elements
    band_rows = max(1, min(nh, budget // max(1, 16 * b * nw * c)))
    for top in range(0, nh, band_rows):
        r = min(band_rows, nh - top)
        # the input rows the band's 4x4 patches read (one more on each side), zero-padded at the map's edges
        first, last = 2 * top - 1, 2 * (top + r)
        band = F.pad(rows_of[:, max(first, 0):min(last, h - 1) + 1],
                     (0, 0, 1, 1, int(first < 0), int(last > h - 1)))  # (B, 2r + 2, W + 2, C_in)
        tiles = band.unfold(1, 4, 2).unfold(2, 4, 2)  # (B, r, nW, C_in, 4, 4): overlapping patches, a view
        v = torch.empty(4, 4, b, r, nw, c, dtype=x.dtype, device=x.device)
        for i, row in enumerate(_input_transform(tiles, 4)):  # B^T d ...
            s = [row.select(4, k) for k in range(4)]  # ... B, written straight into v
            torch.sub(s[0], s[2], out=v[i, 0])
            torch.add(s[1], s[2], out=v[i, 1])
            torch.sub(s[2], s[1], out=v[i, 2])
            torch.sub(s[1], s[3], out=v[i, 3])
        del band, tiles
        # the 16 matrix products (B r nW, C_in) @ (C_in, C_out), as 1x1 convolutions of channels-last maps
        m = [F.conv2d(v[k // 4, k % 4].permute(0, 3, 1, 2), u[k]).permute(0, 2, 3, 1) for k in range(16)]
        del v
        # A^T m ... (down each column j of the 4x4 array of products m[4 i + j]) ...
        cols = [_output_transform(m[j::4]) for j in range(4)]
        del m
        for a in range(2):  # ... A (along each of the two rows that leaves)
            for k, value in enumerate(_output_transform([col[a] for col in cols])):
                by_tile[:, top:top + r, a, :, k] = value
        del cols
    if bias is not None:
        out += bias
    return out.permute(0, 3, 1, 2)


def winograd_applies(conv: nn.Module) -> bool:
    """Whether ``conv`` is a convolution :func:`winograd_forward` computes: an ``nn.Conv2d`` with a 3x3
    kernel, stride 1, padding 1, no dilation, no groups, zero padding."""
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros")


def winograd_forward(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A 3x3 ``nn.Conv2d``'s forward by :func:`winograd_conv3x3` where it applies: without autograd and
    autocast, for a float32 or float64 CPU input of even height and width, outside ``torch.compile`` (which
    gets the plain convolution to fuse and schedule); the plain convolution otherwise.

    The kernel transform is kept on the module (``conv._winograd``: 16/9 of the weight's size) and recomputed
    when the weight changes (a new tensor, device or dtype, or an in-place update such as an optimiser step or
    ``load_state_dict``).
    """
    check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
    check_channels("x", x, conv.in_channels)
    weight = conv.weight
    if (torch.compiler.is_compiling() or torch.is_grad_enabled() or torch.is_autocast_enabled("cpu")
            or x.device.type != "cpu"
            or x.dtype not in (torch.float32, torch.float64) or x.dtype != weight.dtype
            or x.shape[2] % 2 or x.shape[3] % 2):
        return conv._conv_forward(x, weight, conv.bias)
    from .fast import kept_derived

    out = winograd_conv3x3(x, kept_derived(conv, "_winograd", weight, winograd_weight), conv.bias)
    return out if x.is_contiguous(memory_format=torch.channels_last) else out.contiguous()
