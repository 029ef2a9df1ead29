"""Shipped trained models: export from a checkpoint, the card, the hash check, loading; and the files that
ship with this version, re-evaluated against their cards."""

import json

import pytest
import torch
from test_train_autoencoder import kl_trainer

import encoderlab
from encoderlab.data.photographs import HELD_OUT
from encoderlab.pretrained import (
    PretrainedError,
    available_pretrained,
    evaluate_held_out,
    export_pretrained,
    load_pretrained,
    model_card,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pretrained")
    t = kl_trainer(image_size=32, ema_decay=0.9, steps=2)
    t.train()
    ckpt = t.save(tmp / "run" / "last.safetensors")
    card = export_pretrained(ckpt, "micro", tmp / "shipped", card={"command": "pytest", "seed": 0})
    return t, tmp / "shipped", card


def test_export_writes_float16_average_and_a_card(exported):
    t, folder, card_path = exported
    card = json.loads(card_path.read_text())
    assert card["command"] == "pytest" and card["steps"] == 2 and card["storage"] == "float16"
    assert card["parameters"] == sum(p.numel() for p in t.model.parameters())
    model = load_pretrained("micro", folder=folder)
    assert isinstance(model, encoderlab.AutoencoderKL) and not model.training
    assert model.scaling_factor == card["scaling_factor"] > 0
    for key, value in model.state_dict().items():  # the average, rounded to float16, back in float32
        assert value.dtype == torch.float32
        assert torch.equal(value, t.ema[key].to(torch.float16).float())
    again = evaluate_held_out(model)
    assert again["psnr"] == pytest.approx(card["held_out"]["psnr"], abs=1e-4)
    assert again["ssim"] == pytest.approx(card["held_out"]["ssim"], abs=1e-5)
    assert available_pretrained(folder) == ["micro"] and model_card("micro", folder)["sha256"] == card["sha256"]


def test_a_changed_file_is_refused(exported, tmp_path):
    _, folder, _ = exported
    for suffix in (".safetensors", ".json"):
        (tmp_path / f"micro{suffix}").write_bytes((folder / f"micro{suffix}").read_bytes())
    data = bytearray((tmp_path / "micro.safetensors").read_bytes())
    data[-3] ^= 0x01
    (tmp_path / "micro.safetensors").write_bytes(bytes(data))
    with pytest.raises(PretrainedError, match="has sha256 .* but its card micro.json records"):
        load_pretrained("micro", folder=tmp_path)


def test_unknown_names_list_what_is_available(exported, tmp_path):
    _, folder, _ = exported
    with pytest.raises(PretrainedError, match=r"no shipped model named 'kl-f2'; available: 'micro'"):
        load_pretrained("kl-f2", folder=folder)
    with pytest.raises(PretrainedError, match="none are shipped in this version"):
        load_pretrained("kl-f8", folder=tmp_path)
    with pytest.raises(TypeError, match="name must be a str"):
        load_pretrained(8)


def test_only_autoencoder_checkpoints_export(tmp_path):
    from train_helpers import micro_trainer

    path = micro_trainer(steps=1).save(tmp_path / "vae.safetensors")
    with pytest.raises(PretrainedError, match="not a checkpoint of an AutoencoderKL"):
        export_pretrained(path, "vae", tmp_path / "out")


SHIPPED = available_pretrained()


@pytest.mark.skipif(not SHIPPED, reason="this version ships no trained models yet")
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_load_and_reach_their_cards(name):
    card = model_card(name)
    model = load_pretrained(name)  # verifies the sha256
    assert sum(p.numel() for p in model.parameters()) == card["parameters"]
    measured = evaluate_held_out(model)
    assert measured["mean_psnr"] == pytest.approx(card["held_out"]["mean_psnr"], abs=0.05)


@pytest.mark.skipif(not SHIPPED, reason="this version ships no trained models yet")
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_cards_record_their_run(name):
    from encoderlab.baselines import bicubic_side
    from encoderlab.train import RECIPES

    card = model_card(name)
    assert card["train_config"] == {**card["train_config"], **RECIPES[name]}  # made by the named recipe
    assert card["steps"] == RECIPES[name]["steps"] and card["seed"] == RECIPES[name]["seed"]
    assert card["held_out"]["photos"] == list(HELD_OUT)
    assert card["wall_time_s"] > 0 and card["machine"]["threads"] == 1
    c, h, w = load_pretrained(name).latent_shape(256, 256)
    assert card["baselines"]["numbers"] == c * h * w
    assert card["baselines"]["bicubic"]["side"] == bicubic_side(c * h * w)
    steps = [r["step"] for r in card["held_out_curve"]]
    assert steps == sorted(steps) and steps[-1] == card["steps"]
    assert card["held_out_curve"][-1]["mean_psnr"] == pytest.approx(card["held_out"]["mean_psnr"], abs=0.05)


@pytest.mark.xfail(strict=True, reason="known: the two shipped models take 17.5 MB in float16, over the 10 MB "
                                       "budget of issue 17 (kl-f8 alone is 10.5 MB); remove this mark when they fit")
def test_shipped_files_fit_the_budget():
    from encoderlab.pretrained import SHIPPED as folder

    total = sum(p.stat().st_size for p in folder.glob("*") if p.is_file())
    assert total <= 10 * 2**20, f"the shipped models take {total / 2**20:.1f} MiB, more than 10 MiB"


@pytest.mark.skipif(not SHIPPED, reason="this version ships no trained models yet")
@pytest.mark.parametrize("name", SHIPPED)
def test_the_first_steps_of_each_recipe_reproduce_the_card(name):
    """The named recipe, run from nothing here, repeats the losses its shipped run recorded: in bfloat16 where
    this CPU computes in it (as the recipe did), else in float32 against the card's float32 losses. Another
    CPU may add in another order, hence the tolerance; that the machine that trained it repeats its run bit for
    bit, the card records (``repeated_exactly_at_export``), and every machine must repeat its own."""
    from encoderlab.fast import cpu_has_native_bfloat16
    from encoderlab.train.publish import first_losses

    first = model_card(name)["first_losses"]
    assert first["repeated_exactly_at_export"] is True
    if first["amp"] == "bf16-native" and cpu_has_native_bfloat16():
        losses, expected, tolerance = first_losses(name), first["losses"], 2e-3
    else:
        losses, expected, tolerance = first_losses(name, amp="off"), first["float32"], 1e-4
    assert len(losses) == len(expected) == 3
    assert losses == pytest.approx(expected, rel=tolerance, abs=0)
    if name == "kl-f8":  # and on this machine, whatever it is, the same run twice gives the same bits
        assert first_losses(name, amp=None if cpu_has_native_bfloat16() else "off") == losses
