"""The latent-diffusion autoencoder (seed 001) against its oracles.

- shapes and parameter counts: the seed's examples and the counts measured with CompVis LDM and diffusers
  (``shared/reference/ldm_vae_convnext.md`` §1.3 and §4);
- outputs: diffusers' ``AutoencoderKL`` / ``Encoder`` / ``Decoder`` built locally with random weights
  (nothing is downloaded), with our weights transplanted through :mod:`encoderlab.weights`.
Full-size models are only built on the meta device.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from encoderlab import AttnBlock, GroupNorm, LinAttnBlock, ResnetBlock, count_parameters
from encoderlab.ldm import AutoencoderKL, Decoder, Encoder
from encoderlab.weights import diffusers_config, export_weights

diffusers = pytest.importorskip("diffusers")
from diffusers import AutoencoderKL as DiffusersAutoencoderKL  # noqa: E402
from diffusers.models.autoencoders.vae import Decoder as DiffusersDecoder  # noqa: E402
from diffusers.models.autoencoders.vae import Encoder as DiffusersEncoder  # noqa: E402

SEED = dict(ch=64, out_ch=3, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, attn_resolutions=[16], in_channels=3,
            resolution=128, z_channels=16)
SD = dict(ch=128, out_ch=3, ch_mult=(1, 2, 4, 4), num_res_blocks=2, attn_resolutions=[], in_channels=3,
          resolution=256, z_channels=4, double_z=True, dropout=0.0)
SMALL_SD = dict(SD, ch=32, resolution=32)  # the SD structure at a quarter of the width
SMALL_ATTN = dict(ch=32, out_ch=3, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=[16], in_channels=3,
                  resolution=32, z_channels=4)


def randomise(module, seed=0):
    """Fresh random weights: PyTorch's default init for the convolutions, random GroupNorm scales and shifts
    and random biases, so that every parameter matters in a comparison and activations stay of order one."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() > 1:  # conv kernels: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), as torch initialises them
                bound = 1.0 / (p[0].numel() ** 0.5)
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
            elif "norm" in name.split(".")[-2] and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return module.eval()


def max_diff(a, b):
    return (a - b).abs().max().item()


# --------------------------------------------------------------------------------------------------------
# the seed's examples, shapes and counts
# --------------------------------------------------------------------------------------------------------

def test_seed_examples_print_the_seed_shapes():
    with torch.device("meta"):
        encoder, decoder = Encoder(**SEED), Decoder(**SEED)
        assert encoder(torch.randn(1, 3, 128, 128)).shape == torch.Size([1, 16, 8, 8])
        assert decoder(torch.randn(1, 16, 8, 8)).shape == torch.Size([1, 3, 128, 128])
        assert Encoder(**SEED, double_z=True)(torch.randn(1, 3, 128, 128)).shape == torch.Size([1, 32, 8, 8])


@pytest.mark.parametrize("cls,overrides,count", [
    (Encoder, {}, 6_680_720),
    (Encoder, {"double_z": True}, 6_717_600),
    (Encoder, {"attn_type": "linear"}, 6_678_160),
    (Encoder, {"use_linear_attn": True}, 6_678_160),
    (Encoder, {"attn_type": "none"}, 6_284_432),
    (Encoder, {"attn_resolutions": []}, 6_548_112),
    (Decoder, {}, 9_774_275),
    (Decoder, {"attn_resolutions": []}, 9_575_363),
    (Decoder, {"attn_type": "linear"}, 9_771_075),
    (Decoder, {"attn_type": "none"}, 9_311_683),
])
def test_seed_parameter_counts(cls, overrides, count):
    with torch.device("meta"):
        assert count_parameters(cls(**{**SEED, **overrides})) == count


def test_seed_encoder_levels_follow_ldm():
    with torch.device("meta"):
        enc = Encoder(**SEED)
        h = enc.conv_in(torch.randn(1, 3, 128, 128))
        shapes = []
        for level in enc.down:
            h = level(h)
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(64, 64, 64), (64, 32, 32), (128, 16, 16), (128, 8, 8), (256, 8, 8)]
    assert [len(level.attn) for level in enc.down] == [0, 0, 0, 2, 0]  # level 3 runs at 16x16
    assert not hasattr(enc.down[-1], "downsample")
    assert isinstance(enc.mid.attn_1, AttnBlock)


