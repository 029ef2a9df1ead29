"""Chapter 6, *The block and the four networks* (``encoderlab.convnext.networks``): the block against a
channels-first rewrite with torch.nn layers, parameter counts against torchvision's published numbers,
multiply-adds against torchvision's published GFLOPS, drop-path rates, init and argument checks."""

import pytest
import torch
from torch import nn

from encoderlab import count_multiply_adds, count_parameters
from encoderlab.convnext import networks
from encoderlab.convnext.networks import CONVNEXT_CONFIGS, ConvNeXt, ConvNeXtBlock, convnext, convnext_tiny


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
            y = ln(block.dwconv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # nn.LayerNorm, channels last
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


@pytest.mark.parametrize("variant", ["tiny", "small", "base", "large"])
def test_parameter_counts_equal_torchvision(variant):
    builder = getattr(networks, f"convnext_{variant}")  # convnext_tiny ... convnext_large
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
    with pytest.raises(ValueError, match=r"spatial size \(48, 48\); the network stride is 32"):
        ConvNeXt(depths=(1, 1, 1, 1), dims=(8, 8, 8, 8))(torch.randn(1, 3, 48, 48))
    with pytest.raises(ValueError, match="depths must have at least 1 entry"):
        ConvNeXt(depths=(), dims=())
    with pytest.raises(TypeError, match="dims must contain ints"):
        ConvNeXt(depths=(1,), dims=(8.0,))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ConvNeXtBlock(8, kernel_size=4)
    with pytest.raises(ValueError, match="x has 4 channels"):
        ConvNeXtBlock(8)(torch.randn(1, 4, 5, 5))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        count_multiply_adds(lambda x: x, torch.randn(1))
