"""Chapter 8, *Training a VAE*: training the seed-003 VAE -- the objective, a resumable training loop,
checkpoints, evaluation, data-parallel runs and the command line.

The objective for one image is Chapter 5's ELBO, ``loss = recon + beta_t * KL(q(z|x) || N(0, I))`` (see
:mod:`~encoderlab.train.objective`). Training runs in one process, or under ``torchrun --nproc_per_node N``
with DistributedDataParallel; every step's batch and noise are functions of ``(seed, step)``, so a resumed or
data-parallel run computes what one uninterrupted process computes.

The modules, in the order of the chapter's sections:

- :mod:`~encoderlab.train.objective` (*The objective: the evidence lower bound*): :func:`kl_weight` (the KL
  warm-up), :func:`psnr`, the module that DDP wraps;
- :mod:`~encoderlab.train.grids` (*Data that needs no network*): :func:`image_grid`, the sample grids;
- :mod:`~encoderlab.train.config` (*Training on a CPU*): :class:`TrainConfig` and :data:`MODEL_PRESETS` (the
  seed-003 VAE, or LDM's AutoencoderKL of Chapter 7);
- :mod:`~encoderlab.train.recipes` (*The book's trained autoencoders*): :data:`RECIPES`, the named runs
  behind the shipped models (``--recipe kl-f8``);
- :mod:`~encoderlab.train.trainer` (*Training on a CPU*, *How good is it? Held-out PSNR*): :class:`Trainer`
  and :func:`evaluate`;
- :mod:`~encoderlab.train.checkpoint` (*Checkpoints: stop, resume, and get exactly the same model*):
  :func:`save_checkpoint`, :func:`read_checkpoint`, :func:`load_checkpoint`;
- :mod:`~encoderlab.train.distributed`, :mod:`~encoderlab.train.run_folder` and :mod:`~encoderlab.train.cli`
  (*Longer runs: the command line and ``torchrun``*): :func:`init_distributed`, the run folder kept consistent
  across kills (resume from the newest intact checkpoint, each step once in ``metrics.csv``) and :func:`main`,
  run by ``python -m encoderlab.train --help``::

    python -m encoderlab.train --dataset digits --preset tiny --steps 2000 --out runs/digits
    torchrun --nproc_per_node 2 -m encoderlab.train --dataset photos --preset small --out runs/photos
"""

from .checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from .cli import main
from .config import MODEL_PRESETS, TrainConfig
from .determinism import make_deterministic, restore_determinism
from .distributed import DistributedContext, init_distributed
from .grids import image_grid
from .objective import elbo_terms, kl_weight, psnr
from .recipes import RECIPES
from .trainer import Trainer, evaluate

__all__ = [
    "MODEL_PRESETS",
    "RECIPES",
    "CheckpointError",
    "DistributedContext",
    "TrainConfig",
    "Trainer",
    "elbo_terms",
    "evaluate",
    "image_grid",
    "init_distributed",
    "kl_weight",
    "load_checkpoint",
    "make_deterministic",
    "main",
    "psnr",
    "restore_determinism",
    "read_checkpoint",
    "save_checkpoint",
]
