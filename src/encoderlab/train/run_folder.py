"""Chapter 8, *Longer runs: the command line and ``torchrun``*: the folder of one run, kept consistent across
kills and resumes.

``OUT/checkpoints/`` holds ``last.safetensors`` and the most recent ``step_XXXXXXX.safetensors`` snapshots;
``OUT/metrics.csv`` one row per logged step. :func:`find_resume` picks the newest *intact* checkpoint (a damaged
``last.safetensors`` falls back to a snapshot), :func:`trim_metrics` drops the rows a killed run logged after
the checkpoint it resumes from, so no step appears twice.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from .._files import StorageError, atomic_write, storage_error
from .checkpoint import CheckpointError, read_checkpoint

__all__ = ["CSV_FIELDS", "append_metrics", "find_resume", "rotate_checkpoints", "trim_metrics"]

CSV_FIELDS = ["step", "split", "loss", "recon", "kl", "beta", "grad_norm", "lr", "psnr", "mse", "neg_elbo",
              "elapsed_s"]


def _one_line(err: Exception, limit: int = 240) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _snapshot_step(path: Path) -> int:
    """The step in a snapshot's name (``step_0000004.safetensors``: 4), -1 for another name."""
    try:
        return int(path.stem.split("_", 1)[1])
    except (IndexError, ValueError):
        return -1


def find_resume(ckpt_dir: Path) -> tuple[Path | None, int, str | None]:
    """The newest intact checkpoint in ``ckpt_dir`` as ``(path, step, note)``; ``(None, 0, None)`` when the folder
    holds none at all.

    ``last.safetensors`` is read and verified (checksum, step against history) first, then the snapshots newer
    than it, newest first (a run killed between writing a snapshot and ``last`` left a newer snapshot), and, if
    ``last`` is damaged, the older ones until one is intact. ``note`` is one line naming the damaged files
    skipped, or ``None``. Raises :class:`CheckpointError` when checkpoints exist but none is intact.
    """
    last = ckpt_dir / "last.safetensors"
    snapshots = sorted(ckpt_dir.glob("step_*.safetensors"), key=_snapshot_step, reverse=True)
    candidates = ([last] if last.is_file() else []) + snapshots
    if not candidates:
        return None, 0, None
    best: tuple[int, Path] | None = None
    damaged: list[tuple[Path, Exception]] = []
    for path in candidates:
        if best is not None and _snapshot_step(path) <= best[0]:
            break  # older than the intact checkpoint found
        try:
            step = read_checkpoint(path)[1]["step"]
        except (CheckpointError, StorageError) as err:
            damaged.append((path, err))
            continue
        if best is None or step > best[0]:
            best = (step, path)
        if path != last:
            break
    if best is None:
        listed = "; ".join(f"{p.name}: {_one_line(e, 120)}" for p, e in damaged)
        raise CheckpointError(f"no intact checkpoint in {ckpt_dir} ({listed})")
    step, path = best
    note = None
    if damaged:
        names = ", ".join(p.name for p, _ in damaged)
        note = (f"warning: skipping damaged checkpoint(s) {names} ({_one_line(damaged[0][1], 160)}); resuming from "
                f"{path.name} (step {step}), the newest intact one")
    return path, step, note


def trim_metrics(path: Path, step: int) -> None:
    """Make ``path`` a metrics file holding only the rows up to ``step`` (all of them logged before the
    checkpoint a run resumes from); rows of a killed run after it, and unreadable rows, are dropped. A fresh
    run (``step == 0``) starts with the header alone."""
    rows = []
    if path.is_file():
        try:
            with open(path, newline="") as handle:
                for row in csv.DictReader(handle):
                    try:
                        if int(row.get("step") or "x") <= step:
                            rows.append({k: row.get(k, "") for k in CSV_FIELDS})
                    except ValueError:
                        continue
        except (OSError, UnicodeDecodeError, csv.Error):
            rows = []
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, CSV_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text.getvalue(), newline=""))


def append_metrics(path: Path, row: dict) -> None:
    """Append one row (floats rounded to 6 digits; keys outside :data:`CSV_FIELDS` ignored) to ``path``."""
    row = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items() if k in CSV_FIELDS}
    try:
        with open(path, "a", newline="") as handle:
            csv.DictWriter(handle, CSV_FIELDS).writerow(row)
    except OSError as err:
        raise storage_error(path, err) from err


def rotate_checkpoints(ckpt_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recent step snapshots, and the temporary files of writes that a killed
    process never finished (``.last.safetensors.<pid>-<hex>.tmp``)."""
    snapshots: Sequence[Path] = sorted(ckpt_dir.glob("step_*.safetensors"), key=_snapshot_step)
    for old in [*snapshots[:-keep], *ckpt_dir.glob(".*.safetensors.*.tmp")]:
        old.unlink(missing_ok=True)
