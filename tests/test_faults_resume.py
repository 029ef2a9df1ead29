"""Killed and resumed equals uninterrupted: the final weights and optimizer state bit for bit, and metrics.csv
row for row (each step once), whether the run stopped by an exception, by SIGKILL, or left damaged
checkpoints behind that ``--resume auto`` has to skip."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import MICRO, flip_data_byte

from encoderlab.train import main, read_checkpoint
from encoderlab.train.run_folder import find_resume
from encoderlab.train.trainer import Trainer

SRC = str(Path(__file__).resolve().parents[1] / "src")
STEPS = 6


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "micro.json"
    path.write_text(json.dumps({"model": MICRO, "batch_size": 8, "steps": STEPS, "log_every": 1, "eval_every": 3,
                                "ckpt_every": 2, "kl_warmup_steps": 4}))
    return path


def args(out, config, *more):
    return ["--out", str(out), "--config", str(config), "--no-progress", "--no-samples", "--device", "cpu", *more]


@pytest.fixture(scope="module")
def straight(config, tmp_path_factory):
    """The uninterrupted run, on one thread like every run it is compared with.

    A module-scoped fixture is built before the function-scoped one-thread fixture of tests/conftest.py applies,
    and a different thread count sums in a different order: the runs would differ in the last bits."""
    out = tmp_path_factory.mktemp("runs") / "straight"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main(args(out, config))
    finally:
        torch.set_num_threads(threads)
    return out


def rows(out):
    """metrics.csv without the wall-clock column."""
    with open(out / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in csv.DictReader(handle)]


def assert_same_run(a, b):
    ta, ma = read_checkpoint(a / "checkpoints" / "last.safetensors")
    tb, mb = read_checkpoint(b / "checkpoints" / "last.safetensors")
    assert ma["step"] == mb["step"] == STEPS
    assert ta.keys() == tb.keys() and any(k.startswith("optim.") for k in ta)
    for key in ta:  # model weights and optimizer moments, bit for bit
        assert torch.equal(ta[key], tb[key]), key
    assert ma["history"] == mb["history"]
    ra, rb = rows(a), rows(b)
    assert ra == rb
    keys = [(r["step"], r["split"]) for r in rb]
    assert len(keys) == len(set(keys))  # no step logged twice
    assert [r["step"] for r in rb if r["split"] == "train"] == [str(s) for s in range(1, STEPS + 1)]


def kill_at(monkeypatch, step):
    """Make the next run die right after training step ``step`` (its rows are logged, its checkpoint not
    necessarily)."""
    original = Trainer.train

    def train(self, steps=None, *, callback=None):
        def dying(t, record):
            callback(t, record)
            if record["step"] == step:
                raise Killed
        return original(self, steps, callback=dying)

    monkeypatch.setattr(Trainer, "train", train)


def test_stopped_after_a_checkpoint_and_resumed(tmp_path, config, straight, monkeypatch, capsys):
    out = tmp_path / "run"
    kill_at(monkeypatch, 5)  # the last checkpoint is at step 4; rows of step 5 were logged
    with pytest.raises(Killed):
        main(args(out, config))
    assert [r["step"] for r in rows(out) if r["split"] == "train"] == ["1", "2", "3", "4", "5"]
    monkeypatch.undo()
    main(args(out, config, "--resume", "auto"))
    assert capsys.readouterr().err == ""  # nothing was damaged: nothing to say
    assert_same_run(straight, out)


def test_killed_by_sigkill_and_resumed(tmp_path, config, straight):
    out = tmp_path / "run"
    script = ("import os, signal, sys\n"
              "from encoderlab.train import main\n"
              "from encoderlab.train.trainer import Trainer\n"
              "original = Trainer.train\n"
              "def train(self, steps=None, *, callback=None):\n"
              "    def dying(t, record):\n"
              "        callback(t, record)\n"
              "        if record['step'] == 3:\n"
              "            os.kill(os.getpid(), signal.SIGKILL)\n"
              "    return original(self, steps, callback=dying)\n"
              "Trainer.train = train\n"
              "main(sys.argv[1:])\n")
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script, *args(out, config)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert read_checkpoint(out / "checkpoints" / "last.safetensors")[1]["step"] == 2
    assert [r["step"] for r in rows(out)] == ["1", "2", "3", "3"]  # killed after step 3's train and val rows
    main(args(out, config, "--resume", "auto"))
    assert_same_run(straight, out)


def test_resume_auto_skips_damaged_checkpoints(tmp_path, config, straight, monkeypatch, capsys):
    out = tmp_path / "run"
    kill_at(monkeypatch, 5)
    with pytest.raises(Killed):
        main(args(out, config))
    monkeypatch.undo()
    ckpts = out / "checkpoints"
    flip_data_byte(ckpts / "last.safetensors")  # step 4
    flip_data_byte(ckpts / "step_0000004.safetensors")
    (ckpts / ".last.safetensors.123-abcd.tmp").write_bytes(b"half")  # a write the kill cut short
    capsys.readouterr()
    main(args(out, config, "--resume", "auto"))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("warning: skipping damaged checkpoint(s) last.safetensors, step_0000004.safetensors (")
    assert err[0].endswith("resuming from step_0000002.safetensors (step 2), the newest intact one")
    assert_same_run(straight, out)
    assert sorted(p.name for p in ckpts.iterdir()) == [  # keep_checkpoints=3; the stale temporary file is gone
        "last.safetensors", "step_0000002.safetensors", "step_0000004.safetensors", "step_0000006.safetensors"]


def test_a_run_killed_before_its_first_checkpoint_starts_again_cleanly(tmp_path, config, straight, monkeypatch):
    out = tmp_path / "run"
    kill_at(monkeypatch, 1)  # the first checkpoint would be at step 2
    with pytest.raises(Killed):
        main(args(out, config))
    monkeypatch.undo()
    assert not (out / "checkpoints" / "last.safetensors").exists() and len(rows(out)) == 1
    main(args(out, config, "--resume", "auto"))  # nothing to resume: a fresh run, the stale row dropped
    assert_same_run(straight, out)


def test_resume_auto_prefers_a_snapshot_newer_than_last(tmp_path, straight):
    """Killed between writing step_0000006 and last.safetensors: the snapshot is the newest checkpoint."""
    ckpts = tmp_path / "checkpoints"
    shutil.copytree(straight / "checkpoints", ckpts)
    shutil.copy(ckpts / "step_0000004.safetensors", ckpts / "last.safetensors")
    assert find_resume(ckpts) == (ckpts / "step_0000006.safetensors", 6, None)
    (ckpts / "step_0000006.safetensors").write_bytes(b"cut short")
    path, step, note = find_resume(ckpts)
    assert (path.name, step) == ("last.safetensors", 4) and "step_0000006.safetensors" in note
    assert find_resume(tmp_path / "empty") == (None, 0, None)
