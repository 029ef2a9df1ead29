"""Chapter 8, *Training on a CPU*: everything that defines a training run, and the model sizes to pick from."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._validation import check_float, check_int, check_keys, check_one_of
from ..data import DATASETS, dataset_image_shape
from ..vae import SEED003_CONFIG, VAE

__all__ = ["AMP_MODES", "MODEL_PRESETS", "RECON_KINDS", "TrainConfig"]

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

RECON_KINDS = ("mse", "l1")
AMP_MODES = ("auto", "bf16", "fp16", "off")


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in every checkpoint and in ``config.json``).

    ``model`` is a preset name from :data:`MODEL_PRESETS` or a dict of :class:`~encoderlab.vae.VAE` arguments
    (without ``im_channels``, which comes from the data). ``batch_size`` is the global batch (split over the
    processes under torchrun). ``amp`` is ``"auto"`` (bfloat16 where supported, else float16 with a gradient
    scaler), ``"bf16"``, ``"fp16"`` or ``"off"``; autocast is only ever used on CUDA -- on a CPU it is off.
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

    def check_model(self, image_shape: Sequence[int] | None = None) -> tuple[int, int, int]:
        """Check, before any data is loaded, that :attr:`model` builds a VAE and that the images fit it; returns
        the latent shape. ``image_shape`` ``(C, H, W)`` defaults to the dataset's (:func:`dataset_image_shape`).

        The VAE is built on the meta device (no memory, no time), so its own argument checks run.
        """
        c, h, w = dataset_image_shape(self.dataset, self.image_size) if image_shape is None else image_shape
        if isinstance(self.model, dict):
            allowed = [p for p in inspect.signature(VAE).parameters if p != "im_channels"]
            check_keys("model arguments (VAE keyword arguments)", {k for k in self.model if k != "im_channels"},
                       allowed)
        with torch.device("meta"):
            vae = VAE(**self.model_kwargs(c))
        try:
            return vae.latent_shape(h, w)
        except ValueError as err:
            raise ValueError(f"image_size={h} does not fit the model: {err} (the model halves the image "
                             f"{sum(vae.down_sample)} times)") from None

    def model_kwargs(self, im_channels: int) -> dict:
        """The VAE arguments for images with ``im_channels`` channels."""
        kwargs = dict(MODEL_PRESETS[self.model]) if isinstance(self.model, str) else dict(self.model)
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
