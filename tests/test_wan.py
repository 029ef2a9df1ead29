"""Wan 2.1's encoder (encoderlab.wan) against diffusers' AutoencoderKLWan, and its exact streaming."""

import math

import pytest
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLWan
from diffusers.models.autoencoders.autoencoder_kl_wan import WanRMS_norm
from hypothesis import given, settings
from hypothesis import strategies as st

from encoderlab.causal import CausalConv3d
from encoderlab.video_weights import load_wan_encoder
from encoderlab.wan import WAN21_CONFIG, ChannelRMSNorm, WanEncoder, WanTimeDownsample
from encoderlab.wan_measure import compare_chunk_plans, diffusers_wan_encode, gif_clip

TINY = {"base_dim": 8, "z_dim": 4}


def _randomized(vae: AutoencoderKLWan) -> AutoencoderKLWan:
    """Random norm scales and biases too, so that a mix-up of any two weights shows."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("gamma"):
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return vae.eval()


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    vae = _randomized(AutoencoderKLWan(**TINY))
    ours = WanEncoder(base_dim=8, z_channels=4).eval()
    load_wan_encoder(ours, vae.state_dict())
    return vae, ours


@pytest.mark.parametrize("frames", [1, 5, 9, 17])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_posterior_equals_diffusers(pair, frames, dtype):
    vae, ours = pair
    vae, ours = vae.to(dtype), ours.to(dtype)
    x = torch.rand(2, 3, frames, 16, 24, generator=torch.Generator().manual_seed(frames), dtype=dtype) * 2 - 1
    with torch.no_grad():
        ref = vae.encode(x).latent_dist
        post = ours.encode(x)
    assert post.mean.shape == ref.mean.shape == (2, 4, 1 + (frames - 1) // 4, 2, 3)
    for a, b in ((post.mean, ref.mean), (post.logvar, ref.logvar)):
        if dtype == torch.float64:
            assert (a - b).abs().max() < 1e-10
        else:
            assert ((a - b).abs().max() / b.abs().max()) < 1e-4
    vae.float(), ours.float()


def test_channel_rms_norm_equals_diffusers():
    x = torch.randn(2, 6, 3, 4, 5, dtype=torch.float64)
    ref = WanRMS_norm(6, images=False).double()
    ours = ChannelRMSNorm(6).double()
    with torch.no_grad():
        ref.gamma.copy_(torch.rand(6, 1, 1, 1) + 0.5)
        ours.weight.copy_(ref.gamma.flatten())
    assert torch.allclose(ours(x), ref(x), rtol=0, atol=1e-14)
    # the definition: RMS over the channels is 1 before the scale
    plain = ChannelRMSNorm(6).double()(x)
    assert torch.allclose(plain.pow(2).mean(dim=1), torch.ones(2, 3, 4, 5, dtype=torch.float64))


def test_channel_rms_norm_is_per_position():
    """Changing one frame changes that frame's output only (GroupNorm over frames would change all)."""
    norm = ChannelRMSNorm(4)
    x = torch.randn(1, 4, 5, 3, 3)
    y = x.clone()
    y[:, :, 3] += 10
    changed = (norm(x) - norm(y)).abs().amax(dim=(0, 1, 3, 4))
    assert changed[:3].max() == 0 and changed[4] == 0 and changed[3] > 0


def test_time_downsample_frame_zero_passes():
    layer = WanTimeDownsample(3)
    x = torch.randn(1, 3, 7, 2, 2)
    out = layer(x)
    assert out.shape[2] == 4
    assert torch.equal(out[:, :, 0], x[:, :, 0])
    window = F.conv3d(x[:, :, 2:5], layer.conv.weight, layer.conv.bias)  # output 2: frames 2, 3, 4
    assert torch.allclose(out[:, :, 2:3], window, atol=1e-6)


def test_default_config_parameter_count():
    with torch.device("meta"):
        vae = AutoencoderKLWan()
        ours = WanEncoder(**{k: v for k, v in WAN21_CONFIG.items()})
    theirs = sum(p.numel() for p in vae.encoder.parameters()) + sum(p.numel() for p in vae.quant_conv.parameters())
    assert sum(p.numel() for p in ours.parameters()) == theirs == 53_596_928


