"""Argument checks shared by every module.

Each check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, wrong value) with a
message that names the argument, shows the value and says what was expected, *before* any computation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch

__all__ = [
    "check_bool",
    "check_channels",
    "check_device",
    "check_dtype_matches",
    "check_generator",
    "check_path",
    "check_spatial_min",
    "check_divisible",
    "check_float",
    "check_int",
    "check_int_sequence",
    "check_int_tuple",
    "check_keys",
    "check_one_of",
    "check_spatial_multiple",
    "check_tensor",
]


def check_int(name: str, value, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) in ``[min_value, max_value]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    return _check_bounds(name, value, min_value, max_value)


def _check_bounds(name: str, value, min_value, max_value):
    """``value`` if it lies in ``[min_value, max_value]`` (either bound may be None); shared by the number checks."""
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return value


def check_float(name: str, value, *, positive: bool = False, min_value: float | None = None,
                max_value: float | None = None) -> float:
    """Return ``value`` as a finite float; ints are accepted, bools and other types are not.

    NaN and infinity are refused first: NaN fails no comparison, so without this check it would pass every
    bound below (and ``inf`` would pass ``positive``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return _check_bounds(name, value, min_value, max_value)


def check_bool(name: str, value) -> bool:
    """Return ``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def check_one_of(name: str, value, choices: Sequence):
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)!r}, got {value!r}")
    return value


def check_int_tuple(name: str, value, length: int, *, min_value: int | None = None) -> tuple[int, ...]:
    """Expand an int to a ``length``-tuple, or check that a sequence has exactly ``length`` ints."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a tuple of {length} ints, got bool {value!r}")
    if isinstance(value, int):
        items = (value,) * length
    elif isinstance(value, Sequence) and not isinstance(value, str):
        items = tuple(value)
        if len(items) != length:
            raise ValueError(f"{name} must have {length} entries, got {len(items)}: {value!r}")
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int):
                raise TypeError(f"{name} must contain ints, got {value!r}")
    else:
        raise TypeError(f"{name} must be an int or a tuple of {length} ints, got {type(value).__name__} {value!r}")
    if min_value is not None and any(item < min_value for item in items):
        raise ValueError(f"every entry of {name} must be >= {min_value}, got {value!r}")
    return items


def check_int_sequence(name: str, value, *, min_value: int | None = None, min_len: int = 0,
                       max_len: int | None = None, example: str = "(1, 2, 4)") -> tuple[int, ...]:
    """Return ``value`` as a tuple of ints (a list or tuple; not a str, not a bool entry).

    ``min_len``/``max_len`` bound its length and ``min_value`` every entry; ``example`` shows the expected
    form in the message (``"ch_mult must be a sequence of ints such as (1, 2, 4, 4), got int 3"``).
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a sequence of ints such as {example}, got {type(value).__name__} {value!r}")
    items = tuple(value)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int):
            raise TypeError(f"{name} must contain ints, got {type(item).__name__} {item!r} in {value!r}")
    if len(items) < min_len:
        raise ValueError(f"{name} must have at least {min_len} entr{'y' if min_len == 1 else 'ies'}, "
                         f"got {len(items)}: {value!r}")
    if max_len is not None and len(items) > max_len:
        raise ValueError(f"{name} must have at most {max_len} entries, got {len(items)}: {value!r}")
    if min_value is not None and any(item < min_value for item in items):
        raise ValueError(f"every entry of {name} must be >= {min_value}, got {value!r}")
    return items


def check_keys(what: str, given, allowed, *, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming every key of ``given`` that is not in ``allowed`` (config dicts, CLI files, ...).

    The message reads ``"unknown {what} {['bad']}; expected some of [...]"``.
    """
    unknown = sorted(set(given) - set(allowed), key=str)
    if unknown:
        raise error(f"unknown {what} {unknown}; expected some of {sorted(allowed, key=str)}")


def check_divisible(name: str, value: int, divisor_name: str, divisor: int) -> None:
    """Raise unless ``divisor`` divides ``value``."""
    if value % divisor != 0:
        raise ValueError(f"{name}={value} must be divisible by {divisor_name}={divisor}")


