"""Weights of the latent-diffusion autoencoder: LDM <-> diffusers <-> encoderlab, files, clear errors.

The key mapping is checked against diffusers' own converter (``convert_ldm_vae_checkpoint``) and against
diffusers models built locally with random weights and loaded with ``strict=True``; nothing is downloaded.
"""

import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from encoderlab.ldm import AutoencoderKL, Decoder, Encoder
from encoderlab.weights import (
    WeightsError,
    autoencoder_from_diffusers_config,
    detect_format,
    diffusers_config,
    diffusers_to_ldm,
    export_weights,
    ldm_to_diffusers,
    load_file,
    load_weights,
    save_file,
)

diffusers = pytest.importorskip("diffusers")
from diffusers import AutoencoderKL as DiffusersAutoencoderKL  # noqa: E402
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint  # noqa: E402
from diffusers.models.autoencoders.vae import Decoder as DiffusersDecoder  # noqa: E402
from diffusers.models.autoencoders.vae import Encoder as DiffusersEncoder  # noqa: E402

SD = dict(ch=128, out_ch=3, ch_mult=(1, 2, 4, 4), num_res_blocks=2, attn_resolutions=[], in_channels=3,
          resolution=256, z_channels=4, double_z=True, dropout=0.0)
SMALL_SD = dict(SD, ch=32, resolution=32)
SMALL_ATTN = dict(ch=32, out_ch=3, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=[16], in_channels=3,
                  resolution=32, z_channels=4)


