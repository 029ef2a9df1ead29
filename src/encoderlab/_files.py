"""Files written atomically, and the safetensors import: shared by the weights files of Chapter 7
(:mod:`encoderlab.weights.files`) and the training checkpoints of Chapter 8 (:mod:`encoderlab.train.checkpoint`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "safetensors_api"]


def safetensors_api():
    """``(safetensors.torch, SafetensorError)``, imported when first needed, with an install hint if missing.

    Callers look functions up on the returned module at call time (``st.save_file``), so tests can patch them.
    """
    try:
        import safetensors.torch as st
        from safetensors import SafetensorError
    except ImportError as err:  # pragma: no cover - safetensors is in requirements.txt (and on Colab)
        raise ImportError("reading and writing .safetensors files needs the safetensors package: "
                          "pip install safetensors") from err
    return st, SafetensorError


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file in the same folder, which is flushed to
    disk and then renamed over ``path`` with ``os.replace``.

    A crash or an exception while writing leaves an existing file at ``path`` untouched and no temporary file
    behind. The folder must exist. Chapter 7, *Loading real checkpoints*, and Chapter 8, *Checkpoints: stop,
    resume, and get exactly the same model*. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        write(str(tmp))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
