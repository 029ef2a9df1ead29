"""Chapter 7: the latent-diffusion autoencoder (seed 001): ``Encoder``, ``Decoder`` and ``AutoencoderKL``.

This is the first-stage model of latent diffusion {Rombach et al., 2022} and Stable Diffusion, with CompVis
LDM's semantics and module paths (``encoder.down[i].block[j]``, ``decoder.up[i].attn[j]``, ``mid.block_1``,
...), so LDM / Stable Diffusion state dicts load without renaming; :mod:`encoderlab.weights` maps them to and
from diffusers' names.

It is assembled only from the book's building blocks: :class:`~encoderlab.ResnetBlock` (Chapter 3),
:class:`~encoderlab.Downsample` / :class:`~encoderlab.Upsample` (Chapter 2), :func:`~encoderlab.make_attn`
(Chapter 4), :class:`~encoderlab.GroupNorm` (Chapter 1) and :class:`~encoderlab.DiagonalGaussian` (Chapter 5).
One module per section of the chapter:

- :mod:`~encoderlab.ldm.levels` -- the levels and the middle both halves are made of, and the ``ddconfig`` rules;
- :mod:`~encoderlab.ldm.encoder` -- :class:`Encoder` (*The encoder, level by level*);
- :mod:`~encoderlab.ldm.decoder` -- :class:`Decoder` (*The decoder, mirrored*);
- :mod:`~encoderlab.ldm.autoencoder` -- :class:`AutoencoderKL` (*AutoencoderKL: Stable Diffusion's VAE*).

The CPU fast path (channels-last weights and activations, the lean residual block) is in :mod:`encoderlab.fast`.

Shapes, with ``L = len(ch_mult)`` levels and ``f = 2 ** (L - 1)``::

    Encoder: (B, in_channels, H, W) -> (B, z_channels * (2 if double_z else 1), H / f, W / f)
    Decoder: (B, z_channels, h, w)  -> (B, out_ch, h * f, w * f)
"""

from .autoencoder import AutoencoderKL
from .decoder import Decoder
from .encoder import Encoder
from .levels import DownLevel, MidLevel, UpLevel, ldm_level_resolutions

__all__ = ["AutoencoderKL", "Decoder", "DownLevel", "Encoder", "MidLevel", "UpLevel", "ldm_level_resolutions"]
