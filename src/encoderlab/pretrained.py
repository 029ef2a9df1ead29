"""Chapter 7, *A trained autoencoder at work*, and Chapter 8, *The book's trained autoencoders*: models the
package ships, trained by the book's own commands on the photographs of :mod:`encoderlab.data.photographs`.

Each model is two files in ``encoderlab/trained/``: ``<name>.safetensors`` (the averaged weights, stored
as :data:`STORAGE` says: 8-bit integers with one scale per output channel for the convolution kernels, float16
for the rest; :func:`pack_weights`) and ``<name>.json``, its model card: the architecture, the data and split, the exact
command, seed, steps, wall time and machine, the held-out PSNR and SSIM next to the two same-numbers baselines
(:mod:`encoderlab.baselines`), the parameter count, the file's sha256 and the latent scaling factor measured on
the training crops. :func:`load_pretrained` verifies the hash before it builds the model. Nothing is downloaded.

:func:`export_pretrained` writes both files from a training checkpoint (``make weights`` runs it after
training).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from ._files import atomic_write, read_safetensors, safetensors_api
from ._validation import check_int, check_path
from .data.photographs import HELD_OUT, PhotoCrops, held_out_photographs
from .ldm import AutoencoderKL

__all__ = ["STORAGE", "PretrainedError", "available_pretrained", "checkpoint_weights", "evaluate_held_out",
           "export_pretrained", "latent_scaling_factor", "load_pretrained", "measure_stored", "model_card",
           "pack_weights", "reconstruct_by_tiles", "unpack_weights"]

SHIPPED = Path(__file__).resolve().parent / "trained"

#: How :func:`pack_weights` stores a model (the card's ``storage``).
STORAGE = ("int8 per output channel for every weight of two or more dimensions (the convolution kernels): "
           "the float16-rounded weight divided by its scale, max |w| / 127 over the output channel, rounded; "
           "the scales in float32 under '<name>:scale'; biases and norm parameters in float16")
_SCALE = ":scale"


class PretrainedError(ValueError):
    """A shipped model that is missing, unknown or whose file does not match its card."""


def _folder(folder) -> Path:
    return SHIPPED if folder is None else Path(check_path("folder", folder))


def available_pretrained(folder: str | os.PathLike | None = None) -> list[str]:
    """The names of the shipped models (those with both a weights file and a card), sorted."""
    where = _folder(folder)
    if not where.is_dir():
        return []
    return sorted(p.stem for p in where.glob("*.json") if (where / f"{p.stem}.safetensors").is_file())


def _check_name(name, folder) -> Path:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str such as 'kl-f8', got {type(name).__name__} {name!r}")
    names = available_pretrained(folder)
    if name not in names:
        listed = ", ".join(repr(n) for n in names) if names else "none are shipped in this version"
        raise PretrainedError(f"no shipped model named {name!r}; available: {listed}")
    return _folder(folder)


def model_card(name: str, folder: str | os.PathLike | None = None) -> dict:
    """The model card of shipped model ``name`` (the parsed ``<name>.json``)."""
    where = _check_name(name, folder)
    return json.loads((where / f"{name}.json").read_text())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pack_weights(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors a shipped weights file holds for ``weights`` (a model's state dict), as :data:`STORAGE` says.

    Each kernel ``w`` of shape ``(out, ...)`` is first rounded to float16 (so packing a float16 file again gives
    the same bytes as packing the float32 weights it came from), then stored as ``q = round(w / s)`` in int8
    with ``s = max |w[o]| / 127`` per output channel ``o``: an error of at most ``s / 2`` per entry, about 0.4%
    of the channel's largest weight. That halves the file against float16. Read back with
    :func:`unpack_weights`.
    """
    packed = {}
    for key, value in weights.items():
        w = value.detach().to(torch.float16).float()
        if w.ndim < 2:
            packed[key] = w.to(torch.float16).contiguous()
            continue
        scale = w.abs().flatten(1).amax(dim=1) / 127.0
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        view = scale.view(-1, *([1] * (w.ndim - 1)))
        packed[key] = torch.round(w / view).clamp(-127, 127).to(torch.int8).contiguous()
        packed[key + _SCALE] = scale.contiguous()
    return packed


