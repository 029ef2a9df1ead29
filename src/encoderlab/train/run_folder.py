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


def find_resume(ckpt_dir: Path) -> tuple[Path | None, int, str | None]:
    """The newest intact checkpoint in ``ckpt_dir`` as ``(path, step, note)``; ``(None, 0, None)`` when the folder
    holds none at all.

    Every candidate (``last.safetensors`` and the snapshots) is read and verified (checksum, step against
    history). ``note`` is one line saying which newer files were skipped as damaged, or ``None``. Raises
    :class:`CheckpointError` when checkpoints exist but none is intact.
    """
    candidates = [ckpt_dir / "last.safetensors", *sorted(ckpt_dir.glob("step_*.safetensors"), reverse=True)]
    candidates = [p for p in candidates if p.is_file()]
    intact, damaged = [], []
    for path in candidates:
        try:
            intact.append((read_checkpoint(path)[1]["step"], path))
        except (CheckpointError, StorageError) as err:
            damaged.append((path, err))
    if not candidates:
        return None, 0, None
    if not intact:
        listed = "; ".join(f"{p.name}: {_one_line(e, 120)}" for p, e in damaged)
        raise CheckpointError(f"no intact checkpoint in {ckpt_dir} ({listed})")
    step, best = max(intact, key=lambda item: (item[0], item[1].name == "last.safetensors"))
    note = None
    if damaged:
        names = ", ".join(p.name for p, _ in damaged)
        note = (f"warning: skipping damaged checkpoint(s) {names} ({_one_line(damaged[0][1], 160)}); resuming from "
                f"{best.name} (step {step}), the newest intact one")
    return best, step, note


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
    """Delete all but the ``keep`` most recent step snapshots."""
    snapshots: Sequence[Path] = sorted(ckpt_dir.glob("step_*.safetensors"))
    for old in snapshots[:-keep]:
        old.unlink()
