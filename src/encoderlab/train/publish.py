"""Chapter 8, *The book's trained autoencoders*: from a finished recipe run to a shipped model and its card.

``make weights`` trains each recipe of :mod:`~encoderlab.train.recipes` (both at once, one CPU thread each)
and then runs, for each::

    python -m encoderlab.train.publish --recipe kl-f8 --run runs/kl-f8 --into src/encoderlab/trained

which writes ``kl-f8.safetensors`` and ``kl-f8.json`` with :func:`~encoderlab.pretrained.export_pretrained`,
the card completed with what only the run folder knows: the exact command, the wall time (summed over the
pieces of an interrupted run), the machine, the held-out PSNR of every kept checkpoint (the curve of quality
against steps; measured after training, never used to choose anything), the reconstruction by tiles beside
the whole-photo one, the two same-numbers baselines, and the first losses of the run in bfloat16 and in float32
(what the deterministic-training test reproduces).

``python -m encoderlab.train.publish --repack kl-f8 --into src/encoderlab/trained`` stores a shipped model's
weights again in the current :data:`~encoderlab.pretrained.STORAGE` (the models trained while the package
stored float16 were repacked to 8 bits this way) and re-measures on them what the card measures on the stored
weights; the card keeps what the file was before under ``earlier_storage``.
"""

from __future__ import annotations

import argparse
import csv
import platform
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from ..baselines import bicubic_baseline, bicubic_side, pca_patch_baseline
from ..data.photographs import EVAL_SIDE, held_out_photographs, training_photographs
from ..fast import cpu_has_native_bfloat16
from ..ldm import AutoencoderKL
from .checkpoint import read_checkpoint
from .config import TrainConfig
from .objective import psnr
from .recipes import RECIPE_THREADS, RECIPES
from .trainer import Trainer

__all__ = ["baselines", "first_losses", "held_out_curve", "machine", "main", "publish", "repack", "wall_time"]

#: How many first steps of a recipe the card records (and the deterministic-training test repeats).
FIRST_STEPS = 3


def wall_time(metrics_csv: str | Path) -> float:
    """Seconds of training in a run folder's ``metrics.csv``: the last ``elapsed_s`` of each process, summed
    (a resumed run starts its clock again, so a drop marks a new piece)."""
    total, last = 0.0, 0.0
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            elapsed = float(row["elapsed_s"])
            if elapsed < last:
                total += last
            last = elapsed
    return total + last


