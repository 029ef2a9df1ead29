"""Chapter 7, *Loading real checkpoints*: weights files, read without running code and written atomically.

``.safetensors`` files go through safetensors; any other suffix (``.ckpt``, ``.pt``, ``.pth``, ``.bin``) is a
torch checkpoint, read with ``torch.load(weights_only=True)`` so that opening a downloaded file runs no code.

A ``.safetensors`` file written by :func:`save_file` carries a checksum of its tensors, verified by
:func:`load_file` (a file changed after saving is refused); files from other tools carry none and load
unverified. A torch checkpoint written by :func:`save_file` holds ``{"state_dict": ..., "encoderlab.sha256": ...}``
(the layout of an LDM / Lightning checkpoint) and is verified the same way (``torch.load`` checks nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from .._files import (
    CHECKSUM_KEY,
    atomic_write,
    read_safetensors,
    safetensors_api,
    tensors_checksum,
    verify_checksum,
)
from .._validation import check_path
from .keys import WeightsError, check_state_dict

__all__ = ["load_file", "save_file"]


def unwrap(state_dict: Mapping) -> Mapping:
    """``torch.load`` of a Lightning / LDM checkpoint gives ``{"state_dict": {...}, "global_step": ...}``."""
    if isinstance(state_dict, Mapping) and "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
        return state_dict["state_dict"]
    return state_dict


def load_file(path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` (safetensors) or a torch checkpoint (``.ckpt``, ``.pt``, ``.pth``,
    ``.bin``; read with ``weights_only=True``, so no code runs). A corrupt file, or one of ours whose checksum
    does not match (changed after saving), raises :class:`WeightsError`.

    Chapter 7, *Loading real checkpoints*.
    """
    path = Path(check_path("path", path))
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        if path.suffix == ".safetensors":
            tensors, metadata = read_safetensors(path)
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError:
        raise
    except Exception as err:
        raise WeightsError(f"could not read weights from {path.name}: {type(err).__name__}: {err}") from err
    if path.suffix == ".safetensors":
        verify_checksum(path, tensors, metadata, WeightsError)
        return tensors
    if isinstance(loaded, Mapping) and isinstance(loaded.get(CHECKSUM_KEY), str):
        verify_checksum(path, unwrap(loaded), {CHECKSUM_KEY: loaded[CHECKSUM_KEY]}, WeightsError)
    loaded = unwrap(loaded)
    if not isinstance(loaded, Mapping):
        raise WeightsError(f"{path.name} holds a {type(loaded).__name__}, not a state dict")
    return dict(loaded)


def save_file(state_dict: Mapping[str, torch.Tensor], path) -> Path:
    """Write a state dict atomically (a temporary file in the same folder, then a rename): ``.safetensors``
    with safetensors (and a checksum of the tensors in its metadata), any other suffix with ``torch.save``.
    A storage error (disk full, read-only folder) raises :class:`~encoderlab._files.StorageError` naming the
    file; an existing file stays as it was. Returns the path.

    Chapter 7, *Loading real checkpoints*.
    """
    check_state_dict(state_dict)
    path = Path(check_path("path", path))
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}

    def write(tmp: str) -> None:
        if path.suffix == ".safetensors":
            st, _ = safetensors_api()
            st.save_file(tensors, tmp, metadata={CHECKSUM_KEY: tensors_checksum(tensors)})
        else:
            torch.save({"state_dict": tensors, CHECKSUM_KEY: tensors_checksum(tensors)}, tmp)

    return atomic_write(path, write)
