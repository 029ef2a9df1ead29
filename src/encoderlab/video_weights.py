"""Chapter 9, *Real checkpoints*: load the encoder part of two released video VAEs into the book's encoders.

* Wan 2.1 (``diffusers.AutoencoderKLWan`` state dicts): :func:`wan_encoder_from_config` builds a
  :class:`~encoderlab.wan.WanEncoder` from the VAE's ``config.json``, :func:`load_wan_encoder` loads the
  ``encoder.*`` and ``quant_conv.*`` weights, :func:`wan_to_diffusers` goes back.
* Pyramid Flow's causal video VAE (``CausalVideoVAE``): :func:`pyramid_encoder_from_config` builds a
  :class:`~encoderlab.video.CausalVideoEncoder` from its ``config.json``, :func:`load_pyramid_encoder` loads
  its ``encoder.*`` and ``quant_conv.*`` weights (the mid-block attention's ``to_q/to_k/to_v/to_out.0`` are
  ``Linear`` weights there, 1x1 convs here), :func:`pyramid_to_original` goes back.

Both loaders accept a state dict or a file (``.safetensors`` or a torch checkpoint), ignore the decoder's keys,
and raise :class:`~encoderlab.weights.WeightsError` listing every unknown, missing and mis-shaped key before
anything is copied, as :func:`encoderlab.load_weights` does for the image autoencoders.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import torch
from torch import nn

from ._validation import check_keys
from .causal import CausalConv3d
from .video import CausalVideoEncoder
from .wan import ChannelRMSNorm, WanEncoder, WanFrameAttention
from .weights import WeightsError, load_file
from .weights.keys import mismatch_error  # the image loaders' one report of keys that do not fit

__all__ = [
    "load_pyramid_encoder",
    "load_wan_encoder",
    "pyramid_encoder_from_config",
    "pyramid_to_original",
    "read_config",
    "wan_encoder_from_config",
    "wan_to_diffusers",
]

# the keys of the other half of each VAE: present in a full checkpoint, not the encoder's business
_DECODER_PREFIXES = ("decoder.", "post_quant_conv.")


def read_config(source) -> dict:
    """A ``config.json`` as a dict: ``source`` is a mapping or the path of the JSON file."""
    if isinstance(source, Mapping):
        return dict(source)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"config must be a mapping or the path of a config.json, got {type(source).__name__}")
    with open(source, encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------------------------------------
# the shared loader: a name map (our key -> their key, their shape), then one report of everything wrong


def _load_mapped(model: nn.Module, source, names: Mapping[str, tuple[str, tuple[int, ...]]], what: str
                 ) -> nn.Module:
    """Load ``source`` (state dict or file) into ``model`` through ``names``: ``{our key: (their key, their
    shape)}``. Their tensors are reshaped to ours (norm scales, Linear projections) after every check."""
    state_dict = load_file(source) if isinstance(source, (str, os.PathLike)) else source
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"source must be a state dict or a path, got {type(state_dict).__name__}")
    theirs_to_ours = {their: ours for ours, (their, _) in names.items()}
    own = model.state_dict()
    unknown = sorted(k for k in state_dict if k not in theirs_to_ours and not k.startswith(_DECODER_PREFIXES))
    missing = sorted(their for their in theirs_to_ours if their not in state_dict)
    shapes = [f"{their}: {tuple(state_dict[their].shape)} in the weights, {shape} in the model"
              for their, shape in names.values()
              if their in state_dict and tuple(state_dict[their].shape) != shape]
    error = mismatch_error(what, model, unknown, missing, shapes)
    if error is not None:
        raise error
    loaded = {ours: state_dict[their].reshape(own[ours].shape) for ours, (their, _) in names.items()}
    with torch.no_grad():
        model.load_state_dict(loaded, strict=True)
    return model


def _export(model: nn.Module, names: Mapping[str, tuple[str, tuple[int, ...]]]) -> dict[str, torch.Tensor]:
    """``model``'s weights under their names and in their shapes (the inverse of :func:`_load_mapped`)."""
    own = model.state_dict()
    return {their: own[ours].detach().reshape(shape).clone() for ours, (their, shape) in names.items()}


def _conv_rename(model: nn.Module, key: str) -> str:
    """Our causal convs hold an inner ``conv``: ``a.b.conv.weight`` is diffusers' ``a.b.weight``."""
    module_name, _, param = key.rpartition(".")
    owner = module_name.rpartition(".")[0]
    if module_name.endswith(".conv") and isinstance(model.get_submodule(owner), CausalConv3d):
        return f"{owner}.{param}"
    return key


# --------------------------------------------------------------------------------------------------------
# Wan 2.1 (diffusers' AutoencoderKLWan)

