"""Chapter 7, *Loading real checkpoints*: weights into and out of an encoderlab model, in any of the formats.

:func:`load_weights` takes a state dict or a file in LDM / Stable Diffusion / encoderlab names (with or without
the ``first_stage_model.`` prefix of a full checkpoint) or in diffusers' names, checks every key and shape, and
only then copies; :func:`export_weights` gives the model's weights in either naming.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import nn

from .._validation import check_bool, check_one_of
from ..fast import ChannelsLastOnCPU
from .configs import check_diffusers_compatible, model_role, num_model_levels
from .files import load_file, unwrap
from .keys import (
    DIFFUSERS,
    check_state_dict,
    detect_format,
    is_attn_projection,
    ldm_to_diffusers,
    mismatch_error,
    translate_key,
)

__all__ = ["export_weights", "load_weights"]

LDM_PREFIXES = ("first_stage_model.", "vae.")  # where a full LDM / SD checkpoint keeps the autoencoder
FORMATS = ("auto", "ldm", "diffusers")


def _strip_ldm_prefix(state_dict: Mapping) -> dict:
    """Keep the autoencoder of a full LDM / SD checkpoint (``first_stage_model.*``) and drop the training loss
    (``loss.*``: LPIPS and discriminator weights of an LDM autoencoder checkpoint)."""
    for prefix in LDM_PREFIXES:
        if any(k.startswith(prefix) for k in state_dict):
            return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return {k: v for k, v in state_dict.items() if not k.startswith("loss.")}


_AUTOENCODER_PARTS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")


def _to_full_names(state_dict: dict, role: str) -> tuple[dict, bool]:
    """Give a standalone Encoder/Decoder state dict its ``encoder.``/``decoder.`` prefix (for the mapping), or
    keep only that part of a whole autoencoder's state dict. Returns (dict, had_prefix)."""
    if role == "autoencoder":
        return state_dict, True
    prefix = role + "."
    if any(k.startswith(prefix) for k in state_dict):
        return {k: v for k, v in state_dict.items()
                if k.startswith(prefix) or not k.startswith(_AUTOENCODER_PARTS)}, True
    return {prefix + k: v for k, v in state_dict.items()}, False


def load_weights(model: nn.Module, source, *, format: str = "auto", assign: bool = False) -> nn.Module:
    """Load weights into an encoderlab :class:`~encoderlab.ldm.Encoder`, ``Decoder`` or ``AutoencoderKL``.

    ``source`` is a state dict or a path (``.safetensors``, or a torch checkpoint read with
    ``weights_only=True``). ``format`` is ``"ldm"`` (LDM / Stable Diffusion / encoderlab names, with or without
    the ``first_stage_model.`` prefix of a full checkpoint), ``"diffusers"`` (an ``AutoencoderKL``, ``Encoder``
    or ``Decoder`` state dict of diffusers, including older attention names) or ``"auto"`` (decided from the
    keys). An Encoder or Decoder takes its own part of a whole autoencoder's weights.

    Raises :class:`WeightsError` listing every unknown, missing and mis-shaped key before anything is copied.
    ``assign=True`` is passed on to ``load_state_dict`` (for models built on the meta device). Returns ``model``.
    Chapter 7, *Loading real checkpoints*.
    """
    role = model_role(model)
    check_one_of("format", format, FORMATS)
    check_bool("assign", assign)
    if isinstance(source, (str, os.PathLike)):
        source = load_file(source)
    elif not isinstance(source, Mapping):
        raise TypeError(f"source must be a state dict or a path (str or pathlib.Path) to a weights file, got "
                        f"{type(source).__name__} {source!r:.60}")
    state_dict = unwrap(source)
    check_state_dict(state_dict)
    if format == "auto":
        format = detect_format(state_dict)
    if format == "ldm":
        state_dict = _strip_ldm_prefix(state_dict)
    full, had_prefix = _to_full_names(dict(state_dict), role)
    num_levels = num_model_levels(model)

    # rename to encoderlab's names, remembering where each key came from (for the error message)
    origin: dict[str, str] = {}
    as_linear: set[str] = set()  # diffusers attention projections, stored as (C, C) Linear weights
    renamed: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in full.items():
        shown = key if had_prefix else key.split(".", 1)[1]
        if format == "ldm":
            new = key  # LDM's names are encoderlab's
        else:
            new = translate_key(key, DIFFUSERS, num_levels)
            if new is not None and is_attn_projection(new) and value.dim() == 2:
                value = value[:, :, None, None]
                as_linear.add(new)
        if new is None:
            unknown.append(shown)
            continue
        renamed[new] = value
        origin[new] = shown

    expected = model.state_dict()
    prefix = "" if role == "autoencoder" else role + "."
    expected = {prefix + k: v for k, v in expected.items()}
    unknown += sorted(origin[k] for k in renamed if k not in expected)
    missing = sorted(k[len(prefix):] for k in expected if k not in renamed)
    def shape(k, t):  # in the convention of the weights' format
        return tuple(t.shape[:2]) if k in as_linear else tuple(t.shape)

    shapes = [
        f"{origin[k]}: {shape(k, v)} in the weights, {shape(k, expected[k])} in the model"
        for k, v in renamed.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    error = mismatch_error(format, model, unknown, missing, shapes)
    if error is not None:
        raise error
    own = {k[len(prefix):]: v for k, v in renamed.items()}
    with torch.no_grad():
        model.load_state_dict(own, strict=True, assign=assign)
    if assign:  # the assigned tensors come in the checkpoint's layout: give them the model's preferred one
        _restore_weight_layout(model)
    return model


def _restore_weight_layout(model: nn.Module) -> None:
    """Give tensors assigned by ``load_state_dict(assign=True)`` the memory layout of the CPU fast path
    (:class:`~encoderlab.fast.ChannelsLastOnCPU`)."""
    for module in model.modules():
        if isinstance(module, ChannelsLastOnCPU):
            module._sync_weight_layout()




def export_weights(model: nn.Module, format: str = "ldm", *, prefix: str = "") -> dict[str, torch.Tensor]:
    """The model's weights as a state dict in ``"ldm"`` (== encoderlab) or ``"diffusers"`` names.

    ``prefix`` is prepended to every key (e.g. ``"first_stage_model."`` to splice into an SD checkpoint).
    For an Encoder or Decoder alone the keys have no ``encoder.``/``decoder.`` part, as in the standalone
    LDM / diffusers modules. Exporting to diffusers raises :class:`WeightsError` for what diffusers cannot
    express (linear attention, ``resamp_with_conv=False``, ``embed_dim != z_channels``). Tensors are detached
    (they share memory with the model). Chapter 7, *Equal to diffusers* and *Loading real checkpoints*.
    """
    role = model_role(model)
    check_one_of("format", format, ("ldm", "diffusers"))
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    state = {k: v.detach() for k, v in model.state_dict().items()}
    if format == "diffusers":
        check_diffusers_compatible(model)
        part = "" if role == "autoencoder" else role + "."
        state = ldm_to_diffusers({part + k: v for k, v in state.items()}, num_levels=num_model_levels(model))
        state = {k[len(part):]: v for k, v in state.items()}
    return {prefix + k: v for k, v in state.items()}
