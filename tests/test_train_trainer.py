"""The Trainer: deterministic, it learns, never autocasts on a CPU, evaluates, and resumes exactly."""

import os

import torch
from train_helpers import digits, micro_trainer, params

from encoderlab.train import Trainer, evaluate, psnr


def test_training_is_deterministic_and_learns():
    a, b = micro_trainer(steps=20), micro_trainer(steps=20)
    a.train()
    b.train()
    assert all(torch.equal(v, params(b.model)[k]) for k, v in params(a.model).items())
    assert a.history == b.history and len(a.history) == 20
    first, last = sum(r["loss"] for r in a.history[:5]), sum(r["loss"] for r in a.history[-5:])
    assert last < 0.8 * first
    assert a.amp_dtype is None  # never autocast on a CPU
    c = micro_trainer(steps=2, seed=1)
    c.train()
    assert not torch.equal(params(c.model)["encoder_conv_in.weight"], params(a.model)["encoder_conv_in.weight"])
    metrics = a.evaluate()
    assert set(metrics) == {"psnr", "mse", "recon", "kl", "neg_elbo"}
    with torch.no_grad():
        x = digits()[1].images
        want = psnr(x, a.model.reconstruct(x).clamp(-1, 1)).mean().item()
    assert abs(metrics["psnr"] - want) < 1e-4
    assert metrics == a.evaluate()  # deterministic
    assert metrics == evaluate(a.model, digits()[1], seed=a.config.seed)


def test_resume_continues_exactly(tmp_path):
    n = 4
    straight = micro_trainer(steps=2 * n, kl_warmup_steps=5)
    straight.train()
    first = micro_trainer(steps=2 * n, kl_warmup_steps=5)
    first.train(n)
    path = first.save(tmp_path / "ckpt.safetensors")
    assert sorted(os.listdir(tmp_path)) == ["ckpt.safetensors"]  # no temporary file left behind
    del first
    train, val = digits()
    resumed = Trainer.resume(path, device="cpu", train_data=train, val_data=val, progress=False)
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