_WAN_CONFIG_KEYS = {
    "_class_name", "_diffusers_version", "_name_or_path", "_use_default_values", "base_dim", "decoder_base_dim", "z_dim", "dim_mult",
    "num_res_blocks", "attn_scales", "temperal_downsample", "dropout", "latents_mean", "latents_std",
    "is_residual", "in_channels", "out_channels", "patch_size", "scale_factor_temporal", "scale_factor_spatial",
}


def wan_encoder_from_config(config) -> WanEncoder:
    """The :class:`~encoderlab.wan.WanEncoder` of a diffusers ``AutoencoderKLWan`` ``config.json`` (a dict or
    a path). Chapter 9, *Real checkpoints*. Refuses (:class:`WeightsError`) what the book's encoder does not
    build: Wan 2.2's residual down blocks (``is_residual``), patchified input (``patch_size``) and attention
    inside the levels (``attn_scales``); unknown keys raise ``ValueError``."""
    config = read_config(config)
    check_keys("AutoencoderKLWan config key(s)", config, _WAN_CONFIG_KEYS)
    for key, plain in (("is_residual", False), ("patch_size", None), ("attn_scales", [])):
        if config.get(key, plain) not in (plain, ()):
            raise WeightsError(f"{key}={config[key]!r} is not Wan 2.1's encoder (Wan 2.2's VAE uses residual down "
                               f"blocks and patchified input); the book builds {key}={plain!r} only")
    return WanEncoder(config.get("in_channels", 3), config.get("base_dim", 96),
                      tuple(config.get("dim_mult", (1, 2, 4, 4))), config.get("num_res_blocks", 2),
                      z_channels=config.get("z_dim", 16),
                      temporal_downsample=tuple(config.get("temperal_downsample", (False, True, True))),
                      dropout=float(config.get("dropout", 0.0)))


def _wan_names(model: WanEncoder) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{our key: (diffusers key, diffusers shape)}`` for a :class:`WanEncoder`."""
    per_level = model.num_res_blocks + 1  # diffusers' flat list: the resnets of a level, then its resample
    names = {}
    for key, value in model.state_dict().items():
        shape = tuple(value.shape)
        new = _conv_rename(model, key)
        module_name = key.rpartition(".")[0]
        if isinstance(model.get_submodule(module_name), ChannelRMSNorm):
            new = module_name + ".gamma"
            in_attention = isinstance(model.get_submodule(module_name.rpartition(".")[0]), WanFrameAttention)
            shape = (shape[0], 1, 1) if in_attention else (shape[0], 1, 1, 1)
        parts = new.split(".")
        if parts[0] == "down_blocks":
            level = int(parts[1])
            if parts[2] == "resnets":
                parts[1:4] = [str(level * per_level + int(parts[3]))]
            else:  # downsampler.{resample,time_conv}.*: diffusers' resample is Sequential(ZeroPad2d, Conv2d)
                parts[1:3] = [str(level * per_level + model.num_res_blocks)]
                if parts[2] == "resample":
                    parts.insert(3, "1")
        new = ".".join(parts)
        names[key] = (new if new.startswith("quant_conv.") else "encoder." + new, shape)
    return names


def load_wan_encoder(model: WanEncoder, source) -> WanEncoder:
    """Load the encoder part of a diffusers ``AutoencoderKLWan`` state dict (or file) into ``model``.

    Chapter 9, *Real checkpoints*. Takes ``encoder.*`` and ``quant_conv.*``, ignores ``decoder.*`` and
    ``post_quant_conv.*``; raises :class:`WeightsError` listing unknown, missing and mis-shaped keys.
    Returns ``model``.
    """
    if not isinstance(model, WanEncoder):
        raise TypeError(f"model must be a WanEncoder, got {type(model).__name__}")
    return _load_mapped(model, source, _wan_names(model), "diffusers AutoencoderKLWan")


def wan_to_diffusers(model: WanEncoder) -> dict[str, torch.Tensor]:
    """``model``'s weights as the encoder part of a diffusers ``AutoencoderKLWan`` state dict."""
    if not isinstance(model, WanEncoder):
        raise TypeError(f"model must be a WanEncoder, got {type(model).__name__}")
    return _export(model, _wan_names(model))


# --------------------------------------------------------------------------------------------------------
# Pyramid Flow (CausalVideoVAE, jy0205/Pyramid-Flow video_vae/)

