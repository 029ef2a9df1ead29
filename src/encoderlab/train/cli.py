"""Chapter 8, *Longer runs: the command line and ``torchrun``*: ``python -m encoderlab.train``.

One run, one folder: ``config.json``, ``checkpoints/`` (``last.safetensors`` plus the most recent step
snapshots), ``metrics.csv`` (training rows and held-out evaluations) and ``samples/`` (PNG grids)::

    python -m encoderlab.train --dataset digits --preset tiny --steps 2000 --out runs/digits
    python -m encoderlab.train --out runs/digits --steps 4000 --resume auto   # continue the same run
    python -m encoderlab.train --recipe kl-f8 --out runs/kl-f8               # a shipped model's run
    torchrun --nproc_per_node 2 -m encoderlab.train --dataset photos --preset small --out runs/photos

Every value is checked before any data is loaded or a model built: a bad one ends with argparse's usage and
one error line, exit status 2 (never a traceback). The run folder's consistency across kills and resumes is
:mod:`~encoderlab.train.run_folder`'s job.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from .._files import StorageError, atomic_write, storage_error
from .._validation import check_device
from ..data import DATASETS
from .checkpoint import CheckpointError, read_checkpoint
from .config import AMP_MODES, LR_SCHEDULES, MODEL_PRESETS, RECON_KINDS, TrainConfig
from .distributed import finish_distributed, init_distributed, resolve_device
from .grids import write_sample_grid
from .recipes import RECIPES
from .run_folder import append_metrics, find_resume, rotate_checkpoints, trim_metrics
from .trainer import Trainer

__all__ = ["main"]

_RUN_FLAGS = ("out", "config", "recipe", "resume", "device", "threads", "no_progress", "no_samples")  # not TrainConfig fields


class UsageError(ValueError):
    """A bad command line: reported by argparse as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m encoderlab.train",
        description="Train the seed-003 VAE on offline data; writes checkpoints, metrics.csv and sample grids. "
                    "Launch with torchrun --nproc_per_node N for DistributedDataParallel.")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--config", help="a JSON file with TrainConfig fields; flags given here override it")
    p.add_argument("--recipe", choices=tuple(RECIPES),
                   help="a named training run (the book's shipped models); --config and flags override it")
    p.add_argument("--resume", help="a checkpoint to continue from, or 'auto' for the newest intact one in "
                                    "OUT/checkpoints; the run's configuration comes from the checkpoint (only "
                                    "--steps may change)")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: PyTorch's choice); a CPU run "
                                            "repeats bit for bit only with the same number")
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
        "lr_schedule": dict(choices=LR_SCHEDULES), "lr_warmup_steps": dict(type=int),
        "ema_decay": dict(type=float, help="keep an average of the weights (0: none)"),
    }
    for name, kwargs in flags.items():
        p.add_argument("--" + name.replace("_", "-"), default=None, **kwargs)
    return p


def _write_samples(trainer: Trainer, path: Path, n: int = 8) -> None:
    images = torch.stack([trainer.val_data[i] for i in range(min(n, len(trainer.val_data)))]).to(trainer.device)
    try:
        write_sample_grid(trainer.model, images, path, seed=trainer.config.seed + 99)
    except OSError as err:
        raise storage_error(path, err) from err


def _read_config_file(path: str) -> dict:
    """The TrainConfig fields of a ``--config`` JSON file."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--config {path}: no such file")
    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"--config {path} is not valid JSON: {err}") from None
    except OSError as err:
        raise UsageError(f"--config {path} cannot be read: {err.strerror or err}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--config {path} must hold a JSON object of TrainConfig fields, got {type(data).__name__}")
    return data


def _check_out(out: Path) -> None:
    """``--out`` must be a folder (or not exist yet) that this process can write to."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if (out / "checkpoints").exists() and not (out / "checkpoints").is_dir():
        raise UsageError(f"--out {out}: {out / 'checkpoints'} is a file, not a folder")
    folder = out
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"--out {out}: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UsageError(f"--out {out} is not writable ({folder}: {err.strerror or err})") from None


def _resume_point(args, ckpt_dir: Path) -> tuple[Path | None, dict | None, str | None]:
    """``(checkpoint, its metadata, note)`` to resume from, or ``(None, None, None)`` for a fresh run."""
    if args.resume == "auto":
        path, _, note = find_resume(ckpt_dir)  # CheckpointError when every checkpoint is damaged
    elif args.resume is not None:
        path, note = Path(args.resume), None
        if not path.is_file():
            raise UsageError(f"--resume {path}: no such file")
    else:
        if (ckpt_dir / "last.safetensors").exists():
            raise UsageError(f"{args.out} already holds a run: pass --resume auto to continue it, or choose "
                             "another --out")
        return None, None, None
    if path is None:
        return None, None, None
    meta = read_checkpoint(path)[1]
    if meta.get("train_config") is None:
        raise UsageError(f"--resume {path} holds no training config (it was saved without one)")
    return path, meta, note


