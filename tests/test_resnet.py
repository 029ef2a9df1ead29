"""Residual blocks: LDM's against diffusers, the seed-003 variant against the seed's own code, the causal 3-D
block against the 2-D one on a single frame, and the parameter-count formula against sum(p.numel())."""

import pytest
import torch
from torch import nn

from encoderlab import (
    CausalResnet3d,
    MidBlock,
    ResnetBlock,
    SkipConvResnetBlock,
    encode_stream,
    resnet_block_num_params,
)

diffusers = pytest.importorskip("diffusers")
from diffusers.models.resnet import ResnetBlock2D  # noqa: E402


def _randomise(module, seed=0, scale=0.2):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return module.eval()


def _numel(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("cin,cout,conv_shortcut", [(32, 32, False), (32, 64, False), (64, 32, True)])
def test_ldm_block_equals_diffusers_outputs_and_gradients(cin, cout, conv_shortcut):
    ref = ResnetBlock2D(in_channels=cin, out_channels=cout, temb_channels=None, eps=1e-6, groups=32, dropout=0.0)
    if conv_shortcut:
        # diffusers keeps a 1x1 conv_shortcut whatever its `conv_shortcut` flag says; LDM's flag means 3x3.
        # Its forward just calls self.conv_shortcut, so swapping in a 3x3 conv gives LDM's variant.
        assert ref.conv_shortcut.kernel_size == (1, 1)
        ref.conv_shortcut = nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1)
    _randomise(ref)
    ours = ResnetBlock(cin, cout, conv_shortcut=conv_shortcut).eval()
    rename = "conv_shortcut" if conv_shortcut else "nin_shortcut"
    ours.load_state_dict({k.replace("conv_shortcut", rename): v for k, v in ref.state_dict().items()}, strict=True)
    x1 = torch.randn(2, cin, 7, 6, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    a, b = ours(x1), ref(x2, None)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    a.square().sum().backward()
    b.square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-4, rtol=1e-4)
    assert _numel(ours) == _numel(ref) == resnet_block_num_params(cin, cout, shortcut="conv" if conv_shortcut else "nin")


def _seed003_block(cin, cout, norm_channels):
    """The seed-003 DownBlock's i-th residual block, transcribed with plain torch.nn layers."""
    first = nn.Sequential(nn.GroupNorm(norm_channels, cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, stride=1, padding=1))
    second = nn.Sequential(nn.GroupNorm(norm_channels, cout), nn.SiLU(), nn.Conv2d(cout, cout, 3, stride=1, padding=1))
    skip = nn.Conv2d(cin, cout, kernel_size=1)

    def forward(out):
        resnet_input = out
        out = first(out)
        out = second(out)
        return out + skip(resnet_input)

    return nn.ModuleDict({"resnet_conv_first": first, "resnet_conv_second": second,
                          "residual_input_conv": skip}), forward


@pytest.mark.parametrize("cin,cout", [(32, 32), (32, 64)])
def test_seed003_block_equals_the_seed_code(cin, cout):
    modules, forward = _seed003_block(cin, cout, 8)
    _randomise(modules)
    ours = SkipConvResnetBlock(cin, cout, norm_channels=8).eval()
    ours.load_state_dict(modules.state_dict(), strict=True)
    x = torch.randn(2, cin, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), forward(x), atol=1e-5, rtol=0)
    assert _numel(ours) == resnet_block_num_params(cin, cout, shortcut="always")
    assert _numel(ours) - _numel(ResnetBlock(cin, cout, num_groups=8)) == (cin * cout + cout if cin == cout else 0)


