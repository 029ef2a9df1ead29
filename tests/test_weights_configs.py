"""diffusers configs: the diffusers model equal to ours, ours from a diffusers config, and what neither side
can express."""


import pytest
import torch
from weights_helpers import SMALL_ATTN, SMALL_SD

from encoderlab.ldm import AutoencoderKL, Encoder
from encoderlab.weights import (
    WeightsError,
    autoencoder_from_diffusers_config,
    diffusers_config,
    export_weights,
    ldm_to_diffusers,
    load_weights,
)

diffusers = pytest.importorskip("diffusers")
from diffusers import AutoencoderKL as DiffusersAutoencoderKL  # noqa: E402


def test_model_from_a_diffusers_config_with_intermediate_attention():
    ref = DiffusersAutoencoderKL(**diffusers_config(AutoencoderKL(SMALL_ATTN)))
    ours = autoencoder_from_diffusers_config(dict(ref.config))
    assert ours.ddconfig["attn_resolutions"] == [16] and ours.ddconfig["ch_mult"] == (1, 2, 2)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    load_weights(ours, ref.state_dict())


def test_norm_num_groups_travels_both_ways():
    ours = AutoencoderKL(dict(SMALL_ATTN, norm_num_groups=8))
    config = diffusers_config(ours)
    assert config["norm_num_groups"] == 8
    back = autoencoder_from_diffusers_config(dict(DiffusersAutoencoderKL(**config).config))
    assert back.encoder.norm_out.num_groups == back.decoder.mid.attn_1.norm.num_groups == 8
    assert back.ddconfig["norm_num_groups"] == 8


@pytest.mark.parametrize("change,match", [
    ({"act_fn": "relu"}, "act_fn"),
    ({"norm_num_groups": 5}, "norm_num_groups=5"),
    ({"up_block_types": ("UpDecoderBlock2D",) * 3}, "same resolutions"),
    ({"down_block_types": ("DownBlock2D",) * 3}, "no LDM equivalent"),
    ({"block_out_channels": (32, 48, 64)}, "multiples of the first"),
    ({"use_quant_conv": False}, "use_quant_conv"),
])
def test_configs_ldm_cannot_express(change, match):
    config = {**diffusers_config(AutoencoderKL(SMALL_ATTN)), **change}
    with pytest.raises(ValueError, match=match):
        autoencoder_from_diffusers_config(config)


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