def _resumed_config(meta: dict, given: dict) -> dict:
    """The checkpoint's config with ``steps`` from ``given``; any other value of ``given`` must agree with it."""
    saved = dict(meta["train_config"])
    if given.get("adam_betas") is not None:
        given = {**given, "adam_betas": list(given["adam_betas"])}
    diffs = [f"{k}={v!r} (the checkpoint's run has {saved.get(k)!r})" for k, v in given.items()
             if k != "steps" and saved.get(k) != v]
    if diffs:
        raise UsageError(f"when resuming, the configuration comes from the checkpoint and only --steps may change: "
                         f"{'; '.join(diffs)}")
    if given.get("steps") is not None:
        if isinstance(given["steps"], int) and not isinstance(given["steps"], bool) and given["steps"] < meta["step"]:
            raise UsageError(f"--steps {given['steps']} is below the step of the checkpoint, {meta['step']}")
        saved["steps"] = given["steps"]
    return saved


def _prepare(args):
    """Every check of the command line, before any data is loaded or a model built: returns
    ``(config, checkpoint or None, its step, note, device, distributed context)``."""
    out = Path(args.out)
    data = dict(RECIPES[args.recipe]) if args.recipe else {}
    data.update(_read_config_file(args.config) if args.config else {})
    for key, value in vars(args).items():
        if key not in _RUN_FLAGS and value is not None:
            data[key] = value
    if args.device is not None:
        check_device("--device", args.device)
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")
    _check_out(out)
    resume, meta, note = _resume_point(args, out / "checkpoints")
    if meta is not None:
        data = _resumed_config(meta, data)
    config = TrainConfig.from_dict(data)
    config.check_model()
    ctx = init_distributed(args.device)
    device = resolve_device(args.device, ctx)
    return config, resume, (meta or {}).get("step", 0), note, device, ctx


def main(argv: Sequence[str] | None = None) -> dict:
    """The ``python -m encoderlab.train`` entry point; returns the final held-out metrics (on rank 0).

    A bad command line (a value out of range, a missing or invalid ``--config`` or ``--resume``, an unknown
    ``--device``, an ``--out`` that is a file or not writable) ends with one line and exit status 2 before any
    data is loaded; a storage error during the run (disk full) with one line naming the file and status 1.
    ``--resume auto`` continues from the newest intact checkpoint (saying so if a newer one is damaged), and
    ``metrics.csv`` loses the rows logged after it. Chapter 8, *Longer runs: the command line and ``torchrun``*.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        cfg, resume, _, note, device, ctx = _prepare(args)
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        trainer = Trainer(cfg, device=device, progress=not args.no_progress, distributed=ctx)
        if resume is not None:
            trainer.load(resume)
    except (ValueError, TypeError, StorageError) as err:  # UsageError, CheckpointError and the config's checks
        parser.error(" ".join(str(err).split()))
    if note and ctx.is_main:
        print(note, file=sys.stderr)
    try:
        return _run(args, trainer, ctx)
    except (StorageError, CheckpointError) as err:
        raise SystemExit(f"{parser.prog}: error: {' '.join(str(err).split())}") from None


def _run(args, trainer: Trainer, ctx) -> dict:
    """Train ``trainer`` to its ``config.steps``, writing the run folder (see the module's docstring)."""
    cfg = trainer.config
    out = Path(args.out)
    ckpt_dir = out / "checkpoints"
    metrics_path = out / "metrics.csv"
    if ctx.is_main:
        try:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise storage_error(ckpt_dir, err) from err
        run = {"train": cfg.to_dict(), "model": trainer.model.config, "world_size": ctx.world_size}
        atomic_write(out / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(run, indent=2)))
        trim_metrics(metrics_path, trainer.step)  # a resumed run logs each step once
    start = time.perf_counter()

    def log(row: dict) -> None:
        append_metrics(metrics_path, {**row, "elapsed_s": time.perf_counter() - start})

    def checkpoint(t: Trainer) -> None:
        t.save(ckpt_dir / f"step_{t.step:07d}.safetensors")
        t.save(ckpt_dir / "last.safetensors")
        rotate_checkpoints(ckpt_dir, cfg.keep_checkpoints)

    def every(n: int, step: int) -> bool:
        return n > 0 and (step % n == 0 or step == cfg.steps)

    def callback(t: Trainer, record: dict) -> None:
        if not ctx.is_main:
            return
        step = record["step"]
        if every(cfg.log_every, step):
            log({**record, "split": "train"})
        if every(cfg.eval_every, step):
            log({**t.evaluate(), "step": step, "split": "val"})
        if every(cfg.ckpt_every, step):
            checkpoint(t)
        if every(cfg.sample_every, step) and not args.no_samples:
            _write_samples(t, out / "samples" / f"step_{step:07d}.png")

    trainer.train(callback=callback)
    result: dict = {}
    if ctx.is_main:
        checkpoint(trainer)
        result = trainer.evaluate()
        log({**result, "step": trainer.step, "split": "final"})
        if not args.no_samples:
            _write_samples(trainer, out / "samples" / "final.png")
        print(f"step {trainer.step}: held-out PSNR {result['psnr']:.2f} dB, recon {result['recon']:.2f}, "
              f"KL {result['kl']:.2f} nats/image; {time.perf_counter() - start:.1f} s; outputs in {out}")
    finish_distributed(ctx)
    return result
