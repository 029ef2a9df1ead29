"""Chapter 8, *Training on a CPU*: the :class:`Trainer`, a resumable loop around the seed-003 VAE, and
:func:`evaluate` (*How good is it? Held-out PSNR*).

Every step's batch and reparameterization noise are pure functions of ``(seed, step)``, drawn for the *global*
batch and sliced per process, so a run resumed from a checkpoint, or split over several processes, computes
what one uninterrupted process computes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .._validation import check_bool, check_int, check_one_of
from ..data import ImageDataset, check_dataset, eval_loader, make_dataset, make_loader
from ..distributions import DiagonalGaussian, elbo_loss
from ..fast import cpu_has_native_bfloat16
from ..ldm import AutoencoderKL
from ..vae import VAE
from .checkpoint import CheckpointError, read_checkpoint, restore_checkpoint, save_checkpoint
from .config import RECON_KINDS, TrainConfig, build_model, check_trainable
from .determinism import make_deterministic
from .distributed import (
    DistributedContext,
    data_parallel,
    init_distributed,
    mean_over_processes,
    resolve_device,
)
from .objective import ELBOModel, kl_weight, psnr

__all__ = ["Trainer", "evaluate"]

#: What must agree between a checkpoint's run and the trainer that loads it (``beta``, ``lr``, ``steps``... may
#: change: the beta sweep of Chapter 8 continues one run with three values of beta).
_SAME_RUN_KEYS = ("dataset", "image_size", "model", "batch_size", "seed", "recon", "val_fraction")


class Trainer:
    """Trains a :class:`~encoderlab.vae.VAE` on one of the offline datasets.

    ``Trainer(config)`` builds the data, the model (initialised from ``config.seed``), AdamW and, when launched
    by torchrun, DistributedDataParallel. ``train(n)`` runs ``n`` more steps with a ``tqdm.auto`` progress bar
    showing the live loss, and appends one record per step to ``history``. ``evaluate()`` gives held-out PSNR
    and ELBO terms. ``save(path)`` / ``Trainer.resume(path)`` continue a run exactly.
    Chapter 8, *Training on a CPU* (and *Checkpoints: stop, resume, and get exactly the same model*).
    """

    def __init__(self, config: TrainConfig, *, device: torch.device | str | None = None,
                 train_data: ImageDataset | None = None, val_data: ImageDataset | None = None,
                 progress: bool = True, distributed: DistributedContext | None = None) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        if distributed is not None and not isinstance(distributed, DistributedContext):
            raise TypeError(f"distributed must be a DistributedContext or None, got {type(distributed).__name__}")
        for name, data in (("train_data", train_data), ("val_data", val_data)):
            if data is not None and not isinstance(data, ImageDataset):
                check_dataset(name, data)  # a tensor or a list gets its own hint
                raise TypeError(f"{name} must be an encoderlab.data.ImageDataset, got {type(data).__name__}")
        self.config = config
        self.progress = check_bool("progress", progress)
        self.ctx = distributed if distributed is not None else init_distributed()
        self.device = resolve_device(device, self.ctx)
        # refused before any data is loaded: a model that does not build, or images it cannot take
        config.check_model(None if train_data is None else train_data.image_shape)
        self.train_data = train_data if train_data is not None else make_dataset(
            config.dataset, "train", config.image_size, val_fraction=config.val_fraction, seed=config.seed)
        self.val_data = val_data if val_data is not None else make_dataset(
            config.dataset, "val", config.image_size, val_fraction=config.val_fraction, seed=config.seed)
        if self.val_data.image_shape != self.train_data.image_shape:
            raise ValueError(f"val_data has images of shape {self.val_data.image_shape}, train_data "
                             f"{self.train_data.image_shape}; they must be the same")
        if config.batch_size > len(self.train_data):
            raise ValueError(f"batch_size={config.batch_size} is larger than the training data "
                             f"({len(self.train_data)} images)")
        if config.batch_size % self.ctx.world_size:
            raise ValueError(f"batch_size={config.batch_size} (the global batch) must be divisible by the "
                             f"{self.ctx.world_size} processes")
        make_deterministic(self.device)  # exact resume on CUDA too (before CUDA's first use)
        torch.manual_seed(config.seed)  # the initial weights are a function of the seed
        self.model = build_model(config.model_kwargs(self.train_data.image_shape[0])).to(self.device)
        # fails early if the image size does not fit the model
        self._latent_shape = self.model.latent_shape(*self.train_data.image_shape[1:])
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, betas=config.adam_betas,
                                           eps=config.adam_eps, weight_decay=config.weight_decay)
        self.amp_dtype = self._amp_dtype()
        self.scaler = (torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None)
        self._forward = data_parallel(ELBOModel(self.model, config.recon), self.ctx, self.device)
        self.step = 0
        self.history: list[dict] = []
        # the running average of the weights (ema_decay > 0), in float32 beside the model's own
        self.ema = ({k: v.detach().clone() for k, v in self.model.state_dict().items()}
                    if config.ema_decay > 0 else None)

    def _amp_dtype(self) -> torch.dtype | None:
        if self.config.amp == "off":
            return None
        if self.device.type != "cuda":  # a CPU autocasts only when asked to, to bfloat16
            if self.config.amp == "bf16" or (self.config.amp == "bf16-native" and cpu_has_native_bfloat16()):
                return torch.bfloat16
            return None
        if self.config.amp == "bf16-native":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
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
        for group in self.optimizer.param_groups:  # the schedule is a function of the step alone
            group["lr"] = cfg.lr_at(self.step)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            terms = self._forward(x, self._noise(self.step), beta_t)
        objective = terms.loss.mean() / x[0].numel()  # per value: lr and grad_clip do not depend on the size
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
        if self.ema is not None:
            self._update_average()
        stats = torch.stack([terms.loss.mean(), terms.reconstruction.mean(), terms.kl.mean()]).detach()
        loss, rec, kl = (float(v) for v in mean_over_processes(stats, self.ctx).cpu())
        record = {"step": self.step + 1, "loss": loss, "recon": rec, "kl": kl, "beta": beta_t,
                  "grad_norm": grad_norm, "lr": self.optimizer.param_groups[0]["lr"]}
        self.step += 1
        self.history.append(record)
        return record

    @torch.no_grad()
    def _update_average(self) -> None:
        """``ema <- d * ema + (1 - d) * weights``, with ``d`` ramping up to ``ema_decay`` over the first steps
        (``(1 + n) / (10 + n)`` after ``n`` steps), so that the average does not remember the initial weights."""
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        for key, value in self.model.state_dict().items():
            if value.is_floating_point():
                self.ema[key].lerp_(value, 1.0 - decay)
            else:
                self.ema[key].copy_(value)

    def averaged_model(self):
        """A copy of the model holding the running average of the weights (the model itself without
        ``ema_decay``), in eval mode."""
        import copy

        model = copy.deepcopy(self.model).eval()
        if self.ema is not None:
            model.load_state_dict(self.ema)
        return model

    def train(self, steps: int | None = None, *, callback=None) -> list[dict]:
        """Run ``steps`` more steps (default: until ``config.steps``); returns the new history records.

        ``callback(trainer, record)`` is called after every step (the CLI uses it to evaluate, save and draw).
        """
        steps = max(0, self.config.steps - self.step) if steps is None else steps
        check_int("steps", steps, min_value=0)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be a function (trainer, record) or None, got {type(callback).__name__}")
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
        posterior sample) and ``neg_elbo = recon + kl`` (the beta = 1 objective, whatever beta trained).
        With ``ema_decay`` > 0 the averaged weights are evaluated. A CPU evaluates in float32."""
        model = self.averaged_model() if self.ema is not None else self.model
        return evaluate(model, dataset if dataset is not None else self.val_data, recon=self.config.recon,
                        batch_size=batch_size, seed=self.config.seed, amp_dtype=self.amp_dtype)

    # -- checkpoints ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Save model, optimizer, step, configs, history and scaler atomically (see :func:`save_checkpoint`)."""
        return save_checkpoint(path, self.model, self.optimizer, step=self.step, config=self.config,
                               history=self.history, scaler_state=self.scaler.state_dict() if self.scaler else None,
                               average=self.ema)

    def load(self, path: str | os.PathLike) -> dict:
        """Restore a checkpoint of the same run into this trainer (model, optimizer, step, history); the run's
        data, model, batch size, seed and objective must be the same (``beta``, ``lr``, ``steps`` may differ)."""
        return self._restore(path, *read_checkpoint(path))

    def _restore(self, path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
        """:meth:`load` of a checkpoint already read (the file is read once)."""
        saved = meta.get("train_config")
        if isinstance(saved, dict):
            mine = self.config.to_dict()
            diffs = [k for k in _SAME_RUN_KEYS if saved.get(k) != mine.get(k)]
            if diffs:
                detail = "; ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {mine.get(k)!r}" for k in diffs)
                raise CheckpointError(f"{path} comes from a different run ({detail})")
        restore_checkpoint(path, self.model, self.optimizer, tensors, meta)
        self.step = meta["step"]
        self.history = list(meta["history"])
        if self.scaler is not None and meta.get("scaler"):
            self.scaler.load_state_dict(meta["scaler"])
        if self.ema is not None:
            average = {k[len("average."):]: v for k, v in tensors.items() if k.startswith("average.")}
            if set(average) != set(self.ema):
                raise CheckpointError(f"{path} holds no average of the weights for this run (ema_decay="
                                      f"{self.config.ema_decay}); it was saved without one")
            for key, value in average.items():
                self.ema[key].copy_(value)
        return meta

    @classmethod
    def resume(cls, path: str | os.PathLike, *, steps: int | None = None, **kwargs) -> Trainer:
        """A trainer rebuilt from the config stored in a checkpoint, with its state restored.

        ``steps`` optionally raises the run's total step count. Keyword arguments go to the constructor.
        """
        tensors, meta = read_checkpoint(path)
        if meta.get("train_config") is None:
            raise CheckpointError(f"{path} holds no training config; build a Trainer and call .load(path)")
        data = dict(meta["train_config"])
        if steps is not None:
            data["steps"] = check_int("steps", steps, min_value=meta["step"])
        try:
            config = TrainConfig.from_dict(data)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{path} holds a training config this code refuses: {err}") from err
        trainer = cls(config, **kwargs)
        trainer._restore(path, tensors, meta)
        return trainer