def check_tensor(name: str, x, *, ndim: int | Sequence[int] | None = None, min_ndim: int | None = None,
                 layout: str | None = None, floating: bool = True) -> torch.Tensor:
    """Check that ``x`` is a tensor with one of the allowed numbers of dimensions (``ndim``) or at least
    ``min_ndim`` of them (layouts such as ``(B, C, *)``).

    ``layout`` (e.g. ``"(B, C, T, H, W)"``) is only used to make the message readable.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if min_ndim is not None and x.dim() < min_ndim:
        shown = f" {layout}" if layout else ""
        raise ValueError(f"{name} must have at least {min_ndim} dimensions{shown}, got shape {tuple(x.shape)}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(f"{n}-D" for n in allowed)
            shown = f" {layout}" if layout else ""
            raise ValueError(f"{name} must be a {want} tensor{shown}, got shape {tuple(x.shape)}")
    if x.is_complex():
        raise TypeError(f"{name} must be a real tensor, got dtype {x.dtype} (nothing in encoderlab takes complex input)")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def check_dtype_matches(name: str, x: torch.Tensor, module: torch.nn.Module) -> None:
    """The package's one dtype rule: outside autocast an input must have the dtype of the module's parameters.

    PyTorch would otherwise fail deep inside the first convolution ("Input type (double) and bias type (float)
    should be the same"). Under ``torch.autocast`` mixed dtypes are what autocast is for, so nothing is checked.
    Convert one side deliberately: ``x.to(dtype)`` or ``module.to(dtype)``.
    """
    try:
        if torch.is_autocast_enabled(x.device.type):
            return
    except RuntimeError:  # a device type autocast does not know ("meta"): nothing is computed there anyway
        return
    param = next(iter(module.parameters()), None)
    if param is not None and param.dtype != x.dtype and not param.is_meta:
        raise TypeError(f"{name} has dtype {x.dtype} but the {type(module).__name__}'s parameters are {param.dtype}; "
                        f"convert one of them ({name}.to({param.dtype}) or module.to({x.dtype})), or run under torch.autocast")


def check_channels(name: str, x: torch.Tensor, expected: int, *, dim: int = 1) -> None:
    """Raise unless ``x.shape[dim] == expected``."""
    if x.shape[dim] != expected:
        raise ValueError(
            f"{name} has {x.shape[dim]} channels (dim {dim} of shape {tuple(x.shape)}), expected {expected}"
        )


def check_spatial_multiple(name: str, x: torch.Tensor, multiple: int, *, dims: int = 2, why: str = "") -> None:
    """Raise unless each of the last ``dims`` sizes of ``x`` is a *positive* multiple of ``multiple``.

    ``why`` completes the message (e.g. ``"the encoder's 4 levels halve it 3 times"``).
    """
    sizes = tuple(x.shape[-dims:])
    if any(s == 0 or s % multiple for s in sizes):
        reason = f"; {why}" if why else ""
        raise ValueError(f"{name} has spatial size {sizes}{reason}, so each must be a positive multiple of {multiple}")


def check_spatial_min(name: str, x: torch.Tensor, minimum: int, *, dims: int = 2, why: str = "") -> None:
    """Raise unless each of the last ``dims`` sizes of ``x`` is at least ``minimum`` (an empty map, or one too small
    for a stride-2 downsampler, is refused here instead of deep inside a convolution)."""
    sizes = tuple(x.shape[-dims:])
    if any(s < minimum for s in sizes):
        reason = f"; {why}" if why else ""
        raise ValueError(f"{name} has spatial size {sizes}{reason}, so each must be at least {minimum}")


def check_generator(name: str, value) -> torch.Generator | None:
    """Return ``value`` if it is ``None`` or a ``torch.Generator``."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(value).__name__} {value!r}")
    return value


def check_device(name: str, value) -> torch.device:
    """Return ``value`` as a ``torch.device``; a str must name a device type this PyTorch knows (``"cpu"``,
    ``"cuda:0"``, ``"mps"``, ...), refused before any work is done."""
    if isinstance(value, torch.device):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str such as 'cpu' or 'cuda' or a torch.device, got "
                        f"{type(value).__name__} {value!r}")
    try:
        return torch.device(value)
    except RuntimeError as err:
        raise ValueError(f"{name}={value!r} is not a device PyTorch knows (such as 'cpu', 'cuda', 'cuda:1', "
                         f"'mps'): {err}") from None


def check_path(name: str, value) -> os.PathLike | str:
    """Return ``value`` if it is a ``str`` or an ``os.PathLike`` (a ``pathlib.Path``)."""
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or pathlib.Path), got {type(value).__name__} {value!r}")
    return value


def check_block_input(name: str, x, module: torch.nn.Module, *, channels: int | None = None, ndim: int | None = 4,
                      min_ndim: int | None = None, layout: str = "(B, C, H, W)", min_size: int = 1,
                      dims: int | None = None, why: str = "") -> torch.Tensor:
    """The one input check of a public block or model taking ``(B, C, *spatial)``: a real floating tensor with
    ``ndim`` (or at least ``min_ndim``) dimensions, ``channels`` channels, every spatial size at least
    ``min_size`` (an empty map is refused here, not deep inside a convolution; ``dims``: only the last ``dims``
    axes, e.g. 2 for a video whose empty time chunk is valid), and the dtype of ``module``'s
    parameters (:func:`check_dtype_matches`). Returns ``x``. An entry that checks its sizes with
    :func:`check_spatial_multiple` right after passes ``min_size=0`` (that message is the more specific)."""
    check_tensor(name, x, ndim=ndim, min_ndim=min_ndim, layout=layout)
    if channels is not None:
        check_channels(name, x, channels)
    check_spatial_min(name, x, min_size, dims=x.dim() - 2 if dims is None else dims, why=why)
    check_dtype_matches(name, x, module)
    return x
