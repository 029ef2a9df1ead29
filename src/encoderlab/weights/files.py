"""Chapter 7, *Loading real checkpoints*: weights files, read without running code and written atomically.

``.safetensors`` files go through safetensors; any other suffix (``.ckpt``, ``.pt``, ``.pth``, ``.bin``) is a
torch checkpoint, read with ``torch.load(weights_only=True)`` so that opening a downloaded file runs no code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from .._files import atomic_write, safetensors_api
from .keys import WeightsError, check_state_dict

__all__ = ["load_file", "save_file"]


def unwrap(state_dict: Mapping) -> Mapping:
    """``torch.load`` of a Lightning / LDM checkpoint gives ``{"state_dict": {...}, "global_step": ...}``."""
    if isinstance(state_dict, Mapping) and "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
        return state_dict["state_dict"]
    return state_dict


def load_file(path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` (safetensors) or a torch checkpoint (``.ckpt``, ``.pt``, ``.pth``,
    ``.bin``; read with ``weights_only=True``, so no code runs). A corrupt file raises :class:`WeightsError`.

    Chapter 7, *Loading real checkpoints*.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        if path.suffix == ".safetensors":
            st, _ = safetensors_api()
            return dict(st.load_file(str(path), device="cpu"))
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError:
        raise
    except Exception as err:
        raise WeightsError(f"could not read weights from {path.name}: {type(err).__name__}: {err}") from err
    loaded = unwrap(loaded)
    if not isinstance(loaded, Mapping):
        raise WeightsError(f"{path.name} holds a {type(loaded).__name__}, not a state dict")
    return dict(loaded)


def save_file(state_dict: Mapping[str, torch.Tensor], path) -> Path:
    """Write a state dict atomically (a temporary file in the same folder, then a rename): ``.safetensors``
    with safetensors, any other suffix with ``torch.save``. Returns the path.

    Chapter 7, *Loading real checkpoints*.
    """
    check_state_dict(state_dict)
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}

    def write(tmp: str) -> None:
        if path.suffix == ".safetensors":
            st, _ = safetensors_api()
            st.save_file(tensors, tmp)
        else:
            torch.save(tensors, tmp)

    return atomic_write(path, write)
