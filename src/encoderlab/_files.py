"""Files written atomically and checked when read back: shared by the weights files of Chapter 7
(:mod:`encoderlab.weights.files`) and the training checkpoints of Chapter 8 (:mod:`encoderlab.train.checkpoint`).

Every ``.safetensors`` file encoderlab writes stores a SHA-256 checksum of its tensors and metadata in its
metadata (``"encoderlab.sha256"``); reading verifies it, so a file whose bytes were changed after saving is
refused instead of loading silently. Files written by other tools (diffusers, Stable Diffusion) carry no checksum
and load unverified: safetensors still checks their layout.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

__all__ = ["CHECKSUM_KEY", "StorageError", "atomic_write", "read_safetensors", "safetensors_api",
           "storage_error", "tensors_checksum", "verify_checksum"]

#: The metadata entry holding the checksum (``"sha256:<hex>"``) of a file's tensors and other metadata.
CHECKSUM_KEY = "encoderlab.sha256"


class StorageError(OSError):
    """A file that could not be written or read for a reason of the storage (disk full, read-only folder, ...):
    the message names the file; ``errno`` is the original one. Chapter 8, *Checkpoints: stop, resume, and get
    exactly the same model*."""

    def __str__(self) -> str:
        return self.message



_HINTS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
          errno.EACCES: "the folder is not writable", errno.EPERM: "the folder is not writable",
          errno.EROFS: "the file system is read-only"}


def storage_error(path, err: OSError, action: str = "write") -> StorageError:
    """A :class:`StorageError` for ``err`` that names ``path`` (and what usually causes it)."""
    hint = _HINTS.get(err.errno)
    reason = err.strerror or str(err) or type(err).__name__
    detail = f" ({hint})" if hint and hint.lower() not in reason.lower() else ""
    error = StorageError(err.errno, reason, str(path))
    error.message = f"could not {action} {path}: {reason}{detail}"
    return error


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


def tensors_checksum(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> str:
    """``"sha256:<hex>"`` of the names, dtypes, shapes and bytes of ``tensors`` and of ``metadata`` (without its
    checksum entry), in sorted order: what :func:`verify_checksum` recomputes when the file is read."""
    digest = hashlib.sha256()
    for key in sorted(k for k in (metadata or {}) if k != CHECKSUM_KEY):
        digest.update(f"meta {key!r}={metadata[key]!r}\n".encode())
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        digest.update(f"tensor {key!r} {t.dtype} {tuple(t.shape)}\n".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def verify_checksum(path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str],
                    error: type[Exception]) -> bool:
    """Raise ``error`` naming ``path`` if the stored checksum does not match the contents; returns ``False`` for a
    file without a checksum (written by another tool: it cannot be verified), ``True`` when it matched."""
    stored = metadata.get(CHECKSUM_KEY)
    if stored is None:
        return False
    if tensors_checksum(tensors, metadata) != stored:
        raise error(f"{path} was changed or damaged after it was saved: its contents do not match the checksum "
                    f"stored in the file ({stored[:19]}...); use another copy or an earlier checkpoint")
    return True


def read_safetensors(path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (on the CPU) and the metadata of a ``.safetensors`` file, as stored.

    Raises safetensors' own error for an unreadable file (each caller words it); check the result with
    :func:`verify_checksum`.
    """
    st, _ = safetensors_api()
    from safetensors import safe_open

    tensors = dict(st.load_file(str(path), device="cpu"))
    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
    return tensors, metadata


def _file_mode(path: Path) -> int:
    """The permission bits for a file written at ``path``: the existing file's, else ``0o666`` less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file in the same folder, which is flushed to
    disk and then renamed over ``path`` with ``os.replace``.

    A crash or an exception while writing leaves an existing file at ``path`` untouched and no temporary file
    behind; a storage error (disk full, read-only folder, ...) is raised as a :class:`StorageError` naming
    ``path``. The folder must exist. The file gets the permissions of the file it replaces, or those a plain
    ``open(path, "w")`` would give (``0o666`` less the umask): some writers (safetensors' among them) create
    their files readable by their owner only. Chapter 7, *Loading real checkpoints*, and Chapter 8,
    *Checkpoints: stop, resume, and get exactly the same model*. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        write(str(tmp))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except StorageError:
        raise
    except OSError as err:
        raise storage_error(path, err) from err
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # pragma: no cover - a folder that cannot be written cannot hold the temporary file
            pass
    return path