def test_shapes_and_factors():
    model = WanEncoder(base_dim=4, z_channels=2).eval()
    assert (model.temporal_factor, model.spatial_factor) == (4, 8)
    assert [model.output_frames(t) for t in (1, 4, 5, 9, 17, 33)] == [1, 1, 2, 3, 5, 9]
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 6, 8, 17)).shape == (1, 4, 2, 1, 2)


@settings(max_examples=12, deadline=None)
@given(frames=st.sampled_from([17, 33]), data=st.data())
def test_streaming_any_plan_equals_whole_clip(frames, data):
    model = WanEncoder(base_dim=4, z_channels=2).eval()
    plan, left = [], frames
    while left:
        plan.append(data.draw(st.integers(1, left)))
        left -= plan[-1]
    x = torch.randn(1, 3, frames, 8, 16, generator=torch.Generator().manual_seed(frames))
    with torch.no_grad():
        whole = model(x)
    stream = model.encode_stream(x, plan)
    assert stream.shape == whole.shape
    assert (stream - whole).abs().max() < 1e-5


def test_causality_future_frames_do_not_move_the_past():
    model = WanEncoder(base_dim=4, z_channels=2).eval()
    x = torch.randn(1, 3, 17, 8, 8)
    y = x.clone()
    y[:, :, 9:] = torch.randn(1, 3, 8, 8, 8)
    with torch.no_grad():
        a, b = model(x), model(y)
    # latent j sees frames <= 4j: frames >= 9 first reach latent 3
    assert torch.equal(a[:, :, :3], b[:, :, :3]) and not torch.equal(a[:, :, 3], b[:, :, 3])


def test_diffusers_fixed_plan_breaks_where_ours_does_not(pair):
    vae, ours = pair
    x = torch.randn(1, 3, 17, 16, 16, generator=torch.Generator().manual_seed(3))
    rows = {tuple(r["plan"]): r for r in compare_chunk_plans(ours, vae, x, [
        [1, 4, 4, 4, 4], [1, 8, 8], [17], [5, 4, 4, 4], [1, 6, 6, 4], [1, 2, 2, 4, 4, 4], [1] * 17])}
    for row in rows.values():
        assert row["ours_frames"] == 5 and row["ours_diff"] < 1e-5
    assert rows[(1, 4, 4, 4, 4)]["diffusers_diff"] < 1e-5 and rows[(1, 8, 8)]["diffusers_diff"] < 1e-5
    assert rows[(17,)]["diffusers_frames"] == 17  # first chunk: every time conv skipped
    assert rows[(5, 4, 4, 4)]["diffusers_frames"] == 8
    assert rows[(1, 6, 6, 4)]["diffusers_frames"] == 4  # 3 frames reach the second time conv: one window lost
    assert rows[(1, 2, 2, 4, 4, 4)]["diffusers_error"].startswith("RuntimeError")
    assert rows[(1,) * 17]["diffusers_error"].startswith("RuntimeError")
    # diffusers' encode drops frames beyond 1 + 4k; they reach no latent of ours either
    y = torch.randn(1, 3, 19, 16, 16)
    with torch.no_grad():
        assert torch.allclose(diffusers_wan_encode(vae, y), ours(y), atol=1e-5)


def test_gif_clip():
    clip = gif_clip()
    assert clip.shape == (1, 3, 24, 25, 14) and clip.dtype == torch.float32
    assert -1 <= clip.min() < clip.max() <= 1
    small = gif_clip(frames=9, size=(16, 8))
    assert small.shape == (1, 3, 9, 16, 8)


def test_validation():
    model = WanEncoder(base_dim=4, z_channels=2)
    with pytest.raises(TypeError, match="dtype torch.float64"):
        model(torch.zeros(1, 3, 1, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="at least 8"):
        model(torch.zeros(1, 3, 1, 8, 4))
    with pytest.raises(ValueError, match="3 channels|channels"):
        model(torch.zeros(1, 4, 1, 8, 8))
    with pytest.raises(ValueError, match="temporal_downsample must have one entry"):
        WanEncoder(temporal_downsample=(True,))
    with pytest.raises(TypeError, match="entries of temporal_downsample"):
        WanEncoder(temporal_downsample=(1, 0, 0))
    with pytest.raises(RuntimeError, match="eval mode"):
        model.encode_stream(torch.zeros(1, 3, 1, 8, 8), [1])
    assert math.isclose(ChannelRMSNorm(9).scale, 3.0)
    assert isinstance(model.conv_in, CausalConv3d)
