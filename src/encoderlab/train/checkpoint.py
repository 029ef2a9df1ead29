"""Chapter 8, *Checkpoints: stop, resume, and get exactly the same model*: one safetensors file per checkpoint.

A checkpoint holds the model's state dict (``model.*``), the optimizer's tensors (``optim.*``) and, in the
safetensors metadata, everything else as JSON: the optimizer's hyper-parameters and scalars, ``step``, the
model and training configs, the loss history and the gradient scaler's state. It is written atomically by the
same writer as the weights files of Chapter 7 (:func:`encoderlab._files.atomic_write`), with a checksum of the
tensors and metadata that reading verifies; reading also checks that the step agrees with the history, so a
damaged checkpoint is refused instead of resuming silently at the wrong place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .._files import (
    CHECKSUM_KEY,
    atomic_write,
    read_safetensors,
    safetensors_api,
    storage_error,
    tensors_checksum,
    verify_checksum,
)
from .._validation import check_int, check_path
from ..vae import VAE

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CheckpointError", "load_checkpoint", "read_checkpoint",
           "save_checkpoint"]

CHECKPOINT_FORMAT = "encoderlab.vae-checkpoint"
CHECKPOINT_VERSION = "1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, not ours, or made for a different model.

    Chapter 8, *Checkpoints: stop, resume, and get exactly the same model*.
    """


def _check_vae(model) -> None:
    from .config import check_trainable

    check_trainable("model", model)


def _check_optimizer(optimizer) -> None:
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}")


def _history_problem(step: int, history) -> str | None:
    """Why ``history`` (one record per step, ``{"step": 1, ...}``) cannot be the history of a run at ``step``."""
    if not history:
        return None  # a checkpoint of weights alone, or saved by hand without a history
    steps = [r.get("step") if isinstance(r, Mapping) else None for r in history]
    if steps != list(range(1, len(history) + 1)):
        return f"its history's steps are not 1, 2, ..., {len(history)}"
    if len(history) != step:
        return f"its step is {step} but its history has {len(history)} records (one per step)"
    return None


def save_checkpoint(path: str | os.PathLike, model: VAE, optimizer: torch.optim.Optimizer | None = None, *,
                    step: int = 0, config: TrainConfig | None = None, history: Sequence[dict] = (),
                    scaler_state: dict | None = None, average: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Write a safetensors checkpoint atomically (a temporary file in the same folder, then ``os.replace``).

    Stored: the model's state dict (``model.*``), the optimizer's tensors (``optim.*``) with its
    hyper-parameters and scalars in the metadata, ``step``, the model and training configs, the loss history
    and the gradient scaler's state; ``average``, the trainer's running average of the weights
    (``average.*``), when it keeps one. A crash while writing leaves the previous file untouched.
    Chapter 8, *Checkpoints: stop, resume, and get exactly the same model*.
    """
    from .config import TrainConfig

    st, _ = safetensors_api()
    path = Path(check_path("path", path))
    _check_vae(model)
    _check_optimizer(optimizer)
    check_int("step", step, min_value=0)
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig or None, got {type(config).__name__}")
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        raise TypeError(f"history must be a sequence of records such as Trainer.history, got "
                        f"{type(history).__name__}")
    problem = _history_problem(step, history)
    if problem:
        raise ValueError(f"history does not fit step={step}: {problem}")
    if scaler_state is not None and not isinstance(scaler_state, dict):
        raise TypeError(f"scaler_state must be a dict (GradScaler.state_dict()) or None, got "
                        f"{type(scaler_state).__name__}")
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if average is not None:
        if not isinstance(average, Mapping) or set(average) != set(model.state_dict()):
            raise ValueError("average must be a state dict of the model (the same keys)")
        tensors.update({f"average.{k}": v.detach().contiguous().cpu() for k, v in average.items()})
    meta = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": str(step),
        "model_config": json.dumps(model.config), "train_config": json.dumps(config.to_dict() if config else None),
        "history": json.dumps(list(history)), "scaler": json.dumps(scaler_state),
    }
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars: dict[str, dict] = {}
        for pid, entries in state["state"].items():
            for key, value in entries.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{pid}.{key}"] = value.detach().contiguous().cpu()
                else:
                    scalars.setdefault(str(pid), {})[key] = value
        meta["optim_param_groups"] = json.dumps(state["param_groups"])
        meta["optim_scalars"] = json.dumps(scalars)
    meta[CHECKSUM_KEY] = tensors_checksum(tensors, meta)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise storage_error(path, err) from err
    return atomic_write(path, lambda tmp: st.save_file(tensors, tmp, metadata=meta))


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint's tensors and decoded metadata; raises :class:`CheckpointError` if it is not usable:
    unreadable, not an encoderlab checkpoint, changed after saving (its checksum), or inconsistent (a step that
    disagrees with the history). Checkpoints saved before checksums existed load unverified.

    Chapter 8, *Checkpoints: stop, resume, and get exactly the same model*.
    """
    _, safetensor_error = safetensors_api()
    path = Path(check_path("path", path))
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        tensors, raw = read_safetensors(path)
    except (safetensor_error, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint (corrupt or truncated?): "
                              f"{err}") from err
    if raw.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not an encoderlab VAE checkpoint "
                              f"(format={raw.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
    verify_checksum(path, tensors, raw, CheckpointError)
    if raw.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has checkpoint version {raw.get('version')!r}; this code reads "
                              f"version {CHECKPOINT_VERSION!r}")
    try:
        meta = {k: (int(v) if k == "step" else v if k in ("format", "version", CHECKSUM_KEY) else json.loads(v))
                for k, v in raw.items()}
    except (ValueError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} has corrupt metadata: {err}") from err
    missing = [k for k in ("step", "model_config", "history") if k not in meta]
    if missing:
        problem = f"it has no {missing} entries"
    elif not isinstance(meta["history"], list) or meta["step"] < 0:
        problem = "its history is not a list" if not isinstance(meta["history"], list) else "its step is negative"
    else:
        problem = _history_problem(meta["step"], meta["history"])
    if problem:
        raise CheckpointError(f"{path} is inconsistent: {problem}; the file was damaged or edited, use an "
                              "earlier checkpoint")
    return tensors, meta


