"""Chapter 7: weights for the latent-diffusion autoencoder, in LDM's, diffusers' and encoderlab's names.

encoderlab's :mod:`~encoderlab.ldm` models use CompVis LDM's module paths, so an LDM / Stable Diffusion
state dict loads as it is (after removing the ``first_stage_model.`` prefix of a full checkpoint). diffusers
names the same tensors differently and stores the attention projections as ``Linear`` weights ``(C, C)``
instead of 1x1-conv weights ``(C, C, 1, 1)``:

=======================================  ===============================================================
LDM / encoderlab                         diffusers
=======================================  ===============================================================
``encoder.down.{i}.block.{j}``            ``encoder.down_blocks.{i}.resnets.{j}``
``....nin_shortcut``                      ``....conv_shortcut``
``encoder.down.{i}.attn.{j}``             ``encoder.down_blocks.{i}.attentions.{j}`` (AttnDownEncoderBlock2D)
``encoder.down.{i}.downsample.conv``      ``encoder.down_blocks.{i}.downsamplers.0.conv``
``{enc,dec}oder.mid.block_1 / block_2``   ``{enc,dec}oder.mid_block.resnets.0 / 1``
``{enc,dec}oder.mid.attn_1``              ``{enc,dec}oder.mid_block.attentions.0``
``attn: norm, q, k, v, proj_out``         ``group_norm, to_q, to_k, to_v, to_out.0`` (older files: query,
                                          key, value, proj_attn)
``{enc,dec}oder.norm_out``                ``{enc,dec}oder.conv_norm_out``
``decoder.up.{i}.block.{j}``              ``decoder.up_blocks.{L-1-i}.resnets.{j}`` (the order is reversed)
``decoder.up.{i}.upsample.conv``          ``decoder.up_blocks.{L-1-i}.upsamplers.0.conv``
=======================================  ===============================================================

``conv_in``, ``conv_out``, ``quant_conv`` and ``post_quant_conv`` keep their names. LDM's linear attention
(``to_qkv``, ``to_out``) has no diffusers equivalent.

Public functions: :func:`ldm_to_diffusers` / :func:`diffusers_to_ldm` (pure key mappings),
:func:`load_weights` (a state dict or a file into a model, any of the formats, with a clear error listing
unknown, missing and mis-shaped keys), :func:`export_weights`, :func:`load_file` / :func:`save_file`
(safetensors, or ``torch.load(weights_only=True)``; written atomically), :func:`diffusers_config` and
:func:`autoencoder_from_diffusers_config`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ._validation import check_one_of
from .attention import AttnBlock, LinAttnBlock
from .ldm import AutoencoderKL, Decoder, Encoder, _ChannelsLastOnCPU

__all__ = [
    "WeightsError",
    "autoencoder_from_diffusers_config",
    "detect_format",
    "diffusers_config",
    "diffusers_to_ldm",
    "export_weights",
    "ldm_to_diffusers",
    "load_file",
    "load_weights",
    "save_file",
]

LDM_PREFIXES = ("first_stage_model.", "vae.")  # where a full LDM / SD checkpoint keeps the autoencoder
FORMATS = ("auto", "ldm", "diffusers")
_MAX_LISTED = 12


class WeightsError(ValueError):
    """A state dict that does not fit a model (unknown, missing or mis-shaped keys), or an unreadable file."""


# --------------------------------------------------------------------------------------------------------
# key mapping
# --------------------------------------------------------------------------------------------------------

_ATTN_TO_DIFFUSERS = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
_ATTN_TO_LDM = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out",
                "query": "q", "key": "k", "value": "v", "proj_attn": "proj_out"}
_RESNET_TO_DIFFUSERS = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2",
                        "nin_shortcut": "conv_shortcut"}
_RESNET_TO_LDM = {v: k for k, v in _RESNET_TO_DIFFUSERS.items()}

_P = r"(?P<param>weight|bias)"
_LDM_RULES = [  # (pattern on an LDM key, kind)
    (re.compile(rf"^(?P<part>encoder|decoder)\.(?P<name>conv_in|conv_out)\.{_P}$"), "same"),
    (re.compile(rf"^(?P<part>quant_conv|post_quant_conv)\.{_P}$"), "same"),
    (re.compile(rf"^(?P<part>encoder|decoder)\.norm_out\.{_P}$"), "norm_out"),
    (re.compile(rf"^encoder\.down\.(?P<i>\d+)\.block\.(?P<j>\d+)\.(?P<layer>\w+)\.{_P}$"), "down_resnet"),
    (re.compile(rf"^encoder\.down\.(?P<i>\d+)\.attn\.(?P<j>\d+)\.(?P<layer>\w+)\.{_P}$"), "down_attn"),
    (re.compile(rf"^encoder\.down\.(?P<i>\d+)\.downsample\.conv\.{_P}$"), "downsample"),
    (re.compile(rf"^(?P<part>encoder|decoder)\.mid\.block_(?P<j>[12])\.(?P<layer>\w+)\.{_P}$"), "mid_resnet"),
    (re.compile(rf"^(?P<part>encoder|decoder)\.mid\.attn_1\.(?P<layer>\w+)\.{_P}$"), "mid_attn"),
    (re.compile(rf"^decoder\.up\.(?P<i>\d+)\.block\.(?P<j>\d+)\.(?P<layer>\w+)\.{_P}$"), "up_resnet"),
    (re.compile(rf"^decoder\.up\.(?P<i>\d+)\.attn\.(?P<j>\d+)\.(?P<layer>\w+)\.{_P}$"), "up_attn"),
    (re.compile(rf"^decoder\.up\.(?P<i>\d+)\.upsample\.conv\.{_P}$"), "upsample"),
]
_ATTN = r"(?P<layer>group_norm|to_q|to_k|to_v|to_out\.0|query|key|value|proj_attn)"
_DIFFUSERS_RULES = [
    (re.compile(rf"^(?P<part>encoder|decoder)\.(?P<name>conv_in|conv_out)\.{_P}$"), "same"),
    (re.compile(rf"^(?P<part>quant_conv|post_quant_conv)\.{_P}$"), "same"),
    (re.compile(rf"^(?P<part>encoder|decoder)\.conv_norm_out\.{_P}$"), "norm_out"),
    (re.compile(rf"^encoder\.down_blocks\.(?P<i>\d+)\.resnets\.(?P<j>\d+)\.(?P<layer>\w+)\.{_P}$"), "down_resnet"),
    (re.compile(rf"^encoder\.down_blocks\.(?P<i>\d+)\.attentions\.(?P<j>\d+)\.{_ATTN}\.{_P}$"), "down_attn"),
    (re.compile(rf"^encoder\.down_blocks\.(?P<i>\d+)\.downsamplers\.0\.conv\.{_P}$"), "downsample"),
    (re.compile(rf"^(?P<part>encoder|decoder)\.mid_block\.resnets\.(?P<j>[01])\.(?P<layer>\w+)\.{_P}$"), "mid_resnet"),
    (re.compile(rf"^(?P<part>encoder|decoder)\.mid_block\.attentions\.0\.{_ATTN}\.{_P}$"), "mid_attn"),
    (re.compile(rf"^decoder\.up_blocks\.(?P<i>\d+)\.resnets\.(?P<j>\d+)\.(?P<layer>\w+)\.{_P}$"), "up_resnet"),
    (re.compile(rf"^decoder\.up_blocks\.(?P<i>\d+)\.attentions\.(?P<j>\d+)\.{_ATTN}\.{_P}$"), "up_attn"),
    (re.compile(rf"^decoder\.up_blocks\.(?P<i>\d+)\.upsamplers\.0\.conv\.{_P}$"), "upsample"),
]
_ATTN_KINDS = ("down_attn", "mid_attn", "up_attn")


def _num_levels(keys, pattern: str) -> int | None:
    found = [int(m.group(1)) for k in keys if (m := re.match(pattern, k))]
    return max(found) + 1 if found else None


def _ldm_key_to_diffusers(key: str, num_up: int | None) -> str | None:
    """The diffusers name of an LDM key (None if the key is not part of an LDM autoencoder)."""
    for pattern, kind in _LDM_RULES:
        m = pattern.match(key)
        if m is None:
            continue
        g = m.groupdict()
        p = g["param"]
        if kind == "same":
            return key
        if kind == "norm_out":
            return f"{g['part']}.conv_norm_out.{p}"
        if kind in ("down_resnet", "mid_resnet", "up_resnet"):
            layer = _RESNET_TO_DIFFUSERS.get(g["layer"])
            if layer is None:
                return None
            if kind == "down_resnet":
                return f"encoder.down_blocks.{g['i']}.resnets.{g['j']}.{layer}.{p}"
            if kind == "mid_resnet":
                return f"{g['part']}.mid_block.resnets.{int(g['j']) - 1}.{layer}.{p}"
            return f"decoder.up_blocks.{num_up - 1 - int(g['i'])}.resnets.{g['j']}.{layer}.{p}"
        if kind in _ATTN_KINDS:
            if g["layer"] in ("to_qkv", "to_out"):
                raise WeightsError(f"{key} belongs to a linear-attention block (attn_type='linear'), which has no "
                                   "diffusers equivalent; only attn_type 'vanilla' or 'none' can be exported")
            layer = _ATTN_TO_DIFFUSERS.get(g["layer"])
            if layer is None:
                return None
            if kind == "down_attn":
                return f"encoder.down_blocks.{g['i']}.attentions.{g['j']}.{layer}.{p}"
            if kind == "mid_attn":
                return f"{g['part']}.mid_block.attentions.0.{layer}.{p}"
            return f"decoder.up_blocks.{num_up - 1 - int(g['i'])}.attentions.{g['j']}.{layer}.{p}"
        if kind == "downsample":
            return f"encoder.down_blocks.{g['i']}.downsamplers.0.conv.{p}"
        return f"decoder.up_blocks.{num_up - 1 - int(g['i'])}.upsamplers.0.conv.{p}"
    return None


def _diffusers_key_to_ldm(key: str, num_up: int | None) -> str | None:
    """The LDM name of a diffusers key (None if the key is not part of a diffusers AutoencoderKL)."""
    for pattern, kind in _DIFFUSERS_RULES:
        m = pattern.match(key)
        if m is None:
            continue
        g = m.groupdict()
        p = g["param"]
        if kind == "same":
            return key
        if kind == "norm_out":
            return f"{g['part']}.norm_out.{p}"
        if kind in ("down_resnet", "mid_resnet", "up_resnet"):
            layer = _RESNET_TO_LDM.get(g["layer"])
            if layer is None:
                return None
            if kind == "down_resnet":
                return f"encoder.down.{g['i']}.block.{g['j']}.{layer}.{p}"
            if kind == "mid_resnet":
                return f"{g['part']}.mid.block_{int(g['j']) + 1}.{layer}.{p}"
            return f"decoder.up.{num_up - 1 - int(g['i'])}.block.{g['j']}.{layer}.{p}"
        if kind in _ATTN_KINDS:
            layer = _ATTN_TO_LDM[g["layer"]]
            if kind == "down_attn":
                return f"encoder.down.{g['i']}.attn.{g['j']}.{layer}.{p}"
            if kind == "mid_attn":
                return f"{g['part']}.mid.attn_1.{layer}.{p}"
            return f"decoder.up.{num_up - 1 - int(g['i'])}.attn.{g['j']}.{layer}.{p}"
        if kind == "downsample":
            return f"encoder.down.{g['i']}.downsample.conv.{p}"
        return f"decoder.up.{num_up - 1 - int(g['i'])}.upsample.conv.{p}"
    return None


def _is_attn_projection(ldm_key: str) -> bool:
    return bool(re.search(r"\.(attn\.\d+|attn_1)\.(q|k|v|proj_out)\.weight$", ldm_key))


def _unknown_error(keys: list[str], what: str) -> WeightsError:
    return WeightsError(f"{len(keys)} key(s) are not part of {what}: {_listing(keys)}")


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def ldm_to_diffusers(state_dict: Mapping[str, torch.Tensor], *, num_levels: int | None = None
                     ) -> dict[str, torch.Tensor]:
    """Rename an LDM / encoderlab autoencoder state dict (keys ``encoder.*``, ``decoder.*``, ``quant_conv.*``,
    ``post_quant_conv.*``, no prefix) to diffusers' names; attention projections become ``(C, C)``.

    ``num_levels`` (``len(ch_mult)``) is needed to reverse the decoder's level order; by default it is read
    from the keys. Includes the intermediate-resolution attention keys (``down.{i}.attn.{j}``), which
    diffusers' own converter leaves out. Raises :class:`WeightsError` for keys it does not know.
    """
    _check_mapping(state_dict)
    num_up = num_levels if num_levels is not None else _num_levels(state_dict, r"^decoder\.up\.(\d+)\.")
    out, unknown = {}, []
    for key, value in state_dict.items():
        new = _ldm_key_to_diffusers(key, num_up)
        if new is None:
            unknown.append(key)
            continue
        if _is_attn_projection(key) and value.dim() == 4:
            value = value[:, :, 0, 0]
        out[new] = value
    if unknown:
        raise _unknown_error(unknown, "an LDM autoencoder")
    return out


def diffusers_to_ldm(state_dict: Mapping[str, torch.Tensor], *, num_levels: int | None = None
                     ) -> dict[str, torch.Tensor]:
    """Rename a diffusers ``AutoencoderKL`` state dict to LDM / encoderlab names (the inverse of
    :func:`ldm_to_diffusers`); attention projections ``(C, C)`` become 1x1-conv weights ``(C, C, 1, 1)``.

    Accepts diffusers' older attention names (``query``, ``key``, ``value``, ``proj_attn``) too.
    """
    _check_mapping(state_dict)
    num_up = num_levels if num_levels is not None else _num_levels(state_dict, r"^decoder\.up_blocks\.(\d+)\.")
    out, unknown = {}, []
    for key, value in state_dict.items():
        new = _diffusers_key_to_ldm(key, num_up)
        if new is None:
            unknown.append(key)
            continue
        if _is_attn_projection(new) and value.dim() == 2:
            value = value[:, :, None, None]
        if new in out:
            raise WeightsError(f"{key} maps to {new}, which another key already filled (old and new attention "
                               "names mixed?)")
        out[new] = value
    if unknown:
        raise _unknown_error(unknown, "a diffusers AutoencoderKL")
    return out


def _check_mapping(state_dict) -> None:
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise TypeError(f"state_dict keys must be str, got {type(key).__name__} {key!r}")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict[{key!r}] must be a tensor, got {type(value).__name__}")


# --------------------------------------------------------------------------------------------------------
# loading into / exporting from a model
# --------------------------------------------------------------------------------------------------------

_DIFFUSERS_MARK = re.compile(r"(^|\.)(down_blocks|up_blocks|mid_block|conv_norm_out)\.")


def detect_format(state_dict: Mapping[str, torch.Tensor]) -> str:
    """``"diffusers"`` if the keys use diffusers' block names (``down_blocks``, ``mid_block``, ...), else ``"ldm"``
    (LDM's and encoderlab's names are the same)."""
    return "diffusers" if any(_DIFFUSERS_MARK.search(k) for k in state_dict) else "ldm"


def _role(model: nn.Module) -> str:
    if isinstance(model, AutoencoderKL):
        return "autoencoder"
    if isinstance(model, Encoder):
        return "encoder"
    if isinstance(model, Decoder):
        return "decoder"
    raise TypeError(f"model must be an encoderlab Encoder, Decoder or AutoencoderKL, got {type(model).__name__}")


def _unwrap(state_dict: Mapping) -> Mapping:
    """``torch.load`` of a Lightning / LDM checkpoint gives ``{"state_dict": {...}, "global_step": ...}``."""
    if isinstance(state_dict, Mapping) and "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
        return state_dict["state_dict"]
    return state_dict


def _strip_ldm_prefix(state_dict: Mapping) -> dict:
    """Keep the autoencoder of a full LDM / SD checkpoint (``first_stage_model.*``) and drop the training loss
    (``loss.*``: LPIPS and discriminator weights of an LDM autoencoder checkpoint)."""
    for prefix in LDM_PREFIXES:
        if any(k.startswith(prefix) for k in state_dict):
            return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return {k: v for k, v in state_dict.items() if not k.startswith("loss.")}


_PARTS = {"encoder": ("encoder.",), "decoder": ("decoder.",),
          "autoencoder": ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")}


def _to_full_names(state_dict: dict, role: str) -> tuple[dict, bool]:
    """Give a standalone Encoder/Decoder state dict its ``encoder.``/``decoder.`` prefix (for the mapping), or
    keep only that part of a whole autoencoder's state dict. Returns (dict, had_prefix)."""
    if role == "autoencoder":
        return state_dict, True
    prefix = role + "."
    if any(k.startswith(prefix) for k in state_dict):
        others = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")
        return {k: v for k, v in state_dict.items() if k.startswith(prefix) or not k.startswith(others)}, True
    return {prefix + k: v for k, v in state_dict.items()}, False


