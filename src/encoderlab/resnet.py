"""Chapter 3: the pre-activation residual block of the latent-diffusion autoencoder, and the seeds' variants.

``out = skip(x) + conv2(dropout(SiLU(norm2(conv1(SiLU(norm1(x)))))))``

- :class:`ResnetBlock` -- LDM's block (*The latent-diffusion block*);
- the seed-003 residual unit, a 1x1 convolution on every skip (*Seed 003: a 1x1 convolution on every skip*):
  :func:`seed003_units` builds it in the seed's three parallel lists, :func:`seed003_unit` computes it, and
  :class:`SkipConvResnetBlock` (here), :class:`~encoderlab.MidBlock` (Chapter 4) and the seed-003
  ``DownBlock``/``UpBlock`` (Chapter 8) are made of it;
- :class:`CausalResnet3d` -- the causal 3-D block of seed 000 (*Seed 000: the causal 3-D block*).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import (
    check_block_input,
    check_bool,
    check_divisible,
    check_float,
    check_int,
    check_one_of,
)
from .causal import PADDING_MODES, CausalConv3d
from .fast import lean_resnet_forward
from .norm import GroupNorm, PerFrameGroupNorm

__all__ = ["SHORTCUTS", "CausalResnet3d", "ResnetBlock", "SkipConvResnetBlock", "resnet_block_num_params",
           "seed003_skips", "seed003_unit", "seed003_units"]

SHORTCUTS = ("nin", "conv", "always")


class ResnetBlock(nn.Module):
    """LDM's ``ResnetBlock`` (diffusers' ``ResnetBlock2D`` without a time embedding); Chapter 3, *The
    latent-diffusion block*.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (default: ``in_channels``).
        conv_shortcut: when the channel count changes, use a 3x3 ``conv_shortcut`` on the skip path instead
            of the default 1x1 ``nin_shortcut``.
        dropout: dropout probability between the two convolutions.
        num_groups, eps: GroupNorm settings (LDM: 32 groups, eps 1e-6).

    Layers, in LDM's names: ``norm1, conv1, norm2, dropout, conv2`` and, when ``in != out``, ``nin_shortcut``
    (1x1) or ``conv_shortcut`` (3x3). Shape: ``(B, in, H, W) -> (B, out, H, W)``.

    Without autograd (``torch.no_grad()``, ``torch.inference_mode()``) the block runs the same recipe through
    :func:`encoderlab.fast.lean_resnet_forward` (in-place SiLU and addition, bit-identical, less memory; Chapter
    7, *As fast as diffusers*); set ``lean_inference = False`` on an instance to always run the plain code.
    """

    lean_inference = True

    def __init__(self, in_channels: int, out_channels: int | None = None, *, conv_shortcut: bool = False,
                 dropout: float = 0.0, num_groups: int = 32, eps: float = 1e-6) -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        out_channels = in_channels if out_channels is None else check_int("out_channels", out_channels, min_value=1)
        check_bool("conv_shortcut", conv_shortcut)
        check_float("dropout", dropout, min_value=0.0, max_value=1.0)
        check_int("num_groups", num_groups, min_value=1)
        check_divisible("in_channels", in_channels, "num_groups", num_groups)
        check_divisible("out_channels", out_channels, "num_groups", num_groups)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.use_conv_shortcut = conv_shortcut

        self.norm1 = GroupNorm(num_groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.norm2 = GroupNorm(num_groups, out_channels, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        if in_channels != out_channels:
            if conv_shortcut:
                self.conv_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
            else:
                self.nin_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The skip path: identity, or a 1x1 / 3x3 projection when the channel count changes."""
        if self.in_channels == self.out_channels:
            return x
        return self.conv_shortcut(x) if self.use_conv_shortcut else self.nin_shortcut(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_block_input("x", x, self, channels=self.in_channels)
        if self.lean_inference and not torch.is_grad_enabled():
            return lean_resnet_forward(self, x)  # the same recipe in less memory (encoderlab.fast)
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.shortcut(x) + h


def check_seed003_args(in_channels, out_channels, norm_channels, num_layers=None) -> None:
    """The argument rule of every seed-003 block (Chapter 3, *Seed 003: a 1x1 convolution on every skip*):
    positive channel counts that ``norm_channels`` divides, and a positive ``num_layers`` where there is one."""
    check_int("in_channels", in_channels, min_value=1)
    check_int("out_channels", out_channels, min_value=1)
    if num_layers is not None:
        check_int("num_layers", num_layers, min_value=1)
    check_int("norm_channels", norm_channels, min_value=1)
    check_divisible("in_channels", in_channels, "norm_channels", norm_channels)
    check_divisible("out_channels", out_channels, "norm_channels", norm_channels)


def _seed003_conv_path(cin: int, cout: int, norm_channels: int) -> nn.Sequential:
    """One half of the seed-003 unit: GroupNorm (eps 1e-5) -> SiLU -> 3x3 conv, the seed's ``nn.Sequential``."""
    return nn.Sequential(GroupNorm(norm_channels, cin), nn.SiLU(), nn.Conv2d(cin, cout, kernel_size=3, padding=1))


def seed003_units(in_channels: int, out_channels: int, count: int, norm_channels: int
                  ) -> tuple[nn.ModuleList, nn.ModuleList]:
    """The two 3x3 paths of ``count`` chained seed-003 residual units, stored as the seed stores them (Chapter 3,
    *Seed 003: a 1x1 convolution on every skip*).

    Returns the parallel lists ``(resnet_conv_first, resnet_conv_second)``, each entry GroupNorm -> SiLU -> 3x3
    conv; :func:`seed003_skips` builds the matching 1x1 ``residual_input_conv`` list (separately, so that every
    block creates its layers, and draws their initial weights, in the seed's order). Unit ``i`` maps
    ``in_channels -> out_channels`` for ``i = 0`` and keeps ``out_channels`` after; run it with
    :func:`seed003_unit`. The caller checks the arguments (:func:`check_seed003_args`).
    """
    cins = [in_channels] + [out_channels] * (count - 1)
    return (nn.ModuleList([_seed003_conv_path(c, out_channels, norm_channels) for c in cins]),
            nn.ModuleList([_seed003_conv_path(out_channels, out_channels, norm_channels) for _ in cins]))


def seed003_skips(in_channels: int, out_channels: int, count: int) -> nn.ModuleList:
    """The 1x1 skip convolutions (``residual_input_conv``) of ``count`` chained seed-003 units (see
    :func:`seed003_units`; Chapter 3, *Seed 003*)."""
    cins = [in_channels] + [out_channels] * (count - 1)
    return nn.ModuleList([nn.Conv2d(c, out_channels, kernel_size=1) for c in cins])


def seed003_unit(first: nn.Module, second: nn.Module, skip: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The seed-003 residual unit: ``second(first(x)) + skip(x)`` with a 1x1 conv ``skip`` (Chapter 3, *Seed 003:
    a 1x1 convolution on every skip*). ``(B, in, H, W) -> (B, out, H, W)``."""
    return second(first(x)) + skip(x)


class SkipConvResnetBlock(nn.Module):
    """The seed-003 residual block: a 1x1 convolution on the skip path of *every* block (Chapter 3, *Seed 003:
    a 1x1 convolution on every skip*).

    ``out = resnet_conv_second(resnet_conv_first(x)) + residual_input_conv(x)`` (:func:`seed003_unit`), each
    ``resnet_conv_*`` an ``nn.Sequential(GroupNorm, SiLU, Conv2d 3x3)`` as in the seed's ``DownBlock``/
    ``MidBlock``. Unlike LDM's block, the 1x1 ``residual_input_conv`` is there even when the channel count does
    not change, so the skip path is a learned channel mix rather than the identity. GroupNorm uses PyTorch's
    default eps (1e-5).

    Args:
        in_channels, out_channels: channels of input and output.
        norm_channels: the number of GroupNorm groups (the seed's name for it; 32 in the seed).

    Shape: ``(B, in, H, W) -> (B, out, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, norm_channels: int = 32) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        check_seed003_args(in_channels, out_channels, norm_channels)
        self.in_channels = in_channels
        self.out_channels = out_channels
        (first,), (second,) = seed003_units(in_channels, out_channels, 1, norm_channels)
        self.resnet_conv_first, self.resnet_conv_second = first, second
        self.residual_input_conv = seed003_skips(in_channels, out_channels, 1)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_block_input("x", x, self, channels=self.in_channels)
        return seed003_unit(self.resnet_conv_first, self.resnet_conv_second, self.residual_input_conv, x)


def resnet_block_num_params(in_channels: int, out_channels: int | None = None, *, kernel_size: int = 3,
                            dims: int = 2, shortcut: str = "nin") -> int:
    """Parameters of a pre-activation residual block (two affine GroupNorms, two k^dims convs with bias, skip);
    Chapter 3, *Counting parameters*.

    ``2*C_in + (C_in*C_out*k^d + C_out) + 2*C_out + (C_out^2*k^d + C_out) + skip`` where the skip is

    - ``"nin"`` (LDM's default, diffusers, the causal block): ``C_in*C_out + C_out`` when ``C_in != C_out``, else 0;
    - ``"conv"`` (LDM ``conv_shortcut=True``): ``C_in*C_out*k^d + C_out`` when ``C_in != C_out``, else 0;
    - ``"always"`` (seed 003): ``C_in*C_out + C_out`` always.

    ``dims=2`` for :class:`ResnetBlock`/:class:`SkipConvResnetBlock`, ``dims=3`` for :class:`CausalResnet3d`.
    """
    check_int("in_channels", in_channels, min_value=1)
    out_channels = in_channels if out_channels is None else check_int("out_channels", out_channels, min_value=1)
    check_int("kernel_size", kernel_size, min_value=1)
    check_int("dims", dims, min_value=1)
    check_one_of("shortcut", shortcut, SHORTCUTS)
    cin, cout, taps = in_channels, out_channels, kernel_size**dims
    total = 2 * cin + (cin * cout * taps + cout) + 2 * cout + (cout * cout * taps + cout)
    if shortcut == "always" or cin != cout:
        total += cin * cout * (taps if shortcut == "conv" else 1) + cout
    return total


class CausalResnet3d(nn.Module):
    """The causal 3-D residual block of the seed-000 video encoder, field names and order as printed; Chapter 3,
    *Seed 000: the causal 3-D block*.

    ``out = shortcut(x) + conv2(dropout(SiLU(norm2(conv1(SiLU(norm1(x)))))))`` with 3x3x3 :class:`CausalConv3d`
    convolutions and, only when the channel count changes, a 1x1x1 causal ``conv_shortcut``.

    Args:
        in_channels, out_channels: channels of input and output (``out_channels`` defaults to ``in_channels``).
        dropout: dropout probability between the two convolutions (the seed: 0.0).
        num_groups, eps: GroupNorm settings (the seed: 2 groups, eps 1e-6).
        per_frame_norm: ``False`` (the seed) normalises over the whole clip with :class:`GroupNorm`, which makes
            the block *non-causal*; ``True`` uses :class:`PerFrameGroupNorm`, which keeps it causal and
            streamable (Chapter 9).
        padding_mode: temporal padding of the convs, ``"zeros"`` or ``"replicate"``.

    Shape: ``(B, in, T, H, W) -> (B, out, T, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, dropout: float = 0.0,
                 num_groups: int = 2, eps: float = 1e-6, per_frame_norm: bool = False,
                 padding_mode: str = "zeros") -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        out_channels = in_channels if out_channels is None else check_int("out_channels", out_channels, min_value=1)
        check_float("dropout", dropout, min_value=0.0, max_value=1.0)
        check_int("num_groups", num_groups, min_value=1)
        check_divisible("in_channels", in_channels, "num_groups", num_groups)
        check_divisible("out_channels", out_channels, "num_groups", num_groups)
        check_bool("per_frame_norm", per_frame_norm)
        check_one_of("padding_mode", padding_mode, PADDING_MODES)
        self.in_channels = in_channels
        self.out_channels = out_channels
        norm = PerFrameGroupNorm if per_frame_norm else GroupNorm

        self.norm1 = norm(num_groups, in_channels, eps=eps)
        self.conv1 = CausalConv3d(in_channels, out_channels, kernel_size=3, padding_mode=padding_mode)
        self.norm2 = norm(num_groups, out_channels, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = CausalConv3d(out_channels, out_channels, kernel_size=3, padding_mode=padding_mode)
        self.activation_fn = nn.SiLU()
        if in_channels != out_channels:
            self.conv_shortcut = CausalConv3d(in_channels, out_channels, kernel_size=1, padding_mode=padding_mode)
        else:
            self.conv_shortcut = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_block_input("x", x, self, channels=self.in_channels, ndim=5, layout="(B, C, T, H, W)",
                          dims=2)  # an empty time chunk is valid (streaming)
        h = self.conv1(self.activation_fn(self.norm1(x)))
        h = self.conv2(self.dropout(self.activation_fn(self.norm2(h))))
        skip = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return skip + h
