"""Chapter 8: the seed-003 VAE -- ``DownBlock``, ``UpBlock`` and ``VAE`` (with the shared ``MidBlock``).

The model follows seed 003 (explainingai's ``StableDiffusion-PyTorch`` VAE, as simplified by the blog post the
seed reproduces): argument names, attribute names and layer order are the seed's. What differs from the
LDM autoencoder of Chapter 7 (and why) is discussed in the chapter:

- downsampling is a 4x4 stride-2 convolution with symmetric padding 1 (LDM: asymmetric pad + 3x3 stride 2);
- upsampling is a 4x4 stride-2 *transposed* convolution, applied at the START of an ``UpBlock``;
- every residual block has a 1x1 convolution on its skip path, even when the channel count is unchanged;
- GroupNorm uses PyTorch's default ``eps=1e-5``; the mid-blocks use 4-head ``nn.MultiheadAttention``;
- ``encode(x)`` returns ``(sample, moments)`` where ``moments = cat(mean, logvar)`` (LDM: a posterior object).
  :meth:`VAE.posterior` offers the same thing as a :class:`~encoderlab.DiagonalGaussian`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._validation import (
    check_block_input,
    check_bool,
    check_divisible,
    check_generator,
    check_int,
    check_int_sequence,
    check_keys,
    check_spatial_multiple,
)
from .distributions import DiagonalGaussian, _PriorAndPosterior
from .mid_block import MidBlock
from .norm import GroupNorm
from .resnet import check_seed003_args, seed003_skips, seed003_unit, seed003_units

__all__ = ["SEED003_CONFIG", "DownBlock", "UpBlock", "VAE", "vae_config"]

#: The seed's configuration (explainingai ``config/celebhq.yaml``, ``autoencoder_params``), RGB input.
SEED003_CONFIG: dict = {
    "im_channels": 3,
    "z_channels": 4,
    "down_channels": (64, 128, 256, 256),
    "mid_channels": (256, 256),
    "down_sample": (True, True, True),
    "num_down_layers": 2,
    "num_mid_layers": 2,
    "num_up_layers": 2,
    "norm_channels": 32,
    "num_heads": 4,
}


class _ResidualStack(nn.Module):
    """``num_layers`` chained seed-003 residual units (:func:`~encoderlab.resnet.seed003_unit`), seed names.

    ``__init__`` checks and stores the arguments; the subclass calls :meth:`_build_resnets` where the seed
    creates the units (before or after its resampler: the order in which the initial weights are drawn).
    """

    def __init__(self, in_channels: int, out_channels: int, num_layers: int, norm_channels: int) -> None:
        super().__init__()
        check_seed003_args(in_channels, out_channels, norm_channels, num_layers)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_layers, self.norm_channels = num_layers, norm_channels

    def _build_resnets(self) -> None:
        self.resnet_conv_first, self.resnet_conv_second = seed003_units(self.in_channels, self.out_channels,
                                                                        self.num_layers, self.norm_channels)
        self.residual_input_conv = seed003_skips(self.in_channels, self.out_channels, self.num_layers)

    def _resnets(self, out: torch.Tensor) -> torch.Tensor:
        for i in range(self.num_layers):
            out = seed003_unit(self.resnet_conv_first[i], self.resnet_conv_second[i], self.residual_input_conv[i], out)
        return out


class DownBlock(_ResidualStack):
    """``num_layers`` residual blocks, then (if ``down_sample``) a 4x4 stride-2 conv that halves H and W
    (Chapter 8, *DownBlock and UpBlock*).

    Each residual block is ``[GN -> SiLU -> conv3x3] x 2`` plus a 1x1 conv on the skip path; the first block
    maps ``in_channels -> out_channels``. Attribute names follow the seed: ``resnet_conv_first``,
    ``resnet_conv_second``, ``residual_input_conv``, ``down_sample_conv``.

    Shape: ``(B, in_channels, H, W) -> (B, out_channels, H/2, W/2)`` (``H, W`` unchanged without ``down_sample``;
    with it, ``H`` and ``W`` must be even).
    """

    def __init__(self, in_channels: int, out_channels: int, down_sample: bool, num_layers: int,
                 norm_channels: int) -> None:
        super().__init__(in_channels, out_channels, num_layers, norm_channels)
        self.down_sample = check_bool("down_sample", down_sample)
        self._build_resnets()
        self.down_sample_conv = (
            nn.Conv2d(out_channels, out_channels, 4, 2, 1) if down_sample else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_block_input("x", x, self, channels=self.in_channels, min_size=0 if self.down_sample else 1)
        if self.down_sample:
            check_spatial_multiple("x", x, 2, why="the stride-2 down_sample_conv halves it")
        return self.down_sample_conv(self._resnets(x))


class UpBlock(_ResidualStack):
    """(If ``up_sample``) a 4x4 stride-2 transposed conv that doubles H and W, THEN ``num_layers`` residual blocks
    (Chapter 8, *DownBlock and UpBlock*).

    The upsampling keeps ``in_channels``; the first residual block maps ``in_channels -> out_channels``. Names
    follow explainingai's ``UpBlock``: ``up_sample_conv``, ``resnet_conv_first``, ``resnet_conv_second``,
    ``residual_input_conv``. Shape: ``(B, in_channels, H, W) -> (B, out_channels, 2H, 2W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, up_sample: bool, num_layers: int,
                 norm_channels: int) -> None:
        super().__init__(in_channels, out_channels, num_layers, norm_channels)
        self.up_sample = check_bool("up_sample", up_sample)
        self.up_sample_conv = (
            nn.ConvTranspose2d(in_channels, in_channels, 4, 2, 1) if up_sample else nn.Identity()
        )
        self._build_resnets()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_block_input("x", x, self, channels=self.in_channels)
        return self._resnets(self.up_sample_conv(x))


