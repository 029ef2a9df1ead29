"""Loading the encoder part of Wan 2.1 (diffusers) and Pyramid Flow checkpoints, from files made here."""

import json

import pytest
import torch
from diffusers import AutoencoderKLWan
from safetensors.torch import save_file

from encoderlab.video import CausalVideoEncoder
from encoderlab.video_weights import (
    load_pyramid_encoder,
    load_wan_encoder,
    pyramid_encoder_from_config,
    pyramid_to_original,
    wan_encoder_from_config,
    wan_to_diffusers,
)
from encoderlab.weights import WeightsError


@pytest.fixture(scope="module")
def wan_vae():
    torch.manual_seed(0)
    return AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 2, 2], temperal_downsample=[True, False]).eval()


def test_wan_round_trip_through_files(wan_vae, tmp_path):
    """config.json + safetensors as diffusers writes them -> our encoder -> the same posterior."""
    wan_vae.save_pretrained(tmp_path, safe_serialization=True)
    model = wan_encoder_from_config(tmp_path / "config.json").eval()
    load_wan_encoder(model, tmp_path / "diffusion_pytorch_model.safetensors")
    x = torch.randn(2, 3, 5, 8, 12)
    with torch.no_grad():
        assert torch.allclose(model(x), wan_vae.encode(x).latent_dist.parameters, atol=1e-5)
    # and back: our export is the encoder part of diffusers' state dict, name for name and value for value
    exported = wan_to_diffusers(model)
    theirs = wan_vae.state_dict()
    assert set(exported) == {k for k in theirs if k.startswith(("encoder.", "quant_conv."))}
    assert all(torch.equal(v, theirs[k]) for k, v in exported.items())


def test_wan_errors_list_unknown_missing_and_misshaped(wan_vae):
    model = wan_encoder_from_config(dict(wan_vae.config))
    state = dict(wan_vae.state_dict())
    state["encoder.extra.weight"] = torch.zeros(1)
    del state["encoder.conv_in.bias"]
    state["encoder.norm_out.gamma"] = torch.ones(3, 1, 1, 1)
    with pytest.raises(WeightsError) as err:
        load_wan_encoder(model, state)
    text = str(err.value)
    assert "1 unknown key(s): encoder.extra.weight" in text
    assert "1 missing key(s): encoder.conv_in.bias" in text
    assert "encoder.norm_out.gamma: (3, 1, 1, 1) in the weights, (16, 1, 1, 1) in the model" in text


def test_wan_config_refuses_what_is_not_wan21():
    with pytest.raises(WeightsError, match="is_residual"):
        wan_encoder_from_config({"is_residual": True, "patch_size": 2})
    with pytest.raises(ValueError, match="unknown AutoencoderKLWan config key"):
        wan_encoder_from_config({"base_dimm": 96})
    with pytest.raises(TypeError, match="must be a WanEncoder"):
        load_wan_encoder(torch.nn.Linear(1, 1), {})


PYRAMID_CONFIG = {
    "_class_name": "CausalVideoVAE", "encoder_in_channels": 3, "encoder_out_channels": 4,
    "encoder_layers_per_block": [1, 1, 1], "encoder_down_block_types": ["DownEncoderBlockCausal3D"] * 3,
    "encoder_block_out_channels": [8, 16, 16], "encoder_spatial_down_sample": [True, True, False],
    "encoder_temporal_down_sample": [True, True, False], "encoder_block_dropout": [0.0, 0.0, 0.0],
    "encoder_act_fn": "silu", "encoder_norm_num_groups": 4, "encoder_double_z": True,
    "encoder_type": "causal_vae_conv", "decoder_in_channels": 4, "sample_size": 256, "downsample_scale": 8,
}


