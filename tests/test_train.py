"""The ELBO (against torch.distributions), PSNR, determinism, exact resume, checkpoints and the CLI."""

import csv
import json
import os

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.distributions import Normal, kl_divergence

from encoderlab import DiagonalGaussian
from encoderlab import train as train_mod
from encoderlab.data import make_dataset
from encoderlab.train import (
    CheckpointError,
    TrainConfig,
    Trainer,
    elbo_terms,
    image_grid,
    kl_weight,
    load_checkpoint,
    main,
    psnr,
    save_checkpoint,
)
from encoderlab.vae import VAE

MICRO = {"z_channels": 2, "down_channels": [8, 8], "mid_channels": [8, 8], "down_sample": [True],
         "num_down_layers": 1, "num_mid_layers": 1, "num_up_layers": 1, "norm_channels": 4, "num_heads": 2}


@pytest.fixture(scope="module")
def digits():
    return make_dataset("digits", "train"), make_dataset("digits", "val")


def micro_trainer(digits, **overrides):
    cfg = TrainConfig(**{"dataset": "digits", "model": MICRO, "batch_size": 8, "lr": 3e-3, "steps": 6, **overrides})
    train, val = digits
    return Trainer(cfg, device="cpu", train_data=train, val_data=val, progress=False)


def params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------------------------ objective
def test_elbo_terms_match_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    x, x_hat = torch.randn(3, 2, 4, 4, generator=gen), torch.randn(3, 2, 4, 4, generator=gen)
    moments = torch.randn(3, 6, 2, 2, generator=gen)
    post = DiagonalGaussian(moments)
    terms = elbo_terms(x, x_hat, post, beta=0.3)
    want_kl = kl_divergence(Normal(post.mean, post.std), Normal(0.0, 1.0)).sum(dim=(1, 2, 3))
    want_rec = F.mse_loss(x_hat, x, reduction="none").sum(dim=(1, 2, 3))
    assert torch.allclose(terms["kl"], want_kl, atol=1e-5)
    assert torch.allclose(terms["recon"], want_rec, atol=1e-5)
    assert torch.allclose(terms["loss"], want_rec + 0.3 * want_kl, atol=1e-5)
    l1 = elbo_terms(x, x_hat, post, recon="l1")["recon"]
    assert torch.allclose(l1, F.l1_loss(x_hat, x, reduction="none").sum(dim=(1, 2, 3)), atol=1e-5)
    # recon = -log N(x; x_hat, 1/2) + const: the Gaussian log-likelihood with variance 1/2
    nll = -Normal(x_hat, 0.5**0.5).log_prob(x).sum(dim=(1, 2, 3))
    assert torch.allclose(nll - terms["recon"], torch.full((3,), 32 * 0.5 * torch.log(torch.tensor(torch.pi)).item()),
                          atol=1e-4)
    with pytest.raises(ValueError, match="x_hat has shape"):
        elbo_terms(x, x_hat[:, :1], post)


def test_psnr_known_values_and_kl_warmup():
    x = torch.zeros(2, 1, 4, 4)
    y = x + torch.tensor([0.1, 0.2]).view(2, 1, 1, 1)  # MSE 0.01 and 0.04
    assert torch.allclose(psnr(x, y), torch.tensor([26.0206, 20.0000]), atol=1e-3)
    assert torch.allclose(psnr(x, y, data_range=1.0), torch.tensor([20.0, 13.9794]), atol=1e-3)
    assert [kl_weight(s, 2.0, 4) for s in (0, 1, 4, 10)] == [0.0, 0.5, 2.0, 2.0]
    assert kl_weight(0, 2.0) == 2.0
    grid = image_grid(torch.stack([torch.full((1, 2, 2), v) for v in (-1.0, 1.0, 0.0)]), nrow=2, padding=1)
    assert tuple(grid.shape) == (7, 7, 1) and grid[1, 1, 0] == 0 and grid[1, 4, 0] == 1 and grid[4, 1, 0] == 0.5


