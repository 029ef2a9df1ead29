"""Chapter 8, *The book's trained autoencoders*: the named training runs behind the models the package ships.

``python -m encoderlab.train --recipe kl-f8 --out runs/kl-f8`` (or ``make weights``) runs one from nothing,
resumable with ``--resume auto``. Each is LDM's AutoencoderKL (Chapter 7) at a quarter of Stable Diffusion's
width, trained on random crops of the fifteen training photographs (:mod:`encoderlab.data.photographs`) with
the book's objective: an L1 reconstruction plus a KL term of weight ``1e-6`` -- LDM's weight for its sums
over pixels and latents, which is what :class:`~encoderlab.train.Trainer`'s loss is before it divides by the
number of values. bfloat16 autocast where the CPU computes in bfloat16 natively (``amp="bf16-native"``;
float32 elsewhere, where bfloat16 convolutions are many times slower), a warm-up and a cosine learning-rate
schedule, and an average of the weights (which is what is shipped).

Not yet calibrated: the crop size, batch and step counts below are a first choice, to be sized to about two
hours on two CPU cores by a pilot run (measured on an AVX2 EPYC, float32, batch 8: kl-f8 1.2 s per step on
64x64 crops, 6.3 s on 128x128). The card of each shipped model records the machine, the wall time and the
held-out quality it reached.
"""

from __future__ import annotations

__all__ = ["RECIPES"]

_COMMON = {
    "dataset": "photographs", "image_size": 128, "batch_size": 8, "lr": 5e-4, "weight_decay": 0.0,
    "beta": 1e-6, "recon": "l1", "grad_clip": 1.0, "amp": "bf16-native", "seed": 0, "lr_schedule": "cosine",
    "lr_warmup_steps": 200, "ema_decay": 0.999, "log_every": 25, "eval_every": 500, "ckpt_every": 200,
    "sample_every": 0, "keep_checkpoints": 3,
}

#: ``name -> TrainConfig fields`` of each shipped model's run.
RECIPES: dict[str, dict] = {
    "kl-f8": {**_COMMON, "model": "kl-f8", "steps": 6000},
    "kl-f4": {**_COMMON, "model": "kl-f4", "steps": 6000},
}