def test_sd_kl_f8_counts_equal_the_published_and_diffusers_counts():
    with torch.device("meta"):
        ours = AutoencoderKL(SD, embed_dim=4)
        ref = DiffusersAutoencoderKL(**diffusers_config(ours))
    assert count_parameters(ours.encoder) == 34_163_592 == count_parameters(ref.encoder)
    assert count_parameters(ours.decoder) == 49_490_179 == count_parameters(ref.decoder)
    assert count_parameters(ours.quant_conv) == 72 and count_parameters(ours.post_quant_conv) == 20
    assert count_parameters(ours) == 83_653_863 == count_parameters(ref)


def test_decoder_mirrors_the_encoder():
    with torch.device("meta"):
        dec = Decoder(**SEED)
    assert [len(level.block) for level in dec.up] == [3] * 5  # num_res_blocks + 1
    assert [len(level.attn) for level in dec.up] == [0, 0, 0, 3, 0]
    assert hasattr(dec.up[1], "upsample") and not hasattr(dec.up[0], "upsample")
    assert dec.z_shape == (1, 16, 8, 8)


def test_attn_type_none_removes_every_attention_and_linear_uses_linattn():
    with torch.device("meta"):
        none = Encoder(**SEED, attn_type="none")
        linear = Decoder(**SEED, attn_type="linear")
    assert not any(isinstance(m, (AttnBlock, LinAttnBlock)) for m in none.modules())
    assert isinstance(none.mid.attn_1, torch.nn.Identity)
    assert sum(isinstance(m, LinAttnBlock) for m in linear.modules()) == 3 + 1


def test_resamp_without_conv_and_dropout():
    with torch.device("meta"):
        pooled = Encoder(**SEED, resamp_with_conv=False, dropout=0.25)
        plain = Encoder(**SEED)
        assert pooled(torch.randn(1, 3, 128, 128)).shape == (1, 16, 8, 8)
    removed = sum(9 * c * c + c for c in (64, 64, 128, 128))  # four 3x3 resampling convs
    assert count_parameters(plain) - count_parameters(pooled) == removed
    assert {m.p for m in pooled.modules() if isinstance(m, torch.nn.Dropout)} == {0.25}


# --------------------------------------------------------------------------------------------------------
# equal to diffusers
# --------------------------------------------------------------------------------------------------------

def _pair(config, seed=0):
    ours = randomise(AutoencoderKL(config, embed_dim=config["z_channels"]), seed)
    ref = DiffusersAutoencoderKL(**diffusers_config(ours)).eval()
    ref.load_state_dict(export_weights(ours, "diffusers"), strict=True)
    return ours, ref


# float32 bound for DECODED images. The encoder's moments agree to 1e-5 (asserted as such). A random decoder
# amplifies rounding noise ~100-fold (diffusers' own float32 output is ~1e-5 away from its float64 output, and
# a 1e-7 change of z moves it by ~1e-5), so decoded images are held to 5e-5 here, to "no less accurate than
# diffusers" by test_float32_decoder_is_as_accurate_as_diffusers, and to 1e-10 in float64.
DECODED_ATOL = 5e-5