def randomise(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return module.eval()


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def tiny_autoencoder(config=SMALL_ATTN, seed=0):
    return randomise(AutoencoderKL(config), seed)


# --------------------------------------------------------------------------------------------------------
# the mapping
# --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["", "first_stage_model."])
def test_mapping_equals_diffusers_own_converter(prefix):
    ours = tiny_autoencoder(SMALL_SD)
    ldm = export_weights(ours, "ldm", prefix=prefix)
    cfg = diffusers_config(ours)
    official = convert_ldm_vae_checkpoint(ldm, {"down_block_types": cfg["down_block_types"],
                                                "up_block_types": cfg["up_block_types"]})
    mapped = export_weights(ours, "diffusers")
    assert official.keys() == mapped.keys()
    for key, value in official.items():
        assert value.shape == mapped[key].shape, key
        assert torch.equal(value.reshape(mapped[key].shape), mapped[key]), key


def test_official_converter_misses_intermediate_attention_and_we_do_not():
    ours = tiny_autoencoder(SMALL_ATTN)
    ldm = export_weights(ours, "ldm")
    cfg = diffusers_config(ours)
    official = convert_ldm_vae_checkpoint(ldm, {"down_block_types": cfg["down_block_types"],
                                                "up_block_types": cfg["up_block_types"]})
    ref = DiffusersAutoencoderKL(**cfg)
    missing = sorted(set(ref.state_dict()) - set(official))
    assert missing and all(".attentions." in k and "mid_block" not in k for k in missing)
    ref.load_state_dict(ldm_to_diffusers(ldm), strict=True)  # ours has them all
    assert "decoder.up_blocks.1.attentions.1.to_q.weight" in ref.state_dict()  # up[1] -> up_blocks[3 - 1 - 1]


def test_full_sd_key_set_and_shapes_equal_diffusers_on_meta():
    with torch.device("meta"):
        ours = AutoencoderKL(SD, embed_dim=4)
        ref = DiffusersAutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                                     down_block_types=("DownEncoderBlock2D",) * 4,
                                     up_block_types=("UpDecoderBlock2D",) * 4, sample_size=256)
    mapped = export_weights(ours, "diffusers")
    want = ref.state_dict()
    assert len(mapped) == len(want) == len(ours.state_dict())
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in want.items()}
    back = diffusers_to_ldm(want)
    assert {k: tuple(v.shape) for k, v in back.items()} == {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    cfg = diffusers_config(ours)
    assert cfg["block_out_channels"] == (128, 256, 512, 512) and cfg["latent_channels"] == 4


@settings(max_examples=15, deadline=None)
@given(levels=st.integers(1, 4), blocks=st.integers(1, 3), attn=st.lists(st.booleans(), min_size=4, max_size=4))
def test_round_trip_ldm_diffusers_ldm(levels, blocks, attn):
    res = 64
    config = dict(ch=32, out_ch=3, ch_mult=(1, 2, 1, 2)[:levels], num_res_blocks=blocks, in_channels=3,
                  resolution=res, z_channels=2, attn_resolutions=[res // 2**i for i in range(levels) if attn[i]])
    with torch.device("meta"):
        ours = AutoencoderKL(config)
        ref = DiffusersAutoencoderKL(**diffusers_config(ours))
    ldm = ours.state_dict()
    to_diffusers = ldm_to_diffusers(ldm)
    assert {k: tuple(v.shape) for k, v in to_diffusers.items()} == {k: tuple(v.shape) for k, v in
                                                                     ref.state_dict().items()}
    back = diffusers_to_ldm(to_diffusers)
    assert {k: tuple(v.shape) for k, v in back.items()} == {k: tuple(v.shape) for k, v in ldm.items()}


def test_round_trip_values_and_loading_back():
    ours = tiny_autoencoder(SMALL_ATTN, seed=1)
    ldm = export_weights(ours, "ldm")
    assert same_state(diffusers_to_ldm(ldm_to_diffusers(ldm)), ldm)
    for fmt in ("ldm", "diffusers"):
        fresh = AutoencoderKL(SMALL_ATTN)
        load_weights(fresh, export_weights(ours, fmt))
        assert same_state(fresh.state_dict(), ours.state_dict())
    assert detect_format(export_weights(ours, "diffusers")) == "diffusers"
    assert detect_format(ldm) == "ldm"


# --------------------------------------------------------------------------------------------------------
# loading the formats real checkpoints come in
# --------------------------------------------------------------------------------------------------------

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


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_files_round_trip(tmp_path, suffix):
    ours = tiny_autoencoder(SMALL_ATTN, seed=8)
    path = save_file(export_weights(ours, "diffusers"), tmp_path / f"vae{suffix}")
    assert os.listdir(tmp_path) == [f"vae{suffix}"]  # the temporary file was renamed, nothing left behind
    fresh = load_weights(AutoencoderKL(SMALL_ATTN), path)
    assert same_state(fresh.state_dict(), ours.state_dict())
    save_file(export_weights(ours, "ldm", prefix="first_stage_model."), path)  # overwrite in place
    assert same_state(load_weights(AutoencoderKL(SMALL_ATTN), str(path)).state_dict(), ours.state_dict())


def test_safetensors_file_equals_diffusers_own_loading(tmp_path):
    """A diffusers checkpoint saved by diffusers' own save_pretrained (safetensors) loads into ours."""
    ref = randomise(DiffusersAutoencoderKL(**diffusers_config(AutoencoderKL(SMALL_SD))), seed=9)
    ref.save_pretrained(tmp_path)
    ours = load_weights(AutoencoderKL(SMALL_SD), tmp_path / "diffusion_pytorch_model.safetensors")
    rebuilt = autoencoder_from_diffusers_config(dict(ref.config))
    load_weights(rebuilt, tmp_path / "diffusion_pytorch_model.safetensors")
    assert same_state(ours.state_dict(), rebuilt.state_dict())
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert (ours.encode(x).moments - ref.encode(x).latent_dist.parameters).abs().max() < 1e-5


def test_model_from_a_diffusers_config_with_intermediate_attention():
    ref = DiffusersAutoencoderKL(**diffusers_config(AutoencoderKL(SMALL_ATTN)))
    ours = autoencoder_from_diffusers_config(dict(ref.config))
    assert ours.ddconfig["attn_resolutions"] == [16] and ours.ddconfig["ch_mult"] == (1, 2, 2)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    load_weights(ours, ref.state_dict())


@pytest.mark.parametrize("change,match", [
    ({"act_fn": "relu"}, "act_fn"),
    ({"norm_num_groups": 16}, "norm_num_groups"),
    ({"up_block_types": ("UpDecoderBlock2D",) * 3}, "same resolutions"),
    ({"down_block_types": ("DownBlock2D",) * 3}, "no LDM equivalent"),
    ({"block_out_channels": (32, 48, 64)}, "multiples of the first"),
    ({"use_quant_conv": False}, "use_quant_conv"),
])
def test_configs_ldm_cannot_express(change, match):
    config = {**diffusers_config(AutoencoderKL(SMALL_ATTN)), **change}
    with pytest.raises(ValueError, match=match):
        autoencoder_from_diffusers_config(config)


# --------------------------------------------------------------------------------------------------------
# clear errors
# --------------------------------------------------------------------------------------------------------

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


def test_corrupt_and_wrong_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"this is not a safetensors file")
    with pytest.raises(WeightsError, match="could not read weights from bad.safetensors"):
        load_file(bad)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(WeightsError, match="holds a list, not a state dict"):
        load_file(tmp_path / "list.pt")
    with pytest.raises(FileNotFoundError):
        load_file(tmp_path / "missing.safetensors")


def test_what_diffusers_cannot_express_is_refused():
    with torch.device("meta"):
        linear = AutoencoderKL(dict(SMALL_SD, attn_type="linear"))
        pooled = Encoder(**SMALL_SD, resamp_with_conv=False)
        embed = AutoencoderKL(SMALL_SD, embed_dim=3)
        first_mult = Encoder(**dict(SMALL_SD, ch_mult=(2, 2)))
    with pytest.raises(WeightsError, match="linear"):
        export_weights(linear, "diffusers")
    with pytest.raises(WeightsError, match="linear-attention block"):
        ldm_to_diffusers(linear.state_dict())
    with pytest.raises(WeightsError, match="resamp_with_conv=False"):
        diffusers_config(pooled)
    with pytest.raises(WeightsError, match="embed_dim == z_channels"):
        export_weights(embed, "diffusers")
    with pytest.raises(WeightsError, match=r"ch_mult\[0\] = 2"):
        diffusers_config(first_mult)
    # but LDM's own format holds all of them
    assert "encoder.mid.attn_1.to_qkv.weight" in export_weights(linear, "ldm")


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