_PYRAMID_CONFIG_KEYS = {
    "_class_name", "_diffusers_version", "_name_or_path", "_use_default_values", "encoder_in_channels", "encoder_out_channels",
    "encoder_layers_per_block", "encoder_down_block_types", "encoder_block_out_channels",
    "encoder_spatial_down_sample", "encoder_temporal_down_sample", "encoder_block_dropout", "encoder_act_fn",
    "encoder_norm_num_groups", "encoder_double_z", "encoder_type", "decoder_in_channels", "decoder_out_channels",
    "decoder_layers_per_block", "decoder_up_block_types", "decoder_block_out_channels",
    "decoder_spatial_up_sample", "decoder_temporal_up_sample", "decoder_block_dropout", "decoder_act_fn",
    "decoder_norm_num_groups", "decoder_type", "sample_size", "scaling_factor", "add_post_quant_conv",
    "interpolate", "downsample_scale",
}


def pyramid_encoder_from_config(config) -> CausalVideoEncoder:
    """The :class:`~encoderlab.video.CausalVideoEncoder` of a Pyramid Flow ``CausalVideoVAE`` ``config.json``
    (a dict or a path). Chapter 9, *Real checkpoints*. Unknown keys raise ``ValueError``; settings the
    book's encoder does not build (other block types or activations, one dropout per block) raise
    :class:`WeightsError`."""
    config = read_config(config)
    check_keys("CausalVideoVAE config key(s)", config, _PYRAMID_CONFIG_KEYS)
    widths = tuple(config.get("encoder_block_out_channels", (128, 256, 512, 512)))
    fixed = {"encoder_down_block_types": ["DownEncoderBlockCausal3D"] * len(widths), "encoder_act_fn": "silu",
             "encoder_double_z": True, "encoder_type": "causal_vae_conv"}
    for key, wanted in fixed.items():
        if key in config and config[key] != wanted and list(config[key]) != wanted:
            raise WeightsError(f"{key}={config[key]!r}: the book's CausalVideoEncoder builds {wanted!r} only")
    dropouts = set(config.get("encoder_block_dropout", (0.0,)))
    if len(dropouts) != 1:
        raise WeightsError(f"encoder_block_dropout={config['encoder_block_dropout']!r}: the book's encoder has "
                           "one dropout for every block")
    return CausalVideoEncoder(config.get("encoder_in_channels", 3), widths,
                              tuple(config.get("encoder_layers_per_block", (2,) * len(widths))),
                              z_channels=config.get("encoder_out_channels", 4),
                              num_groups=config.get("encoder_norm_num_groups", 32), dropout=float(dropouts.pop()),
                              spatial_downsample=tuple(config.get("encoder_spatial_down_sample",
                                                                  (True, True, True, False))),
                              temporal_downsample=tuple(config.get("encoder_temporal_down_sample",
                                                                   (True, True, True, False))),
                              init_weights=False)


_PYRAMID_RENAMES: tuple[tuple[str, str], ...] = (
    (".spatial_downsampler.", ".downsamplers.0.conv."),
    (".temporal_downsampler.", ".temporal_downsamplers.0.conv."),
    (".attention.norm.", ".group_norm."),
    (".attention.q.", ".to_q."),
    (".attention.k.", ".to_k."),
    (".attention.v.", ".to_v."),
    (".attention.proj_out.", ".to_out.0."),
)


def _pyramid_names(model: CausalVideoEncoder) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{our key: (Pyramid Flow key, its shape)}``: the attention's 1x1 convs are ``Linear`` weights there."""
    names = {}
    for key, value in model.state_dict().items():
        new, shape = key, tuple(value.shape)
        for ours, theirs in _PYRAMID_RENAMES:
            new = new.replace(ours, theirs)
        if ".to_" in new and new.endswith(".weight"):
            shape = shape[:2]
        names[key] = (new if new.startswith("quant_conv.") else "encoder." + new, shape)
    return names


def _check_pyramid(model) -> None:
    if not isinstance(model, CausalVideoEncoder):
        raise TypeError(f"model must be a CausalVideoEncoder, got {type(model).__name__}")
    if not model.per_frame_norm:
        raise WeightsError("Pyramid Flow's encoder normalises per frame: build the model with per_frame_norm=True")


def load_pyramid_encoder(model: CausalVideoEncoder, source) -> CausalVideoEncoder:
    """Load the encoder part of a Pyramid Flow causal video VAE state dict (or file) into ``model``.

    Chapter 9, *Real checkpoints*. Takes ``encoder.*`` and ``quant_conv.*`` (Pyramid's names, e.g.
    ``encoder.down_blocks.0.downsamplers.0.conv.conv.weight``), ignores the decoder's; raises
    :class:`WeightsError` listing unknown, missing and mis-shaped keys. Returns ``model``.
    """
    _check_pyramid(model)
    return _load_mapped(model, source, _pyramid_names(model), "Pyramid Flow CausalVideoVAE")


def pyramid_to_original(model: CausalVideoEncoder) -> dict[str, torch.Tensor]:
    """``model``'s weights under Pyramid Flow's names and shapes (the encoder part of its checkpoint)."""
    _check_pyramid(model)
    return _export(model, _pyramid_names(model))

