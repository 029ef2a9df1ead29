"""Checkpoint files: clear errors for corrupt, foreign and mismatched files, and atomic writes."""

import os

import pytest
import torch
from safetensors.torch import save_file
from train_helpers import MICRO, micro_trainer

from encoderlab.train import CheckpointError, Trainer, load_checkpoint, read_checkpoint, save_checkpoint
from encoderlab.vae import VAE


def test_checkpoint_errors_are_clear(tmp_path):
    t = micro_trainer()
    good = t.save(tmp_path / "good.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(truncated, t.model)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        Trainer.resume(garbage)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not an encoderlab VAE checkpoint"):
        load_checkpoint(foreign, t.model)
    other = VAE(im_channels=1, **{**MICRO, "z_channels": 3})
    with pytest.raises(CheckpointError, match="z_channels: checkpoint 2 vs model 3"):
        load_checkpoint(good, other)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.safetensors", t.model)
    different_run = micro_trainer(batch_size=16)
    with pytest.raises(CheckpointError, match="batch_size: checkpoint 8 vs now 16"):
        different_run.load(good)
    weights_only = save_checkpoint(tmp_path / "weights.safetensors", t.model)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(weights_only, t.model, t.optimizer)
    with pytest.raises(CheckpointError, match="holds no training config"):
        Trainer.resume(weights_only)
    load_checkpoint(weights_only, other.__class__(**t.model.config))  # weights alone load into a fresh model
    with pytest.raises(TypeError, match="model must be an encoderlab VAE"):
        save_checkpoint(tmp_path / "x.safetensors", torch.nn.Linear(2, 2))


def test_what_a_checkpoint_holds(tmp_path):
    t = micro_trainer(steps=2)
    t.train()
    tensors, meta = read_checkpoint(t.save(tmp_path / "sub" / "run.safetensors"))  # the folder is created
    assert meta["step"] == 2 and meta["history"] == t.history and meta["train_config"] == t.config.to_dict()
    assert meta["model_config"] == t.model.config and meta["scaler"] is None
    assert {k[len("model."):] for k in tensors if k.startswith("model.")} == set(t.model.state_dict())
    assert any(k.startswith("optim.") and k.endswith(".exp_avg") for k in tensors)


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    t = micro_trainer()
    path = t.save(tmp_path / "last.safetensors")
    before = path.read_bytes()

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", crash)
    t.train(1)
    with pytest.raises(OSError, match="disk full"):
        t.save(path)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["last.safetensors"]


def test_load_and_resume_read_the_file_once(tmp_path, monkeypatch):
    import encoderlab.train.checkpoint as checkpoint_module
    import encoderlab.train.trainer as trainer_module

    t = micro_trainer()
    t.train(2)
    path = t.save(tmp_path / "ck.safetensors")
    reads = []

    def counting_read(p):
        reads.append(p)
        return read_checkpoint(p)

    monkeypatch.setattr(trainer_module, "read_checkpoint", counting_read)
    monkeypatch.setattr(checkpoint_module, "read_checkpoint", counting_read)
    resumed = Trainer.resume(path)
    assert len(reads) == 1
    assert resumed.step == 2
    for key, value in t.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value)
    reads.clear()
    fresh = micro_trainer()
    fresh.load(path)
    assert len(reads) == 1 and fresh.step == 2
