"""Chapter 8, *Longer runs: the command line and ``torchrun``*: ``python -m encoderlab.train``.

One run, one folder: ``config.json``, ``checkpoints/`` (``last.safetensors`` plus the most recent step
snapshots), ``metrics.csv`` (training rows and held-out evaluations) and ``samples/`` (PNG grids)::

    python -m encoderlab.train --dataset digits --preset tiny --steps 2000 --out runs/digits
    python -m encoderlab.train --out runs/digits --steps 4000 --resume auto   # continue the same run
    torchrun --nproc_per_node 2 -m encoderlab.train --dataset photos --preset small --out runs/photos
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from ..data import DATASETS
from .config import AMP_MODES, MODEL_PRESETS, RECON_KINDS, TrainConfig
from .distributed import finish_distributed, init_distributed
from .grids import write_sample_grid
from .trainer import Trainer

__all__ = ["main"]

_CSV_FIELDS = ["step", "split", "loss", "recon", "kl", "beta", "grad_norm", "lr", "psnr", "mse", "neg_elbo",
               "elapsed_s"]
_RUN_FLAGS = ("out", "config", "resume", "device", "no_progress", "no_samples")  # not TrainConfig fields


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
        "kl_warmup_steps": dict(type=int), "recon": dict(choices=RECON_KINDS), "grad_clip": dict(type=float),
        "amp": dict(choices=AMP_MODES), "seed": dict(type=int),
        "log_every": dict(type=int), "eval_every": dict(type=int), "ckpt_every": dict(type=int),
        "sample_every": dict(type=int), "keep_checkpoints": dict(type=int),
    }
    for name, kwargs in flags.items():
        p.add_argument("--" + name.replace("_", "-"), default=None, **kwargs)
    return p


def _write_samples(trainer: Trainer, path: Path, n: int = 8) -> None:
    images = torch.stack([trainer.val_data[i] for i in range(min(n, len(trainer.val_data)))]).to(trainer.device)
    write_sample_grid(trainer.model, images, path, seed=trainer.config.seed + 99)


def main(argv: Sequence[str] | None = None) -> dict:
    """The ``python -m encoderlab.train`` entry point; returns the final held-out metrics (on rank 0).

    Chapter 8, *Longer runs: the command line and ``torchrun``*.
    """
    args = _parser().parse_args(argv)
    out = Path(args.out)
    ckpt_dir = out / "checkpoints"
    data: dict = {}
    if args.config:
        with open(args.config) as handle:
            data = json.load(handle)
    for key, value in vars(args).items():
        if key not in _RUN_FLAGS and value is not None:
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
    finish_distributed(ctx)
    return result
