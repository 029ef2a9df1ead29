"""Chapter 8: training the seed-003 VAE -- the ELBO, a resumable training loop, checkpoints, evaluation, the CLI.

The objective for one image ``x`` with ``D = C*H*W`` values, posterior ``q(z|x) = N(mean, diag(var))`` and
decoder output ``x_hat = decode(z)``, ``z = mean + std * eps``:

    recon = sum (x - x_hat)^2          ("mse"; = -log p(x|z) + const for a Gaussian decoder with variance 1/2)
          or sum |x - x_hat|           ("l1";  = -log p(x|z) + const for a Laplace decoder with scale 1)
    kl    = KL(q(z|x) || N(0, I))      (closed form, summed over the latent)
    loss  = recon + beta_t * kl        (beta_t = beta * min(1, step / kl_warmup_steps))

With ``beta = 1`` the loss is the negative ELBO up to a constant. History and evaluation report these terms
per image (nats); the optimiser minimises ``loss / D`` averaged over the batch, so that the learning rate and
the gradient-clipping threshold do not depend on the image size.

Training runs in one process, or under ``torchrun --nproc_per_node N`` with DistributedDataParallel (detected
from the ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` environment variables that torchrun sets). Every step's batch and
reparameterization noise are pure functions of ``(seed, step)``, drawn for the *global* batch and sliced per
rank, so a run resumed from a checkpoint, or split over several processes, computes what one uninterrupted
process computes.

Command line (``python -m encoderlab.train --help``)::

    python -m encoderlab.train --dataset digits --preset tiny --steps 2000 --out runs/digits
    torchrun --nproc_per_node 2 -m encoderlab.train --dataset photos --preset small --out runs/photos
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from ._validation import check_float, check_int, check_one_of, check_tensor
from .data import DATASETS, ImageDataset, eval_loader, make_dataset, make_loader
from .distributions import DiagonalGaussian
from .utils import get_device
from .vae import SEED003_CONFIG, VAE

__all__ = [
    "MODEL_PRESETS",
    "CheckpointError",
    "DistributedContext",
    "TrainConfig",
    "Trainer",
    "elbo_terms",
    "image_grid",
    "init_distributed",
    "kl_weight",
    "load_checkpoint",
    "main",
    "psnr",
    "save_checkpoint",
]

#: Model sizes for :class:`TrainConfig` (``im_channels`` is filled in from the dataset).
MODEL_PRESETS: dict[str, dict] = {
    # CPU-sized: two levels, one residual block per level, one attention layer in the mid-block.
    "tiny": {"z_channels": 4, "down_channels": [16, 32, 32], "mid_channels": [32, 32], "down_sample": [True, True],
             "num_down_layers": 1, "num_mid_layers": 1, "num_up_layers": 1, "norm_channels": 8, "num_heads": 2},
    # A few minutes on a laptop CPU: the seed's layout (two layers everywhere) at a quarter of its width.
    "small": {"z_channels": 4, "down_channels": [32, 64, 64], "mid_channels": [64, 64], "down_sample": [True, True],
              "num_down_layers": 2, "num_mid_layers": 1, "num_up_layers": 2, "norm_channels": 16, "num_heads": 4},
    # The seed's configuration (21,970,983 parameters for RGB): for a GPU.
    "seed": {k: (list(v) if isinstance(v, tuple) else v) for k, v in SEED003_CONFIG.items() if k != "im_channels"},
}

CHECKPOINT_FORMAT = "encoderlab.vae-checkpoint"
CHECKPOINT_VERSION = "1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, not ours, or made for a different model."""


# --------------------------------------------------------------------------------------------------------------
# the objective and the metrics
# --------------------------------------------------------------------------------------------------------------
def kl_weight(step: int, beta: float, warmup_steps: int = 0) -> float:
    """The KL weight at ``step``: ``beta * min(1, step / warmup_steps)`` (just ``beta`` without warm-up)."""
    check_int("step", step, min_value=0)
    check_float("beta", beta, min_value=0.0)
    check_int("warmup_steps", warmup_steps, min_value=0)
    if warmup_steps == 0:
        return float(beta)
    return float(beta) * min(1.0, step / warmup_steps)