def _num_model_levels(model: nn.Module) -> int:
    return len(model.decoder.ch_mult) if isinstance(model, AutoencoderKL) else len(model.ch_mult)


def load_weights(model: nn.Module, source, *, format: str = "auto", assign: bool = False) -> nn.Module:
    """Load weights into an encoderlab :class:`~encoderlab.ldm.Encoder`, ``Decoder`` or ``AutoencoderKL``.

    ``source`` is a state dict or a path (``.safetensors``, or a torch checkpoint read with
    ``weights_only=True``). ``format`` is ``"ldm"`` (LDM / Stable Diffusion / encoderlab names, with or without
    the ``first_stage_model.`` prefix of a full checkpoint), ``"diffusers"`` (an ``AutoencoderKL``, ``Encoder``
    or ``Decoder`` state dict of diffusers, including older attention names) or ``"auto"`` (decided from the
    keys). An Encoder or Decoder takes its own part of a whole autoencoder's weights.

    Raises :class:`WeightsError` listing every unknown, missing and mis-shaped key before anything is copied.
    ``assign=True`` is passed on to ``load_state_dict`` (for models built on the meta device). Returns ``model``.
    """
    role = _role(model)
    check_one_of("format", format, FORMATS)
    if isinstance(source, (str, os.PathLike)):
        source = load_file(source)
    state_dict = _unwrap(source)
    _check_mapping(state_dict)
    if format == "auto":
        format = detect_format(state_dict)
    if format == "ldm":
        state_dict = _strip_ldm_prefix(state_dict)
    full, had_prefix = _to_full_names(dict(state_dict), role)
    num_levels = _num_model_levels(model)

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
            new = _diffusers_key_to_ldm(key, num_levels)
            if new is not None and _is_attn_projection(new) and value.dim() == 2:
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
    if unknown or missing or shapes:
        lines = [f"the {format} weights do not fit this {type(model).__name__}:"]
        if unknown:
            lines.append(f"  {len(unknown)} unknown key(s): {_listing(unknown)}")
        if missing:
            lines.append(f"  {len(missing)} missing key(s): {_listing(missing)}")
        if shapes:
            lines.append(f"  {len(shapes)} mis-shaped key(s): {_listing(shapes)}")
        raise WeightsError("\n".join(lines))
    own = {k[len(prefix):]: v for k, v in renamed.items()}
    with torch.no_grad():
        model.load_state_dict(own, strict=True, assign=assign)
    if assign:  # the assigned tensors come in the checkpoint's layout: give them the model's preferred one
        for module in model.modules():
            if isinstance(module, _ChannelsLastOnCPU):
                module._sync_weight_layout()
    return model


