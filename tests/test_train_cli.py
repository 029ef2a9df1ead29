"""`python -m encoderlab.train`: the run folder it writes, and `--resume auto`."""

import csv
import json
import subprocess
import sys

import pytest
from train_helpers import MICRO

from encoderlab.train import main, read_checkpoint


def test_cli_writes_outputs_and_resumes(tmp_path, capsys):
    cfg = tmp_path / "micro.json"
    cfg.write_text(json.dumps({"model": MICRO, "batch_size": 8, "log_every": 1, "eval_every": 2}))
    out = tmp_path / "run"
    args = ["--out", str(out), "--config", str(cfg), "--dataset", "digits", "--steps", "3", "--ckpt-every", "2",
            "--sample-every", "2", "--no-progress", "--device", "cpu"]
    result = main(args)
    assert result["psnr"] > 0
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "last.safetensors", "step_0000002.safetensors", "step_0000003.safetensors"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["final.png", "step_0000002.png",
                                                                   "step_0000003.png"]
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [(r["step"], r["split"]) for r in rows] == [("1", "train"), ("2", "train"), ("2", "val"), ("3", "train"),
                                                       ("3", "val"), ("3", "final")]
    assert json.loads((out / "config.json").read_text())["model"]["z_channels"] == 2
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2 and "already holds a run: pass --resume auto" in capsys.readouterr().err
    main(["--out", str(out), "--steps", "5", "--resume", "auto", "--no-progress", "--device", "cpu"])
    steps = [r["step"] for r in csv.DictReader(open(out / "metrics.csv")) if r["split"] == "train"]
    assert steps == ["1", "2", "3", "4", "5"]
    assert read_checkpoint(out / "checkpoints" / "last.safetensors")[1]["step"] == 5


def test_unknown_keys_in_a_config_file_are_named(tmp_path, capsys):
    cfg = tmp_path / "typo.json"
    cfg.write_text(json.dumps({"model": MICRO, "epochs": 3}))
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "run"), "--config", str(cfg), "--no-progress", "--device", "cpu"])
    assert exit_info.value.code == 2
    assert "error: unknown training config keys ['epochs']" in capsys.readouterr().err.splitlines()[-1]


def test_python_m_encoderlab_train_runs_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "encoderlab.train", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("usage: python -m encoderlab.train") and "--resume" in proc.stdout