def elbo_terms(x: torch.Tensor, x_hat: torch.Tensor, posterior: DiagonalGaussian, beta: float = 1.0,
               recon: str = "mse") -> dict[str, torch.Tensor]:
    """Per-image ELBO terms, each of shape ``(B,)``: ``recon``, ``kl`` and ``loss = recon + beta * kl``.

    ``x`` and ``x_hat`` are ``(B, C, H, W)``; ``posterior`` is q(z|x). See the module docstring for the meaning.
    """
    check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
    check_tensor("x_hat", x_hat, ndim=4, layout="(B, C, H, W)")
    if x.shape != x_hat.shape:
        raise ValueError(f"x_hat has shape {tuple(x_hat.shape)}, expected the shape of x {tuple(x.shape)}")
    if not isinstance(posterior, DiagonalGaussian):
        raise TypeError(f"posterior must be a DiagonalGaussian, got {type(posterior).__name__}")
    check_float("beta", beta, min_value=0.0)
    check_one_of("recon", recon, ("mse", "l1"))
    diff = x_hat.float() - x.float()
    rec = diff.pow(2).sum(dim=(1, 2, 3)) if recon == "mse" else diff.abs().sum(dim=(1, 2, 3))
    kl = posterior.kl().float()
    return {"recon": rec, "kl": kl, "loss": rec + beta * kl}


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(data_range^2 / MSE)`` in dB; shape ``(B,)``.

    ``data_range`` is max - min of the signal: 2 for images in ``[-1, 1]`` (the book's convention), 1 for
    ``[0, 1]``, 255 for bytes. Clamp a reconstruction to the data range first if the decoder may overshoot.
    """
    check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
    check_tensor("y", y, ndim=4, layout="(B, C, H, W)")
    if x.shape != y.shape:
        raise ValueError(f"y has shape {tuple(y.shape)}, expected the shape of x {tuple(x.shape)}")
    check_float("data_range", data_range, positive=True)
    mse = (x.float() - y.float()).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return 10.0 * torch.log10(data_range**2 / mse)


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 1) -> torch.Tensor:
    """Tile ``(N, C, H, W)`` images in ``[-1, 1]`` into one ``(rows*(H+p)+p, nrow*(W+p)+p, C)`` array in ``[0, 1]``.

    Grey images (``C == 1``) give ``(..., 1)``; squeeze the last axis for ``plt.imshow(..., cmap="gray")``.
    """
    check_tensor("images", images, ndim=4, layout="(N, C, H, W)")
    check_int("nrow", nrow, min_value=1)
    check_int("padding", padding, min_value=0)
    n, c, h, w = images.shape
    rows = math.ceil(n / nrow)
    grid = torch.ones(c, rows * (h + padding) + padding, nrow * (w + padding) + padding)
    unit = ((images.detach().float().cpu() + 1.0) / 2.0).clamp(0.0, 1.0)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = unit[i]
    return grid.permute(1, 2, 0)


# --------------------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in every checkpoint and in ``config.json``).

    ``model`` is a preset name from :data:`MODEL_PRESETS` or a dict of :class:`~encoderlab.vae.VAE` arguments
    (without ``im_channels``, which comes from the data). ``batch_size`` is the global batch (split over the
    processes under torchrun). ``amp`` is ``"auto"`` (bfloat16 where supported, else float16 with a gradient
    scaler), ``"bf16"``, ``"fp16"`` or ``"off"``; autocast is only ever used on CUDA -- on a CPU it is off.
    """

    dataset: str = "digits"
    image_size: int | None = None
    val_fraction: float = 0.2
    model: str | dict = "tiny"
    steps: int = 500
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    beta: float = 1.0
    kl_warmup_steps: int = 0
    recon: str = "mse"
    grad_clip: float = 1.0
    amp: str = "auto"
    seed: int = 0
    log_every: int = 10
    eval_every: int = 0
    ckpt_every: int = 0
    sample_every: int = 0
    keep_checkpoints: int = 3

    def __post_init__(self) -> None:
        check_one_of("dataset", self.dataset, DATASETS)
        if self.image_size is not None:
            check_int("image_size", self.image_size, min_value=8)
        check_float("val_fraction", self.val_fraction, min_value=0.05, max_value=0.5)
        if isinstance(self.model, str):
            check_one_of("model", self.model, tuple(MODEL_PRESETS))
        elif not isinstance(self.model, dict):
            raise TypeError(f"model must be a preset name or a dict of VAE arguments, got {type(self.model).__name__}")
        check_int("steps", self.steps, min_value=0)
        check_int("batch_size", self.batch_size, min_value=1)
        check_float("lr", self.lr, positive=True)
        check_float("weight_decay", self.weight_decay, min_value=0.0)
        self.adam_betas = tuple(float(b) for b in self.adam_betas)
        if len(self.adam_betas) != 2 or not all(0.0 <= b < 1.0 for b in self.adam_betas):
            raise ValueError(f"adam_betas must be two numbers in [0, 1), got {self.adam_betas!r}")
        check_float("adam_eps", self.adam_eps, positive=True)
        check_float("beta", self.beta, min_value=0.0)
        check_int("kl_warmup_steps", self.kl_warmup_steps, min_value=0)
        check_one_of("recon", self.recon, ("mse", "l1"))
        check_float("grad_clip", self.grad_clip, min_value=0.0)
        check_one_of("amp", self.amp, ("auto", "bf16", "fp16", "off"))
        check_int("seed", self.seed, min_value=0)
        for name in ("log_every", "eval_every", "ckpt_every", "sample_every"):
            check_int(name, getattr(self, name), min_value=0)
        check_int("keep_checkpoints", self.keep_checkpoints, min_value=1)

    def model_kwargs(self, im_channels: int) -> dict:
        """The VAE arguments for images with ``im_channels`` channels."""
        kwargs = dict(MODEL_PRESETS[self.model]) if isinstance(self.model, str) else dict(self.model)
        kwargs.pop("im_channels", None)
        return {"im_channels": im_channels, **kwargs}

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["adam_betas"] = list(self.adam_betas)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        if not isinstance(data, dict):
            raise TypeError(f"a training config must be a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}; expected some of {sorted(known)}")
        return cls(**data)


# --------------------------------------------------------------------------------------------------------------
# distributed
# --------------------------------------------------------------------------------------------------------------
@dataclass
class DistributedContext:
    """Who this process is in a torchrun job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str | torch.device | None = None) -> DistributedContext:
    """Join the torchrun process group when launched by torchrun with more than one process.

    torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (and the rendezvous address); the backend is NCCL
    when training on CUDA and Gloo otherwise (``device="cpu"`` or ``ENCODERLAB_DEVICE=cpu`` forces Gloo on a GPU
    machine). Without those variables (or with ``WORLD_SIZE=1``) nothing is initialised.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        wanted = torch.device(device or os.environ.get("ENCODERLAB_DEVICE") or "cuda").type
        use_cuda = torch.cuda.is_available() and wanted == "cuda"
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


class _ELBOModel(nn.Module):
    """Encode, sample with the given noise, decode; returns the per-image ELBO terms (what DDP wraps)."""

    def __init__(self, vae: VAE, recon: str) -> None:
        super().__init__()
        self.vae = vae
        self.recon = recon

    def forward(self, x: torch.Tensor, eps: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
        moments = self.vae.encode_moments(x)
        posterior = DiagonalGaussian(moments.float())
        z = posterior.mean + posterior.std * eps
        x_hat = self.vae.decode(z.to(moments.dtype))
        return elbo_terms(x, x_hat, posterior, beta, self.recon)


# --------------------------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------------------------
def _safetensors():
    try:
        import safetensors.torch as st
        from safetensors import SafetensorError
    except ImportError as err:  # pragma: no cover - safetensors is in requirements.txt (and on Colab)
        raise ImportError("checkpoints need the safetensors package: pip install safetensors") from err
    return st, SafetensorError


def save_checkpoint(path: str | os.PathLike, model: VAE, optimizer: torch.optim.Optimizer | None = None, *,
                    step: int = 0, config: TrainConfig | None = None, history: Sequence[dict] = (),
                    scaler_state: dict | None = None) -> Path:
    """Write a safetensors checkpoint atomically (a temporary file in the same folder, then ``os.replace``).

    Stored: the model's state dict (``model.*``), the optimizer's tensors (``optim.*``) with its
    hyper-parameters and scalars in the metadata, ``step``, the model and training configs, the loss history
    and the gradient scaler's state. A crash while writing leaves the previous file untouched.
    """
    st, _ = _safetensors()
    if not isinstance(model, VAE):
        raise TypeError(f"model must be an encoderlab VAE, got {type(model).__name__}")
    check_int("step", step, min_value=0)
    path = Path(path)
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        st.save_file(tensors, str(tmp), metadata=meta)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint's tensors and decoded metadata; raises :class:`CheckpointError` if it is not usable."""
    st, safetensor_error = _safetensors()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        tensors = st.load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
    except (safetensor_error, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint (corrupt or truncated?): "
                              f"{err}") from err
    if raw.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not an encoderlab VAE checkpoint "
                              f"(format={raw.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
    if raw.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has checkpoint version {raw.get('version')!r}; this code reads "
                              f"version {CHECKPOINT_VERSION!r}")
    try:
        meta = {k: (int(v) if k == "step" else v if k in ("format", "version") else json.loads(v))
                for k, v in raw.items()}
    except (ValueError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} has corrupt metadata: {err}") from err
    return tensors, meta


def load_checkpoint(path: str | os.PathLike, model: VAE, optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model`` (and ``optimizer``), in place.

    Returns the metadata (``step``, ``model_config``, ``train_config``, ``history``, ``scaler``). Raises
    :class:`CheckpointError` for a corrupt file, a file that is not an encoderlab checkpoint, or a checkpoint
    of a different model (the differing config entries are named), before touching ``model``.
    """
    if not isinstance(model, VAE):
        raise TypeError(f"model must be an encoderlab VAE, got {type(model).__name__}")
    tensors, meta = read_checkpoint(path)
    saved = meta.get("model_config") or {}
    if saved != model.config:
        diffs = [f"{k}: checkpoint {saved.get(k)!r} vs model {model.config.get(k)!r}"
                 for k in sorted(set(saved) | set(model.config)) if saved.get(k) != model.config.get(k)]
        raise CheckpointError(f"{path} was saved from a different VAE configuration ({'; '.join(diffs)})")
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
    return meta


# --------------------------------------------------------------------------------------------------------------
# the trainer
# --------------------------------------------------------------------------------------------------------------
class Trainer:
    """Trains a :class:`~encoderlab.vae.VAE` on one of the offline datasets.

    ``Trainer(config)`` builds the data, the model (initialised from ``config.seed``), AdamW and, when launched
    by torchrun, DistributedDataParallel. ``train(n)`` runs ``n`` more steps with a ``tqdm.auto`` progress bar
    showing the live loss, and appends one record per step to ``history``. ``evaluate()`` gives held-out PSNR
    and ELBO terms. ``save(path)`` / ``Trainer.resume(path)`` continue a run exactly.
    """

    def __init__(self, config: TrainConfig, *, device: torch.device | str | None = None,
                 train_data: ImageDataset | None = None, val_data: ImageDataset | None = None,
                 progress: bool = True, distributed: DistributedContext | None = None) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.config = config
        self.ctx = distributed if distributed is not None else init_distributed()
        device = get_device() if device is None else torch.device(device)
        if device.type == "cuda" and device.index is None and self.ctx.enabled:
            device = torch.device("cuda", self.ctx.local_rank)  # one GPU per process
        self.device = device
        self.progress = progress
        self.train_data = train_data if train_data is not None else make_dataset(
            config.dataset, "train", config.image_size, val_fraction=config.val_fraction, seed=config.seed)
        self.val_data = val_data if val_data is not None else make_dataset(
            config.dataset, "val", config.image_size, val_fraction=config.val_fraction, seed=config.seed)
        torch.manual_seed(config.seed)  # the initial weights are a function of the seed
        self.model = VAE(**config.model_kwargs(self.train_data.image_shape[0])).to(self.device)
        self.model.latent_shape(*self.train_data.image_shape[1:])  # fail early if the image size does not fit
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, betas=config.adam_betas,
                                           eps=config.adam_eps, weight_decay=config.weight_decay)
        self.amp_dtype = self._amp_dtype()
        self.scaler = (torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None)
        self._elbo = _ELBOModel(self.model, config.recon)
        if self.ctx.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._forward = nn.parallel.DistributedDataParallel(self._elbo, device_ids=ids)
        else:
            self._forward = self._elbo
        self.step = 0
        self.history: list[dict] = []
        self._latent_shape = self.model.latent_shape(*self.train_data.image_shape[1:])

    def _amp_dtype(self) -> torch.dtype | None:
        if self.device.type != "cuda" or self.config.amp == "off":
            return None
        if self.config.amp == "fp16" or (self.config.amp == "auto" and not torch.cuda.is_bf16_supported()):
            return torch.float16
        return torch.bfloat16

    # -- one step ------------------------------------------------------------------------------------------
    def _noise(self, step: int) -> torch.Tensor:
        """The reparameterization noise of this rank's share of step ``step`` (drawn for the global batch)."""
        gen = torch.Generator().manual_seed(self.config.seed * 7_919 + 1_000_003 * (step + 1))
        eps = torch.randn((self.config.batch_size, *self._latent_shape), generator=gen)
        local = self.config.batch_size // self.ctx.world_size
        return eps[self.ctx.rank * local:(self.ctx.rank + 1) * local].to(self.device)

    def _train_step(self, x: torch.Tensor) -> dict:
        cfg = self.config
        beta_t = kl_weight(self.step, cfg.beta, cfg.kl_warmup_steps)
        x = x.to(self.device, non_blocking=True)
        self.model.train()
        with torch.autocast("cuda", dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            terms = self._forward(x, self._noise(self.step), beta_t)
        dims = x[0].numel()
        objective = terms["loss"].mean() / dims
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(objective).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            objective.backward()
        if cfg.grad_clip > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip))
        else:
            grad_norm = float(torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in self.model.parameters() if p.grad is not None])))
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        stats = torch.stack([terms["loss"].mean(), terms["recon"].mean(), terms["kl"].mean()]).detach()
        if self.ctx.enabled:  # log the global batch's mean, not this rank's
            dist.all_reduce(stats)
            stats /= self.ctx.world_size
        loss, rec, kl = (float(v) for v in stats.cpu())
        record = {"step": self.step + 1, "loss": loss, "recon": rec, "kl": kl, "beta": beta_t,
                  "grad_norm": grad_norm, "lr": self.optimizer.param_groups[0]["lr"]}
        self.step += 1
        self.history.append(record)
        return record

    def train(self, steps: int | None = None, *, callback=None) -> list[dict]:
        """Run ``steps`` more steps (default: until ``config.steps``); returns the new history records.

        ``callback(trainer, record)`` is called after every step (the CLI uses it to evaluate, save and draw).
        """
        steps = max(0, self.config.steps - self.step) if steps is None else steps
        check_int("steps", steps, min_value=0)
        loader = make_loader(self.train_data, self.config.batch_size, seed=self.config.seed, start_step=self.step,
                             num_steps=steps, rank=self.ctx.rank, world_size=self.ctx.world_size)
        start = len(self.history)
        bar = tqdm(total=steps, desc="training", disable=not (self.progress and self.ctx.is_main) or steps == 0,
                   leave=True)
        for x in loader:
            record = self._train_step(x)
            if not math.isfinite(record["loss"]):
                bar.close()
                raise FloatingPointError(f"the loss became {record['loss']} at step {record['step']}; lower the "
                                         "learning rate or enable gradient clipping")
            bar.set_postfix(loss=f"{record['loss']:.4g}", kl=f"{record['kl']:.3g}", refresh=False)
            bar.update(1)
            if callback is not None:
                callback(self, record)
        bar.close()
        return self.history[start:]

    # -- evaluation ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, dataset: ImageDataset | None = None, batch_size: int = 256) -> dict[str, float]:
        """Held-out metrics, averaged per image: ``psnr`` (dB, of the posterior-mean reconstruction against the
        image, data range 2), ``mse`` (per value), ``recon`` and ``kl`` (nats per image, with one seeded
        posterior sample) and ``neg_elbo = recon + kl`` (the beta = 1 objective, whatever beta trained)."""
        return evaluate(self.model, dataset if dataset is not None else self.val_data, recon=self.config.recon,
                        batch_size=batch_size, seed=self.config.seed, amp_dtype=self.amp_dtype)

    # -- checkpoints ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Save model, optimizer, step, configs, history and scaler atomically (see :func:`save_checkpoint`)."""
        return save_checkpoint(path, self.model, self.optimizer, step=self.step, config=self.config,
                               history=self.history, scaler_state=self.scaler.state_dict() if self.scaler else None)

    def load(self, path: str | os.PathLike) -> dict:
        """Restore a checkpoint of the same configuration into this trainer (model, optimizer, step, history)."""
        tensors, meta = read_checkpoint(path)
        saved = meta.get("train_config")
        if saved is not None:
            mine = self.config.to_dict()
            diffs = [k for k in ("dataset", "image_size", "model", "batch_size", "seed", "recon", "val_fraction")
                     if saved.get(k) != mine.get(k)]
            if diffs:
                detail = "; ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {mine.get(k)!r}" for k in diffs)
                raise CheckpointError(f"{path} comes from a different run ({detail})")
        meta = load_checkpoint(path, self.model, self.optimizer)
        self.step = meta["step"]
        self.history = list(meta["history"])
        if self.scaler is not None and meta.get("scaler"):
            self.scaler.load_state_dict(meta["scaler"])
        return meta

    @classmethod
    def resume(cls, path: str | os.PathLike, *, steps: int | None = None, **kwargs) -> Trainer:
        """A trainer rebuilt from the config stored in a checkpoint, with its state restored.

        ``steps`` optionally raises the run's total step count. Keyword arguments go to the constructor.
        """
        _, meta = read_checkpoint(path)
        if meta.get("train_config") is None:
            raise CheckpointError(f"{path} holds no training config; build a Trainer and call .load(path)")
        data = dict(meta["train_config"])
        if steps is not None:
            data["steps"] = steps
        trainer = cls(TrainConfig.from_dict(data), **kwargs)
        trainer.load(path)
        return trainer