def _check_diffusers_compatible(model: nn.Module) -> None:
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


def export_weights(model: nn.Module, format: str = "ldm", *, prefix: str = "") -> dict[str, torch.Tensor]:
    """The model's weights as a state dict in ``"ldm"`` (== encoderlab) or ``"diffusers"`` names.

    ``prefix`` is prepended to every key (e.g. ``"first_stage_model."`` to splice into an SD checkpoint).
    For an Encoder or Decoder alone the keys have no ``encoder.``/``decoder.`` part, as in the standalone
    LDM / diffusers modules. Exporting to diffusers raises :class:`WeightsError` for what diffusers cannot
    express (linear attention, ``resamp_with_conv=False``, ``embed_dim != z_channels``). Tensors are detached
    (they share memory with the model).
    """
    role = _role(model)
    check_one_of("format", format, ("ldm", "diffusers"))
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    state = {k: v.detach() for k, v in model.state_dict().items()}
    if format == "diffusers":
        _check_diffusers_compatible(model)
        part = "" if role == "autoencoder" else role + "."
        state = ldm_to_diffusers({part + k: v for k, v in state.items()}, num_levels=_num_model_levels(model))
        state = {k[len(part):]: v for k, v in state.items()}
    return {prefix + k: v for k, v in state.items()}