def load_checkpoint(path: str | os.PathLike, model: VAE, optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model`` (and ``optimizer``), in place.

    Returns the metadata (``step``, ``model_config``, ``train_config``, ``history``, ``scaler``). Raises
    :class:`CheckpointError` for a corrupt file, a file that is not an encoderlab checkpoint, or a checkpoint
    of a different model (the differing config entries are named), before touching ``model``.
    Chapter 8, *Checkpoints: stop, resume, and get exactly the same model*.
    """
    _check_vae(model)
    _check_optimizer(optimizer)
    tensors, meta = read_checkpoint(path)
    return restore_checkpoint(path, model, optimizer, tensors, meta)


def restore_checkpoint(path: str | os.PathLike, model: VAE, optimizer: torch.optim.Optimizer | None,
                       tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """:func:`load_checkpoint` for a checkpoint already read with :func:`read_checkpoint` (``path`` names it in
    errors): checks it against ``model`` and loads it, without reading the file again."""
    saved = meta.get("model_config") or {}
    kinds = ["an AutoencoderKL" if "ddconfig" in c else "a VAE" for c in (saved, model.config)]
    if kinds[0] != kinds[1]:
        raise CheckpointError(f"{path} was saved from {kinds[0]}; the model is {kinds[1]}")
    if saved != model.config:
        diffs = [f"{k}: checkpoint {saved.get(k)!r} vs model {model.config.get(k)!r}"
                 for k in sorted(set(saved) | set(model.config)) if saved.get(k) != model.config.get(k)]
        raise CheckpointError(f"{path} was saved from a different model configuration ({'; '.join(diffs)})")
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    bad_shapes = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or bad_shapes:
        raise CheckpointError(f"{path} does not match the model: missing {missing[:5]}, unexpected "
                              f"{unexpected[:5]}, wrong shapes {bad_shapes[:5]}")
    if optimizer is not None and "optim_param_groups" not in meta:
        raise CheckpointError(f"{path} holds no optimizer state (it was saved without an optimizer)")
    model.load_state_dict(state)
    if optimizer is not None:
        _load_optimizer(path, optimizer, tensors, meta)
    return meta


def _load_optimizer(path, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Rebuild the optimizer's state dict from the ``optim.*`` tensors and the metadata, and load it."""
    opt_state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = value
    for pid, entries in meta["optim_scalars"].items():
        opt_state.setdefault(int(pid), {}).update(entries)
    groups = meta["optim_param_groups"]
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    try:
        optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: the optimizer state does not fit this optimizer: {err}") from err
