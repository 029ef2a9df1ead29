"""`python -m encoderlab.train` with bad values: one line, exit status 2, before any data is loaded or a model
built; storage errors during a run: one line naming the file, exit status 1. No traceback for either."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
from train_helpers import MICRO

from encoderlab.train import cli, main

PROG = "python -m encoderlab.train"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def run_cli(argv, capsys):
    """``(exit status, stderr lines)`` of ``main(argv)``, which must exit."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code, capsys.readouterr().err.splitlines()


def assert_one_clear_line(lines, fragment):
    """argparse's usage block, then exactly one error line holding ``fragment``; no traceback."""
    assert lines and lines[-1].startswith(f"{PROG}: error: "), lines[-3:]
    assert fragment in lines[-1], lines[-1]
    assert all(line.startswith(("usage:", " ")) for line in lines[:-1]), lines
    assert not any("Traceback" in line for line in lines)


@pytest.fixture(scope="module")
def micro_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "micro.json"
    path.write_text(json.dumps({"model": MICRO, "batch_size": 8, "steps": 3}))
    return path


@pytest.fixture(scope="module")
def finished_run(micro_config, tmp_path_factory):
    """A 3-step run folder with a checkpoint at step 3."""
    out = tmp_path_factory.mktemp("runs") / "done"
    main(["--out", str(out), "--config", str(micro_config), "--no-progress", "--no-samples", "--device", "cpu"])
    return out


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _config_file(tmp, content):
    return str(_write(tmp / "bad.json", content if isinstance(content, (str, bytes)) else json.dumps(content)))