@torch.no_grad()
def evaluate(model: VAE, dataset: ImageDataset, *, recon: str = "mse", batch_size: int = 256, seed: int = 0,
             amp_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Held-out PSNR and ELBO terms of ``model`` on ``dataset`` (see :meth:`Trainer.evaluate`); deterministic."""
    if not isinstance(model, VAE):
        raise TypeError(f"model must be an encoderlab VAE, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    device = model.decoder_conv_out.weight.device
    gen = torch.Generator().manual_seed(seed + 12_345)
    sums = {"psnr": 0.0, "mse": 0.0, "recon": 0.0, "kl": 0.0}
    count = 0
    for x in eval_loader(dataset, batch_size):
        x = x.to(device)
        with torch.autocast("cuda", dtype=amp_dtype, enabled=amp_dtype is not None and device.type == "cuda"):
            moments = model.encode_moments(x)
            posterior = DiagonalGaussian(moments.float())
            x_mean = model.decode(posterior.mean.to(moments.dtype)).float()
            eps = torch.randn(posterior.mean.shape, generator=gen).to(device)
            x_sample = model.decode((posterior.mean + posterior.std * eps).to(moments.dtype)).float()
        terms = elbo_terms(x, x_sample, posterior, 1.0, recon)
        x_mean = x_mean.clamp(-1.0, 1.0)
        sums["psnr"] += float(psnr(x, x_mean).sum())
        sums["mse"] += float((x_mean - x).pow(2).mean(dim=(1, 2, 3)).sum())
        sums["recon"] += float(terms["recon"].sum())
        sums["kl"] += float(terms["kl"].sum())
        count += x.shape[0]
    model.train(was_training)
    out = {k: v / count for k, v in sums.items()}
    out["neg_elbo"] = out["recon"] + out["kl"]
    return out


# --------------------------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m encoderlab.train",
        description="Train the seed-003 VAE on offline data; writes checkpoints, metrics.csv and sample grids. "
                    "Launch with torchrun --nproc_per_node N for DistributedDataParallel.")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--config", help="a JSON file with TrainConfig fields; flags given here override it")
    p.add_argument("--resume", help="a checkpoint to continue from, or 'auto' for OUT/checkpoints/last.safetensors; "
                                    "the run's configuration comes from the checkpoint (only --steps may change)")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-samples", action="store_true", help="write no sample grids (PNG)")
    flags = {
        "dataset": dict(choices=DATASETS), "image_size": dict(type=int), "val_fraction": dict(type=float),
        "preset": dict(choices=tuple(MODEL_PRESETS), dest="model", help="model size (or 'model' in --config)"),
        "steps": dict(type=int), "batch_size": dict(type=int, help="the global batch"), "lr": dict(type=float),
        "weight_decay": dict(type=float), "adam_eps": dict(type=float), "beta": dict(type=float, help="KL weight"),
        "kl_warmup_steps": dict(type=int), "recon": dict(choices=("mse", "l1")), "grad_clip": dict(type=float),
        "amp": dict(choices=("auto", "bf16", "fp16", "off")), "seed": dict(type=int),
        "log_every": dict(type=int), "eval_every": dict(type=int), "ckpt_every": dict(type=int),
        "sample_every": dict(type=int), "keep_checkpoints": dict(type=int),
    }
    for name, kwargs in flags.items():
        p.add_argument("--" + name.replace("_", "-"), default=None, **kwargs)
    return p


_CSV_FIELDS = ["step", "split", "loss", "recon", "kl", "beta", "grad_norm", "lr", "psnr", "mse", "neg_elbo",
               "elapsed_s"]


def _write_samples(trainer: Trainer, path: Path, n: int = 8) -> None:
    import matplotlib.image

    model = trainer.model
    x = torch.stack([trainer.val_data[i] for i in range(min(n, len(trainer.val_data)))]).to(trainer.device)
    gen = torch.Generator().manual_seed(trainer.config.seed + 99)
    was_training = model.training
    model.eval()
    rows = torch.cat([x, model.reconstruct(x),
                      model.sample_prior(x.shape[0], *x.shape[-2:], generator=gen)]).float().cpu()
    model.train(was_training)
    grid = image_grid(rows, nrow=x.shape[0])
    scale = max(1, 64 // x.shape[-1])  # small images (8x8 digits) are enlarged, pixels kept square
    grid = grid.repeat_interleave(scale, dim=0).repeat_interleave(scale, dim=1).numpy()
    if grid.shape[-1] == 1:
        grid = grid.repeat(3, axis=-1)
    path.parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(path, grid)


def main(argv: Sequence[str] | None = None) -> dict:
    """The ``python -m encoderlab.train`` entry point; returns the final held-out metrics (on rank 0)."""
    args = _parser().parse_args(argv)
    out = Path(args.out)
    ckpt_dir = out / "checkpoints"
    data: dict = {}
    if args.config:
        with open(args.config) as handle:
            data = json.load(handle)
    for key, value in vars(args).items():
        if key not in ("out", "config", "resume", "device", "no_progress", "no_samples") and value is not None:
            data[key] = value
    ctx = init_distributed(args.device)
    resume = args.resume
    if resume == "auto":
        resume = str(ckpt_dir / "last.safetensors") if (ckpt_dir / "last.safetensors").exists() else None
    elif resume is None and (ckpt_dir / "last.safetensors").exists():
        raise SystemExit(f"{out} already holds a run: pass --resume auto to continue it, or choose another --out")
    kwargs = dict(device=args.device, progress=not args.no_progress, distributed=ctx)
    if resume:
        trainer = Trainer.resume(resume, steps=data.get("steps"), **kwargs)
    else:
        trainer = Trainer(TrainConfig.from_dict(data), **kwargs)
    cfg = trainer.config
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "config.json", "w") as handle:
            json.dump({"train": cfg.to_dict(), "model": trainer.model.config, "world_size": ctx.world_size},
                      handle, indent=2)
    metrics_path = out / "metrics.csv"
    if ctx.is_main and not metrics_path.exists():
        with open(metrics_path, "w", newline="") as handle:
            csv.DictWriter(handle, _CSV_FIELDS).writeheader()
    start = time.perf_counter()

    def log(row: dict) -> None:
        row = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items() if k in _CSV_FIELDS}
        with open(metrics_path, "a", newline="") as handle:
            csv.DictWriter(handle, _CSV_FIELDS).writerow(row)

    def checkpoint(t: Trainer) -> None:
        t.save(ckpt_dir / f"step_{t.step:07d}.safetensors")
        t.save(ckpt_dir / "last.safetensors")
        snapshots = sorted(ckpt_dir.glob("step_*.safetensors"))
        for old in snapshots[:-cfg.keep_checkpoints]:
            old.unlink()

    def every(n: int, step: int) -> bool:
        return n > 0 and (step % n == 0 or step == cfg.steps)

    def callback(t: Trainer, record: dict) -> None:
        if not ctx.is_main:
            return
        step = record["step"]
        if every(cfg.log_every, step):
            log({**record, "split": "train", "elapsed_s": time.perf_counter() - start})
        if every(cfg.eval_every, step):
            log({**t.evaluate(), "step": step, "split": "val", "elapsed_s": time.perf_counter() - start})
        if every(cfg.ckpt_every, step):
            checkpoint(t)
        if every(cfg.sample_every, step) and not args.no_samples:
            _write_samples(t, out / "samples" / f"step_{step:07d}.png")

    trainer.train(callback=callback)
    result: dict = {}
    if ctx.is_main:
        checkpoint(trainer)
        result = trainer.evaluate()
        log({**result, "step": trainer.step, "split": "final", "elapsed_s": time.perf_counter() - start})
        if not args.no_samples:
            _write_samples(trainer, out / "samples" / "final.png")
        print(f"step {trainer.step}: held-out PSNR {result['psnr']:.2f} dB, recon {result['recon']:.2f}, "
              f"KL {result['kl']:.2f} nats/image; {time.perf_counter() - start:.1f} s; outputs in {out}")
    if ctx.enabled:
        dist.barrier()
        dist.destroy_process_group()
    return result


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
