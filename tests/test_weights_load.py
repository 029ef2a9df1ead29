"""load_weights / export_weights: the formats real checkpoints come in, and errors that list every bad key.

Checked against diffusers models built locally with random weights and loaded with ``strict=True``.
"""


import pytest
import torch
from weights_helpers import SMALL_ATTN, SMALL_SD, randomise, same_state, tiny_autoencoder

from encoderlab.ldm import AutoencoderKL, Decoder, Encoder
from encoderlab.weights import (
    WeightsError,
    diffusers_config,
    export_weights,
    ldm_to_diffusers,
    load_weights,
)

diffusers = pytest.importorskip("diffusers")
from diffusers import AutoencoderKL as DiffusersAutoencoderKL  # noqa: E402
from diffusers.models.autoencoders.vae import Decoder as DiffusersDecoder  # noqa: E402
from diffusers.models.autoencoders.vae import Encoder as DiffusersEncoder  # noqa: E402


def test_load_a_diffusers_model_state_dict_and_its_halves():
    ref = randomise(DiffusersAutoencoderKL(**diffusers_config(AutoencoderKL(SMALL_ATTN))), seed=2)
    ours = load_weights(AutoencoderKL(SMALL_ATTN), ref.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert (ours.encode(x).moments - ref.encode(x).latent_dist.parameters).abs().max() < 1e-5
    enc = load_weights(Encoder(**SMALL_ATTN, double_z=True), ref.encoder.state_dict())  # standalone Encoder
    dec = load_weights(Decoder(**SMALL_ATTN), ref.state_dict(), format="diffusers")  # its part of the whole
    with torch.no_grad():
        assert (enc(x) - ref.encoder(x)).abs().max() < 1e-5
        z = torch.randn(1, 4, 8, 8)
        assert (dec(z) - ref.decoder(z)).abs().max() < 1e-5
    assert export_weights(enc, "diffusers").keys() == ref.encoder.state_dict().keys()
    assert export_weights(dec, "diffusers").keys() == ref.decoder.state_dict().keys()


def test_load_standalone_diffusers_encoder_and_decoder_classes():
    enc, dec = Encoder(**SMALL_SD), Decoder(**SMALL_SD)
    ref_e = randomise(DiffusersEncoder(**diffusers_config(enc)), 3)
    ref_d = randomise(DiffusersDecoder(**diffusers_config(dec)), 4)
    load_weights(enc, ref_e.state_dict())
    load_weights(dec, ref_d.state_dict())
    x, z = torch.randn(1, 3, 16, 16), torch.randn(1, 4, 2, 2)
    with torch.no_grad():
        assert (enc(x) - ref_e(x)).abs().max() < 1e-5 and (dec(z) - ref_d(z)).abs().max() < 1e-5


def test_old_diffusers_attention_names_load():
    ref = randomise(DiffusersAutoencoderKL(**diffusers_config(AutoencoderKL(SMALL_ATTN))), seed=5)
    renames = {"group_norm": "group_norm", "to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    old = {}
    for key, value in ref.state_dict().items():
        for new, legacy in renames.items():
            key = key.replace(f".{new}.", f".{legacy}.")
        old[key] = value
    assert any(".proj_attn." in k for k in old)
    ours = load_weights(AutoencoderKL(SMALL_ATTN), old)
    assert same_state(export_weights(ours, "diffusers"), ref.state_dict())


def test_load_a_full_sd_style_checkpoint_with_prefix_and_other_models():
    ours = tiny_autoencoder(SMALL_SD, seed=6)
    checkpoint = {"state_dict": {
        **export_weights(ours, "ldm", prefix="first_stage_model."),
        "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(3),
        "cond_stage_model.transformer.x": torch.zeros(1),
        "model_ema.decay": torch.tensor(0.999),
    }, "global_step": 10}
    fresh = load_weights(AutoencoderKL(SMALL_SD), checkpoint)
    assert same_state(fresh.state_dict(), ours.state_dict())
    enc = load_weights(Encoder(**SMALL_SD), checkpoint)  # only the encoder's part
    assert same_state(enc.state_dict(), ours.encoder.state_dict())


def test_ldm_autoencoder_checkpoint_drops_the_training_loss_weights():
    ours = tiny_autoencoder(SMALL_SD, seed=7)
    state = {**export_weights(ours, "ldm"), "loss.logvar": torch.zeros(()),
             "loss.discriminator.main.0.weight": torch.zeros(64, 3, 4, 4)}
    assert same_state(load_weights(AutoencoderKL(SMALL_SD), state).state_dict(), ours.state_dict())


def test_unknown_missing_and_misshaped_keys_are_all_listed():
    ours = tiny_autoencoder(SMALL_ATTN)
    state = export_weights(ours, "ldm")
    state = {k: v for k, v in state.items() if k != "decoder.conv_out.bias"}  # missing
    state["encoder.down.0.block.0.extra.weight"] = torch.zeros(1)  # unknown
    state["encoder.conv_in.weight"] = torch.zeros(32, 4, 3, 3)  # mis-shaped
    with pytest.raises(WeightsError) as info:
        load_weights(AutoencoderKL(SMALL_ATTN), state)
    message = str(info.value)
    assert "1 unknown key(s): encoder.down.0.block.0.extra.weight" in message
    assert "1 missing key(s): decoder.conv_out.bias" in message
    assert "encoder.conv_in.weight: (32, 4, 3, 3) in the weights, (32, 3, 3, 3) in the model" in message


def test_errors_name_the_diffusers_keys_and_nothing_is_copied_on_error():
    ref = DiffusersAutoencoderKL(**diffusers_config(AutoencoderKL(SMALL_SD)))
    state = dict(ref.state_dict())
    state["encoder.mid_block.attentions.0.to_q.weight"] = torch.zeros(64, 64)
    state["encoder.down_blocks.9.resnets.0.conv1.weight"] = torch.zeros(1)
    model = AutoencoderKL(SMALL_SD)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError) as info:
        load_weights(model, state)
    assert "encoder.mid_block.attentions.0.to_q.weight: (64, 64) in the weights, (128, 128) in the model" in str(info.value)
    assert "1 unknown key(s): encoder.down_blocks.9.resnets.0.conv1.weight" in str(info.value)
    assert same_state(model.state_dict(), before)


def test_weights_of_another_size_are_rejected():
    small = tiny_autoencoder(SMALL_ATTN)
    with pytest.raises(WeightsError, match="missing key"):
        load_weights(AutoencoderKL(SMALL_SD), export_weights(small, "ldm"))


def test_bad_arguments():
    model = AutoencoderKL(SMALL_ATTN)
    with pytest.raises(ValueError, match="format"):
        load_weights(model, {}, format="onnx")
    with pytest.raises(TypeError, match="Encoder, Decoder or AutoencoderKL"):
        load_weights(torch.nn.Linear(2, 2), {})
    with pytest.raises(TypeError, match="must be a tensor"):
        load_weights(model, {"encoder.conv_in.weight": [1, 2]})
    with pytest.raises(WeightsError, match="not part of an LDM autoencoder"):
        ldm_to_diffusers({"unet.x": torch.zeros(1)})


def test_loading_into_a_meta_model_with_assign():
    """Build on the meta device (no memory, no init time), then take the checkpoint's tensors as parameters."""
    ours = tiny_autoencoder(SMALL_ATTN, seed=11)
    with torch.device("meta"):
        empty = AutoencoderKL(SMALL_ATTN)
    load_weights(empty, export_weights(ours, "diffusers"), assign=True)
    assert not any(p.is_meta for p in empty.parameters())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(empty.encode(x).moments, ours.encode(x).moments)
