"""Chapter 7, *Loading real checkpoints*: the diffusers model that equals an encoderlab one, and back.

:func:`diffusers_config` gives the keyword arguments of the diffusers model with the same structure (used with
:func:`~encoderlab.weights.export_weights` to move weights into it); :func:`autoencoder_from_diffusers_config`
builds our :class:`~encoderlab.ldm.AutoencoderKL` from a diffusers ``config.json``. Both refuse what the other
side cannot express.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .._validation import check_device, check_float, check_int, check_int_sequence
from ..attention import AttnBlock, LinAttnBlock
from ..ldm import AutoencoderKL, Decoder, Encoder
from .keys import WeightsError

__all__ = ["autoencoder_from_diffusers_config", "diffusers_config"]


def model_role(model: nn.Module) -> str:
    """``"autoencoder"``, ``"encoder"`` or ``"decoder"``; TypeError for any other model."""
    if isinstance(model, AutoencoderKL):
        return "autoencoder"
    if isinstance(model, Encoder):
        return "encoder"
    if isinstance(model, Decoder):
        return "decoder"
    raise TypeError(f"model must be an encoderlab Encoder, Decoder or AutoencoderKL, got {type(model).__name__}")


def num_model_levels(model: nn.Module) -> int:
    """``len(ch_mult)`` of the model (the decoder's, for an autoencoder)."""
    return len(model.decoder.ch_mult) if isinstance(model, AutoencoderKL) else len(model.ch_mult)


def check_diffusers_compatible(model: nn.Module) -> None:
    """Raise :class:`WeightsError` for what diffusers' VAE cannot express."""
    parts = [model.encoder, model.decoder] if isinstance(model, AutoencoderKL) else [model]
    for part in parts:
        if part.attn_type == "linear" or any(isinstance(m, LinAttnBlock) for m in part.modules()):
            raise WeightsError("attn_type='linear' (LDM's LinAttnBlock) has no diffusers equivalent; only 'vanilla' "
                               "and 'none' can be exported to diffusers")
        if isinstance(part, Encoder) and part.ch_mult[0] != 1:
            raise WeightsError(f"an Encoder with ch_mult[0] = {part.ch_mult[0]} != 1 has no diffusers equivalent: "
                               "LDM's conv_in outputs ch channels, diffusers' outputs block_out_channels[0]")
        if not part.resamp_with_conv:
            raise WeightsError("resamp_with_conv=False (pooling / plain nearest upsampling) has no diffusers "
                               "equivalent: diffusers' VAE always resamples with a convolution")
    if isinstance(model, AutoencoderKL) and model.embed_dim != model.encoder.z_channels:
        raise WeightsError(f"diffusers' AutoencoderKL needs embed_dim == z_channels, got embed_dim={model.embed_dim} "
                           f"and z_channels={model.encoder.z_channels}")


def _attn_levels(part) -> list[bool]:
    """Per LDM level: does it hold vanilla attention blocks?"""
    return [len(level.attn) > 0 and isinstance(level.attn[0], AttnBlock) for level in
            (part.down if isinstance(part, Encoder) else part.up)]


def diffusers_config(model: nn.Module) -> dict:
    """The keyword arguments that build the equivalent diffusers model (``diffusers.AutoencoderKL`` for an
    AutoencoderKL, ``diffusers.models.autoencoders.vae.Encoder`` / ``Decoder`` for the halves).

    Levels with attention become ``AttnDownEncoderBlock2D`` / ``AttnUpDecoderBlock2D``; ``attn_type="none"``
    becomes ``mid_block_add_attention=False``. Raises :class:`WeightsError` where diffusers has no equivalent.
    Chapter 7, *Equal to diffusers* (and *Loading real checkpoints*).
    """
    role = model_role(model)
    check_diffusers_compatible(model)
    part = model.encoder if role == "autoencoder" else model
    common = {
        "block_out_channels": tuple(part.ch * m for m in part.ch_mult),
        "layers_per_block": part.num_res_blocks,
        "norm_num_groups": part.norm_num_groups,
        "act_fn": "silu",
        "mid_block_add_attention": part.attn_type != "none",
    }
    if role == "encoder":
        down = ["AttnDownEncoderBlock2D" if a else "DownEncoderBlock2D" for a in _attn_levels(model)]
        return {"in_channels": model.in_channels, "out_channels": model.z_channels, "down_block_types": tuple(down),
                "double_z": model.double_z, **common}
    if role == "decoder":
        up = ["AttnUpDecoderBlock2D" if a else "UpDecoderBlock2D" for a in reversed(_attn_levels(model))]
        return {"in_channels": model.z_channels, "out_channels": model.out_ch, "up_block_types": tuple(up), **common}
    down = ["AttnDownEncoderBlock2D" if a else "DownEncoderBlock2D" for a in _attn_levels(model.encoder)]
    up = ["AttnUpDecoderBlock2D" if a else "UpDecoderBlock2D" for a in reversed(_attn_levels(model.decoder))]
    return {"in_channels": model.encoder.in_channels, "out_channels": model.decoder.out_ch,
            "down_block_types": tuple(down), "up_block_types": tuple(up), "latent_channels": model.embed_dim,
            "sample_size": model.encoder.resolution, "scaling_factor": model.scaling_factor, **common}


def autoencoder_from_diffusers_config(config: Mapping, *, device=None) -> AutoencoderKL:
    """Build the encoderlab :class:`~encoderlab.ldm.AutoencoderKL` that a diffusers ``AutoencoderKL`` config
    (its ``config.json`` as a dict) describes, ready for :func:`load_weights`.

    ``ch`` is ``block_out_channels[0]`` (so ``ch_mult[0] == 1``); ``resolution`` is ``sample_size``, and
    attention levels are placed at ``sample_size // 2**i``. Raises ValueError for what LDM cannot express.
    Chapter 7, *Loading real checkpoints* (the optional real Stable Diffusion VAE).
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict (a diffusers config), got {type(config).__name__}")
    blocks = check_int_sequence("config['block_out_channels']", config.get("block_out_channels", (64,)),
                                min_value=1, min_len=1, example="(128, 256, 512, 512)")
    num_levels = len(blocks)
    down = _block_types(config, "down_block_types", "DownEncoderBlock2D")
    up = _block_types(config, "up_block_types", "UpDecoderBlock2D")
    if len(down) != num_levels or len(up) != num_levels:
        raise ValueError(f"config has {num_levels} block_out_channels but {len(down)} down and {len(up)} up blocks")
    for name, want in (("act_fn", "silu"), ("use_quant_conv", True),
                       ("use_post_quant_conv", True)):
        if config.get(name, want) != want:
            raise ValueError(f"config[{name!r}] = {config[name]!r}; LDM's autoencoder needs {want!r}")
    if config.get("shift_factor") not in (None, 0, 0.0):
        raise ValueError(f"config['shift_factor'] = {config['shift_factor']!r} is not supported (LDM has none)")
    enc_attn = [t == "AttnDownEncoderBlock2D" for t in down]
    dec_attn = [t == "AttnUpDecoderBlock2D" for t in reversed(up)]
    for t in down:
        if t not in ("DownEncoderBlock2D", "AttnDownEncoderBlock2D"):
            raise ValueError(f"down block type {t!r} has no LDM equivalent")
    for t in up:
        if t not in ("UpDecoderBlock2D", "AttnUpDecoderBlock2D"):
            raise ValueError(f"up block type {t!r} has no LDM equivalent")
    if enc_attn != dec_attn:
        raise ValueError("LDM places attention at the same resolutions in the encoder and the decoder; this config "
                         f"has encoder levels {enc_attn} and decoder levels {dec_attn}")
    mid_attn = config.get("mid_block_add_attention", True)
    if not mid_attn and any(enc_attn):
        raise ValueError("attention blocks without a middle attention cannot be expressed with LDM's attn_type")
    ch = blocks[0]  # LDM's conv_in outputs ch channels, diffusers' block_out_channels[0]
    if any(b % ch for b in blocks):
        raise ValueError(f"block_out_channels {blocks} must all be multiples of the first, {ch} (LDM's ch)")
    size = config.get("sample_size", 32)  # an int, or (height, width) in some configs
    resolution = _entry("sample_size", size[0] if isinstance(size, (list, tuple)) and size else size)
    latent = _entry("latent_channels", config.get("latent_channels", 4))
    ddconfig = {
        "ch": ch, "ch_mult": tuple(b // ch for b in blocks),
        "num_res_blocks": _entry("layers_per_block", config.get("layers_per_block", 1)),
        "attn_resolutions": [resolution // 2**i for i, a in enumerate(enc_attn) if a],
        "in_channels": _entry("in_channels", config.get("in_channels", 3)),
        "out_ch": _entry("out_channels", config.get("out_channels", 3)),
        "resolution": resolution, "z_channels": latent, "double_z": True,
        "attn_type": "vanilla" if mid_attn else "none",
        "norm_num_groups": _entry("norm_num_groups", config.get("norm_num_groups", 32)),
    }
    scaling = check_float("config['scaling_factor']", config.get("scaling_factor", 0.18215), positive=True)
    if device is None:
        return AutoencoderKL(ddconfig, latent, scaling_factor=scaling)
    with torch.device(check_device("device", device)):
        return AutoencoderKL(ddconfig, latent, scaling_factor=scaling)


def _entry(name: str, value) -> int:
    """A positive int entry of a diffusers config (``2``, not ``"2"`` nor ``2.5``)."""
    return check_int(f"config[{name!r}]", value, min_value=1)


def _block_types(config: Mapping, name: str, default: str) -> tuple[str, ...]:
    """``config[name]``, a list of block type names (not a single string, whose letters would be read as names)."""
    types = config.get(name, (default,))
    if isinstance(types, str) or not isinstance(types, (list, tuple)) or not all(isinstance(t, str) for t in types):
        raise TypeError(f"config[{name!r}] must be a list of block type names such as [{default!r}], got "
                        f"{type(types).__name__} {types!r}")
    return tuple(types)
