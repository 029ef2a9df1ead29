"""The seed-003 VAE: published parameter counts and shapes, the seed's block semantics (checked against a
functional re-implementation written from the seed text with torch.nn.functional), and argument checks."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from encoderlab import DiagonalGaussian, MidBlock, count_parameters
from encoderlab.vae import SEED003_CONFIG, VAE, DownBlock, UpBlock, vae_config

TINY = dict(im_channels=1, z_channels=2, down_channels=(8, 16, 16), mid_channels=(16, 16), down_sample=(True, True),
            num_down_layers=2, num_mid_layers=1, num_up_layers=2, norm_channels=4, num_heads=2)


# ---------------------------------------------------------------------------------------------- published numbers
def test_seed_config_parameter_counts_and_shapes():
    """21,970,983 parameters (encoder + pre_quant_conv 11,851,344; encoder MidBlock 4,268,288; post_quant_conv +
    decoder 10,119,639), and (1, 3, 256, 256) -> moments (1, 8, 32, 32), z (1, 4, 32, 32), measured on upstream."""
    with torch.device("meta"):
        vae = VAE()
        x = torch.empty(1, 3, 256, 256)
        z, moments = vae.encode(x)
        out = vae.decode(z)
        recon, moments2 = vae(x)
    assert count_parameters(vae) == 21_970_983
    assert sum(count_parameters(m) for m in vae.encoder_modules()) == 11_851_344
    assert sum(count_parameters(m) for m in vae.decoder_modules()) == 10_119_639
    assert count_parameters(vae.encoder_mids_0) == 4_268_288
    assert tuple(moments.shape) == (1, 8, 32, 32) and tuple(moments2.shape) == (1, 8, 32, 32)
    assert tuple(z.shape) == (1, 4, 32, 32)
    assert tuple(out.shape) == tuple(recon.shape) == (1, 3, 256, 256)
    assert vae.latent_shape(256) == (4, 32, 32)
    assert vae.config == {k: (list(v) if isinstance(v, tuple) else v) for k, v in SEED003_CONFIG.items()}


def test_seed_names_and_module_order():
    """The seed's attribute names, in the seed's order (encoder) and the upstream decoder's order."""
    with torch.device("meta"):
        vae = VAE()
    names = [name for name, _ in vae.named_children()]
    assert names == ["encoder_conv_in", "encoder_layers_0", "encoder_layers_1", "encoder_layers_2", "encoder_mids_0",
                     "encoder_norm_out", "encoder_conv_out", "pre_quant_conv", "post_quant_conv", "decoder_conv_in",
                     "decoder_mids_0", "decoder_layers_0", "decoder_layers_1", "decoder_layers_2",
                     "decoder_norm_out", "decoder_conv_out"]
    assert isinstance(vae.encoder_mids_0, MidBlock) and isinstance(vae.decoder_mids_0, MidBlock)
    down = vae.encoder_layers_0
    assert [n for n, _ in down.named_children()] == ["resnet_conv_first", "resnet_conv_second",
                                                     "residual_input_conv", "down_sample_conv"]
    assert (down.down_sample_conv.kernel_size, down.down_sample_conv.stride, down.down_sample_conv.padding) == (
        (4, 4), (2, 2), (1, 1))
    up = vae.decoder_layers_0
    assert isinstance(up.up_sample_conv, torch.nn.ConvTranspose2d)
    assert (up.up_sample_conv.in_channels, up.up_sample_conv.out_channels) == (256, 256)
    assert [(u.in_channels, u.resnet_conv_first[0][2].out_channels) for u in
            (vae.decoder_layers_0, vae.decoder_layers_1, vae.decoder_layers_2)] == [(256, 256), (256, 128), (128, 64)]
    assert vae.encoder_conv_out.out_channels == 8 and vae.pre_quant_conv.kernel_size == (1, 1)


