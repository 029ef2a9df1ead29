"""Chapter 7, *The encoder, level by level*: LDM's ``Encoder``, image -> latent.

``(B, in_channels, H, W) -> (B, z_channels * (2 if double_z else 1), H / f, W / f)`` with ``L = len(ch_mult)``
levels and ``f = 2 ** (L - 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_block_input, check_bool, check_int, check_spatial_multiple
from ..norm import GroupNorm
from .levels import EPS, NUM_GROUPS, DownLevel, MidLevel, _LDMHalf

__all__ = ["Encoder"]


class Encoder(_LDMHalf):
    """LDM's encoder: image ``(B, in_channels, H, W)`` -> latent ``(B, z, H/f, W/f)`` with ``f = 2**(L-1)``
    (Chapter 7, *The encoder, level by level*).

    Args (keyword-only, the names of seed 001 and of LDM's ``ddconfig``):
        ch: base channel count; level ``i`` has ``ch * ch_mult[i]`` channels (each a multiple of ``norm_num_groups``).
        ch_mult: one multiplier per resolution level; ``L = len(ch_mult)`` levels, ``L - 1`` downsamplings.
        num_res_blocks: ResnetBlocks per level.
        attn_resolutions: nominal resolutions (``resolution // 2**i``) at which every ResnetBlock of the level
            is followed by attention; the middle always has one attention block.
        dropout: dropout probability inside every ResnetBlock.
        resamp_with_conv: downsample with the asymmetric-padding 3x3 stride-2 conv (True) or 2x2 average pooling.
        in_channels: channels of the input image.
        resolution: the nominal input size; it only decides where attention goes (the input may be any size
            divisible by ``f``).
        z_channels: latent channels.
        double_z: output ``2 * z_channels`` (mean and log-variance, as ``AutoencoderKL`` needs) instead of
            ``z_channels``. Default False, so the seed's example prints ``(1, 16, 8, 8)``; LDM's default is True.
        attn_type: ``"vanilla"`` (:class:`~encoderlab.AttnBlock`), ``"linear"`` (:class:`~encoderlab.LinAttnBlock`,
            no norm and no residual) or ``"none"`` (``nn.Identity`` everywhere, the middle included).
        use_linear_attn: LDM's older switch for ``attn_type="linear"``.
        norm_num_groups: the groups of every GroupNorm (diffusers' name; LDM fixes 32, the default). Every
            level's width must be a multiple.
        out_ch, tanh_out, give_pre_end: accepted and ignored (decoder settings), so that one ``ddconfig`` builds
            both halves as in LDM.

    Modules (LDM's paths): ``conv_in``, ``down[i].block[j]``, ``down[i].attn[j]``, ``down[i].downsample``,
    ``mid.block_1``, ``mid.attn_1``, ``mid.block_2``, ``norm_out``, ``conv_out``.

    ``forward`` is the plain recipe: ``conv_in`` -> levels -> ``mid`` -> ``norm_out`` -> SiLU -> ``conv_out``.
    On the CPU the convolution weights, and so the activations, are channels-last (oneDNN's native layout;
    faster and leaner): the mixin :class:`~encoderlab.fast.ChannelsLastOnCPU` does that from outside the
    recipe; set ``cpu_channels_last = False`` on an instance to run in PyTorch's default layout. The output is
    always a standard contiguous tensor.
    """

    def __init__(self, *, ch: int, ch_mult: Sequence[int] = (1, 2, 4, 8), num_res_blocks: int,
                 attn_resolutions: Sequence[int], dropout: float = 0.0, resamp_with_conv: bool = True,
                 in_channels: int, resolution: int, z_channels: int, double_z: bool = False,
                 use_linear_attn: bool = False, attn_type: str = "vanilla", norm_num_groups: int = NUM_GROUPS,
                 out_ch: int | None = None, tanh_out: bool = False, give_pre_end: bool = False) -> None:
        super().__init__()
        ch_mult, attn_resolutions, attn_type = self._configure(ch, ch_mult, num_res_blocks, attn_resolutions, dropout,
                                                               resamp_with_conv, resolution, z_channels, attn_type,
                                                               use_linear_attn, norm_num_groups)
        self._check_ignored(out_ch=(out_ch, int), tanh_out=(tanh_out, bool), give_pre_end=(give_pre_end, bool))
        self.in_channels = check_int("in_channels", in_channels, min_value=1)
        self.double_z = check_bool("double_z", double_z)
        self.downsample_factor = 2 ** (self.num_resolutions - 1)

        self.conv_in = nn.Conv2d(in_channels, ch, kernel_size=3, stride=1, padding=1)
        in_ch_mult = (1,) + ch_mult
        curr_res = resolution
        self.down = nn.ModuleList()
        for i, mult in enumerate(ch_mult):
            last = i == self.num_resolutions - 1
            self.down.append(DownLevel(ch * in_ch_mult[i], ch * mult, num_res_blocks, curr_res in attn_resolutions,
                                       attn_type, self.dropout, not last, resamp_with_conv,
                                       norm_num_groups))
            if not last:
                curr_res //= 2
        block_in = ch * ch_mult[-1]
        self.mid = MidLevel(block_in, attn_type, self.dropout, norm_num_groups)
        self.norm_out = GroupNorm(norm_num_groups, block_in, eps=EPS)
        self.out_channels = 2 * z_channels if double_z else z_channels
        self.conv_out = nn.Conv2d(block_in, self.out_channels, kernel_size=3, stride=1, padding=1)
        self._finish_init()

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError/TypeError unless ``x`` is ``(B, in_channels, H, W)`` with H, W positive multiples of
        f (dtype of the weights, a map large enough for every GroupNorm)."""
        check_block_input("x", x, self, channels=self.in_channels, min_size=0)
        check_spatial_multiple("x", x, self.downsample_factor, why=f"the encoder's {self.num_resolutions} levels "
                               f"halve it {self.num_resolutions - 1} times")
        self._check_group_sizes("x", x, [tuple(s >> i for s in x.shape[2:]) for i in range(self.num_resolutions)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))