def unpack_weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 state dict a shipped weights file stands for: int8 kernels times their per-channel scales
    (:func:`pack_weights`), float16 tensors widened."""
    state = {}
    for key, value in tensors.items():
        if key.endswith(_SCALE):
            continue
        if value.dtype == torch.int8:
            scale = tensors[key + _SCALE]
            state[key] = value.float() * scale.view(-1, *([1] * (value.ndim - 1)))
        else:
            state[key] = value.float()
    return state


def load_pretrained(name: str, *, device: str | torch.device = "cpu",
                    folder: str | os.PathLike | None = None) -> AutoencoderKL:
    """The shipped model ``name`` (e.g. ``"kl-f8"``) as a float32 :class:`~encoderlab.ldm.AutoencoderKL` in eval
    mode, its ``scaling_factor`` the card's. The weights file must have the sha256 its card records.

    Raises :class:`PretrainedError` listing the available names for an unknown one, or when the file does not
    match its card. Chapter 7, *A trained autoencoder at work*.
    """
    where = _check_name(name, folder)
    card = model_card(name, folder)
    path = where / f"{name}.safetensors"
    digest = file_sha256(path)
    if digest != card.get("sha256"):
        raise PretrainedError(f"{path} has sha256 {digest}, but its card {name}.json records {card.get('sha256')}; "
                              "the file was changed or damaged (reinstall the package)")
    tensors, _ = read_safetensors(path)
    model = AutoencoderKL(**{**card["architecture"], "scaling_factor": card["scaling_factor"]})
    model.load_state_dict(unpack_weights(tensors))
    return model.to(device).eval()


@torch.no_grad()
def latent_scaling_factor(model: AutoencoderKL, *, crops: int = 64, size: int = 128, seed: int = 0) -> float:
    """``1 / std`` of latents sampled from the posterior of ``crops`` fixed crops of the *training* photographs:
    the factor that gives the latents about unit variance (LDM measured 0.18215 this way for Stable Diffusion's
    VAE, on a batch of its training images). Chapter 7, *A trained autoencoder at work*."""
    check_int("crops", crops, min_value=2)
    data = PhotoCrops(size, length=crops, seed=seed, split="monitor")
    x = torch.stack([data[i] for i in range(crops)])
    gen = torch.Generator().manual_seed(seed + 1)
    z = model.encode(x).sample(gen)
    return float(1.0 / z.float().std())


def reconstruct_by_tiles(model: AutoencoderKL, images: torch.Tensor, tile: int) -> torch.Tensor:
    """The posterior-mean reconstruction of ``images`` ``(B, 3, H, W)`` cut into ``tile`` x ``tile`` pieces, each
    encoded and decoded on its own and put back in place: what a model sees when its GroupNorm statistics are
    those of a training-sized crop. ``H`` and ``W`` must be multiples of ``tile``. Chapter 7, *A trained
    autoencoder at work*."""
    check_int("tile", tile, min_value=8)
    b, c, h, w = images.shape
    if h % tile or w % tile:
        raise ValueError(f"images of {h}x{w} do not split into {tile}x{tile} tiles; use a divisor of both sides")
    out = torch.empty_like(images, dtype=torch.float32)
    with torch.no_grad():
        for top in range(0, h, tile):
            for left in range(0, w, tile):
                piece = images[:, :, top:top + tile, left:left + tile]
                out[:, :, top:top + tile, left:left + tile] = model.reconstruct(piece).float()
    return out


@torch.no_grad()
def evaluate_held_out(model: AutoencoderKL, *, tile: int | None = None) -> dict:
    """PSNR (dB, data range 2) and SSIM of the posterior-mean reconstruction, clamped to ``[-1, 1]``, of each
    held-out photograph (256x256 centre crops), in float32, with their means. Each photograph is reconstructed
    whole, or with ``tile`` by tiles (:func:`reconstruct_by_tiles`). Chapter 7, *A trained autoencoder at
    work*."""
    from skimage.metrics import structural_similarity

    from .train.objective import psnr

    x = held_out_photographs()
    was_training = model.training
    model.eval()
    if tile is None:
        recon = torch.cat([model.reconstruct(x[i:i + 1]).float() for i in range(x.shape[0])])
    else:
        recon = reconstruct_by_tiles(model, x, tile)
    recon = recon.clamp(-1.0, 1.0)
    model.train(was_training)
    psnrs = psnr(x, recon).tolist()
    ssims = [float(structural_similarity(a.permute(1, 2, 0).numpy(), b.permute(1, 2, 0).numpy(), data_range=2.0,
                                         channel_axis=2)) for a, b in zip(x, recon, strict=True)]
    return {"photos": list(HELD_OUT), "psnr": psnrs, "ssim": ssims,
            "mean_psnr": sum(psnrs) / len(psnrs), "mean_ssim": sum(ssims) / len(ssims)}


def checkpoint_weights(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], bool]:
    """The model weights in a training checkpoint's tensors (:func:`~encoderlab.train.read_checkpoint`): the
    run's average of the weights when it kept one, else the final weights; and whether they are the average."""
    prefix = "average." if any(k.startswith("average.") for k in tensors) else "model."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, prefix == "average."