def test_seed_downblock_example_shapes():
    """The seed's table: DownBlock(64 -> 128, down_sample) maps (B, 64, 256, 256) to (B, 128, 128, 128)."""
    with torch.device("meta"):
        block = DownBlock(in_channels=64, out_channels=128, down_sample=True, num_layers=2, norm_channels=32)
        out = block(torch.empty(2, 64, 256, 256))
        same = DownBlock(64, 128, False, 2, 32)(torch.empty(2, 64, 16, 16))
    assert tuple(out.shape) == (2, 128, 128, 128)
    assert tuple(same.shape) == (2, 128, 16, 16)


def test_block_parameter_formula():
    """ResBlock(cin, cout) = GN(cin) + conv3(cin, cout) + GN(cout) + conv3(cout, cout) + 1x1 skip (always)."""
    def res(cin, cout):
        return 2 * cin + 9 * cin * cout + cout + 2 * cout + 9 * cout * cout + cout + cin * cout + cout

    assert count_parameters(DownBlock(64, 128, True, 2, 32)) == res(64, 128) + res(128, 128) + 16 * 128 * 128 + 128
    assert count_parameters(UpBlock(256, 128, True, 2, 32)) == 16 * 256 * 256 + 256 + res(256, 128) + res(128, 128)


# ---------------------------------------------------------------------------------------------- semantics (oracle)
def _ref_resnets(x, sd, num_layers, groups):
    """The seed's residual loop, written with torch.nn.functional from the seed text (GroupNorm eps 1e-5)."""
    out = x
    for i in range(num_layers):
        h = F.group_norm(out, groups, sd[f"resnet_conv_first.{i}.0.weight"], sd[f"resnet_conv_first.{i}.0.bias"])
        h = F.conv2d(F.silu(h), sd[f"resnet_conv_first.{i}.2.weight"], sd[f"resnet_conv_first.{i}.2.bias"], padding=1)
        h = F.group_norm(h, groups, sd[f"resnet_conv_second.{i}.0.weight"], sd[f"resnet_conv_second.{i}.0.bias"])
        h = F.conv2d(F.silu(h), sd[f"resnet_conv_second.{i}.2.weight"], sd[f"resnet_conv_second.{i}.2.bias"], padding=1)
        out = h + F.conv2d(out, sd[f"residual_input_conv.{i}.weight"], sd[f"residual_input_conv.{i}.bias"])
    return out


def _randomise(module, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)


def test_downblock_matches_functional_seed_code():
    block = DownBlock(8, 16, True, 2, 4)
    _randomise(block, 0)
    sd = block.state_dict()
    x = torch.randn(2, 8, 10, 12)
    want = F.conv2d(_ref_resnets(x, sd, 2, 4), sd["down_sample_conv.weight"], sd["down_sample_conv.bias"],
                    stride=2, padding=1)
    assert (block(x) - want).abs().max() < 1e-5
    assert tuple(want.shape) == (2, 16, 5, 6)


def test_upblock_upsamples_first_then_resnets():
    block = UpBlock(16, 8, True, 2, 4)
    _randomise(block, 1)
    sd = block.state_dict()
    x = torch.randn(2, 16, 5, 6)
    up = F.conv_transpose2d(x, sd["up_sample_conv.weight"], sd["up_sample_conv.bias"], stride=2, padding=1)
    want = _ref_resnets(up, sd, 2, 4)
    assert (block(x) - want).abs().max() < 1e-5
    assert tuple(want.shape) == (2, 8, 10, 12)
    flat = UpBlock(16, 8, False, 1, 4)
    assert tuple(flat(x).shape) == (2, 8, 5, 6)