# --------------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------------

def load_file(path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` (safetensors) or a torch checkpoint (``.ckpt``, ``.pt``, ``.pth``,
    ``.bin``; read with ``weights_only=True``, so no code runs). A corrupt file raises :class:`WeightsError`."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file as st_load

            return dict(st_load(str(path), device="cpu"))
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError:
        raise
    except Exception as err:
        raise WeightsError(f"could not read weights from {path.name}: {type(err).__name__}: {err}") from err
    loaded = _unwrap(loaded)
    if not isinstance(loaded, Mapping):
        raise WeightsError(f"{path.name} holds a {type(loaded).__name__}, not a state dict")
    return dict(loaded)


def save_file(state_dict: Mapping[str, torch.Tensor], path) -> Path:
    """Write a state dict atomically (a temporary file in the same folder, then a rename): ``.safetensors``
    with safetensors, any other suffix with ``torch.save``. Returns the path."""
    _check_mapping(state_dict)
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file as st_save

            st_save(tensors, tmp)
        else:
            torch.save(tensors, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# --------------------------------------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------------------------------------

def _attn_levels(part) -> list[bool]:
    """Per LDM level: does it hold vanilla attention blocks?"""
    return [len(level.attn) > 0 and isinstance(level.attn[0], AttnBlock) for level in
            (part.down if isinstance(part, Encoder) else part.up)]


def diffusers_config(model: nn.Module) -> dict:
    """The keyword arguments that build the equivalent diffusers model (``diffusers.AutoencoderKL`` for an
    AutoencoderKL, ``diffusers.models.autoencoders.vae.Encoder`` / ``Decoder`` for the halves).

    Levels with attention become ``AttnDownEncoderBlock2D`` / ``AttnUpDecoderBlock2D``; ``attn_type="none"``
    becomes ``mid_block_add_attention=False``. Raises :class:`WeightsError` where diffusers has no equivalent.
    """
    role = _role(model)
    _check_diffusers_compatible(model)
    part = model.encoder if role == "autoencoder" else model
    common = {
        "block_out_channels": tuple(part.ch * m for m in part.ch_mult),
        "layers_per_block": part.num_res_blocks,
        "norm_num_groups": 32,
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
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict (a diffusers config), got {type(config).__name__}")
    blocks = tuple(config.get("block_out_channels", (64,)))
    num_levels = len(blocks)
    down = tuple(config.get("down_block_types", ("DownEncoderBlock2D",)))
    up = tuple(config.get("up_block_types", ("UpDecoderBlock2D",)))
    if len(down) != num_levels or len(up) != num_levels:
        raise ValueError(f"config has {num_levels} block_out_channels but {len(down)} down and {len(up)} up blocks")
    for name, want in (("norm_num_groups", 32), ("act_fn", "silu"), ("use_quant_conv", True),
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
    resolution = int(config.get("sample_size", 32))
    if isinstance(config.get("sample_size"), (list, tuple)):
        resolution = int(config["sample_size"][0])
    latent = int(config.get("latent_channels", 4))
    ddconfig = {
        "ch": ch, "ch_mult": tuple(b // ch for b in blocks), "num_res_blocks": int(config.get("layers_per_block", 1)),
        "attn_resolutions": [resolution // 2**i for i, a in enumerate(enc_attn) if a],
        "in_channels": int(config.get("in_channels", 3)), "out_ch": int(config.get("out_channels", 3)),
        "resolution": resolution, "z_channels": latent, "double_z": True,
        "attn_type": "vanilla" if mid_attn else "none",
    }
    if device is None:
        return AutoencoderKL(ddconfig, latent, scaling_factor=float(config.get("scaling_factor", 0.18215)))
    with torch.device(device):
        return AutoencoderKL(ddconfig, latent, scaling_factor=float(config.get("scaling_factor", 0.18215)))
