"""Chapter 7, *The decoder, mirrored*: LDM's ``Decoder``, latent -> image.

``(B, z_channels, h, w) -> (B, out_ch, h * f, w * f)`` with ``L = len(ch_mult)`` levels and ``f = 2 ** (L - 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_block_input, check_bool, check_int
from ..norm import GroupNorm
from .levels import EPS, NUM_GROUPS, MidLevel, UpLevel, _LDMHalf

__all__ = ["Decoder"]


class Decoder(_LDMHalf):
    """LDM's decoder: latent ``(B, z_channels, h, w)`` -> image ``(B, out_ch, h*f, w*f)`` with ``f = 2**(L-1)``
    (Chapter 7, *The decoder, mirrored*).

    The mirror of :class:`Encoder` with the same arguments, plus:
        out_ch: channels of the output image.
        give_pre_end: return the features before ``norm_out``/``conv_out``, ``(B, ch * ch_mult[0], H, W)``.
        tanh_out: squash the output with ``tanh``.
    Every level has ``num_res_blocks + 1`` ResnetBlocks. ``in_channels`` and ``double_z`` are accepted and
    ignored (encoder settings), so that one ``ddconfig`` builds both halves.

    Modules (LDM's paths): ``conv_in``, ``mid.*``, ``up[i].block[j]``, ``up[i].attn[j]``, ``up[i].upsample``,
    ``norm_out``, ``conv_out``. ``up[0]`` is the full-resolution level (it runs last). ``forward``: ``conv_in``
    -> ``mid`` -> levels from the lowest resolution -> ``norm_out`` -> SiLU -> ``conv_out``. On the CPU the
    weights and activations are channels-last, as in :class:`~encoderlab.ldm.Encoder` (``cpu_channels_last``).
    """

    def __init__(self, *, ch: int, out_ch: int, ch_mult: Sequence[int] = (1, 2, 4, 8), num_res_blocks: int,
                 attn_resolutions: Sequence[int], dropout: float = 0.0, resamp_with_conv: bool = True,
                 in_channels: int | None = None, resolution: int, z_channels: int, give_pre_end: bool = False,
                 tanh_out: bool = False, use_linear_attn: bool = False, attn_type: str = "vanilla",
                 norm_num_groups: int = NUM_GROUPS, double_z: bool | None = None) -> None:
        super().__init__()
        ch_mult, attn_resolutions, attn_type = self._configure(ch, ch_mult, num_res_blocks, attn_resolutions, dropout,
                                                               resamp_with_conv, resolution, z_channels, attn_type,
                                                               use_linear_attn, norm_num_groups)
        self._check_ignored(in_channels=(in_channels, int), double_z=(double_z, bool))
        self.out_ch = check_int("out_ch", out_ch, min_value=1)
        self.give_pre_end = check_bool("give_pre_end", give_pre_end)
        self.tanh_out = check_bool("tanh_out", tanh_out)
        self.upsample_factor = 2 ** (self.num_resolutions - 1)
        curr_res = resolution // self.upsample_factor
        self.z_shape = (1, z_channels, curr_res, curr_res)

        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, kernel_size=3, stride=1, padding=1)
        self.mid = MidLevel(block_in, attn_type, self.dropout, norm_num_groups)
        levels = []
        for i in reversed(range(self.num_resolutions)):
            level = UpLevel(block_in, ch * ch_mult[i], num_res_blocks + 1, curr_res in attn_resolutions, attn_type,
                            self.dropout, i != 0, resamp_with_conv, norm_num_groups)
            block_in = level.out_channels
            levels.insert(0, level)
            if i != 0:
                curr_res *= 2
        self.up = nn.ModuleList(levels)
        self.norm_out = GroupNorm(norm_num_groups, block_in, eps=EPS)
        self.conv_out = nn.Conv2d(block_in, out_ch, kernel_size=3, stride=1, padding=1)
        self._finish_init()

    def check_input(self, z: torch.Tensor) -> None:
        """Raise a ValueError/TypeError unless ``z`` is ``(B, z_channels, h, w)`` (dtype of the weights, a map large
        enough for every GroupNorm)."""
        check_block_input("z", z, self, channels=self.z_channels)
        self._check_group_sizes("z", z, [tuple(s << (self.num_resolutions - 1 - i) for s in z.shape[2:])
                                         for i in range(self.num_resolutions)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.check_input(z)
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        if self.give_pre_end:
            return h
        h = self.conv_out(F.silu(self.norm_out(h)))
        return torch.tanh(h) if self.tanh_out else h