# (flags after --out OUT --config MICRO, the error line's fragment)
BAD_FLAGS = [
    (["--steps", "-5"], "steps must be >= 0, got -5"),
    (["--batch-size", "0"], "batch_size must be >= 1, got 0"),
    (["--lr", "nan"], "lr must be a finite number, got nan"),
    (["--lr", "inf"], "lr must be a finite number, got inf"),
    (["--lr", "0"], "lr must be > 0, got 0.0"),
    (["--val-fraction", "nan"], "val_fraction must be a finite number, got nan"),
    (["--val-fraction", "0.9"], "val_fraction must be <= 0.5, got 0.9"),
    (["--grad-clip", "nan"], "grad_clip must be a finite number, got nan"),
    (["--beta", "-1"], "beta must be >= 0.0, got -1.0"),
    (["--beta", "inf"], "beta must be a finite number, got inf"),
    (["--weight-decay=-inf"], "weight_decay must be a finite number, got -inf"),
    (["--adam-eps", "0"], "adam_eps must be > 0, got 0.0"),
    (["--keep-checkpoints", "0"], "keep_checkpoints must be >= 1, got 0"),
    (["--image-size", "4"], "image_size must be >= 8, got 4"),
    (["--image-size", "9"], "image_size=9 does not fit the model: height=9 must be divisible by"),
    (["--preset", "tiny", "--image-size", "10"], "image_size=10 does not fit the model"),
    (["--seed", "-1"], "seed must be >= 0, got -1"),
    (["--log-every", "-1"], "log_every must be >= 0, got -1"),
    (["--kl-warmup-steps", "-3"], "kl_warmup_steps must be >= 0, got -3"),
    (["--steps", "abc"], "argument --steps: invalid int value: 'abc'"),
    (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
    (["--dataset", "cifar"], "argument --dataset: invalid choice: 'cifar'"),
    (["--recon", "l2"], "argument --recon: invalid choice: 'l2'"),
    (["--device", "tpu"], "--device='tpu' is not a device PyTorch knows"),
    (["--device", "not a device"], "--device='not a device' is not a device PyTorch knows"),
    (["--device", "meta"], "device='meta': encoderlab trains on 'cpu', 'cuda' or 'mps'"),
    (["--resume", "nowhere.safetensors"], "--resume nowhere.safetensors: no such file"),
]
if not torch.cuda.is_available():
    BAD_FLAGS += [(["--device", "cuda"], "device='cuda' but this machine has 0 CUDA device(s)"),
                  (["--device", "cuda:3"], "device='cuda:3' but this machine has 0 CUDA device(s)")]

# (contents of --config, the error line's fragment)
BAD_CONFIGS = [
    ("{not json", "is not valid JSON: Expecting property name"),
    (b"\xff\xfe\x00", "is not valid JSON"),
    ([1, 2], "must hold a JSON object of TrainConfig fields, got list"),
    ({"model": MICRO, "epochs": 3}, "unknown training config keys ['epochs']"),
    ({"model": MICRO, "steps": "five"}, "steps must be an int, got str 'five'"),
    ({"model": MICRO, "steps": 2.5}, "steps must be an int, got float 2.5"),
    ({"model": MICRO, "steps": True}, "steps must be an int, got bool True"),
    ({"model": MICRO, "lr": "0.1"}, "lr must be a number, got str '0.1'"),
    ({"model": MICRO, "adam_betas": "ab"}, "adam_betas must be a pair of numbers such as (0.9, 0.999), got str 'ab'"),
    ({"model": MICRO, "adam_betas": [0.9]}, "adam_betas must be two numbers in [0, 1), got 1: [0.9]"),
    ({"model": MICRO, "adam_betas": [0.9, "x"]}, "adam_betas[1] must be a number, got str 'x'"),
    ({"model": MICRO, "adam_betas": [0.9, 1.0]}, "adam_betas must be two numbers in [0, 1), got (0.9, 1.0)"),
    ({"model": "huge"}, "model must be one of ['tiny', 'small', 'seed', 'kl-f8', 'kl-f4'], got 'huge'"),
    ({"model": [1, 2]}, "model must be a preset name or a dict of VAE arguments, got list"),
    ({"model": {**MICRO, "z_chanels": 2}}, "unknown model arguments (VAE keyword arguments) ['z_chanels']"),
    ({"model": {**MICRO, "z_channels": 0}}, "z_channels must be >= 1, got 0"),
    ({"model": {**MICRO, "down_channels": 8}}, "down_channels must be a sequence of ints"),
    ({"model": MICRO, "dataset": "mnist"}, "dataset must be one of ['digits', 'photos', 'shapes', 'photographs'], got 'mnist'"),
    ({"model": MICRO, "amp": True}, "amp must be one of"),
    ({"model": MICRO, "image_size": None, "val_fraction": None}, "val_fraction must be a number, got NoneType None"),
]


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if the command line gets as far as building a Trainer (loading data, building the model)."""
    def refuse(*args, **kwargs):
        raise AssertionError("a bad command line reached the Trainer")

    monkeypatch.setattr(cli, "Trainer", refuse)


@pytest.mark.parametrize(("flags", "fragment"), BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags(tmp_path, capsys, micro_config, no_training, flags, fragment):
    code, lines = run_cli(["--out", str(tmp_path / "run"), "--config", str(micro_config), *flags], capsys)
    assert code == 2
    assert_one_clear_line(lines, fragment)
    assert not (tmp_path / "run").exists()  # nothing written either


@pytest.mark.parametrize(("content", "fragment"), BAD_CONFIGS, ids=[f"config{i}" for i in range(len(BAD_CONFIGS))])
def test_bad_config_files(tmp_path, capsys, no_training, content, fragment):
    code, lines = run_cli(["--out", str(tmp_path / "run"), "--config", _config_file(tmp_path, content)], capsys)
    assert code == 2
    assert_one_clear_line(lines, fragment)


def test_bad_paths(tmp_path, capsys, micro_config, finished_run, no_training, monkeypatch):
    cfg = ["--config", str(micro_config)]
    a_file = _write(tmp_path / "a_file", "x")
    garbage = _write(tmp_path / "garbage.safetensors", b"not a checkpoint at all")
    foreign = tmp_path / "foreign.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(3)}, str(foreign))
    cases = [
        (["--out", str(tmp_path / "run"), "--config", str(tmp_path / "missing.json")], "missing.json: no such file"),
        (["--out", str(a_file), *cfg], f"--out {a_file} is a file, not a folder"),
        (["--out", str(a_file / "run"), *cfg], f"{a_file} is a file, not a folder"),
        (["--out", str(tmp_path / "run"), *cfg, "--resume", str(garbage)],
         "garbage.safetensors is not a readable safetensors checkpoint (corrupt or truncated?)"),
        (["--out", str(tmp_path / "run"), *cfg, "--resume", str(foreign)], "is a safetensors file but not an encoderlab"),
        (["--out", str(tmp_path / "run"), *cfg, "--resume", str(tmp_path)], "no such file"),
        (["--out", str(finished_run), *cfg], "already holds a run: pass --resume auto to continue it"),
        (["--out", str(finished_run), "--resume", "auto", "--lr", "0.5"],
         "only --steps may change: lr=0.5 (the checkpoint's run has 0.002)"),
        (["--out", str(finished_run), "--resume", "auto", "--steps", "1"],
         "--steps 1 is below the step of the checkpoint, 3"),
        (["--out", str(finished_run), "--resume", "auto", "--steps", "-1"], "--steps -1 is below the step"),
    ]
    for argv, fragment in cases:
        code, lines = run_cli(argv, capsys)
        assert code == 2, argv
        assert_one_clear_line(lines, fragment)
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    if os.geteuid() == 0:  # root writes through chmod: make the probe fail as a read-only folder would
        def read_only(*args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

        monkeypatch.setattr(cli.tempfile, "TemporaryFile", read_only)
    try:
        code, lines = run_cli(["--out", str(locked / "run"), *cfg], capsys)
    finally:
        os.chmod(locked, 0o700)
    assert code == 2
    assert_one_clear_line(lines, f"--out {locked / 'run'} is not writable ({locked}: Permission denied)")


def test_resume_auto_with_every_checkpoint_damaged(tmp_path, capsys, no_training):
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    _write(ckpts / "last.safetensors", b"\x00" * 10)
    _write(ckpts / "step_0000002.safetensors", b"garbage")
    code, lines = run_cli(["--out", str(tmp_path / "run"), "--resume", "auto"], capsys)
    assert code == 2
    assert_one_clear_line(lines, f"no intact checkpoint in {ckpts} (last.safetensors: ")
    assert "step_0000002.safetensors: " in lines[-1]


def test_a_batch_larger_than_the_data_is_refused_without_a_traceback(tmp_path, capsys, micro_config):
    code, lines = run_cli(["--out", str(tmp_path / "run"), "--config", str(micro_config), "--batch-size", "5000",
                           "--device", "cpu", "--no-progress"], capsys)
    assert code == 2
    assert_one_clear_line(lines, "batch_size=5000 is larger than the training data (1438 images)")


def test_a_full_disk_during_the_run_ends_with_one_line(tmp_path, capsys, micro_config, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as info:
        main(["--out", str(out), "--config", str(micro_config), "--ckpt-every", "2", "--no-progress", "--no-samples",
              "--device", "cpu"])
    assert info.value.code == (f"{PROG}: error: could not write {out / 'checkpoints' / 'step_0000002.safetensors'}: "
                               "No space left on device (the disk is full)")
    assert os.listdir(out / "checkpoints") == []  # no partial or temporary file


@pytest.mark.parametrize(("flags", "fragment"), [(["--steps", "-5"], "steps must be >= 0, got -5"),
                                                 (["--device", "tpu"], "is not a device PyTorch knows")])
def test_the_command_line_in_a_subprocess(tmp_path, flags, fragment):
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "encoderlab.train", "--out", str(tmp_path / "run"), *flags],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert_one_clear_line(proc.stderr.splitlines(), fragment)
    assert proc.stdout == ""
