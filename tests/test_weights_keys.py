"""The key table of the latent-diffusion autoencoder: LDM <-> diffusers <-> encoderlab names.

The mapping is checked against diffusers' own converter (``convert_ldm_vae_checkpoint``) and against diffusers
models built locally (on the meta device, or with random weights); nothing is downloaded.
"""


import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from weights_helpers import SD, SMALL_ATTN, SMALL_SD, same_state, tiny_autoencoder

from encoderlab.ldm import AutoencoderKL
from encoderlab.weights import (
    detect_format,
    diffusers_config,
    diffusers_to_ldm,
    export_weights,
    ldm_to_diffusers,
    load_weights,
)
from encoderlab.weights.keys import DIFFUSERS, KEY_TEMPLATES, LDM, translate_key

diffusers = pytest.importorskip("diffusers")
from diffusers import AutoencoderKL as DiffusersAutoencoderKL  # noqa: E402
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint  # noqa: E402


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


def test_one_table_read_both_ways():
    """Every row of the table translates there and back; the decoder's level order is reversed; old diffusers
    attention names are read but never written."""
    examples = {
        "decoder.up.0.block.1.nin_shortcut.weight": "decoder.up_blocks.3.resnets.1.conv_shortcut.weight",
        "decoder.up.3.upsample.conv.bias": "decoder.up_blocks.0.upsamplers.0.conv.bias",
        "encoder.mid.block_2.norm1.weight": "encoder.mid_block.resnets.1.norm1.weight",
        "decoder.mid.attn_1.proj_out.bias": "decoder.mid_block.attentions.0.to_out.0.bias",
        "encoder.down.2.attn.0.norm.weight": "encoder.down_blocks.2.attentions.0.group_norm.weight",
        "encoder.norm_out.bias": "encoder.conv_norm_out.bias",
        "post_quant_conv.weight": "post_quant_conv.weight",
    }
    for ldm, theirs in examples.items():
        assert translate_key(ldm, LDM, 4) == theirs and translate_key(theirs, DIFFUSERS, 4) == ldm
    assert translate_key("encoder.mid_block.attentions.0.proj_attn.weight", DIFFUSERS, 4) == \
        "encoder.mid.attn_1.proj_out.weight"
    assert translate_key("encoder.mid.attn_1.proj_attn.weight", LDM, 4) is None  # never written
    assert translate_key("encoder.down.0.block.0.conv_shortcut.weight", LDM, 4) is None  # diffusers' name
    assert len(KEY_TEMPLATES) == 13
