"""Chapter 7, *AutoencoderKL: Stable Diffusion's VAE*: LDM's ``AutoencoderKL`` around Encoder and Decoder.

The posterior is a :class:`~encoderlab.DiagonalGaussian` (Chapter 5).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .._validation import (
    check_block_input,
    check_bool,
    check_float,
    check_generator,
    check_int,
    check_keys,
)
from ..distributions import DiagonalGaussian, _PriorAndPosterior
from .decoder import Decoder
from .encoder import Encoder

__all__ = ["AutoencoderKL"]

_DDCONFIG_KEYS = ("ch", "out_ch", "ch_mult", "num_res_blocks", "attn_resolutions", "dropout", "resamp_with_conv",
                  "in_channels", "resolution", "z_channels", "double_z", "use_linear_attn", "attn_type",
                  "tanh_out", "give_pre_end", "norm_num_groups")


class AutoencoderKL(_PriorAndPosterior, nn.Module):
    """LDM's KL-regularised autoencoder (Stable Diffusion's VAE): Encoder, ``quant_conv``, a diagonal Gaussian
    posterior, ``post_quant_conv``, Decoder (Chapter 7, *AutoencoderKL: Stable Diffusion's VAE*).

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
        check_keys("ddconfig argument(s)", ddconfig, _DDCONFIG_KEYS, error=TypeError)
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
        return DiagonalGaussian(self.encode_moments(x))

    def encode_moments(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior's parameters ``cat(mean, logvar)``, ``(B, 2*embed_dim, H/f, W/f)``."""
        return self.quant_conv(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, embed_dim, h, w)`` -> ``(B, out_ch, h*f, w*f)``."""
        check_block_input("z", z, self, channels=self.embed_dim)
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x: torch.Tensor, sample_posterior: bool = True,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, DiagonalGaussian]:
        """Encode, take a sample (or the mean, with ``sample_posterior=False``), decode.

        Returns ``(reconstruction, posterior)`` as LDM does.
        """
        check_bool("sample_posterior", sample_posterior)
        check_generator("generator", generator)
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z), posterior

    def encode_latents(self, x: torch.Tensor, sample_posterior: bool = False,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """The latents a diffusion model is trained on: ``scaling_factor * z`` (z: the mean, or a sample)."""
        check_bool("sample_posterior", sample_posterior)
        check_generator("generator", generator)
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.scaling_factor * z

    # -- what a training run needs (Chapter 8's Trainer trains this model as it trains the seed-003 VAE) ----
    @property
    def config(self) -> dict:
        """The constructor's arguments as a JSON-ready dict: ``AutoencoderKL(**model.config)`` rebuilds it."""
        ddconfig = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.ddconfig.items()}
        return {"ddconfig": ddconfig, "embed_dim": self.embed_dim, "scaling_factor": self.scaling_factor}

    @property
    def downsample_factor(self) -> int:
        """``f``: how many times smaller than the image the latent is on each side."""
        return 2 ** (len(self.ddconfig.get("ch_mult", (1, 2, 4, 8))) - 1)

    def latent_shape(self, height: int, width: int | None = None) -> tuple[int, int, int]:
        """``(embed_dim, H/f, W/f)`` for an image of size ``height x width``."""
        width = height if width is None else width
        check_int("height", height, min_value=1)
        check_int("width", width, min_value=1)
        f = self.downsample_factor
        for name, value in (("height", height), ("width", width)):
            if value % f:
                raise ValueError(f"{name}={value} is not a multiple of the downsampling factor {f}")
        return (self.embed_dim, height // f, width // f)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`encode_latents`: ``decode(latents / scaling_factor)``."""
        check_block_input("latents", latents, self, channels=self.embed_dim)
        return self.decode(latents / self.scaling_factor)
