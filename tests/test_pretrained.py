"""Shipped trained models: export from a checkpoint, the card, the hash check, loading; and the files that
ship with this version, re-evaluated against their cards."""

import json

import pytest
import torch
from test_train_autoencoder import kl_trainer

import encoderlab
from encoderlab.data.photographs import HELD_OUT
from encoderlab.pretrained import (
    STORAGE,
    PretrainedError,
    available_pretrained,
    evaluate_held_out,
    export_pretrained,
    load_pretrained,
    model_card,
    pack_weights,
    unpack_weights,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pretrained")
    t = kl_trainer(image_size=32, ema_decay=0.9, steps=2)
    t.train()
    ckpt = t.save(tmp / "run" / "last.safetensors")
    card = export_pretrained(ckpt, "micro", tmp / "shipped", card={"command": "pytest", "seed": 0})
    return t, tmp / "shipped", card


def test_export_writes_the_packed_average_and_a_card(exported):
    t, folder, card_path = exported
    card = json.loads(card_path.read_text())
    assert card["command"] == "pytest" and card["steps"] == 2 and card["storage"] == STORAGE
    assert card["parameters"] == sum(p.numel() for p in t.model.parameters())
    model = load_pretrained("micro", folder=folder)
    assert isinstance(model, encoderlab.AutoencoderKL) and not model.training
    assert model.scaling_factor == card["scaling_factor"] > 0
    for key, value in model.state_dict().items():  # the average, within half a step (and float rounding)
        assert value.dtype == torch.float32
        average = t.ema[key].to(torch.float16).float()
        if value.ndim < 2:
            assert torch.equal(value, average)
        else:
            step = average.abs().flatten(1).amax(1) / 127
            err = (value - average).abs().flatten(1).amax(1)
            assert torch.all(err <= step / 2 * (1 + 1e-4)), key
    again = evaluate_held_out(model)
    assert again["psnr"] == pytest.approx(card["held_out"]["psnr"], abs=1e-4)
    assert again["ssim"] == pytest.approx(card["held_out"]["ssim"], abs=1e-5)
    tiles = evaluate_held_out(model, tile=128)
    assert card["held_out_by_tiles"]["tile"] == 128
    assert tiles["mean_psnr"] == pytest.approx(card["held_out_by_tiles"]["mean_psnr"], abs=1e-4)
    assert available_pretrained(folder) == ["micro"] and model_card("micro", folder)["sha256"] == card["sha256"]


def test_packing_is_int8_per_output_channel():
    torch.manual_seed(0)
    w = torch.randn(6, 4, 3, 3) * torch.logspace(-3, 1, 6).view(-1, 1, 1, 1)  # channels of very different size
    w[2] = 0.0  # an all-zero channel keeps a finite scale and comes back as zeros
    b = torch.randn(6)
    packed = pack_weights({"conv.weight": w, "conv.bias": b})
    assert set(packed) == {"conv.weight", "conv.weight:scale", "conv.bias"}
    assert packed["conv.weight"].dtype == torch.int8 and packed["conv.bias"].dtype == torch.float16
    assert packed["conv.weight"].abs().flatten(1).amax(1).tolist() == [127, 127, 0, 127, 127, 127]
    back = unpack_weights(packed)
    w16 = w.half().float()
    step = w16.abs().flatten(1).amax(1) / 127
    err = (back["conv.weight"] - w16).abs().flatten(1).amax(1)
    assert torch.all(err <= step / 2 * (1 + 1e-4)) and torch.equal(back["conv.weight"][2], w[2])
    assert torch.equal(back["conv.bias"], b.half().float())
    again = pack_weights(unpack_weights(pack_weights({"conv.weight": w16})))  # packing is idempotent
    assert torch.equal(again["conv.weight"], packed["conv.weight"])
    # a float16 file (the earlier storage) unpacks too, and packing its weights equals packing the originals
    assert torch.equal(pack_weights(unpack_weights({"conv.weight": w.half()}))["conv.weight"], packed["conv.weight"])


def test_publish_refuses_a_run_that_is_not_the_recipes(tmp_path):
    from encoderlab.train.publish import publish

    t = kl_trainer(steps=1)
    t.train()
    t.save(tmp_path / "run" / "checkpoints" / "last.safetensors")
    with pytest.raises(ValueError, match=r"not trained with recipe 'kl-f4': its image_size, model, steps"):
        publish("kl-f4", tmp_path / "run", tmp_path / "into")
    assert not (tmp_path / "into").exists()


def test_repack_stores_a_float16_model_in_8_bits(exported, tmp_path):
    import safetensors.torch as st

    from encoderlab.train.publish import repack

    t, folder, card_path = exported
    card = json.loads(card_path.read_text())
    float16 = {k: v.to(torch.float16) for k, v in t.ema.items()}  # the model as the earlier storage kept it
    st.save_file(float16, tmp_path / "micro.safetensors")
    from encoderlab.pretrained import file_sha256

    old = {**card, "storage": "float16", "sha256": file_sha256(tmp_path / "micro.safetensors"),
           "file_bytes": (tmp_path / "micro.safetensors").stat().st_size}
    (tmp_path / "micro.json").write_text(json.dumps(old))
    new = json.loads(repack("micro", tmp_path).read_text())
    assert (tmp_path / "micro.safetensors").read_bytes() == (folder / "micro.safetensors").read_bytes()
    assert new["sha256"] == card["sha256"] and new["file_bytes"] < old["file_bytes"]
    # the same bytes, measured again (to float32 rounding: oneDNN's kernels vary with what ran before)
    assert new["held_out"]["psnr"] == pytest.approx(card["held_out"]["psnr"], abs=1e-4)
    assert new["held_out_by_tiles"]["psnr"] == pytest.approx(card["held_out_by_tiles"]["psnr"], abs=1e-4)
    assert new["scaling_factor"] == pytest.approx(card["scaling_factor"], rel=1e-5)
    assert new["earlier_storage"] == [{"storage": "float16", "sha256": old["sha256"], "file_bytes":
                                       old["file_bytes"], "held_out_mean_psnr": card["held_out"]["mean_psnr"]}]
    load_pretrained("micro", folder=tmp_path)
    with pytest.raises(ValueError, match="already stored"):
        repack("micro", tmp_path)


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
