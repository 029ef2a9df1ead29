"""Chapter 7: the latent-diffusion autoencoder (seed 001): ``Encoder``, ``Decoder`` and ``AutoencoderKL``.

This is the first-stage model of latent diffusion {Rombach et al., 2022} and Stable Diffusion, with CompVis
LDM's semantics and module paths (``encoder.down[i].block[j]``, ``decoder.up[i].attn[j]``, ``mid.block_1``,
...), so LDM / Stable Diffusion state dicts load without renaming; :mod:`encoderlab.weights` maps them to and
from diffusers' names.

It is assembled only from the book's building blocks: :class:`~encoderlab.ResnetBlock` (Chapter 3),
:class:`~encoderlab.Downsample` / :class:`~encoderlab.Upsample` (Chapter 2), :func:`~encoderlab.make_attn`
(Chapter 4), :class:`~encoderlab.GroupNorm` (Chapter 1) and :class:`~encoderlab.DiagonalGaussian` (Chapter 5).

Shapes, with ``L = len(ch_mult)`` levels and ``f = 2 ** (L - 1)``::

    Encoder: (B, in_channels, H, W) -> (B, z_channels * (2 if double_z else 1), H / f, W / f)
    Decoder: (B, z_channels, h, w)  -> (B, out_ch, h * f, w * f)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import (
    check_bool,
    check_channels,
    check_float,
    check_int,
    check_one_of,
    check_tensor,
)
from .attention import ATTN_TYPES, make_attn
from .conv import Downsample, Upsample
from .distributions import DiagonalGaussian
from .norm import GroupNorm
from .resnet import ResnetBlock

__all__ = ["AutoencoderKL", "Decoder", "DownLevel", "Encoder", "MidLevel", "UpLevel", "ldm_level_resolutions"]

NUM_GROUPS = 32  # LDM's Normalize(): GroupNorm(32, C, eps=1e-6) everywhere
EPS = 1e-6


def _check_ch_mult(ch_mult) -> tuple[int, ...]:
    if isinstance(ch_mult, (str, bytes)) or not isinstance(ch_mult, Sequence):
        raise TypeError(f"ch_mult must be a tuple of ints such as (1, 2, 4, 4), got {type(ch_mult).__name__} {ch_mult!r}")
    if len(ch_mult) == 0:
        raise ValueError("ch_mult must have at least one entry (one per resolution level), got ()")
    for m in ch_mult:
        if isinstance(m, bool) or not isinstance(m, int):
            raise TypeError(f"ch_mult must contain ints, got {ch_mult!r}")
        if m < 1:
            raise ValueError(f"every entry of ch_mult must be >= 1, got {ch_mult!r}")
    return tuple(ch_mult)


def ldm_level_resolutions(resolution: int, num_levels: int) -> list[int]:
    """The nominal resolution at which each of the ``num_levels`` encoder levels runs: ``resolution // 2**i``."""
    return [resolution // 2**i for i in range(num_levels)]


def _check_config(ch, ch_mult, num_res_blocks, attn_resolutions, dropout, resamp_with_conv, resolution,
                  z_channels, attn_type, use_linear_attn) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """Validate the arguments shared by Encoder and Decoder; return (ch_mult, attn_resolutions, attn_type)."""
    check_int("ch", ch, min_value=1)
    ch_mult = _check_ch_mult(ch_mult)
    check_int("num_res_blocks", num_res_blocks, min_value=1)
    check_float("dropout", dropout, min_value=0.0, max_value=1.0)
    check_bool("resamp_with_conv", resamp_with_conv)
    check_int("resolution", resolution, min_value=1)
    check_int("z_channels", z_channels, min_value=1)
    check_bool("use_linear_attn", use_linear_attn)
    check_one_of("attn_type", attn_type, ATTN_TYPES)
    if use_linear_attn:  # LDM's older switch, kept for its configs
        attn_type = "linear"
    factor = 2 ** (len(ch_mult) - 1)
    if resolution % factor != 0:
        raise ValueError(f"resolution={resolution} must be divisible by 2**(len(ch_mult) - 1) = {factor}: "
                         f"the {len(ch_mult)} levels halve it {len(ch_mult) - 1} times")
    for i, m in enumerate(ch_mult):
        if (ch * m) % NUM_GROUPS != 0:
            raise ValueError(f"ch * ch_mult[{i}] = {ch} * {m} = {ch * m} channels must be divisible by the "
                             f"{NUM_GROUPS} GroupNorm groups")
    if isinstance(attn_resolutions, (str, bytes)) or not isinstance(attn_resolutions, Sequence):
        raise TypeError(f"attn_resolutions must be a list of ints such as [16] (or []), got "
                        f"{type(attn_resolutions).__name__} {attn_resolutions!r}")
    levels = ldm_level_resolutions(resolution, len(ch_mult))
    for r in attn_resolutions:
        if isinstance(r, bool) or not isinstance(r, int):
            raise TypeError(f"attn_resolutions must contain ints, got {attn_resolutions!r}")
        if r not in levels:
            raise ValueError(f"attn_resolutions contains {r}, which is not the resolution of any level: with "
                             f"resolution={resolution} and {len(ch_mult)} levels they are {levels}")
    return ch_mult, tuple(attn_resolutions), attn_type


def _act(h: torch.Tensor) -> torch.Tensor:
    """SiLU, in place when no autograd graph needs the input."""
    return F.silu(h, inplace=not torch.is_grad_enabled())


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``x`` in channels-last memory format on the CPU when ``channels_last`` is set (a no-op if it already is)."""
    if channels_last and x.device.type == "cpu":
        return x.contiguous(memory_format=torch.channels_last)
    return x


class _ChannelsLastOnCPU(nn.Module):
    """Keeps a model's activations and convolution weights channels-last while it lives on the CPU.

    oneDNN, PyTorch's CPU convolution library, works natively in channels-last layout. Given default-layout
    activations it computes in its own layout and copies the result back (time, and one extra activation per
    convolution); given channels-last activations with default-layout weights, PyTorch copies every weight
    into channels-last on every call (about 5% of the SD encoder's time at 512 channels). So on the CPU the
    4-D weights are stored channels-last (re-arranged whenever the model moves: ``.to()``, ``.cpu()``,
    ``.double()``, ...; on other devices they stay in the default layout), and ``forward`` converts its input.
    ``state_dict()`` still returns standard contiguous tensors (for safetensors and friends). Set
    ``cpu_channels_last = False`` to run everything in PyTorch's default layout.
    """

    _cpu_channels_last = True

    @property
    def cpu_channels_last(self) -> bool:
        return self._cpu_channels_last

    @cpu_channels_last.setter
    def cpu_channels_last(self, value: bool) -> None:
        self._cpu_channels_last = check_bool("cpu_channels_last", value)
        self._sync_weight_layout()

    def _sync_weight_layout(self) -> None:
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

    def _contiguous_state(self, state_dict, prefix, local_metadata) -> None:  # a state-dict hook
        for key, value in state_dict.items():
            if key.startswith(prefix) and isinstance(value, torch.Tensor) and not value.is_contiguous():
                state_dict[key] = value.contiguous()

    def _finish_init(self) -> None:
        self.register_state_dict_post_hook(_ChannelsLastOnCPU._contiguous_state)
        self._sync_weight_layout()


class _Level(nn.Module):
    """A resolution level: ResnetBlocks, each followed by attention if the level has any, then a resampler."""

    _resampler = ""

    def __init__(self, block_in: int, block_out: int, num_blocks: int, with_attn: bool, attn_type: str,
                 dropout: float) -> None:
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()
        for _ in range(num_blocks):
            self.block.append(ResnetBlock(block_in, block_out, dropout=dropout, num_groups=NUM_GROUPS, eps=EPS))
            block_in = block_out
            if with_attn:
                self.attn.append(make_attn(block_in, attn_type))
        self.out_channels = block_out

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for j, block in enumerate(self.block):
            h = block(h)
            if len(self.attn) > 0:
                h = self.attn[j](h)
        resample = getattr(self, self._resampler, None)
        return h if resample is None else resample(h)


class DownLevel(_Level):
    """One encoder level: ``num_res_blocks`` x [ResnetBlock, attention if any], then an optional Downsample.

    Holds LDM's ``block`` (ModuleList), ``attn`` (ModuleList, empty at levels without attention) and, except at
    the last level, ``downsample``. ``(B, cin, H, W) -> (B, cout, H/2, W/2)`` (no halving at the last level).
    """

    _resampler = "downsample"

    def __init__(self, block_in: int, block_out: int, num_res_blocks: int, with_attn: bool, attn_type: str,
                 dropout: float, downsample: bool, resamp_with_conv: bool) -> None:
        super().__init__(block_in, block_out, num_res_blocks, with_attn, attn_type, dropout)
        if downsample:
            self.downsample = Downsample(block_out, with_conv=resamp_with_conv)


class UpLevel(_Level):
    """One decoder level: ``num_res_blocks + 1`` x [ResnetBlock, attention if any], then an optional Upsample.

    Holds LDM's ``block``, ``attn`` and, except at level 0 (full resolution), ``upsample``.
    ``(B, cin, h, w) -> (B, cout, 2h, 2w)`` (no doubling at level 0).
    """

    _resampler = "upsample"

    def __init__(self, block_in: int, block_out: int, num_blocks: int, with_attn: bool, attn_type: str,
                 dropout: float, upsample: bool, resamp_with_conv: bool) -> None:
        super().__init__(block_in, block_out, num_blocks, with_attn, attn_type, dropout)
        if upsample:
            self.upsample = Upsample(block_out, with_conv=resamp_with_conv)


class MidLevel(nn.Module):
    """The bottleneck at the lowest resolution: ``block_1`` -> ``attn_1`` -> ``block_2`` (LDM's ``mid``).

    ``attn_1`` always exists: an :class:`~encoderlab.AttnBlock`, a :class:`~encoderlab.LinAttnBlock`, or
    ``nn.Identity`` for ``attn_type="none"``. ``(B, C, h, w) -> (B, C, h, w)``.
    """

    def __init__(self, channels: int, attn_type: str, dropout: float) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, dropout=dropout, num_groups=NUM_GROUPS, eps=EPS)
        self.attn_1 = make_attn(channels, attn_type)
        self.block_2 = ResnetBlock(channels, channels, dropout=dropout, num_groups=NUM_GROUPS, eps=EPS)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(h)))


class Encoder(_ChannelsLastOnCPU):
    """LDM's encoder: image ``(B, in_channels, H, W)`` -> latent ``(B, z, H/f, W/f)`` with ``f = 2**(L-1)``.

    Args (keyword-only, the names of seed 001 and of LDM's ``ddconfig``):
        ch: base channel count; level ``i`` has ``ch * ch_mult[i]`` channels (each a multiple of 32).
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
        out_ch, tanh_out, give_pre_end: accepted and ignored (decoder settings), so that one ``ddconfig`` builds
            both halves as in LDM.

    Modules (LDM's paths): ``conv_in``, ``down[i].block[j]``, ``down[i].attn[j]``, ``down[i].downsample``,
    ``mid.block_1``, ``mid.attn_1``, ``mid.block_2``, ``norm_out``, ``conv_out``.

    On the CPU the activations and convolution weights are kept in channels-last memory format (oneDNN's
    native layout; faster and leaner, see ``_ChannelsLastOnCPU``); set ``cpu_channels_last = False`` on an
    instance to run in PyTorch's default layout. The output is always a standard contiguous tensor.
    """

    def __init__(self, *, ch: int, ch_mult: Sequence[int] = (1, 2, 4, 8), num_res_blocks: int,
                 attn_resolutions: Sequence[int], dropout: float = 0.0, resamp_with_conv: bool = True,
                 in_channels: int, resolution: int, z_channels: int, double_z: bool = False,
                 use_linear_attn: bool = False, attn_type: str = "vanilla", out_ch: int | None = None,
                 tanh_out: bool = False, give_pre_end: bool = False) -> None:
        super().__init__()
        ch_mult, attn_resolutions, attn_type = _check_config(
            ch, ch_mult, num_res_blocks, attn_resolutions, dropout, resamp_with_conv, resolution, z_channels,
            attn_type, use_linear_attn)
        check_int("in_channels", in_channels, min_value=1)
        check_bool("double_z", double_z)
        self.ch, self.ch_mult, self.num_res_blocks = ch, ch_mult, num_res_blocks
        self.attn_resolutions, self.attn_type, self.dropout = attn_resolutions, attn_type, float(dropout)
        self.resamp_with_conv, self.resolution = resamp_with_conv, resolution
        self.in_channels, self.z_channels, self.double_z = in_channels, z_channels, double_z
        self.num_resolutions = len(ch_mult)
        self.downsample_factor = 2 ** (self.num_resolutions - 1)

        self.conv_in = nn.Conv2d(in_channels, ch, kernel_size=3, stride=1, padding=1)
        in_ch_mult = (1,) + ch_mult
        curr_res = resolution
        self.down = nn.ModuleList()
        for i, mult in enumerate(ch_mult):
            last = i == self.num_resolutions - 1
            self.down.append(DownLevel(ch * in_ch_mult[i], ch * mult, num_res_blocks, curr_res in attn_resolutions,
                                       attn_type, self.dropout, not last, resamp_with_conv))
            if not last:
                curr_res //= 2
        block_in = ch * ch_mult[-1]
        self.mid = MidLevel(block_in, attn_type, self.dropout)
        self.norm_out = GroupNorm(NUM_GROUPS, block_in, eps=EPS)
        self.out_channels = 2 * z_channels if double_z else z_channels
        self.conv_out = nn.Conv2d(block_in, self.out_channels, kernel_size=3, stride=1, padding=1)
        self._finish_init()

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError/TypeError unless ``x`` is ``(B, in_channels, H, W)`` with H, W divisible by f."""
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_channels)
        h, w = x.shape[-2:]
        f = self.downsample_factor
        if h % f or w % f or h == 0 or w == 0:
            raise ValueError(f"x has spatial size (H, W) = ({h}, {w}); the encoder's {self.num_resolutions} levels "
                             f"halve it {self.num_resolutions - 1} times, so H and W must be positive multiples of {f}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        cl = self.cpu_channels_last
        h = self.conv_in(_layout(x, cl))
        for level in self.down:
            h = _layout(level(h), cl)
        h = self.mid(h)
        return self.conv_out(_act(self.norm_out(h))).contiguous()


class Decoder(_ChannelsLastOnCPU):
    """LDM's decoder: latent ``(B, z_channels, h, w)`` -> image ``(B, out_ch, h*f, w*f)`` with ``f = 2**(L-1)``.

    The mirror of :class:`Encoder` with the same arguments, plus:
        out_ch: channels of the output image.
        give_pre_end: return the features before ``norm_out``/``conv_out``, ``(B, ch * ch_mult[0], H, W)``.
        tanh_out: squash the output with ``tanh``.
    Every level has ``num_res_blocks + 1`` ResnetBlocks. ``in_channels`` and ``double_z`` are accepted and
    ignored (encoder settings), so that one ``ddconfig`` builds both halves.

    Modules (LDM's paths): ``conv_in``, ``mid.*``, ``up[i].block[j]``, ``up[i].attn[j]``, ``up[i].upsample``,
    ``norm_out``, ``conv_out``. ``up[0]`` is the full-resolution level (it runs last). On the CPU the
    activations and weights are channels-last, as in :class:`Encoder` (``cpu_channels_last``).
    """

    def __init__(self, *, ch: int, out_ch: int, ch_mult: Sequence[int] = (1, 2, 4, 8), num_res_blocks: int,
                 attn_resolutions: Sequence[int], dropout: float = 0.0, resamp_with_conv: bool = True,
                 in_channels: int | None = None, resolution: int, z_channels: int, give_pre_end: bool = False,
                 tanh_out: bool = False, use_linear_attn: bool = False, attn_type: str = "vanilla",
                 double_z: bool | None = None) -> None:
        super().__init__()
        ch_mult, attn_resolutions, attn_type = _check_config(
            ch, ch_mult, num_res_blocks, attn_resolutions, dropout, resamp_with_conv, resolution, z_channels,
            attn_type, use_linear_attn)
        check_int("out_ch", out_ch, min_value=1)
        check_bool("give_pre_end", give_pre_end)
        check_bool("tanh_out", tanh_out)
        self.ch, self.ch_mult, self.num_res_blocks = ch, ch_mult, num_res_blocks
        self.attn_resolutions, self.attn_type, self.dropout = attn_resolutions, attn_type, float(dropout)
        self.resamp_with_conv, self.resolution = resamp_with_conv, resolution
        self.out_ch, self.z_channels = out_ch, z_channels
        self.give_pre_end, self.tanh_out = give_pre_end, tanh_out
        self.num_resolutions = len(ch_mult)
        self.upsample_factor = 2 ** (self.num_resolutions - 1)
        curr_res = resolution // self.upsample_factor
        self.z_shape = (1, z_channels, curr_res, curr_res)

        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, kernel_size=3, stride=1, padding=1)
        self.mid = MidLevel(block_in, attn_type, self.dropout)
        levels = []
        for i in reversed(range(self.num_resolutions)):
            level = UpLevel(block_in, ch * ch_mult[i], num_res_blocks + 1, curr_res in attn_resolutions, attn_type,
                            self.dropout, i != 0, resamp_with_conv)
            block_in = level.out_channels
            levels.insert(0, level)
            if i != 0:
                curr_res *= 2
        self.up = nn.ModuleList(levels)
        self.norm_out = GroupNorm(NUM_GROUPS, block_in, eps=EPS)
        self.conv_out = nn.Conv2d(block_in, out_ch, kernel_size=3, stride=1, padding=1)
        self._finish_init()

    def check_input(self, z: torch.Tensor) -> None:
        """Raise a ValueError/TypeError unless ``z`` is ``(B, z_channels, h, w)``."""
        check_tensor("z", z, ndim=4, layout="(B, C, H, W)")
        check_channels("z", z, self.z_channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.check_input(z)
        cl = self.cpu_channels_last
        h = _layout(self.mid(self.conv_in(_layout(z, cl))), cl)
        for level in reversed(self.up):
            h = _layout(level(h), cl)
        if self.give_pre_end:
            return h.contiguous()
        h = self.conv_out(_act(self.norm_out(h))).contiguous()
        return torch.tanh(h) if self.tanh_out else h


_DDCONFIG_KEYS = ("ch", "out_ch", "ch_mult", "num_res_blocks", "attn_resolutions", "dropout", "resamp_with_conv",
                  "in_channels", "resolution", "z_channels", "double_z", "use_linear_attn", "attn_type",
                  "tanh_out", "give_pre_end")


class AutoencoderKL(nn.Module):
    """LDM's KL-regularised autoencoder (Stable Diffusion's VAE): Encoder, ``quant_conv``, a diagonal Gaussian
    posterior, ``post_quant_conv``, Decoder.

    Build it from LDM's ``ddconfig`` dict or from the same arguments given directly::

        AutoencoderKL(ddconfig=dict(ch=128, ch_mult=(1, 2, 4, 4), ...), embed_dim=4)
        AutoencoderKL(ch=128, ch_mult=(1, 2, 4, 4), ..., embed_dim=4)

    The encoder is always built with ``double_z=True`` (it outputs mean and log-variance).
    ``quant_conv``: 1x1, ``2*z_channels -> 2*embed_dim``; ``post_quant_conv``: 1x1, ``embed_dim -> z_channels``.
    ``embed_dim`` defaults to ``z_channels``. ``scaling_factor`` (SD: 0.18215) is the factor by which latents
    are multiplied before a diffusion model sees them (stored here, applied by :meth:`encode_latents`).

    Shapes: ``encode``: ``(B, in_channels, H, W)`` -> posterior over ``(B, embed_dim, H/f, W/f)``;
    ``decode``: ``(B, embed_dim, h, w)`` -> ``(B, out_ch, h*f, w*f)``.
    """

    def __init__(self, ddconfig: Mapping | None = None, embed_dim: int | None = None, *,
                 scaling_factor: float = 0.18215, **kwargs) -> None:
        super().__init__()
        if ddconfig is not None and kwargs:
            raise TypeError(f"give either ddconfig or its arguments, not both (got ddconfig and {sorted(kwargs)})")
        if ddconfig is None:
            ddconfig = kwargs
        if not isinstance(ddconfig, Mapping):
            raise TypeError(f"ddconfig must be a dict, got {type(ddconfig).__name__}")
        unknown = sorted(set(ddconfig) - set(_DDCONFIG_KEYS))
        if unknown:
            raise TypeError(f"unknown ddconfig argument(s) {unknown}; expected some of {list(_DDCONFIG_KEYS)}")
        ddconfig = dict(ddconfig)
        if ddconfig.get("double_z", True) is not True:
            raise ValueError(f"AutoencoderKL needs double_z=True (the encoder outputs mean and log-variance), "
                             f"got double_z={ddconfig['double_z']!r}")
        ddconfig["double_z"] = True
        for name in ("ch", "num_res_blocks", "attn_resolutions", "resolution", "z_channels"):
            if name not in ddconfig:
                raise TypeError(f"ddconfig is missing the required argument {name!r}")
        ddconfig.setdefault("in_channels", 3)
        ddconfig.setdefault("out_ch", 3)
        z_channels = ddconfig["z_channels"]
        embed_dim = z_channels if embed_dim is None else check_int("embed_dim", embed_dim, min_value=1)
        self.scaling_factor = check_float("scaling_factor", scaling_factor, positive=True)
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        self.ddconfig = ddconfig
        self.embed_dim = embed_dim
        self.quant_conv = nn.Conv2d(2 * z_channels, 2 * embed_dim, kernel_size=1)
        self.post_quant_conv = nn.Conv2d(embed_dim, z_channels, kernel_size=1)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """``(B, in_channels, H, W)`` -> the posterior ``q(z | x)``, a :class:`DiagonalGaussian` over
        ``(B, embed_dim, H/f, W/f)``."""
        return DiagonalGaussian(self.quant_conv(self.encoder(x)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, embed_dim, h, w)`` -> ``(B, out_ch, h*f, w*f)``."""
        check_tensor("z", z, ndim=4, layout="(B, C, H, W)")
        check_channels("z", z, self.embed_dim)
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x: torch.Tensor, sample_posterior: bool = True,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, DiagonalGaussian]:
        """Encode, take a sample (or the mean, with ``sample_posterior=False``), decode.

        Returns ``(reconstruction, posterior)`` as LDM does.
        """
        check_bool("sample_posterior", sample_posterior)
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z), posterior

    def encode_latents(self, x: torch.Tensor, sample_posterior: bool = False,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """The latents a diffusion model is trained on: ``scaling_factor * z`` (z: the mean, or a sample)."""
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.scaling_factor * z

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`encode_latents`: ``decode(latents / scaling_factor)``."""
        return self.decode(latents / self.scaling_factor)