def close32(ours, ref, what):
    torch.testing.assert_close(ours, ref, atol=DECODED_ATOL, rtol=0, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("config", [SMALL_SD, SMALL_ATTN], ids=["sd-structure", "intermediate-attention"])
def test_autoencoder_equals_diffusers_float32(config):
    ours, ref = _pair(config)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        post, ref_post = ours.encode(x), ref.encode(x).latent_dist
        assert max_diff(post.moments, ref_post.parameters) < 1e-5
        assert max_diff(post.std, ref_post.std) < 1e-5
        z = post.mode()
        close32(ours.decode(z), ref.decode(z).sample, "decode")
        rec, _ = ours(x, sample_posterior=False)
        close32(rec, ref(x, sample_posterior=False).sample, "forward")
    assert ref.config.scaling_factor == ours.scaling_factor == 0.18215


@pytest.mark.parametrize("config", [SMALL_SD, SMALL_ATTN], ids=["sd-structure", "intermediate-attention"])
def test_autoencoder_equals_diffusers_float64(config):
    """In float64 the rounding noise vanishes: the two compute the same function to 1e-10."""
    ours, ref = _pair(config)
    ours, ref = ours.double(), ref.double()
    x = torch.randn(1, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert max_diff(ours.encode(x).moments, ref.encode(x).latent_dist.parameters) < 1e-10
        assert max_diff(ours(x, sample_posterior=False)[0], ref(x, sample_posterior=False).sample) < 1e-10


def test_fewer_groupnorm_groups_equal_diffusers_norm_num_groups():
    """``norm_num_groups`` (diffusers' name; LDM fixes 32) reaches every GroupNorm: the ResnetBlocks', the
    attention blocks', ``norm_out``; diffusers built with the same number computes the same function."""
    config = dict(SMALL_ATTN, norm_num_groups=8)
    ours, ref = _pair(config)
    norms = [m for m in ours.modules() if isinstance(m, GroupNorm)]
    assert norms and all(m.num_groups == 8 for m in norms)
    assert ref.config.norm_num_groups == 8
    ours, ref = ours.double(), ref.double()
    x = torch.randn(1, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert max_diff(ours.encode(x).moments, ref.encode(x).latent_dist.parameters) < 1e-10
        assert max_diff(ours(x, sample_posterior=False)[0], ref(x, sample_posterior=False).sample) < 1e-10
    with pytest.raises(ValueError, match="norm_num_groups=12"):
        AutoencoderKL(dict(SMALL_ATTN, norm_num_groups=12))


def test_float32_decoder_is_as_accurate_as_diffusers():
    """Both float32 decoders are compared with the exact (float64) answer: our error is no larger than theirs.

    A random decoder amplifies rounding noise (diffusers' own float32 output is ~1e-5 away from its float64
    output), so this, not a bitwise match, is what "equal in float32" can mean.
    """
    ours, ref = _pair(SMALL_SD)
    z = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        exact = copy.deepcopy(ref).double().decode(z.double()).sample
        ours_err = max_diff(ours.decode(z).double(), exact)
        ref_err = max_diff(ref.decode(z).sample.double(), exact)
    assert ours_err <= 2 * ref_err + 1e-7


def test_encoder_and_decoder_alone_equal_diffusers_on_a_non_square_input():
    config = dict(SMALL_ATTN, double_z=False)
    ours_e, ours_d = randomise(Encoder(**config), 1), randomise(Decoder(**config), 2)
    ref_e = DiffusersEncoder(**diffusers_config(ours_e)).eval()
    ref_d = DiffusersDecoder(**diffusers_config(ours_d)).eval()
    ref_e.load_state_dict(export_weights(ours_e, "diffusers"), strict=True)
    ref_d.load_state_dict(export_weights(ours_d, "diffusers"), strict=True)
    gen = torch.Generator().manual_seed(0)
    x, z = torch.randn(1, 3, 24, 40, generator=gen), torch.randn(2, 4, 5, 3, generator=gen)
    with torch.no_grad():
        assert ours_e(x).shape == (1, 4, 6, 10)
        assert max_diff(ours_e(x), ref_e(x)) < 1e-5
        assert ours_d(z).shape == (2, 3, 20, 12)
        close32(ours_d(z), ref_d(z), "decoder")


def test_attn_type_none_equals_diffusers_without_mid_attention():
    ours, ref = _pair(dict(SMALL_ATTN, attn_type="none"), seed=3)
    assert ref.config.mid_block_add_attention is False
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        close32(ours(x, sample_posterior=False)[0], ref(x).sample, "forward")


def test_give_pre_end_and_tanh_out_against_diffusers():
    config = dict(SMALL_SD, z_channels=3)
    plain = randomise(Decoder(**config), 4)
    ref = DiffusersDecoder(**diffusers_config(plain)).eval()
    ref.load_state_dict(export_weights(plain, "diffusers"), strict=True)
    features = {}
    ref.up_blocks[-1].register_forward_hook(lambda m, i, o: features.setdefault("pre_end", o))
    z = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    pre_end = copy.deepcopy(plain)
    pre_end.give_pre_end = True
    squashed = copy.deepcopy(plain)
    squashed.tanh_out = True
    with torch.no_grad():
        out = ref(z)
        assert pre_end(z).shape == (1, 32, 32, 32)
        close32(pre_end(z), features["pre_end"], "give_pre_end")
        close32(squashed(z), torch.tanh(out), "tanh_out")


@settings(max_examples=8, deadline=None)
@given(levels=st.integers(1, 3), blocks=st.integers(1, 2), attn=st.lists(st.booleans(), min_size=3, max_size=3),
       z=st.integers(1, 4), mult=st.sampled_from([(1, 1, 1), (1, 2, 2), (1, 2, 1)]), batch=st.integers(1, 2),
       hw=st.tuples(st.integers(1, 3), st.integers(1, 3)), seed=st.integers(0, 2**16))
def test_random_configs_equal_diffusers(levels, blocks, attn, z, mult, batch, hw, seed):
    """Any configuration diffusers can express computes the same function (float64: no rounding noise, so
    even degenerate ones, e.g. GroupNorm over 1 channel x 2 x 2 positions, must agree to 1e-9)."""
    resolution = 16
    attn_res = [resolution // 2**i for i in range(levels) if attn[i]]
    config = dict(ch=32, out_ch=2, ch_mult=mult[:levels], num_res_blocks=blocks, attn_resolutions=attn_res,
                  in_channels=3, resolution=resolution, z_channels=z)
    ours, ref = _pair(config, seed=seed)
    ours, ref = ours.double(), ref.double()
    f = 2 ** (levels - 1)
    x = torch.randn(batch, 3, hw[0] * f * 2, hw[1] * f * 2, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        post = ours.encode(x)
        assert post.mean.shape == (batch, z, hw[0] * 2, hw[1] * 2)
        assert max_diff(post.moments, ref.encode(x).latent_dist.parameters) < 1e-9
        assert max_diff(ours.decode(post.mean), ref.decode(post.mean).sample) < 1e-9


# --------------------------------------------------------------------------------------------------------
# the fast inference path
# --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cin,cout", [(32, 32), (32, 64)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_lean_resnet_path_is_bit_identical_to_the_block(cin, cout, channels_last):
    block = randomise(ResnetBlock(cin, cout, eps=1e-6), 5)
    x = torch.randn(2, cin, 9, 7)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    want = block(x).detach()  # with autograd: the plain path
    x_before = x.clone()
    with torch.no_grad():  # without autograd: in-place SiLU and residual addition
        got = block(x)
    assert torch.equal(got, want)
    assert torch.equal(x, x_before)  # the input is never modified in place


def test_lean_inference_is_switched_in_one_place(monkeypatch):
    """ResnetBlock's no-grad path is encoderlab.fast.lean_resnet_forward; lean_inference = False skips it."""
    import encoderlab.resnet

    calls = []
    monkeypatch.setattr(encoderlab.resnet, "lean_resnet_forward", lambda block, x: calls.append(x) or x)
    block = ResnetBlock(32, 32).eval()
    x = torch.randn(1, 32, 4, 4)
    with torch.no_grad():
        block(x)
        assert len(calls) == 1
        block.lean_inference = False
        assert torch.equal(block(x), block.shortcut(x) + block.conv2(F.silu(block.norm2(block.conv1(
            F.silu(block.norm1(x)))))))
    assert len(calls) == 1
    block.lean_inference = True
    block(x).sum()  # with autograd: the plain recipe
    assert len(calls) == 1


def test_channels_last_and_default_layout_agree_and_outputs_are_contiguous():
    ours = randomise(AutoencoderKL(SMALL_ATTN), 6)
    nchw = copy.deepcopy(ours)
    nchw.encoder.cpu_channels_last = nchw.decoder.cpu_channels_last = False
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        a, b = ours.encode(x).moments, nchw.encode(x).moments
        assert a.is_contiguous() and max_diff(a, b) < 1e-5
        rec = ours.decode(a[:, :4])
        # two layouts = two convolution algorithms: the decoder amplifies their rounding (see DECODED_ATOL)
        assert rec.is_contiguous() and max_diff(rec, nchw.decode(b[:, :4])) < DECODED_ATOL


def _activation_layouts(model, x):
    """Run ``model(x)`` with a forward hook on every submodule; return {module path: channels-last?} for every
    4-D activation a submodule returns (the model's own output excluded), and that output."""
    layouts, handles = {}, []
    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(
                lambda m, args, out, name=name: layouts.__setitem__(
                    name, out.is_contiguous(memory_format=torch.channels_last)) if out.dim() == 4 else None))
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return layouts, out


@pytest.mark.parametrize("attn_type,resamp_with_conv", [("vanilla", True), ("linear", False), ("none", True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_activations_stay_channels_last_through_every_level_on_the_cpu(attn_type, resamp_with_conv, dtype):
    """The fast path lives in the weights' layout only: every block (GroupNorm, SiLU, attention, padding,
    resampling) must keep channels-last activations channels-last, or it silently stops working."""
    config = dict(SMALL_ATTN, attn_type=attn_type, resamp_with_conv=resamp_with_conv)
    gen = torch.Generator().manual_seed(3)
    for model, x in ((Encoder(**config), torch.randn(1, 3, 32, 24, generator=gen)),
                     (Decoder(**config), torch.randn(1, 4, 8, 6, generator=gen))):
        model = model.to(dtype).eval()
        x = x.to(dtype)  # a default-layout input: conv_in's channels-last weights switch the layout
        layouts, out = _activation_layouts(model, x)
        assert len(layouts) > 20 and all(layouts.values()), [k for k, v in layouts.items() if not v]
        assert out.is_contiguous()
        model.cpu_channels_last = False  # everything in PyTorch's default layout
        layouts, default_out = _activation_layouts(model, x)
        assert not any(layouts.values()) and default_out.is_contiguous()


def test_a_plain_walk_through_the_levels_reproduces_the_models_bit_for_bit():
    """Chapter 7 walks the encoder and the decoder level by level with plain calls: no layout step is needed."""
    model = randomise(AutoencoderKL(SMALL_ATTN), 8)
    enc, dec = model.encoder, model.decoder
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        h = enc.conv_in(x)
        for level in enc.down:
            h = level(h)
        h = enc.conv_out(torch.nn.functional.silu(enc.norm_out(enc.mid(h))))
        assert torch.equal(h, enc(x))
        z = h[:, :4]
        h = dec.mid(dec.conv_in(z))
        for level in reversed(dec.up):
            h = level(h)
        h = dec.conv_out(torch.nn.functional.silu(dec.norm_out(h)))
        assert torch.equal(h, dec(z))


def test_training_path_has_gradients_and_matches_inference():
    model = randomise(AutoencoderKL(SMALL_ATTN), 7)
    x = torch.randn(1, 3, 16, 16, requires_grad=True)
    rec, post = model(x, sample_posterior=True, generator=torch.Generator().manual_seed(0))
    (rec.square().mean() + post.kl().mean()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())
    with torch.no_grad():
        rec2, _ = model(x, sample_posterior=True, generator=torch.Generator().manual_seed(0))
    assert max_diff(rec, rec2) < 1e-5


def test_autoencoder_api():
    model = randomise(AutoencoderKL(**SMALL_ATTN, embed_dim=3, scaling_factor=0.5), 8)
    assert model.quant_conv.out_channels == 6 and model.post_quant_conv.in_channels == 3
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        post = model.encode(x)
        assert post.mean.shape == (2, 3, 8, 8)
        rec, post2 = model(x, sample_posterior=False)
        assert torch.equal(rec, model.decode(post.mode())) and torch.equal(post2.mean, post.mean)
        gen = torch.Generator().manual_seed(1)
        s1 = model(x, generator=gen)[0]
        s2 = model(x, generator=torch.Generator().manual_seed(1))[0]
        assert torch.equal(s1, s2) and not torch.equal(s1, rec)
        latents = model.encode_latents(x)
        assert torch.equal(latents, 0.5 * post.mean)
        assert max_diff(model.decode_latents(latents), rec) < 1e-5
    assert model.encoder.double_z and model.encoder.out_channels == 8


# --------------------------------------------------------------------------------------------------------
# clear errors
# --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides,error,match", [
    ({"ch_mult": ()}, ValueError, "ch_mult must have at least 1 entry, got 0"),
    ({"ch_mult": "124"}, TypeError, "ch_mult"),
    ({"ch_mult": (1, 0)}, ValueError, "ch_mult"),
    ({"ch": 48}, ValueError, r"ch \* ch_mult\[0\] = 48 \* 1 = 48 channels must be divisible by the norm_num_groups=32"),
    ({"attn_resolutions": [15]}, ValueError, r"not the resolution of any level.*\[128, 64, 32, 16, 8\]"),
    ({"attn_resolutions": 16}, TypeError, "attn_resolutions"),
    ({"attn_type": "flash"}, ValueError, "attn_type"),
    ({"resolution": 100}, ValueError, "divisible by 2\\*\\*\\(len\\(ch_mult\\) - 1\\) = 16"),
    ({"num_res_blocks": 0}, ValueError, "num_res_blocks"),
    ({"dropout": 1.5}, ValueError, "dropout"),
    ({"z_channels": 2.0}, TypeError, "z_channels"),
])
def test_bad_configs_name_the_argument(overrides, error, match):
    with torch.device("meta"), pytest.raises(error, match=match):
        Encoder(**{**SEED, **overrides})


def test_unknown_arguments_are_rejected():
    with pytest.raises(TypeError):
        Encoder(**SEED, temb_ch=3)
    with pytest.raises(TypeError, match="unknown ddconfig"):
        AutoencoderKL(dict(SMALL_SD, temb_ch=3))
    with pytest.raises(TypeError, match="not both"):
        AutoencoderKL(SMALL_SD, ch=32)
    with pytest.raises(ValueError, match="double_z=True"):
        AutoencoderKL(dict(SMALL_SD, double_z=False))
    with pytest.raises(TypeError, match="required argument 'z_channels'"):
        AutoencoderKL({k: v for k, v in SMALL_SD.items() if k != "z_channels"})


def test_bad_inputs_give_clear_errors():
    with torch.device("meta"):
        enc, dec = Encoder(**SEED), Decoder(**SEED)
        with pytest.raises(ValueError, match=r"spatial size \(120, 128\); the encoder's 5 levels halve it 4 times.*multiple of 16"):
            enc(torch.randn(1, 3, 120, 128))
        with pytest.raises(ValueError, match="x has 1 channels .* expected 3"):
            enc(torch.randn(1, 1, 128, 128))
        with pytest.raises(ValueError, match="4-D tensor"):
            enc(torch.randn(3, 128, 128))
        with pytest.raises(ValueError, match="z has 32 channels .* expected 16"):
            dec(torch.randn(1, 32, 8, 8))
    model = AutoencoderKL(SMALL_SD)
    with pytest.raises(ValueError, match="z has 8 channels .* expected 4"):
        model.decode(torch.randn(1, 8, 4, 4))
    with pytest.raises(TypeError, match="floating-point"):
        model.encode(torch.zeros(1, 3, 32, 32, dtype=torch.long))


def test_forward_hooks_on_resnet_blocks_fire_without_autograd():
    """The lean no-grad path must not bypass hooks (torchinfo and feature extractors rely on them)."""
    enc = randomise(Encoder(**SMALL_ATTN), 9)
    seen = []
    enc.down[1].block[0].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        enc(x)
    assert seen == [(1, 64, 16, 16)]


def test_runs_under_cpu_autocast():
    model = randomise(AutoencoderKL(SMALL_ATTN), 10)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model(x, sample_posterior=False)[0]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = model(x, sample_posterior=False)[0]
    assert got.shape == want.shape
    # bfloat16 keeps 8 bits of mantissa: a few per cent of error after ~20 layers, far from a wrong result
    assert (got.float() - want).abs().mean() < 0.15 * want.abs().mean()


def test_weights_are_channels_last_on_the_cpu_only_and_state_dicts_stay_contiguous():
    model = AutoencoderKL(SMALL_ATTN)
    conv = model.decoder.up[0].block[0].conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert all(v.is_contiguous() for v in model.state_dict().values())  # safetensors needs contiguous tensors
    assert all(v.is_contiguous() for v in model.encoder.state_dict().values())
    as_double = copy.deepcopy(model).double()  # moving keeps the layout right
    assert as_double.encoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    model.encoder.cpu_channels_last = False
    assert model.encoder.conv_in.weight.is_contiguous()
    with torch.device("meta"):
        assert AutoencoderKL(SMALL_ATTN).encoder.conv_in.weight.is_meta
    with torch.inference_mode():  # a forward pass in inference mode leaves ordinary (trainable) parameters
        as_double.encode(torch.randn(1, 3, 32, 32, dtype=torch.float64))
    assert not any(p.is_inference() for p in as_double.parameters())
