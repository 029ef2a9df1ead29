"""Chapter 6: ConvNeXt. LayerNorm2d against nn.LayerNorm, stochastic depth (exact and statistical), the block,
parameter counts against torchvision's published numbers, multiply-adds against torchvision's published GFLOPS,
the roadmap networks against ResNet-50's published count, and the ConvNeXt-style block of our encoder."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from encoderlab import Downsample, ResnetBlock, count_parameters
from encoderlab.convnext import (
    CONVNEXT_CONFIGS,
    ROADMAP,
    ROADMAP_CHANGES,
    ConvNeXt,
    ConvNeXtBlock,
    ConvNeXtResnetBlock,
    LayerNorm2d,
    RoadmapBlock,
    RoadmapNet,
    SmallDecoder,
    SmallEncoder,
    StochasticDepth,
    convnext,
    convnext_base,
    convnext_large,
    convnext_small,
    convnext_tiny,
    count_multiply_adds,
    drop_path,
    layer_norm_2d,
    roadmap_config,
    roadmap_network,
)

# ----------------------------------------------------------------------------------------------------------------
# LayerNorm2d == nn.LayerNorm over the channels of the permuted tensor
# ----------------------------------------------------------------------------------------------------------------


def _reference_ln(x, ln):
    """nn.LayerNorm(C) on the channels-last view, then back to channels first."""
    perm = [0, *range(2, x.dim()), 1]
    back = [0, x.dim() - 1, *range(1, x.dim() - 1)]
    return ln(x.permute(perm)).permute(back)


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("shape", [(2, 8, 5), (3, 16, 7, 6), (2, 4, 3, 5, 5), (1, 96, 4, 4)])
@pytest.mark.parametrize("fused", [False, True])
def test_layernorm2d_equals_torch_layernorm_outputs_and_gradients(shape, dtype, atol, fused):
    gen = torch.Generator().manual_seed(0)
    c = shape[1]
    ref = nn.LayerNorm(c, eps=1e-6).to(dtype)
    with torch.no_grad():
        ref.weight.copy_(torch.randn(c, generator=gen))
        ref.bias.copy_(torch.randn(c, generator=gen))
    ours = LayerNorm2d(c, eps=1e-6, fused=fused).to(dtype)
    ours.load_state_dict(ref.state_dict())  # same keys: weight, bias
    x = (torch.randn(shape, generator=gen, dtype=dtype) * 3 + 2).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    y_ref, y = _reference_ln(x, ref), ours(x2)
    assert y.shape == x.shape and y.dtype == dtype
    torch.testing.assert_close(y, y_ref, atol=atol, rtol=0)
    up = torch.randn(shape, generator=gen, dtype=dtype)
    (y_ref * up).sum().backward()
    (y * up).sum().backward()
    torch.testing.assert_close(x2.grad, x.grad, atol=atol * 10, rtol=0)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad, atol=atol * 100, rtol=0)
    torch.testing.assert_close(ours.bias.grad, ref.bias.grad, atol=atol * 100, rtol=0)


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 3), c=st.integers(1, 12), h=st.integers(1, 6), w=st.integers(1, 6),
       eps=st.sampled_from([1e-6, 1e-5, 1e-3]))
def test_layer_norm_2d_property(b, c, h, w, eps):
    x = torch.randn(b, c, h, w, dtype=torch.float64) * 4 - 1
    weight, bias = torch.randn(c, dtype=torch.float64), torch.randn(c, dtype=torch.float64)
    ref = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (c,), weight, bias, eps).permute(0, 3, 1, 2)
    torch.testing.assert_close(layer_norm_2d(x, weight, bias, eps), ref, atol=1e-10, rtol=0)


def test_layernorm2d_is_per_position_not_chapter1_layernorm():
    """It normalises each position over the channels: NOT GroupNorm(1, C), which pools the positions too."""
    x = torch.randn(2, 8, 5, 5, dtype=torch.float64) * 3 + torch.arange(25, dtype=torch.float64).view(1, 1, 5, 5)
    y = LayerNorm2d(8).double()(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 5, 5, dtype=torch.float64), atol=1e-10, rtol=0)
    gn1 = nn.functional.group_norm(x, 1, eps=1e-6)
    assert (y - gn1).abs().max() > 0.1


def test_layernorm2d_half_precision_and_repr_and_keys():
    x = (torch.randn(2, 8, 4, 4) * 100 + 1000).to(torch.bfloat16)
    for fused in (False, True):
        y = LayerNorm2d(8, fused=fused)(x)
        assert y.dtype == torch.bfloat16
        ref = _reference_ln(x.float(), nn.LayerNorm(8, eps=1e-6))
        assert (y.float() - ref).abs().max() < 0.05
    assert repr(LayerNorm2d(96)) == "LayerNorm2d(96, eps=1e-06, affine=True)"
    assert set(LayerNorm2d(4).state_dict()) == set(nn.LayerNorm(4).state_dict())
    assert count_parameters(LayerNorm2d(4, affine=False)) == 0


def test_layernorm2d_argument_checks():
    with pytest.raises(ValueError, match="x has 6 channels"):
        LayerNorm2d(8)(torch.randn(1, 6, 4, 4))
    with pytest.raises(ValueError, match="at least one position axis"):
        LayerNorm2d(8)(torch.randn(2, 8))
    with pytest.raises(ValueError, match="eps must be > 0"):
        LayerNorm2d(8, eps=0.0)
    with pytest.raises(TypeError, match="num_channels must be an int"):
        LayerNorm2d(8.0)
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        layer_norm_2d(torch.randn(1, 4, 2, 2), torch.ones(3))
    with pytest.raises(TypeError, match="floating-point"):
        layer_norm_2d(torch.ones(1, 4, 2, 2, dtype=torch.long))


# ----------------------------------------------------------------------------------------------------------------
# Stochastic depth
# ----------------------------------------------------------------------------------------------------------------


def test_drop_path_is_the_identity_at_eval_and_with_p_zero():
    x = torch.randn(8, 3, 4, 4)
    assert drop_path(x, 0.5, training=False) is x
    assert drop_path(x, 0.0, training=True) is x
    sd = StochasticDepth(0.7).eval()
    assert torch.equal(sd(x), x)
    assert count_parameters(sd) == 0


def test_drop_path_drops_whole_samples_and_rescales():
    p = 0.25
    x = torch.rand(64, 3, 5, 5) + 1.0
    y = drop_path(x, p, generator=torch.Generator().manual_seed(0))
    per_sample = (y / x).reshape(64, -1)
    # every sample is either dropped entirely (0) or kept entirely and scaled by 1 / (1 - p)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-6)
    factor = per_sample[:, 0]
    dropped, kept = factor == 0, torch.isclose(factor, torch.tensor(1 / (1 - p)))
    assert torch.all(dropped | kept) and dropped.any() and kept.any()


def test_drop_path_statistics_with_a_fixed_seed():
    """Keep rate ~ 1 - p and mean preserved, over 20,000 samples (4+ standard errors of slack)."""
    n, p = 20_000, 0.3
    x = torch.ones(n, 2, 2, 2)
    y = drop_path(x, p, generator=torch.Generator().manual_seed(123))
    kept = (y[:, 0, 0, 0] != 0).double()
    se = (p * (1 - p) / n) ** 0.5
    assert abs(kept.mean().item() - (1 - p)) < 4 * se
    assert abs(y.mean().item() - 1.0) < 4 * se / (1 - p)
    # torch's own Bernoulli sampler with the same generator state gives the same mask: nothing hidden
    mask = torch.empty(n, 1, 1, 1).bernoulli_(1 - p, generator=torch.Generator().manual_seed(123))
    torch.testing.assert_close(y, x * mask / (1 - p))


def test_drop_path_gradient_and_p_one():
    x = torch.randn(16, 4, requires_grad=True)
    y = drop_path(x, 0.5, generator=torch.Generator().manual_seed(1))
    y.sum().backward()
    kept = (y.detach() != 0).any(1)
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 2.0))
    assert torch.all(x.grad[~kept] == 0)
    assert torch.all(drop_path(torch.randn(5, 3), 1.0) == 0)


def test_drop_path_argument_checks():
    with pytest.raises(ValueError, match="p must be <= 1.0"):
        drop_path(torch.randn(2, 3), 1.5)
    with pytest.raises(TypeError, match="training must be a bool"):
        drop_path(torch.randn(2, 3), 0.1, training=1)
    with pytest.raises(ValueError, match="p must be >= 0.0"):
        StochasticDepth(-0.1)


# ----------------------------------------------------------------------------------------------------------------
# The ConvNeXt block and networks
# ----------------------------------------------------------------------------------------------------------------


def _channels_first_block(block: ConvNeXtBlock) -> nn.Module:
    """The same block written with torch.nn layers in channels-first layout (1x1 convs, LayerNorm on permuted)."""
    c = block.dim
    pw1 = nn.Conv2d(c, 4 * c, 1)
    pw2 = nn.Conv2d(4 * c, c, 1)
    with torch.no_grad():
        pw1.weight.copy_(block.pwconv1.weight[:, :, None, None])
        pw1.bias.copy_(block.pwconv1.bias)
        pw2.weight.copy_(block.pwconv2.weight[:, :, None, None] * block.gamma[:, None, None, None])
        pw2.bias.copy_(block.pwconv2.bias * block.gamma)
    ln = block.norm

    class Ref(nn.Module):
        def forward(self, x):
            y = block.dwconv(x)
            y = _reference_ln(y, ln)
            return x + pw2(nn.functional.gelu(pw1(y)))

    return Ref()


def test_convnext_block_equals_a_channels_first_rewrite():
    torch.manual_seed(0)
    block = ConvNeXtBlock(16, layer_scale_init_value=0.5).eval()
    with torch.no_grad():
        block.gamma.copy_(torch.randn(16))
    x = torch.randn(2, 16, 9, 9)
    torch.testing.assert_close(block(x), _channels_first_block(block)(x), atol=1e-5, rtol=0)


def test_convnext_block_layout_and_counts():
    block = ConvNeXtBlock(96)
    names = [n for n, _ in block.named_parameters()]
    assert names == ["gamma", "dwconv.weight", "dwconv.bias", "norm.weight", "norm.bias", "pwconv1.weight",
                     "pwconv1.bias", "pwconv2.weight", "pwconv2.bias"]
    c = 96
    assert count_parameters(block) == (49 * c + c) + 2 * c + (4 * c * c + 4 * c) + (4 * c * c + c) + c
    assert torch.all(block.gamma == 1e-6)
    assert block.dwconv.groups == c and block.dwconv.kernel_size == (7, 7) and block.dwconv.padding == (3, 3)
    assert isinstance(block.act, nn.GELU) and block.norm.eps == 1e-6
    assert count_parameters(ConvNeXtBlock(96, layer_scale_init_value=0.0)) == count_parameters(block) - c


def test_convnext_block_starts_close_to_the_identity_and_drops_in_training():
    torch.manual_seed(0)
    x = torch.randn(8, 32, 6, 6)
    block = ConvNeXtBlock(32, drop_path=0.5)
    with torch.no_grad():
        assert (block.eval()(x) - x).abs().max() < 1e-4  # layer scale 1e-6
        block.gamma.fill_(1.0)
        branch = block.residual(x)
        torch.manual_seed(3)
        y = block.train()(x)
    dropped = [(y[i] - x[i]).abs().max() == 0 for i in range(8)]
    assert any(dropped) and not all(dropped)
    for i in range(8):
        if not dropped[i]:
            torch.testing.assert_close(y[i], x[i] + 2 * branch[i], atol=1e-5, rtol=0)


# torchvision's published num_params (torchvision/models/convnext.py), the oracle: torchvision is not installed.
TORCHVISION_PARAMS = {"tiny": 28_589_128, "small": 50_223_688, "base": 88_591_464, "large": 197_767_336}


@pytest.mark.parametrize("variant,builder", [("tiny", convnext_tiny), ("small", convnext_small),
                                             ("base", convnext_base), ("large", convnext_large)])
def test_parameter_counts_equal_torchvision(variant, builder):
    with torch.device("meta"):
        model = builder()
    assert count_parameters(model) == TORCHVISION_PARAMS[variant]
    assert (model.depths, model.dims) == CONVNEXT_CONFIGS[variant]


def test_xlarge_count_and_paper_roundings():
    with torch.device("meta"):
        counts = {v: count_parameters(convnext(v)) for v in CONVNEXT_CONFIGS}
    assert counts["xlarge"] == 350_196_968  # paper: 350.2M
    paper_millions = {"tiny": 29, "small": 50, "base": 89, "large": 198}  # paper Table 1
    for v, m in paper_millions.items():
        assert round(counts[v] / 1e6) == m


def test_convnext_tiny_multiply_adds_match_torchvision_gflops():
    """FlopCounterMode runs on meta tensors; torchvision lists 4.456 GFLOPS (multiply-adds) for ConvNeXt-T."""
    with torch.device("meta"):
        model = convnext_tiny()
        x = torch.empty(1, 3, 224, 224)
    macs = count_multiply_adds(model, x)
    assert round(macs / 1e9, 3) == 4.456
    assert model(x).shape == (1, 1000)
    assert model.feature_map(x).shape == (1, 768, 7, 7)


def test_meta_count_equals_a_real_cpu_count():
    """Counting on meta is counting the real thing: a small ConvNeXt on CPU gives the same number."""
    torch.manual_seed(0)
    model = ConvNeXt(depths=(1, 1), dims=(8, 16), num_classes=5).eval()
    with torch.device("meta"):
        meta_model = ConvNeXt(depths=(1, 1), dims=(8, 16), num_classes=5)
    x = torch.randn(2, 3, 32, 32)
    assert count_multiply_adds(model, x) == count_multiply_adds(meta_model, x.to("meta"))
    # by hand: stem, one block at 8x8 x 8 ch, downsample, one block at 4x4 x 16 ch, head
    def block(c, hw):
        return hw * (49 * c + 8 * c * c)
    by_hand = 2 * (64 * 48 * 8 + block(8, 64) + 16 * 4 * 8 * 16 + block(16, 16) + 16 * 5)
    assert count_multiply_adds(model, x) == by_hand


def test_convnext_drop_path_rates_and_init():
    with torch.device("meta"):
        model = convnext_tiny()
    rates = [blk.drop_path.p for stage in model.stages for blk in stage]
    assert len(rates) == 18 and rates[0] == 0.0 and rates[-1] == pytest.approx(0.1)
    steps = torch.tensor(rates).diff()
    assert torch.allclose(steps, torch.full_like(steps, 0.1 / 17))
    keys = set(model.state_dict())
    for key in ("downsample_layers.0.0.weight", "downsample_layers.0.1.weight", "downsample_layers.3.1.bias",
                "stages.2.8.pwconv2.weight", "stages.3.2.gamma", "norm.weight", "head.bias"):
        assert key in keys
    torch.manual_seed(0)
    small = ConvNeXt(depths=(1, 1), dims=(8, 16), num_classes=5, head_init_scale=0.5)
    w = small.stages[1][0].pwconv1.weight
    # trunc_normal_(std=0.02) with the official code's default cut at +-2 (absolute, i.e. about 100 std)
    assert 0.017 < w.std() < 0.023 and w.abs().max() < 2
    assert torch.all(small.stages[1][0].pwconv1.bias == 0)


def test_convnext_argument_checks():
    with pytest.raises(ValueError, match="equal length"):
        ConvNeXt(depths=(3, 3), dims=(96,))
    with pytest.raises(ValueError, match="variant must be one of"):
        convnext("huge")
    with pytest.raises(ValueError, match="divisible by the network stride=32"):
        ConvNeXt(depths=(1, 1, 1, 1), dims=(8, 8, 8, 8))(torch.randn(1, 3, 48, 48))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ConvNeXtBlock(8, kernel_size=4)
    with pytest.raises(ValueError, match="x has 4 channels"):
        ConvNeXtBlock(8)(torch.randn(1, 4, 5, 5))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        count_multiply_adds(lambda x: x, torch.randn(1))


# ----------------------------------------------------------------------------------------------------------------
# The roadmap
# ----------------------------------------------------------------------------------------------------------------


def test_roadmap_endpoints_are_resnet50_and_convnext_tiny():
    with torch.device("meta"):
        resnet50 = roadmap_network(0)
        last = roadmap_network(len(ROADMAP) - 1)
        tiny = convnext_tiny()
        x = torch.empty(1, 3, 224, 224)
    assert count_parameters(resnet50) == 25_557_032  # torchvision's published resnet50 num_params
    gammas = sum(d * c for d, c in zip(*CONVNEXT_CONFIGS["tiny"], strict=True))
    assert count_parameters(last) == count_parameters(tiny) - gammas  # the roadmap has no layer scale
    assert count_multiply_adds(last, x) == count_multiply_adds(tiny, x)
    assert round(count_multiply_adds(resnet50, x) / 1e9, 2) == 4.09  # torchvision: 4.09 GFLOPS


def test_roadmap_table_and_changes_line_up():
    assert len(ROADMAP) == len(ROADMAP_CHANGES) == 14
    assert ROADMAP[0][1:] == (76.13, 4.09) and ROADMAP[-1][1:] == (81.97, 4.49)
    assert roadmap_config(2)["depths"] == (3, 3, 9, 3) and roadmap_config(1)["depths"] == (3, 4, 6, 3)
    with pytest.raises(ValueError, match="step must be <"):
        roadmap_config(14)


def test_final_roadmap_block_is_the_convnext_block():
    """Every step applied, the bottleneck has become the ConvNeXt block (up to layer scale)."""
    torch.manual_seed(0)
    cfg = roadmap_config(len(ROADMAP) - 1)
    kw = {k: cfg[k] for k in ("kernel_size", "depthwise", "spatial_first", "act", "fewer_acts", "fewer_norms", "norm")}
    rb = RoadmapBlock(24, 96, **kw)
    assert rb.describe() == "d7x7 24->24, LN | 1x1 24->96, GELU | 1x1 96->24 | add"
    cb = ConvNeXtBlock(24, layer_scale_init_value=1.0)
    dw, ln, pw1, _, pw2 = rb.branch
    with torch.no_grad():
        for a, b in ((cb.dwconv, dw), (cb.norm, ln)):
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)
        cb.pwconv1.weight.copy_(pw1.weight[:, :, 0, 0])
        cb.pwconv1.bias.copy_(pw1.bias)
        cb.pwconv2.weight.copy_(pw2.weight[:, :, 0, 0])
        cb.pwconv2.bias.copy_(pw2.bias)
    x = torch.randn(2, 24, 8, 8)
    torch.testing.assert_close(rb(x), cb(x), atol=1e-5, rtol=0)
    assert count_parameters(rb) == count_parameters(cb) - 24


def test_roadmap_block_resnet_bottleneck():
    b = RoadmapBlock(256)
    assert b.describe() == "1x1 256->64, BN, ReLU | 3x3 64->64, BN, ReLU | 1x1 64->256, BN | add, ReLU"
    assert count_parameters(b) == 256 * 64 + 9 * 64 * 64 + 64 * 256 + 2 * (64 + 64 + 256)  # no conv biases
    first = RoadmapBlock(512, in_dim=256, stride=2)
    assert first(torch.randn(1, 256, 8, 8)).shape == (1, 512, 4, 4)
    with pytest.raises(ValueError, match="spatial_first=True"):
        RoadmapBlock(64, fewer_acts=True)
    with pytest.raises(ValueError, match="stride must be one of"):
        RoadmapBlock(64, stride=3)


def test_roadmap_networks_shapes():
    with torch.device("meta"):  # full-size networks: shapes only, on meta
        x = torch.empty(2, 3, 64, 64)
        for step in range(len(ROADMAP)):
            assert roadmap_network(step, num_classes=7)(x).shape == (2, 7)
    torch.manual_seed(0)  # and a real forward through every kind of layer, on a narrow network
    for step in (0, 7, 13):
        cfg = dict(roadmap_config(step), width=8)
        model = RoadmapNet(**cfg, num_classes=5).eval()
        out = model(torch.randn(2, 3, 64, 64))
        assert out.shape == (2, 5) and torch.isfinite(out).all()


# ----------------------------------------------------------------------------------------------------------------
# The bridge: a ConvNeXt-style block in our encoder
# ----------------------------------------------------------------------------------------------------------------


def test_convnext_resnet_block_equals_convnext_block_when_channels_match():
    torch.manual_seed(0)
    a = ConvNeXtBlock(16, layer_scale_init_value=0.3).eval()
    b = ConvNeXtResnetBlock(16, 16, layer_scale_init_value=0.3).eval()
    b.load_state_dict(a.state_dict())  # same keys
    x = torch.randn(2, 16, 7, 7)
    torch.testing.assert_close(b(x), a(x), atol=1e-6, rtol=0)


def test_convnext_resnet_block_has_resnetblock_interface():
    torch.manual_seed(0)
    x = torch.randn(2, 32, 8, 8)
    ours, ldm = ConvNeXtResnetBlock(32, 64), ResnetBlock(32, 64, num_groups=8)
    assert ours(x).shape == ldm(x).shape == (2, 64, 8, 8)
    assert hasattr(ours, "nin_shortcut") and hasattr(ldm, "nin_shortcut")
    # at init the branch is scaled by 1e-6: the block is its shortcut
    torch.testing.assert_close(ours(x), ours.nin_shortcut(x), atol=1e-4, rtol=0)
    c_in, c_out = 32, 64
    expected = (49 * c_in + c_in) + 2 * c_in + (c_in * 4 * c_out + 4 * c_out) + (4 * c_out * c_out + c_out) + c_out
    assert count_parameters(ours) == expected + c_in * c_out + c_out


@pytest.mark.parametrize("block_type", ["resnet", "convnext"])
def test_small_encoder_and_decoder_shapes(block_type):
    enc = SmallEncoder(1, ch=16, ch_mult=(1, 2, 2), z_channels=3, block_type=block_type)
    dec = SmallDecoder(1, ch=16, ch_mult=(1, 2, 2), z_channels=3)
    x = torch.randn(2, 1, 8, 8)
    z = enc(x)
    assert z.shape == (2, 3, 2, 2) and dec(z).shape == (2, 1, 8, 8)
    kinds = {type(b) for level in enc.down for b in level.block}
    assert kinds == {ResnetBlock if block_type == "resnet" else ConvNeXtResnetBlock}
    assert all(isinstance(level.downsample, Downsample) for level in enc.down[:-1])


def test_small_encoders_differ_only_in_their_blocks():
    res = SmallEncoder(3, ch=32, ch_mult=(1, 2), block_type="resnet")
    cnx = SmallEncoder(3, ch=32, ch_mult=(1, 2), block_type="convnext")
    def blocks(e):
        return sum(count_parameters(b) for level in e.down for b in level.block)
    assert count_parameters(res) - blocks(res) == count_parameters(cnx) - blocks(cnx)


def test_small_encoder_argument_checks():
    with pytest.raises(ValueError, match="block_type must be one of"):
        SmallEncoder(block_type="vit")
    with pytest.raises(ValueError, match="divisible by 2\\*\\*\\(levels - 1\\)=2"):
        SmallEncoder(1, ch_mult=(1, 2))(torch.randn(1, 1, 7, 7))
    with pytest.raises(ValueError, match="x has 3 channels"):
        SmallEncoder(1)(torch.randn(1, 3, 8, 8))
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        SmallEncoder(1, block_type="convnext", kernel_size=7.0)


def test_resnet_small_encoder_equals_the_diffusers_down_path():
    """Our SmallEncoder with ResnetBlocks is diffusers' VAE Encoder without its mid block (weights transplanted)."""
    from diffusers.models.autoencoders.vae import Encoder

    torch.manual_seed(0)
    ref = Encoder(in_channels=3, out_channels=4, down_block_types=("DownEncoderBlock2D",) * 3,
                  block_out_channels=(16, 32, 32), layers_per_block=2, norm_num_groups=8, double_z=True).eval()
    ours = SmallEncoder(3, ch=16, ch_mult=(1, 2, 2), num_blocks=2, z_channels=8, num_groups=8).eval()
    mapped = {}
    for key, value in ref.state_dict().items():
        if key.startswith("mid_block."):
            continue
        new = (key.replace("down_blocks.", "down.").replace(".resnets.", ".block.")
               .replace(".downsamplers.0.", ".downsample.").replace("conv_shortcut", "nin_shortcut")
               .replace("conv_norm_out", "norm_out"))
        mapped[new] = value
    ours.load_state_dict(mapped)  # strict: every key of ours is matched
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        h = ref.conv_in(x)
        for block in ref.down_blocks:
            h = block(h)
        want = ref.conv_out(ref.conv_act(ref.conv_norm_out(h)))
        torch.testing.assert_close(ours(x), want, atol=1e-5, rtol=0)
    # and at Stable Diffusion's size: 34,163,592 (the SD VAE encoder) minus its mid block
    with torch.device("meta"):
        sd = Encoder(in_channels=3, out_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
                     block_out_channels=(128, 256, 512, 512), layers_per_block=2, double_z=True)
        big = SmallEncoder(3, ch=128, ch_mult=(1, 2, 4, 4), num_blocks=2, z_channels=8, num_groups=32)
    assert count_parameters(sd) == 34_163_592
    assert count_parameters(big) == count_parameters(sd) - count_parameters(sd.mid_block) == 23_668_616


def test_count_multiply_adds_by_module():
    with torch.device("meta"):
        enc = SmallEncoder(3, ch=32, ch_mult=(1, 2), num_blocks=1, num_groups=8)
        x = torch.empty(2, 3, 16, 16)
    per = count_multiply_adds(enc, x, by_module=True)
    assert per[""] == count_multiply_adds(enc, x)
    assert per["down.0.block.0.conv1"] == 2 * 16 * 16 * 9 * 32 * 32
    parts = ("conv_in", "down.0.block.0", "down.0.downsample", "down.1.block.0", "conv_out")
    assert per[""] == sum(per[k] for k in parts)
    with pytest.raises(TypeError, match="by_module must be a bool"):
        count_multiply_adds(enc, x, by_module="yes")
