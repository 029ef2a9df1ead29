"""The trainer on LDM's AutoencoderKL: presets, bfloat16 on a CPU, the learning-rate schedule, the average of
the weights, exact resumption with all of them, and the named recipes of the shipped models."""

import math

import pytest
import torch

from encoderlab import GroupNorm
from encoderlab.data import make_dataset
from encoderlab.data.photographs import PhotoCrops
from encoderlab.ldm import AutoencoderKL
from encoderlab.train import RECIPES, CheckpointError, TrainConfig, Trainer, cli, save_checkpoint
from encoderlab.train.config import COSINE_FINAL_FRACTION, build_model

MICRO_KL = {"ddconfig": {"ch": 32, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [],
                         "resolution": 32, "z_channels": 4}, "embed_dim": 4}


def kl_trainer(**overrides) -> Trainer:
    cfg = TrainConfig(**{"dataset": "photographs", "image_size": 16, "model": MICRO_KL, "batch_size": 2,
                         "steps": 4, "lr": 1e-3, "recon": "l1", "beta": 1e-6, **overrides})
    return Trainer(cfg, device="cpu", progress=False)


def test_presets_build_ldm_models_with_diffusers_parameter_counts():
    diffusers = pytest.importorskip("diffusers")
    for name, blocks, latent in (("kl-f8", (32, 64, 128, 128), (4, 16, 16)), ("kl-f4", (32, 64, 128), (3, 32, 32))):
        cfg = TrainConfig(dataset="photographs", model=name)
        assert cfg.check_model() == latent  # 128x128 crops
        ours = build_model(cfg.model_kwargs(3))
        assert isinstance(ours, AutoencoderKL)
        ref = diffusers.AutoencoderKL(in_channels=3, out_channels=3, latent_channels=latent[0],
                                      down_block_types=("DownEncoderBlock2D",) * len(blocks),
                                      up_block_types=("UpDecoderBlock2D",) * len(blocks),
                                      block_out_channels=blocks, layers_per_block=2, norm_num_groups=8)
        assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
        # Stable Diffusion's four channels per group at the first level (LDM's 32 groups would be one each)
        assert {m.num_groups for m in ours.modules() if isinstance(m, GroupNorm)} == {8}
        assert {m.num_groups for m in ref.modules() if isinstance(m, torch.nn.GroupNorm)} == {8}


def test_image_size_must_fit_the_model():
    with pytest.raises(ValueError, match="image_size=36 does not fit the model.*8 times smaller"):
        TrainConfig(dataset="photographs", model="kl-f8", image_size=36).check_model()


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1.0, steps=110, lr_schedule="cosine", lr_warmup_steps=10)
    assert [cfg.lr_at(s) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]
    assert cfg.lr_at(10) == pytest.approx(1.0)
    assert cfg.lr_at(60) == pytest.approx(COSINE_FINAL_FRACTION + (1 - COSINE_FINAL_FRACTION) / 2)
    assert cfg.lr_at(110) == pytest.approx(COSINE_FINAL_FRACTION)
    assert cfg.lr_at(500) == pytest.approx(COSINE_FINAL_FRACTION)  # past the end: stays at the floor
    assert TrainConfig(lr=0.3).lr_at(77) == 0.3
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainConfig(lr_schedule="linear")


def test_trainer_sets_the_scheduled_rate_each_step():
    t = kl_trainer(lr_schedule="cosine", lr_warmup_steps=2, steps=4)
    history = t.train()
    assert [r["lr"] for r in history] == [t.config.lr_at(s) for s in range(4)]
    assert history[0]["lr"] == pytest.approx(5e-4)


def test_bfloat16_autocast_on_a_cpu_only_when_asked():
    assert kl_trainer().amp_dtype is None  # "auto": a CPU trains in float32
    bf16 = kl_trainer(amp="bf16", steps=2)
    assert bf16.amp_dtype == torch.bfloat16
    fp32 = kl_trainer(steps=2)
    a, b = bf16.train(), fp32.train()
    assert all(math.isfinite(r["loss"]) for r in a)
    assert a[0]["loss"] != b[0]["loss"]  # the forward really ran in bfloat16
    assert a[0]["loss"] == pytest.approx(b[0]["loss"], rel=2e-2)
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())  # the weights stay float32