def test_encode_is_the_seed_formula_and_posterior_agrees():
    torch.manual_seed(0)
    vae = VAE(**TINY)
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        sample, moments = vae.encode(x, generator=torch.Generator().manual_seed(5))
        mean, logvar = torch.chunk(moments, 2, dim=1)
        eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(5))
        assert torch.allclose(sample, mean + torch.exp(0.5 * logvar) * eps, atol=1e-6)
        post = vae.posterior(x)
        assert isinstance(post, DiagonalGaussian)
        assert torch.equal(post.mean, mean) and torch.equal(post.moments, moments)
        assert torch.equal(vae.reconstruct(x), vae.decode(mean))
        recon, moments_f = vae(x, generator=torch.Generator().manual_seed(5))
        assert torch.equal(moments_f, moments) and torch.allclose(recon, vae.decode(sample), atol=1e-6)
        assert tuple(vae.sample_prior(4, 8, generator=torch.Generator().manual_seed(1)).shape) == (4, 1, 8, 8)


def test_reparameterization_gradients_reach_the_encoder():
    torch.manual_seed(0)
    vae = VAE(**TINY)
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    recon, _ = vae(x)
    recon.pow(2).sum().backward()
    assert vae.encoder_conv_in.weight.grad.abs().sum() > 0
    assert vae.pre_quant_conv.weight.grad.abs().sum() > 0


@settings(max_examples=12, deadline=None)
@given(levels=st.integers(1, 3), flags=st.lists(st.booleans(), min_size=3, max_size=3),
       z=st.integers(1, 3), im=st.sampled_from([1, 3]), mids=st.integers(1, 2), size_mult=st.integers(1, 2))
def test_shapes_for_any_configuration(levels, flags, z, im, mids, size_mult):
    down_sample = tuple(flags[:levels])
    f = 2 ** sum(down_sample)
    vae = VAE(im_channels=im, z_channels=z, down_channels=(4,) * (levels + 1), mid_channels=(4,) * mids,
              down_sample=down_sample, num_down_layers=1, num_mid_layers=1, num_up_layers=1, norm_channels=2,
              num_heads=2)
    h, w = f * size_mult, 2 * f
    with torch.no_grad():
        sample, moments = vae.encode(torch.randn(2, im, h, w))
        out = vae.decode(sample)
    assert tuple(moments.shape) == (2, 2 * z, h // f, w // f)
    assert tuple(sample.shape) == (2, z, h // f, w // f) == (2, *vae.latent_shape(h, w))
    assert tuple(out.shape) == (2, im, h, w)


# ---------------------------------------------------------------------------------------------- argument checks
@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(norm_channels=3), ValueError, "divisible by norm_channels"),
        (dict(down_sample=(True, True)), ValueError, "one entry per DownBlock"),
        (dict(mid_channels=(128, 256)), ValueError, "mid_channels must start and end"),
        (dict(num_heads=3), ValueError, "num_heads"),
        (dict(down_channels=(64,)), ValueError, "at least 2"),
        (dict(down_sample=(True, 1, True)), TypeError, "down_sample\\[1\\]"),
        (dict(z_channels=0), ValueError, "z_channels"),
        (dict(down_channels="64"), TypeError, "sequence of ints"),
    ],
)
def test_bad_configs_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match), torch.device("meta"):
        VAE(**kwargs)


def test_bad_inputs_are_rejected_before_computing():
    vae = VAE(**TINY)
    with pytest.raises(ValueError, match=r"spatial size \(6, 8\); the downsampling factor .* is 4, so each must be a positive multiple of 4"):
        vae.encode(torch.randn(1, 1, 6, 8))
    with pytest.raises(ValueError, match="channels"):
        vae.encode(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="4-D"):
        vae.decode(torch.randn(2, 4, 4))
    with pytest.raises(ValueError, match=r"spatial size \(5, 4\); the stride-2 down_sample_conv halves it.*multiple of 2"):
        DownBlock(4, 4, True, 1, 2)(torch.randn(1, 4, 5, 4))
    with pytest.raises(TypeError, match="down_sample must be a bool"):
        DownBlock(4, 4, 1, 1, 2)
    with pytest.raises(ValueError, match="unknown VAE config keys"):
        vae_config(channels=3)
    assert VAE.from_config(vae.config).config == vae.config