# ------------------------------------------------------------------------------------------------ training
def test_training_is_deterministic_and_learns(digits):
    a, b = micro_trainer(digits, steps=20), micro_trainer(digits, steps=20)
    a.train()
    b.train()
    assert all(torch.equal(v, params(b.model)[k]) for k, v in params(a.model).items())
    assert a.history == b.history and len(a.history) == 20
    first, last = sum(r["loss"] for r in a.history[:5]), sum(r["loss"] for r in a.history[-5:])
    assert last < 0.8 * first
    assert a.amp_dtype is None  # never autocast on a CPU
    c = micro_trainer(digits, steps=2, seed=1)
    c.train()
    assert not torch.equal(params(c.model)["encoder_conv_in.weight"], params(a.model)["encoder_conv_in.weight"])
    metrics = a.evaluate()
    assert set(metrics) == {"psnr", "mse", "recon", "kl", "neg_elbo"}
    with torch.no_grad():
        x = digits[1].images
        want = psnr(x, a.model.reconstruct(x).clamp(-1, 1)).mean().item()
    assert abs(metrics["psnr"] - want) < 1e-4
    assert metrics == a.evaluate()  # deterministic


def test_resume_continues_exactly(digits, tmp_path):
    n = 4
    straight = micro_trainer(digits, steps=2 * n, kl_warmup_steps=5)
    straight.train()
    first = micro_trainer(digits, steps=2 * n, kl_warmup_steps=5)
    first.train(n)
    path = first.save(tmp_path / "ckpt.safetensors")
    assert sorted(os.listdir(tmp_path)) == ["ckpt.safetensors"]  # no temporary file left behind
    del first
    resumed = Trainer.resume(path, device="cpu", train_data=digits[0], val_data=digits[1], progress=False)
    assert resumed.step == n and len(resumed.history) == n
    resumed.train()
    assert resumed.step == 2 * n
    for k, v in params(straight.model).items():
        assert torch.equal(v, params(resumed.model)[k]), k
    s_opt, r_opt = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    for pid in s_opt:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(s_opt[pid][key], r_opt[pid][key])
    assert resumed.history == straight.history


def test_checkpoint_errors_are_clear(digits, tmp_path):
    t = micro_trainer(digits)
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
    different_run = micro_trainer(digits, batch_size=16)
    with pytest.raises(CheckpointError, match="batch_size: checkpoint 8 vs now 16"):
        different_run.load(good)
    weights_only = save_checkpoint(tmp_path / "weights.safetensors", t.model)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(weights_only, t.model, t.optimizer)
    load_checkpoint(weights_only, other.__class__(**t.model.config))  # weights alone load into a fresh model


def test_a_failed_write_keeps_the_previous_checkpoint(digits, tmp_path, monkeypatch):
    t = micro_trainer(digits)
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


def test_config_validation():
    with pytest.raises(ValueError, match="dataset must be one of"):
        TrainConfig(dataset="cifar")
    with pytest.raises(ValueError, match="model must be one of"):
        TrainConfig(model="huge")
    with pytest.raises(ValueError, match="unknown training config keys"):
        TrainConfig.from_dict({"epochs": 3})
    with pytest.raises(ValueError, match="amp must be one of"):
        TrainConfig(amp="int8")
    assert TrainConfig.from_dict(TrainConfig(model=MICRO).to_dict()) == TrainConfig(model=MICRO)


# ------------------------------------------------------------------------------------------------ the CLI
def test_cli_writes_outputs_and_resumes(tmp_path):
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
    with pytest.raises(SystemExit, match="--resume auto"):
        main(args)
    main(["--out", str(out), "--steps", "5", "--resume", "auto", "--no-progress", "--device", "cpu"])
    steps = [r["step"] for r in csv.DictReader(open(out / "metrics.csv")) if r["split"] == "train"]
    assert steps == ["1", "2", "3", "4", "5"]
    assert train_mod.read_checkpoint(out / "checkpoints" / "last.safetensors")[1]["step"] == 5
