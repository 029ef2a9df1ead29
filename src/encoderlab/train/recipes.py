"""Chapter 8, *The book's trained autoencoders*: the named training runs behind the models the package ships.

``python -m encoderlab.train --recipe kl-f8 --out runs/kl-f8`` (or ``make weights``) runs one from nothing,
resumable with ``--resume auto``. Each is LDM's AutoencoderKL (Chapter 7) at a quarter of Stable Diffusion's
width, trained on random crops of the eighteen training photographs (:mod:`encoderlab.data.photographs`) with
the book's objective: an L1 reconstruction plus a KL term of weight ``1e-6`` -- LDM's weight for its sums
over pixels and latents, which is what :class:`~encoderlab.train.Trainer`'s loss is before it divides by the
number of values. bfloat16 autocast where the CPU computes in bfloat16 natively (``amp="bf16-native"``;
float32 elsewhere, where bfloat16 convolutions are many times slower), a warm-up and a cosine learning-rate
schedule, and an average of the weights (which is what is shipped).

Sized on a 2-core AMD EPYC with AVX-512 BF16 (bfloat16 in hardware, no AMX): ``make weights`` trains both
recipes at once, each in one process with one CPU thread (:data:`RECIPE_THREADS`; a CPU run repeats bit for
bit only with the same thread count), kl-f8 at about 1.6 s per step and kl-f4 at 1.9 s on 128x128 crops, so
each takes about two and a quarter hours (on a 2-core Xeon with AMX, a kl-f4 step took 1.55 s, two runs
side by side). On a CPU without native bfloat16 the same recipe trains in float32, slower (1.6 times the bfloat16 step on a Xeon with AMX; far more on a machine where float32 convolutions are
slow too). Both models use 8 GroupNorm groups (:data:`~encoderlab.train.config.MODEL_PRESETS`). A
step checkpoint is kept every 200 steps, so that the held-out quality can be measured against the steps after
the run (:mod:`~encoderlab.train.publish`). The card of each shipped model records the machine, the wall
time and the held-out quality it reached. Another seed can spend longer on an early plateau of washed-out
colours (kl-f4 with seeds 1 and 2: 17-18 dB held out until step 800, where seed 0 had 20.4 dB at 400) and
still catch up (23.65 and 24.02 dB at step 2,000, seed 0 23.81; Chapter 8, *The book's trained autoencoders*).
"""

from __future__ import annotations

__all__ = ["RECIPES", "RECIPE_THREADS"]

#: The CPU threads each recipe trains with (``--threads``).
RECIPE_THREADS = 1

_COMMON = {
    "dataset": "photographs", "image_size": 128, "batch_size": 8, "lr": 8e-4, "weight_decay": 0.0,
    "beta": 1e-6, "recon": "l1", "grad_clip": 1.0, "amp": "bf16-native", "seed": 0, "lr_schedule": "cosine",
    "lr_warmup_steps": 200, "ema_decay": 0.995, "log_every": 25, "eval_every": 500, "ckpt_every": 200,
    "sample_every": 0, "keep_checkpoints": 40,
}

#: ``name -> TrainConfig fields`` of each shipped model's run.
RECIPES: dict[str, dict] = {
    "kl-f8": {**_COMMON, "model": "kl-f8", "steps": 5200},
    "kl-f4": {**_COMMON, "model": "kl-f4", "steps": 4000},
}