@torch.no_grad()
def evaluate(model: VAE | AutoencoderKL, dataset: ImageDataset, *, recon: str = "mse", batch_size: int = 256, seed: int = 0,
             amp_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Held-out PSNR and ELBO terms of ``model`` on ``dataset`` (see :meth:`Trainer.evaluate`); deterministic.

    Chapter 8, *How good is it? Held-out PSNR*.
    """
    check_trainable("model", model)
    check_dataset("dataset", dataset)
    check_one_of("recon", recon, RECON_KINDS)
    check_int("seed", seed, min_value=0)
    if amp_dtype not in (None, torch.float16, torch.bfloat16):
        raise ValueError(f"amp_dtype must be None, torch.float16 or torch.bfloat16, got {amp_dtype!r}")
    loader = eval_loader(dataset, batch_size)  # checks batch_size
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed + 12_345)
    sums = {"psnr": 0.0, "mse": 0.0, "recon": 0.0, "kl": 0.0}
    count = 0
    for x in loader:
        x = x.to(device)
        with torch.autocast("cuda", dtype=amp_dtype, enabled=amp_dtype is not None and device.type == "cuda"):
            moments = model.encode_moments(x)
            posterior = DiagonalGaussian(moments.float())
            x_mean = model.decode(posterior.mean.to(moments.dtype)).float()
            eps = torch.randn(posterior.mean.shape, generator=gen).to(device)
            x_sample = model.decode((posterior.mean + posterior.std * eps).to(moments.dtype)).float()
        terms = elbo_loss(x, x_sample, posterior, beta=1.0, kind=recon, reduction="none")
        x_mean = x_mean.clamp(-1.0, 1.0)
        sums["psnr"] += float(psnr(x, x_mean).sum())
        sums["mse"] += float((x_mean - x).pow(2).mean(dim=(1, 2, 3)).sum())
        sums["recon"] += float(terms.reconstruction.sum())
        sums["kl"] += float(terms.kl.sum())
        count += x.shape[0]
    model.train(was_training)
    out = {k: v / count for k, v in sums.items()}
    out["neg_elbo"] = out["recon"] + out["kl"]
    return out
