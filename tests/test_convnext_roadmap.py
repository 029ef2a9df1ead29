"""Chapter 6, *The roadmap, in numbers* (``encoderlab.convnext.roadmap``): the endpoints against ResNet-50's
and ConvNeXt-T's published counts, the table, the final block against ConvNeXtBlock, and the networks' shapes."""

import pytest
import torch

from encoderlab import ConvNeXtBlock, convnext_tiny, count_multiply_adds, count_parameters
from encoderlab.convnext.networks import CONVNEXT_CONFIGS
from encoderlab.convnext.roadmap import (
    ROADMAP,
    ROADMAP_CHANGES,
    RoadmapBlock,
    RoadmapNet,
    roadmap_config,
    roadmap_network,
)


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