def machine() -> dict:
    """The CPU, its vector extensions as PyTorch sees them, and the software versions."""
    name = platform.processor() or "unknown"
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        name = found.group(1).strip() if found else name
    except OSError:
        pass
    return {"cpu": name, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "amx": _has_amx(),
            "native_bfloat16": cpu_has_native_bfloat16(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version()}


def _has_amx() -> bool:
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def baselines(model: AutoencoderKL) -> dict:
    """Held-out PSNR of the two codes that keep as many numbers as ``model``'s latent of a 256x256 photograph
    (:mod:`encoderlab.baselines`): bicubic down and up, and PCA of ``f`` x ``f`` patches with ``c`` components
    fitted on the training photographs."""
    x = held_out_photographs()
    c, h, w = model.latent_shape(EVAL_SIDE, EVAL_SIDE)
    f = model.downsample_factor
    numbers = c * h * w
    bicubic = psnr(x, bicubic_baseline(x, numbers))
    pca = psnr(x, pca_patch_baseline(x, f, c, training_photographs()))
    side = bicubic_side(numbers)
    return {"numbers": numbers, "bicubic": {"side": side, "psnr": bicubic.tolist(), "mean_psnr": float(bicubic.mean())},
            "pca": {"patch": f, "components": c, "psnr": pca.tolist(), "mean_psnr": float(pca.mean())}}


def held_out_curve(checkpoints: str | Path) -> list[dict]:
    """``[{"step", "mean_psnr"}]``: the held-out PSNR of the averaged weights of every step checkpoint kept in
    ``checkpoints``, in float32 (the stored float16 rounding left out), by step."""
    from ..pretrained import checkpoint_weights, evaluate_held_out

    curve = []
    for path in sorted(Path(checkpoints).glob("step_*.safetensors")):
        tensors, meta = read_checkpoint(path)
        model = AutoencoderKL(**meta["model_config"])
        model.load_state_dict(checkpoint_weights(tensors)[0])
        curve.append({"step": meta["step"], "mean_psnr": evaluate_held_out(model.eval())["mean_psnr"]})
    return curve


def first_losses(recipe: str, steps: int = FIRST_STEPS, *, amp: str | None = None) -> list[float]:
    """The losses of the first ``steps`` steps of ``recipe`` run from nothing in this process (``amp``
    overrides the recipe's precision), with the recipe's thread count."""
    config = dict(RECIPES[recipe])
    if amp is not None:
        config["amp"] = amp
    threads = torch.get_num_threads()
    torch.set_num_threads(RECIPE_THREADS)
    try:
        trainer = Trainer(TrainConfig(**config), progress=False)
        return [r["loss"] for r in trainer.train(steps)]
    finally:
        torch.set_num_threads(threads)


def publish(recipe: str, run: str | Path, into: str | Path) -> Path:
    """Export the finished run ``run`` of ``recipe`` as shipped model ``recipe`` into ``into``; returns the
    card's path (see the module's docstring)."""
    from ..pretrained import checkpoint_weights, export_pretrained

    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {recipe!r}")
    run = Path(run)
    last = run / "checkpoints" / "last.safetensors"
    tensors, meta = read_checkpoint(last)
    # a field that the run's version of the package did not have yet takes its default
    expected = TrainConfig(**RECIPES[recipe]).to_dict()
    trained = TrainConfig.from_dict(meta["train_config"] or {}).to_dict()
    differ = [k for k in expected if trained[k] != expected[k]]
    if differ:
        raise ValueError(f"{run} was not trained with recipe {recipe!r}: its {', '.join(differ)} differ from "
                         "the recipe's, so the card's command would not make it")
    if meta["step"] < RECIPES[recipe]["steps"]:
        raise ValueError(f"{run} has trained {meta['step']} of the recipe's {RECIPES[recipe]['steps']} steps; "
                         "finish it first (make weights continues it)")
    history = meta.get("history", [])
    model = AutoencoderKL(**meta["model_config"])
    model.load_state_dict(checkpoint_weights(tensors)[0])
    model.eval()
    recorded = [r["loss"] for r in history[:FIRST_STEPS]]
    again = first_losses(recipe)  # the run's first steps, repeated in this process
    float32 = recorded if RECIPES[recipe]["amp"] == "off" else first_losses(recipe, amp="off")
    card = {
        "command": (f"python -m encoderlab.train --recipe {recipe} --out {run} --resume auto --no-samples "
                    f"--threads {RECIPE_THREADS} --no-progress (make weights)"),
        "recipe": recipe,
        "seed": RECIPES[recipe]["seed"],
        "wall_time_s": round(wall_time(run / "metrics.csv"), 1),
        "machine": {**machine(), "threads": RECIPE_THREADS},
        "held_out_curve": held_out_curve(run / "checkpoints"),
        "baselines": baselines(model),
        "first_losses": {"amp": RECIPES[recipe]["amp"], "native_bfloat16": cpu_has_native_bfloat16(),
                         "losses": recorded, "repeated_exactly_at_export": again == recorded,
                         "float32": float32},
        "monitor_curve": _monitor_curve(run / "metrics.csv"),
    }
    return export_pretrained(last, recipe, into, card=card)


def repack(name: str, into: str | Path) -> Path:
    """Store shipped model ``name`` in ``into`` again as :func:`~encoderlab.pretrained.pack_weights` stores
    weights now, and re-measure the card's entries that depend on the stored weights; returns the card's path.
    What the file was (storage, sha256, size, held-out PSNR) is kept in the card's ``earlier_storage``."""
    from .._files import read_safetensors
    from ..pretrained import (
        STORAGE,
        file_sha256,
        measure_stored,
        model_card,
        pack_weights,
        unpack_weights,
        write_card,
        write_weights,
    )

    into = Path(into)
    card = model_card(name, into)
    path = into / f"{name}.safetensors"
    if file_sha256(path) != card["sha256"]:
        raise ValueError(f"{path} does not have the sha256 its card records; restore it before repacking")
    if card.get("storage") == STORAGE:
        raise ValueError(f"{name} is already stored as the package stores weights now; nothing to repack")
    tensors, _ = read_safetensors(path)
    state = pack_weights(unpack_weights(tensors))
    model = AutoencoderKL(**{**card["architecture"], "scaling_factor": card["scaling_factor"]})
    model.load_state_dict(unpack_weights(state))
    earlier = {"storage": card.get("storage"), "sha256": card["sha256"], "file_bytes": card["file_bytes"],
               "held_out_mean_psnr": card["held_out"]["mean_psnr"]}
    card.update(storage=STORAGE, **measure_stored(model))
    card["earlier_storage"] = [*card.get("earlier_storage", []), earlier]
    written = write_weights(state, path)
    card.update(sha256=file_sha256(written), file_bytes=written.stat().st_size)
    return write_card(card, into / f"{name}.json")


def _monitor_curve(metrics_csv: Path) -> list[dict]:
    """The PSNR on the fixed monitor crops of the training photographs, as the run logged it."""
    with open(metrics_csv, newline="") as handle:
        return [{"step": int(r["step"]), "psnr": float(r["psnr"])} for r in csv.DictReader(handle)
                if r["split"] in ("val", "final") and r["psnr"]]


def main(argv: Sequence[str] | None = None) -> Path:
    """``python -m encoderlab.train.publish --recipe NAME --run FOLDER [--into FOLDER]``, or
    ``--repack NAME [--into FOLDER]``."""
    p = argparse.ArgumentParser(prog="python -m encoderlab.train.publish",
                                description="Export a finished recipe run as a shipped model with its card.")
    p.add_argument("--recipe", choices=tuple(RECIPES))
    p.add_argument("--run", help="the run folder of python -m encoderlab.train --recipe")
    p.add_argument("--repack", metavar="NAME", help="store the shipped model NAME again in the current storage")
    p.add_argument("--into", default=str(Path(__file__).resolve().parents[1] / "trained"),
                   help="where the package's shipped models are (default: the installed package's)")
    args = p.parse_args(argv)
    if args.repack is not None and (args.recipe or args.run):
        p.error("--repack takes no --recipe or --run")
    if args.repack is None and not (args.recipe and args.run):
        p.error("give --recipe and --run (or --repack NAME)")
    if args.repack is None and not (Path(args.run) / "checkpoints" / "last.safetensors").is_file():
        p.error(f"--run {args.run} holds no finished run (no checkpoints/last.safetensors)")
    try:
        card = repack(args.repack, args.into) if args.repack else publish(args.recipe, args.run, args.into)
    except ValueError as err:
        p.error(" ".join(str(err).split()))
    print(f"wrote {card} and {card.with_suffix('.safetensors')}")
    return card


if __name__ == "__main__":
    main()