def vae_config(**overrides) -> dict:
    """The seed-003 configuration with ``overrides`` applied; unknown keys raise ``ValueError`` (Chapter 8,
    *The seed-003 model*).

    >>> vae_config(down_channels=(16, 32), mid_channels=(32, 32), down_sample=(True,), norm_channels=8)["z_channels"]
    4
    """
    check_keys("VAE config keys", overrides, SEED003_CONFIG)
    config = dict(SEED003_CONFIG)
    config.update(overrides)
    return config


class VAE(_PriorAndPosterior, nn.Module):
    """The seed-003 variational autoencoder, with configurable channels (defaults: the seed's configuration);
    Chapter 8, *The seed-003 model*.

    Encoder: ``encoder_conv_in`` (3x3) -> ``encoder_layers_i`` (:class:`DownBlock`) -> ``encoder_mids_i``
    (:class:`~encoderlab.MidBlock`) -> ``encoder_norm_out`` -> SiLU -> ``encoder_conv_out`` (3x3, to
    ``2*z_channels``) -> ``pre_quant_conv`` (1x1). Decoder: ``post_quant_conv`` (1x1) -> ``decoder_conv_in``
    (3x3) -> ``decoder_mids_i`` -> ``decoder_layers_i`` (:class:`UpBlock`) -> ``decoder_norm_out`` -> SiLU ->
    ``decoder_conv_out`` (3x3, no tanh).

    Args (the names of the seed's config):
        im_channels: image channels (3 for RGB, 1 for grey).
        z_channels: latent channels; the encoder predicts ``2*z_channels`` moments (mean, log-variance).
        down_channels: channels after ``encoder_conv_in`` and after each DownBlock (``len - 1`` DownBlocks).
        mid_channels: channels through the mid-blocks (``len - 1`` MidBlocks per side); first and last must
            equal ``down_channels[-1]``.
        down_sample: one bool per DownBlock; the decoder upsamples where the encoder downsampled.
        num_down_layers, num_mid_layers, num_up_layers: residual blocks per Down/Up block; attention
            layers per MidBlock.
        norm_channels: GroupNorm groups (must divide every channel count).
        num_heads: attention heads in the MidBlocks (must divide ``mid_channels``).

    Shapes: ``x (B, im_channels, H, W)`` -> ``moments (B, 2*z_channels, H/f, W/f)``, ``z (B, z_channels, H/f,
    W/f)`` with ``f = 2 ** sum(down_sample)``; ``decode(z)`` -> ``(B, im_channels, H, W)``.
    The seed configuration has 21,970,983 parameters and maps ``(1, 3, 256, 256)`` to moments ``(1, 8, 32, 32)``.
    """

    def __init__(self, im_channels: int = 3, z_channels: int = 4,
                 down_channels: Sequence[int] = SEED003_CONFIG["down_channels"],
                 mid_channels: Sequence[int] = SEED003_CONFIG["mid_channels"],
                 down_sample: Sequence[bool] = SEED003_CONFIG["down_sample"],
                 num_down_layers: int = 2, num_mid_layers: int = 2, num_up_layers: int = 2,
                 norm_channels: int = 32, num_heads: int = 4) -> None:
        super().__init__()
        check_int("im_channels", im_channels, min_value=1)
        check_int("z_channels", z_channels, min_value=1)
        down_channels = check_int_sequence("down_channels", down_channels, min_value=1, min_len=2,
                                           example="(64, 128, 256, 256)")
        mid_channels = check_int_sequence("mid_channels", mid_channels, min_value=1, min_len=1, example="(256, 256)")
        if isinstance(down_sample, (str, bytes)) or not isinstance(down_sample, Sequence):
            raise TypeError(f"down_sample must be a sequence of bools, got {type(down_sample).__name__}")
        down_sample = tuple(down_sample)
        for i, flag in enumerate(down_sample):
            check_bool(f"down_sample[{i}]", flag)
        if len(down_sample) != len(down_channels) - 1:
            raise ValueError(f"down_sample must have one entry per DownBlock (len(down_channels) - 1 = "
                             f"{len(down_channels) - 1}), got {len(down_sample)}: {down_sample!r}")
        if mid_channels[0] != down_channels[-1] or mid_channels[-1] != down_channels[-1]:
            raise ValueError(f"mid_channels must start and end with down_channels[-1]={down_channels[-1]}, "
                             f"got {mid_channels!r}")
        for name in ("num_down_layers", "num_mid_layers", "num_up_layers"):
            check_int(name, locals()[name], min_value=1)
        check_int("norm_channels", norm_channels, min_value=1)
        check_int("num_heads", num_heads, min_value=1)
        for i, c in enumerate(down_channels):
            check_divisible(f"down_channels[{i}]", c, "norm_channels", norm_channels)
        for i, c in enumerate(mid_channels):
            check_divisible(f"mid_channels[{i}]", c, "num_heads", num_heads)

        self.config = {
            "im_channels": im_channels, "z_channels": z_channels, "down_channels": list(down_channels),
            "mid_channels": list(mid_channels), "down_sample": list(down_sample),
            "num_down_layers": num_down_layers, "num_mid_layers": num_mid_layers, "num_up_layers": num_up_layers,
            "norm_channels": norm_channels, "num_heads": num_heads,
        }
        self.im_channels = im_channels
        self.z_channels = z_channels
        self.down_channels = down_channels
        self.mid_channels = mid_channels
        self.down_sample = down_sample
        self.up_sample = tuple(reversed(down_sample))
        self.downsample_factor = 2 ** sum(down_sample)
        self._num_down = len(down_channels) - 1
        self._num_mid = len(mid_channels) - 1

        # ---------------- encoder ----------------
        self.encoder_conv_in = nn.Conv2d(im_channels, down_channels[0], kernel_size=3, padding=(1, 1))
        for i in range(self._num_down):
            self.add_module(f"encoder_layers_{i}", DownBlock(
                in_channels=down_channels[i], out_channels=down_channels[i + 1], down_sample=down_sample[i],
                num_layers=num_down_layers, norm_channels=norm_channels))
        for i in range(self._num_mid):
            self.add_module(f"encoder_mids_{i}", MidBlock(
                in_channels=mid_channels[i], out_channels=mid_channels[i + 1], num_heads=num_heads,
                num_layers=num_mid_layers, norm_channels=norm_channels))
        self.encoder_norm_out = GroupNorm(norm_channels, down_channels[-1])
        self.encoder_conv_out = nn.Conv2d(down_channels[-1], 2 * z_channels, kernel_size=3, padding=1)
        self.pre_quant_conv = nn.Conv2d(2 * z_channels, 2 * z_channels, kernel_size=1)

        # ---------------- decoder ----------------
        self.post_quant_conv = nn.Conv2d(z_channels, z_channels, kernel_size=1)
        self.decoder_conv_in = nn.Conv2d(z_channels, mid_channels[-1], kernel_size=3, padding=(1, 1))
        for j, i in enumerate(reversed(range(1, len(mid_channels)))):
            self.add_module(f"decoder_mids_{j}", MidBlock(
                in_channels=mid_channels[i], out_channels=mid_channels[i - 1], num_heads=num_heads,
                num_layers=num_mid_layers, norm_channels=norm_channels))
        for j, i in enumerate(reversed(range(1, len(down_channels)))):
            self.add_module(f"decoder_layers_{j}", UpBlock(
                in_channels=down_channels[i], out_channels=down_channels[i - 1], up_sample=down_sample[i - 1],
                num_layers=num_up_layers, norm_channels=norm_channels))
        self.decoder_norm_out = GroupNorm(norm_channels, down_channels[0])
        self.decoder_conv_out = nn.Conv2d(down_channels[0], im_channels, kernel_size=3, padding=1)

    # -- helpers ---------------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: dict) -> VAE:
        """Build a VAE from a config dict such as ``model.config`` (lists or tuples)."""
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        check_keys("VAE config keys", config, SEED003_CONFIG)
        return cls(**config)

    def encoder_modules(self) -> list[nn.Module]:
        """The modules of the encoder side, ``pre_quant_conv`` included, in order."""
        return ([self.encoder_conv_in] + [getattr(self, f"encoder_layers_{i}") for i in range(self._num_down)]
                + [getattr(self, f"encoder_mids_{i}") for i in range(self._num_mid)]
                + [self.encoder_norm_out, self.encoder_conv_out, self.pre_quant_conv])

    def decoder_modules(self) -> list[nn.Module]:
        """The modules of the decoder side, ``post_quant_conv`` included, in order."""
        return ([self.post_quant_conv, self.decoder_conv_in]
                + [getattr(self, f"decoder_mids_{i}") for i in range(self._num_mid)]
                + [getattr(self, f"decoder_layers_{i}") for i in range(self._num_down)]
                + [self.decoder_norm_out, self.decoder_conv_out])

    def latent_shape(self, height: int, width: int | None = None) -> tuple[int, int, int]:
        """``(z_channels, H/f, W/f)`` for an image of size ``height x width``."""
        width = height if width is None else width
        check_int("height", height, min_value=1)
        check_int("width", width, min_value=1)
        f = self.downsample_factor
        check_divisible("height", height, "the downsampling factor", f)
        check_divisible("width", width, "the downsampling factor", f)
        return (self.z_channels, height // f, width // f)

    def _check_image(self, x: torch.Tensor) -> None:
        check_block_input("x", x, self, channels=self.im_channels, min_size=0)
        check_spatial_multiple("x", x, self.downsample_factor, why=f"the downsampling factor of the "
                               f"{sum(self.down_sample)} downsampling DownBlocks is {self.downsample_factor}")

    # -- the model -------------------------------------------------------------------------------------------
    def encode_moments(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's output ``cat(mean, logvar)``: ``(B, im_channels, H, W) -> (B, 2*z_channels, H/f, W/f)``."""
        self._check_image(x)
        out = self.encoder_conv_in(x)
        for i in range(self._num_down):
            out = getattr(self, f"encoder_layers_{i}")(out)
        for i in range(self._num_mid):
            out = getattr(self, f"encoder_mids_{i}")(out)
        out = nn.functional.silu(self.encoder_norm_out(out))
        out = self.encoder_conv_out(out)
        return self.pre_quant_conv(out)

    def posterior(self, x: torch.Tensor) -> DiagonalGaussian:
        """The approximate posterior q(z | x) as a :class:`~encoderlab.DiagonalGaussian` (log-variance clamped)."""
        return DiagonalGaussian(self.encode_moments(x))

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The seed's contract: ``(sample, moments)`` with ``sample = mean + std * eps`` (reparameterization).

        ``moments`` is the raw ``cat(mean, logvar)``; the sample is drawn through :class:`DiagonalGaussian`
        (whose log-variance clamp to [-30, 20] only matters for diverging runs). ``generator`` makes the noise
        reproducible. Shapes: ``(B, 2*z, h, w)`` moments and ``(B, z, h, w)`` sample.
        """
        check_generator("generator", generator)
        moments = self.encode_moments(x)
        return DiagonalGaussian(moments).sample(generator), moments

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, z_channels, h, w) -> (B, im_channels, h*f, w*f)`` (no output activation)."""
        check_block_input("z", z, self, channels=self.z_channels, layout="(B, z_channels, h, w)")
        out = self.decoder_conv_in(self.post_quant_conv(z))
        for i in range(self._num_mid):
            out = getattr(self, f"decoder_mids_{i}")(out)
        for i in range(self._num_down):
            out = getattr(self, f"decoder_layers_{i}")(out)
        out = nn.functional.silu(self.decoder_norm_out(out))
        return self.decoder_conv_out(out)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(reconstruction, moments)``: encode, sample, decode (as the seed's ``forward``)."""
        z, moments = self.encode(x, generator)
        return self.decode(z), moments
