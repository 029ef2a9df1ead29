"""Chapter 7, *Loading real checkpoints*: LDM's and diffusers' names for the same tensors, as ONE table.

Each row of :data:`KEY_TEMPLATES` is a pair of templates, ``(LDM / encoderlab, diffusers)``, read in either
direction. A ``{field}`` stands for one part of a key; :data:`FIELDS` says what it matches on each side and how
its value translates:

- ``{part}`` (``encoder``/``decoder``), ``{i}``, ``{j}`` (level and block indices) and ``{p}``
  (``weight``/``bias``) are copied;
- ``{up}``: LDM numbers the decoder's levels from the lowest resolution (``up.0`` runs last), diffusers from
  the first one to run, so ``up.{n}`` is ``up_blocks.{L-1-n}`` for ``L`` levels (and back: the same formula);
- ``{mid}``: LDM's ``block_1``/``block_2`` are diffusers' ``resnets.0``/``resnets.1``;
- ``{resnet}`` and ``{attn}``: the layer names inside a residual block (``nin_shortcut`` is ``conv_shortcut``)
  and an attention block (``norm, q, k, v, proj_out`` are ``group_norm, to_q, to_k, to_v, to_out.0``; older
  diffusers files say ``query, key, value, proj_attn``, which are read but never written).

diffusers also stores the attention projections as ``Linear`` weights ``(C, C)`` instead of 1x1-conv weights
``(C, C, 1, 1)``; :func:`ldm_to_diffusers` and :func:`diffusers_to_ldm` reshape them. LDM's linear attention
(``to_qkv``, ``to_out``) has no diffusers equivalent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import NamedTuple

import torch

from .._validation import check_int

__all__ = ["FIELDS", "KEY_TEMPLATES", "WeightsError", "detect_format", "diffusers_to_ldm", "ldm_to_diffusers"]

_MAX_LISTED = 12


class WeightsError(ValueError):
    """A state dict that does not fit a model (unknown, missing or mis-shaped keys), or an unreadable file.

    Chapter 7, *Loading real checkpoints*.
    """


# --------------------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------------------

KEY_TEMPLATES: list[tuple[str, str]] = [  # (LDM / encoderlab, diffusers)
    ("{part}.conv_in.{p}", "{part}.conv_in.{p}"),
    ("{part}.conv_out.{p}", "{part}.conv_out.{p}"),
    ("quant_conv.{p}", "quant_conv.{p}"),
    ("post_quant_conv.{p}", "post_quant_conv.{p}"),
    ("{part}.norm_out.{p}", "{part}.conv_norm_out.{p}"),
    ("encoder.down.{i}.block.{j}.{resnet}.{p}", "encoder.down_blocks.{i}.resnets.{j}.{resnet}.{p}"),
    ("encoder.down.{i}.attn.{j}.{attn}.{p}", "encoder.down_blocks.{i}.attentions.{j}.{attn}.{p}"),
    ("encoder.down.{i}.downsample.conv.{p}", "encoder.down_blocks.{i}.downsamplers.0.conv.{p}"),
    ("{part}.mid.block_{mid}.{resnet}.{p}", "{part}.mid_block.resnets.{mid}.{resnet}.{p}"),
    ("{part}.mid.attn_1.{attn}.{p}", "{part}.mid_block.attentions.0.{attn}.{p}"),
    ("decoder.up.{up}.block.{j}.{resnet}.{p}", "decoder.up_blocks.{up}.resnets.{j}.{resnet}.{p}"),
    ("decoder.up.{up}.attn.{j}.{attn}.{p}", "decoder.up_blocks.{up}.attentions.{j}.{attn}.{p}"),
    ("decoder.up.{up}.upsample.conv.{p}", "decoder.up_blocks.{up}.upsamplers.0.conv.{p}"),
]

LDM, DIFFUSERS = 0, 1  # the two sides of a row, and of a field


class Field(NamedTuple):
    """What a ``{field}`` matches in an LDM key and in a diffusers key, and its value's translation to each
    side (``translate[LDM]`` gives the LDM value of a diffusers value, and the other way round).

    Chapter 7, *Loading real checkpoints*.
    """

    pattern: tuple[str, str]
    translate: tuple[Callable[[str, int | None], str], Callable[[str, int | None], str]]


def _copy(value: str, levels: int | None) -> str:
    return value


def _reversed_level(value: str, levels: int | None) -> str:
    return str(levels - 1 - int(value))


def _names(to_diffusers: dict[str, str], old_diffusers: Mapping[str, str] | None = None) -> Field:
    to_ldm = {**{d: n for n, d in to_diffusers.items()}, **(old_diffusers or {})}

    def alternatives(names):
        return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))

    return Field((alternatives(to_diffusers), alternatives(to_ldm)),
                 (lambda v, _: to_ldm[v], lambda v, _: to_diffusers[v]))


_NUMBER = Field((r"\d+", r"\d+"), (_copy, _copy))
FIELDS: dict[str, Field] = {
    "part": Field(("encoder|decoder", "encoder|decoder"), (_copy, _copy)),
    "p": Field(("weight|bias", "weight|bias"), (_copy, _copy)),
    "i": _NUMBER,
    "j": _NUMBER,
    "up": Field((r"\d+", r"\d+"), (_reversed_level, _reversed_level)),
    "mid": Field(("[12]", "[01]"), (lambda v, _: str(int(v) + 1), lambda v, _: str(int(v) - 1))),
    "resnet": _names({"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2",
                      "nin_shortcut": "conv_shortcut"}),
    "attn": _names({"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"},
                   {"query": "q", "key": "k", "value": "v", "proj_attn": "proj_out"}),
}


def _compile(template: str, side: int) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)  # literal, field, literal, field, ..., literal
    return re.compile("^" + "".join(re.escape(part) if k % 2 == 0 else f"(?P<{part}>{FIELDS[part].pattern[side]})"
                                    for k, part in enumerate(parts)) + "$")


_PATTERNS = [(_compile(ldm, LDM), _compile(diffusers, DIFFUSERS)) for ldm, diffusers in KEY_TEMPLATES]
_LINEAR_ATTENTION = re.compile(r"^(encoder|decoder)\.(down\.\d+\.attn\.\d+|up\.\d+\.attn\.\d+|mid\.attn_1)\."
                               r"(to_qkv|to_out)\.(weight|bias)$")


def translate_key(key: str, source: int, num_levels: int | None) -> str | None:
    """The other side's name of ``key``, read as an LDM key (``source=LDM``) or a diffusers key
    (``source=DIFFUSERS``); None if no row of :data:`KEY_TEMPLATES` matches. ``num_levels`` (``len(ch_mult)``)
    is needed for the decoder's levels. Chapter 7, *Loading real checkpoints*."""
    target = 1 - source
    for row, patterns in zip(KEY_TEMPLATES, _PATTERNS, strict=True):
        match = patterns[source].match(key)
        if match is not None:
            values = {name: FIELDS[name].translate[target](value, num_levels)
                      for name, value in match.groupdict().items()}
            return row[target].format(**values)
    return None