def measure_stored(model: AutoencoderKL) -> dict:
    """The card entries measured on the weights as stored: the held-out evaluation of whole photographs and by
    128x128 tiles (:func:`evaluate_held_out`) and the latent scaling factor (:func:`latent_scaling_factor`)."""
    model.eval()
    return {"scaling_factor": latent_scaling_factor(model), "held_out": evaluate_held_out(model),
            "held_out_by_tiles": {"tile": 128, **evaluate_held_out(model, tile=128)}}


def write_weights(state: dict[str, torch.Tensor], path: str | os.PathLike) -> Path:
    """Write packed weights (:func:`pack_weights`) to ``path`` atomically; returns the path."""
    st, _ = safetensors_api()
    return atomic_write(path, lambda tmp: st.save_file(state, tmp))


def export_pretrained(checkpoint: str | os.PathLike, name: str, folder: str | os.PathLike, *,
                      card: dict | None = None) -> Path:
    """Write ``<name>.safetensors`` (the run's averaged weights when it kept an average, packed by
    :func:`pack_weights`) and its card ``<name>.json`` into ``folder`` from a training checkpoint of an
    AutoencoderKL; returns the card's path.

    The card gets the architecture, the training config and loss curve of the checkpoint, the parameter
    count, and what :func:`measure_stored` measures *on the stored weights* (the held-out evaluation, whole and
    by tiles, and the scaling factor), the storage and the file's sha256; ``card`` adds or overrides entries
    (command, wall time, machine, baselines). Chapter 8, *The book's trained autoencoders*.
    """
    from .train.checkpoint import read_checkpoint

    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    tensors, meta = read_checkpoint(checkpoint)
    config = meta.get("model_config") or {}
    if "ddconfig" not in config:
        raise PretrainedError(f"{checkpoint} is not a checkpoint of an AutoencoderKL")
    weights, averaged = checkpoint_weights(tensors)
    state = pack_weights(weights)
    model = AutoencoderKL(**config)
    model.load_state_dict(unpack_weights(state))  # what a reader will load
    out = Path(check_path("folder", folder))
    out.mkdir(parents=True, exist_ok=True)
    weights = write_weights(state, out / f"{name}.safetensors")
    info = {
        "name": name,
        "architecture": {k: v for k, v in config.items() if k != "scaling_factor"},
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights": "the run's average of the weights" if averaged else "the final weights",
        "storage": STORAGE,
        "data": "random crops (and flips) of the training photographs; held out, never seen: " + ", ".join(HELD_OUT),
        "train_config": meta.get("train_config"),
        "steps": meta["step"],
        **measure_stored(model),
        "loss_curve": [{k: r[k] for k in ("step", "loss", "recon", "kl", "lr") if k in r}
                       for r in meta.get("history", [])[::25]],
        **(card or {}),
        "sha256": file_sha256(weights),
        "file_bytes": weights.stat().st_size,
    }
    return write_card(info, out / f"{name}.json")


def write_card(card: dict, path: str | os.PathLike) -> Path:
    """Write a model card (JSON) to ``path`` atomically; returns the path."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(card, indent=1) + "\n"))