def test_seed003_block_equals_the_first_resnet_of_the_mid_block():
    mid = _randomise(MidBlock(32, 32, num_heads=4, num_layers=1, norm_channels=8))
    ours = SkipConvResnetBlock(32, 32, norm_channels=8).eval()
    ours.load_state_dict({
        **{f"resnet_conv_first.{k}": v for k, v in mid.resnet_conv_first[0].state_dict().items()},
        **{f"resnet_conv_second.{k}": v for k, v in mid.resnet_conv_second[0].state_dict().items()},
        **{f"residual_input_conv.{k}": v for k, v in mid.residual_input_conv[0].state_dict().items()},
    })
    x = torch.randn(1, 32, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), mid._resnet(0, x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("per_frame_norm", [False, True])
@pytest.mark.parametrize("cin,cout", [(8, 8), (8, 16)])
def test_causal_block_on_one_frame_is_the_2d_block(cin, cout, per_frame_norm):
    """With T = 1 and zero padding a causal 3x3x3 conv only sees its last temporal tap: the 3-D block is then
    LDM's 2-D block with those slices as weights."""
    causal = _randomise(CausalResnet3d(cin, cout, num_groups=4, per_frame_norm=per_frame_norm))
    flat = ResnetBlock(cin, cout, num_groups=4).eval()
    sd = causal.state_dict()
    flat.load_state_dict({
        "norm1.weight": sd["norm1.weight"], "norm1.bias": sd["norm1.bias"],
        "norm2.weight": sd["norm2.weight"], "norm2.bias": sd["norm2.bias"],
        "conv1.weight": sd["conv1.conv.weight"][:, :, -1], "conv1.bias": sd["conv1.conv.bias"],
        "conv2.weight": sd["conv2.conv.weight"][:, :, -1], "conv2.bias": sd["conv2.conv.bias"],
        **({"nin_shortcut.weight": sd["conv_shortcut.conv.weight"][:, :, 0],
            "nin_shortcut.bias": sd["conv_shortcut.conv.bias"]} if cin != cout else {}),
    })
    x = torch.randn(2, cin, 1, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(causal(x)[:, :, 0], flat(x[:, :, 0]), atol=1e-5, rtol=0)
    assert _numel(causal) == resnet_block_num_params(cin, cout, dims=3)


def test_causal_block_streams_exactly_with_per_frame_norm():
    block = _randomise(CausalResnet3d(4, 8, num_groups=2, per_frame_norm=True, padding_mode="replicate"))
    x = torch.randn(1, 4, 11, 5, 5)
    with torch.no_grad():
        whole = block(x)
    assert (encode_stream(block, x, [3, 5, 2, 1]) - whole).abs().max() <= 1e-5


@pytest.mark.parametrize("cin,cout,k,dims,shortcut", [
    (64, 64, 3, 2, "nin"), (64, 128, 3, 2, "nin"), (64, 128, 3, 2, "conv"), (64, 64, 3, 2, "always"),
    (32, 96, 3, 2, "always"), (16, 32, 3, 3, "nin"), (16, 16, 1, 2, "nin"),
])
def test_parameter_formula_against_numel(cin, cout, k, dims, shortcut):
    with torch.device("meta"):
        if k == 1:  # a 1x1 variant built by hand from torch layers
            block = nn.ModuleList([nn.GroupNorm(16, cin), nn.Conv2d(cin, cout, 1), nn.GroupNorm(16, cout),
                                   nn.Conv2d(cout, cout, 1)])
        elif dims == 3:
            block = CausalResnet3d(cin, cout)
        elif shortcut == "always":
            block = SkipConvResnetBlock(cin, cout)
        else:
            block = ResnetBlock(cin, cout, conv_shortcut=shortcut == "conv")
    assert _numel(block) == resnet_block_num_params(cin, cout, kernel_size=k, dims=dims, shortcut=shortcut)


def test_parameter_formula_for_the_sd_vae_block():
    # stable-diffusion VAE, 512 -> 512 block: two 3x3 convs with bias and two GroupNorms
    assert resnet_block_num_params(512) == 2 * (512 * 512 * 9 + 512) + 4 * 512 == 4_721_664
    with torch.device("meta"):
        ref = ResnetBlock2D(in_channels=512, out_channels=512, temb_channels=None)
    assert _numel(ref) == 4_721_664


def test_validation():
    with pytest.raises(ValueError, match="shortcut must be one of"):
        resnet_block_num_params(8, shortcut="identity")
    with pytest.raises(ValueError, match="norm_channels=32"):
        SkipConvResnetBlock(48, 64)
    with pytest.raises(ValueError, match="4-D"):
        SkipConvResnetBlock(32)(torch.randn(1, 32, 2, 4, 4))
    with pytest.raises(ValueError, match="has 16 channels"):
        SkipConvResnetBlock(32)(torch.randn(1, 16, 4, 4))
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        CausalResnet3d(8, padding_mode="reflect")
    with pytest.raises(TypeError, match="per_frame_norm must be a bool"):
        CausalResnet3d(8, per_frame_norm=1)
    with pytest.raises(ValueError, match="dropout must be <= 1.0"):
        CausalResnet3d(8, dropout=1.5)