def test_average_of_the_weights_follows_its_formula():
    t = kl_trainer(ema_decay=0.99, steps=2)
    start = {k: v.clone() for k, v in t.model.state_dict().items()}
    t.train(1)
    decay = min(0.99, 1 / 10)  # the ramp after 0 steps
    for key, value in t.model.state_dict().items():
        torch.testing.assert_close(t.ema[key], decay * start[key] + (1 - decay) * value, rtol=1e-6, atol=1e-7)
    averaged = t.averaged_model()
    assert not averaged.training and torch.equal(averaged.state_dict()["quant_conv.weight"],
                                                 t.ema["quant_conv.weight"])
    assert not torch.equal(averaged.state_dict()["quant_conv.weight"], t.model.state_dict()["quant_conv.weight"])


def test_resume_is_exact_with_schedule_average_and_bfloat16(tmp_path):
    overrides = dict(ema_decay=0.9, lr_schedule="cosine", lr_warmup_steps=1, amp="bf16", steps=4)
    whole = kl_trainer(**overrides)
    whole.train()
    half = kl_trainer(**overrides)
    half.train(2)
    half.save(tmp_path / "c.safetensors")
    resumed = Trainer.resume(tmp_path / "c.safetensors", device="cpu", progress=False)
    resumed.train()
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in whole.history]
    for key in whole.ema:
        assert torch.equal(resumed.ema[key], whole.ema[key])
        assert torch.equal(resumed.model.state_dict()[key], whole.model.state_dict()[key])


def test_checkpoint_without_an_average_is_refused_by_a_run_that_keeps_one(tmp_path):
    plain = kl_trainer()
    path = save_checkpoint(tmp_path / "p.safetensors", plain.model, plain.optimizer, config=plain.config)
    with pytest.raises(CheckpointError, match="no average of the weights"):
        kl_trainer(ema_decay=0.9).load(path)


def test_evaluate_an_autoencoder():
    t = kl_trainer(steps=1)
    t.train()
    metrics = t.evaluate()
    assert set(metrics) == {"psnr", "mse", "recon", "kl", "neg_elbo"}
    x = torch.stack([t.val_data[i] for i in range(len(t.val_data))])
    with torch.no_grad():
        want = (t.model.reconstruct(x).clamp(-1, 1) - x).pow(2).mean(dim=(1, 2, 3))
    assert metrics["mse"] == pytest.approx(want.mean().item(), rel=1e-5)


def test_photographs_dataset_splits():
    train, val = make_dataset("photographs", "train", 64), make_dataset("photographs", "val", 64)
    assert isinstance(train, PhotoCrops) and train.image_shape == (3, 64, 64) and len(val) == 64
    assert not torch.equal(train[0], val[0])
    with pytest.raises(ValueError, match="no split 'all'"):
        make_dataset("photographs", "all")


def test_recipes_are_valid_runs_and_flags_override_them(tmp_path):
    for name, fields in RECIPES.items():
        cfg = TrainConfig.from_dict(dict(fields))
        assert cfg.model == name and cfg.dataset == "photographs" and cfg.amp == "bf16-native"
        assert cfg.ema_decay > 0
        cfg.check_model()
    args = cli._parser().parse_args(["--recipe", "kl-f4", "--steps", "7", "--out", str(tmp_path / "run")])
    config, *_ = cli._prepare(args)
    assert config.steps == 7 and config.model == "kl-f4" and config.lr_schedule == "cosine"
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["--recipe", "kl-f16", "--out", str(tmp_path)])


def test_bf16_native_follows_the_cpu(monkeypatch):
    import encoderlab.train.trainer as trainer_module

    for native, want in ((True, torch.bfloat16), (False, None)):
        monkeypatch.setattr(trainer_module, "cpu_has_native_bfloat16", lambda native=native: native)
        assert kl_trainer(amp="bf16-native").amp_dtype == want