def _pyramid_names_by_hand(blocks: int) -> set[str]:
    """The encoder keys of a Pyramid Flow checkpoint with 1 resnet per block, written out from its code."""
    def conv(p):  # Pyramid's CausalConv3d holds an nn.Conv3d named conv
        return {f"{p}.conv.weight", f"{p}.conv.bias"}

    def norm(p):
        return {f"{p}.weight", f"{p}.bias"}

    def resnet(p, short):
        keys = norm(f"{p}.norm1") | conv(f"{p}.conv1") | norm(f"{p}.norm2") | conv(f"{p}.conv2")
        return keys | (conv(f"{p}.conv_shortcut") if short else set())

    keys = conv("encoder.conv_in") | conv("encoder.conv_out") | norm("encoder.conv_norm_out") | conv("quant_conv")
    for i in range(blocks):
        keys |= resnet(f"encoder.down_blocks.{i}.resnets.0", short=i == 1)
        if i < blocks - 1:
            keys |= conv(f"encoder.down_blocks.{i}.downsamplers.0.conv")
            keys |= conv(f"encoder.down_blocks.{i}.temporal_downsamplers.0.conv")
    keys |= resnet("encoder.mid_block.resnets.0", False) | resnet("encoder.mid_block.resnets.1", False)
    attn = "encoder.mid_block.attentions.0"
    keys |= norm(f"{attn}.group_norm") | {f"{attn}.{p}.{w}" for p in ("to_q", "to_k", "to_v", "to_out.0")
                                           for w in ("weight", "bias")}
    return keys


def test_pyramid_round_trip_through_files(tmp_path):
    source = pyramid_encoder_from_config(PYRAMID_CONFIG).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_(0, 0.2)
    state = pyramid_to_original(source)
    assert set(state) == _pyramid_names_by_hand(3)
    assert state["encoder.mid_block.attentions.0.to_q.weight"].shape == (16, 16)  # Linear, not 1x1 conv
    state["decoder.conv_in.conv.weight"] = torch.zeros(1)  # a full checkpoint also holds the decoder
    save_file(state, tmp_path / "diffusion_pytorch_model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps(PYRAMID_CONFIG))

    model = pyramid_encoder_from_config(tmp_path / "config.json").eval()
    assert isinstance(model, CausalVideoEncoder) and model.z_channels == 4 and model.temporal_factor == 4
    load_pyramid_encoder(model, tmp_path / "diffusion_pytorch_model.safetensors")
    x = torch.randn(1, 3, 5, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), source(x))


def test_pyramid_errors_list_unknown_missing_and_misshaped():
    model = pyramid_encoder_from_config(PYRAMID_CONFIG)
    state = pyramid_to_original(model)
    state["encoder.mid_block.attentions.0.to_q.weight"] = torch.zeros(16, 16, 1, 1)
    del state["encoder.down_blocks.0.temporal_downsamplers.0.conv.conv.weight"]
    state["encoder.mid_block.attention.0.to_k.weight"] = torch.zeros(16, 16)
    with pytest.raises(WeightsError) as err:
        load_pyramid_encoder(model, state)
    text = str(err.value)
    assert "the Pyramid Flow CausalVideoVAE weights do not fit this CausalVideoEncoder" in text
    assert "1 unknown key(s): encoder.mid_block.attention.0.to_k.weight" in text
    assert "1 missing key(s): encoder.down_blocks.0.temporal_downsamplers.0.conv.conv.weight" in text
    assert "to_q.weight: (16, 16, 1, 1) in the weights, (16, 16) in the model" in text


def test_pyramid_config_checks():
    with pytest.raises(ValueError, match="unknown CausalVideoVAE config key"):
        pyramid_encoder_from_config({**PYRAMID_CONFIG, "encoder_typo": 1})
    with pytest.raises(WeightsError, match="encoder_act_fn"):
        pyramid_encoder_from_config({**PYRAMID_CONFIG, "encoder_act_fn": "gelu"})
    with pytest.raises(WeightsError, match="one dropout"):
        pyramid_encoder_from_config({**PYRAMID_CONFIG, "encoder_block_dropout": [0.0, 0.1, 0.0]})
    with pytest.raises(WeightsError, match="per_frame_norm=True"):
        load_pyramid_encoder(CausalVideoEncoder(block_out_channels=(8, 8), num_groups=4, per_frame_norm=False), {})
