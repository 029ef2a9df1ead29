"""Chapter 8, *Training on a CPU*: everything that defines a training run, and the models to pick from.

Two kinds of model train here: the seed-003 :class:`~encoderlab.vae.VAE` (presets ``tiny``, ``small``,
``seed``) and LDM's :class:`~encoderlab.ldm.AutoencoderKL` of Chapter 7 at a small width (presets ``kl-f8``:
Stable Diffusion's layer plan and its 4-channel latent at 1/8 of the image's side; ``kl-f4``: LDM's kl-f4
plan, 3 channels at 1/4). A model dict with a ``ddconfig`` entry is an AutoencoderKL, any other a VAE.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._validation import check_float, check_int, check_keys, check_one_of
from ..data import DATASETS, dataset_image_shape
from ..ldm import AutoencoderKL
from ..vae import SEED003_CONFIG, VAE

__all__ = ["AMP_MODES", "LR_SCHEDULES", "MODEL_PRESETS", "RECON_KINDS", "TRAINABLE", "TrainConfig", "build_model",
           "check_trainable"]

#: The model classes the trainer trains (they share encode_moments, decode, latent_shape, config).
TRAINABLE = (VAE, AutoencoderKL)


def check_trainable(name: str, model) -> None:
    """``model`` must be a :class:`~encoderlab.vae.VAE` or an :class:`~encoderlab.ldm.AutoencoderKL`."""
    if not isinstance(model, TRAINABLE):
        raise TypeError(f"{name} must be an encoderlab VAE or AutoencoderKL, got {type(model).__name__}")


def _kl(ch_mult: list[int], z_channels: int) -> dict:
    # attention only in the middle (as SD's VAE); ``resolution`` only places attn_resolutions, here none.
    # 8 GroupNorm groups: Stable Diffusion's four channels per group at the first level (LDM's 32 groups would
    # hold one channel each at ch=32, an instance norm that wipes out every channel's mean over the image)
    return {"ddconfig": {"ch": 32, "ch_mult": ch_mult, "num_res_blocks": 2, "attn_resolutions": [],
                         "dropout": 0.0, "resolution": 256, "z_channels": z_channels, "norm_num_groups": 8},
            "embed_dim": z_channels}

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
    # LDM's AutoencoderKL at a quarter of SD's width (ch 32): SD's kl-f8 plan, and LDM's kl-f4 plan.
    "kl-f8": _kl([1, 2, 4, 4], 4),
    "kl-f4": _kl([1, 2, 4], 3),
}

RECON_KINDS = ("mse", "l1")
AMP_MODES = ("auto", "bf16", "bf16-native", "fp16", "off")
LR_SCHEDULES = ("constant", "cosine")
#: Where the cosine schedule ends, as a fraction of ``lr``.
COSINE_FINAL_FRACTION = 0.1


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in every checkpoint and in ``config.json``).

    ``model`` is a preset name from :data:`MODEL_PRESETS` or a dict of :class:`~encoderlab.vae.VAE` arguments
    (without ``im_channels``, which comes from the data) or of AutoencoderKL arguments (``ddconfig``,
    ``embed_dim``). ``batch_size`` is the global batch (split over the processes under torchrun). ``amp`` is
    ``"auto"`` (on CUDA bfloat16 where supported, else float16 with a gradient scaler; on a CPU off),
    ``"bf16"`` (bfloat16 autocast on CUDA and on a CPU alike: fast on CPUs with AVX-512 BF16 or AMX, many
    times slower than float32 on others), ``"bf16-native"`` (bfloat16 where the hardware computes in it --
    a CUDA GPU with bfloat16, a CPU with AVX-512 BF16 or AMX -- float32 elsewhere), ``"fp16"`` (CUDA only)
    or ``"off"``.

    The learning rate is a pure function of the step (so a resumed run continues it exactly): ``lr`` after
    a linear warm-up over ``lr_warmup_steps``, then constant or (``lr_schedule="cosine"``) decaying along a
    half cosine to ``COSINE_FINAL_FRACTION * lr`` at ``steps`` (so a run resumed with more ``steps`` stretches
    the rest of its cosine, and differs from a run given that many steps from the start). ``ema_decay`` > 0 keeps
    an exponential moving average of the weights (what :meth:`Trainer.averaged_model` returns and evaluation
    uses).
    Chapter 8, *Training on a CPU*.
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
    lr_schedule: str = "constant"
    lr_warmup_steps: int = 0
    ema_decay: float = 0.0

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
        self.adam_betas = _check_betas(self.adam_betas)
        check_float("adam_eps", self.adam_eps, positive=True)
        check_float("beta", self.beta, min_value=0.0)
        check_int("kl_warmup_steps", self.kl_warmup_steps, min_value=0)
        check_one_of("recon", self.recon, RECON_KINDS)
        check_float("grad_clip", self.grad_clip, min_value=0.0)
        check_one_of("amp", self.amp, AMP_MODES)
        check_int("seed", self.seed, min_value=0)
        for name in ("log_every", "eval_every", "ckpt_every", "sample_every"):
            check_int(name, getattr(self, name), min_value=0)
        check_int("keep_checkpoints", self.keep_checkpoints, min_value=1)
        check_one_of("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_int("lr_warmup_steps", self.lr_warmup_steps, min_value=0)
        check_float("ema_decay", self.ema_decay, min_value=0.0, max_value=0.99999)

    def lr_at(self, step: int) -> float:
        """The learning rate of step ``step`` (0-based), see the class docstring."""
        check_int("step", step, min_value=0)
        lr = self.lr
        if self.lr_warmup_steps and step < self.lr_warmup_steps:
            return lr * (step + 1) / self.lr_warmup_steps
        if self.lr_schedule == "cosine":
            span = max(1, self.steps - self.lr_warmup_steps)
            progress = min(1.0, (step - self.lr_warmup_steps) / span)
            final = COSINE_FINAL_FRACTION
            return lr * (final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress)))
        return lr

    def check_model(self, image_shape: Sequence[int] | None = None) -> tuple[int, int, int]:
        """Check, before any data is loaded, that :attr:`model` builds and that the images fit it; returns the
        latent shape. ``image_shape`` ``(C, H, W)`` defaults to the dataset's (:func:`dataset_image_shape`).

        The model is built on the meta device (no memory, no time), so its own argument checks run.
        """
        c, h, w = dataset_image_shape(self.dataset, self.image_size) if image_shape is None else image_shape
        kwargs = self.model_kwargs(c)
        if isinstance(self.model, dict):
            if "ddconfig" in kwargs:
                check_keys("model arguments (AutoencoderKL keyword arguments)", kwargs,
                           ("ddconfig", "embed_dim", "scaling_factor"))
            else:
                allowed = [p for p in inspect.signature(VAE).parameters if p != "im_channels"]
                check_keys("model arguments (VAE keyword arguments)", {k for k in self.model if k != "im_channels"},
                           allowed)
        with torch.device("meta"):
            model = build_model(kwargs)
        try:
            return model.latent_shape(h, w)
        except ValueError as err:
            raise ValueError(f"image_size={h} does not fit the model: {err} (the model makes the image "
                             f"{model.downsample_factor} times smaller on each side)") from None

    def model_kwargs(self, im_channels: int) -> dict:
        """The model's arguments for images with ``im_channels`` channels (see :func:`build_model`)."""
        kwargs = dict(MODEL_PRESETS[self.model]) if isinstance(self.model, str) else dict(self.model)
        if "ddconfig" in kwargs:
            ddconfig = kwargs["ddconfig"]
            if not isinstance(ddconfig, dict):
                raise TypeError(f"model['ddconfig'] must be a dict, got {type(ddconfig).__name__}")
            kwargs["ddconfig"] = {**ddconfig, "in_channels": im_channels, "out_ch": im_channels}
            return kwargs
        kwargs.pop("im_channels", None)
        return {"im_channels": im_channels, **kwargs}

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict (what a checkpoint and ``config.json`` store)."""
        out = dataclasses.asdict(self)
        out["adam_betas"] = list(self.adam_betas)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """The config that :meth:`to_dict` (or a ``--config`` JSON file) describes; unknown keys are refused."""
        if not isinstance(data, dict):
            raise TypeError(f"a training config must be a dict, got {type(data).__name__}")
        check_keys("training config keys", data, [f.name for f in dataclasses.fields(cls)])
        return cls(**data)


def _check_betas(betas) -> tuple[float, float]:
    """``adam_betas`` as two floats in ``[0, 1)`` (a list from a JSON file is fine; a string is not)."""
    if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence):
        raise TypeError(f"adam_betas must be a pair of numbers such as (0.9, 0.999), got {type(betas).__name__} "
                        f"{betas!r}")
    if len(betas) != 2:
        raise ValueError(f"adam_betas must be two numbers in [0, 1), got {len(betas)}: {betas!r}")
    values = tuple(check_float(f"adam_betas[{i}]", b) for i, b in enumerate(betas))
    if not all(0.0 <= b < 1.0 for b in values):
        raise ValueError(f"adam_betas must be two numbers in [0, 1), got {values!r}")
    return values


def build_model(kwargs: dict) -> VAE | AutoencoderKL:
    """The model that :meth:`TrainConfig.model_kwargs` describes: an AutoencoderKL when ``kwargs`` has a
    ``ddconfig`` entry, else a seed-003 VAE. Chapter 8, *Training on a CPU*."""
    if "ddconfig" in kwargs:
        return AutoencoderKL(**kwargs)
    return VAE(**kwargs)