# --------------------------------------------------------------------------------------------------------
# whole state dicts
# --------------------------------------------------------------------------------------------------------

def check_state_dict(state_dict) -> None:
    """Raise TypeError unless ``state_dict`` maps str names to tensors."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise TypeError(f"state_dict keys must be str, got {type(key).__name__} {key!r}")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict[{key!r}] must be a tensor, got {type(value).__name__}")


def listing(items: list[str]) -> str:
    """The first items of a list of keys, for an error message."""
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def mismatch_error(what: str, model, unknown: list[str], missing: list[str], shapes: list[str]) -> WeightsError | None:
    """The one report of weights that do not fit ``model``: every unknown, missing and mis-shaped key (or None).

    Used by every loader (the image autoencoders here, the video encoders in :mod:`encoderlab.video_weights`).
    """
    if not (unknown or missing or shapes):
        return None
    lines = [f"the {what} weights do not fit this {type(model).__name__}:"]
    for label, items in (("unknown", unknown), ("missing", missing), ("mis-shaped", shapes)):
        if items:
            lines.append(f"  {len(items)} {label} key(s): {listing(items)}")
    return WeightsError("\n".join(lines))


def is_attn_projection(ldm_key: str) -> bool:
    """Is ``ldm_key`` the weight of an attention projection (a 1x1 conv in LDM, a Linear in diffusers)?"""
    return bool(re.search(r"\.(attn\.\d+|attn_1)\.(q|k|v|proj_out)\.weight$", ldm_key))


def _levels(state_dict, num_levels: int | None, pattern: str) -> int | None:
    """Check the arguments of a renaming; ``num_levels``, or the number of decoder levels the keys show."""
    check_state_dict(state_dict)
    if num_levels is not None:
        return check_int("num_levels", num_levels, min_value=1)
    found = [int(m.group(1)) for k in state_dict if (m := re.match(pattern, k))]
    return max(found) + 1 if found else None


def ldm_to_diffusers(state_dict: Mapping[str, torch.Tensor], *, num_levels: int | None = None
                     ) -> dict[str, torch.Tensor]:
    """Rename an LDM / encoderlab autoencoder state dict (keys ``encoder.*``, ``decoder.*``, ``quant_conv.*``,
    ``post_quant_conv.*``, no prefix) to diffusers' names; attention projections become ``(C, C)``.

    ``num_levels`` (``len(ch_mult)``) is needed to reverse the decoder's level order; by default it is read
    from the keys. Includes the intermediate-resolution attention keys (``down.{i}.attn.{j}``), which
    diffusers' own converter leaves out. Raises :class:`WeightsError` for keys it does not know.
    Chapter 7, *Loading real checkpoints*.
    """
    num_up = _levels(state_dict, num_levels, r"^decoder\.up\.(\d+)\.")
    out, unknown = {}, []
    for key, value in state_dict.items():
        if _LINEAR_ATTENTION.match(key):
            raise WeightsError(f"{key} belongs to a linear-attention block (attn_type='linear'), which has no "
                               "diffusers equivalent; only attn_type 'vanilla' or 'none' can be exported")
        new = translate_key(key, LDM, num_up)
        if new is None:
            unknown.append(key)
            continue
        if is_attn_projection(key) and value.dim() == 4:
            value = value[:, :, 0, 0]
        out[new] = value
    if unknown:
        raise WeightsError(f"{len(unknown)} key(s) are not part of an LDM autoencoder: {listing(unknown)}")
    return out


def diffusers_to_ldm(state_dict: Mapping[str, torch.Tensor], *, num_levels: int | None = None
                     ) -> dict[str, torch.Tensor]:
    """Rename a diffusers ``AutoencoderKL`` state dict to LDM / encoderlab names (the inverse of
    :func:`ldm_to_diffusers`); attention projections ``(C, C)`` become 1x1-conv weights ``(C, C, 1, 1)``.

    Accepts diffusers' older attention names (``query``, ``key``, ``value``, ``proj_attn``) too.
    Chapter 7, *Loading real checkpoints*.
    """
    num_up = _levels(state_dict, num_levels, r"^decoder\.up_blocks\.(\d+)\.")
    out, unknown = {}, []
    for key, value in state_dict.items():
        new = translate_key(key, DIFFUSERS, num_up)
        if new is None:
            unknown.append(key)
            continue
        if is_attn_projection(new) and value.dim() == 2:
            value = value[:, :, None, None]
        if new in out:
            raise WeightsError(f"{key} maps to {new}, which another key already filled (old and new attention "
                               "names mixed?)")
        out[new] = value
    if unknown:
        raise WeightsError(f"{len(unknown)} key(s) are not part of a diffusers AutoencoderKL: {listing(unknown)}")
    return out


_DIFFUSERS_MARK = re.compile(r"(^|\.)(down_blocks|up_blocks|mid_block|conv_norm_out)\.")


def detect_format(state_dict: Mapping[str, torch.Tensor]) -> str:
    """``"diffusers"`` if the keys use diffusers' block names (``down_blocks``, ``mid_block``, ...), else ``"ldm"``
    (LDM's and encoderlab's names are the same). Chapter 7, *Loading real checkpoints*."""
    check_state_dict(state_dict)
    return "diffusers" if any(_DIFFUSERS_MARK.search(k) for k in state_dict) else "ldm"
