"""Convolution arithmetic and the resampling layers, against torch.nn's own layers (and diffusers' LDM ones)."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from encoderlab import (
    AvgPoolDownsample,
    Downsample,
    StridedConvDownsample,
    TransposedConvUpsample,
    Upsample,
    conv_output_size,
    conv_transpose_output_size,
)


def test_output_size_formula_over_a_grid_of_nn_conv2d():
    """Every combination of a grid of settings, on odd and even sizes, against nn.Conv2d's real output."""
    checked = 0
    for size, k, s, p, d in itertools.product((5, 6, 7, 8), (1, 2, 3, 4, 5), (1, 2, 3), (0, 1, 2), (1, 2)):
        if size + 2 * p < d * (k - 1) + 1:
            with pytest.raises(ValueError, match="shorter than the dilated kernel"):
                conv_output_size(size, k, s, p, d)
            continue
        conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
        with torch.no_grad():
            out = conv(torch.zeros(1, 1, size, size + 1))
        assert out.shape[2:] == (conv_output_size(size, k, s, p, d), conv_output_size(size + 1, k, s, p, d))
        checked += 1
    assert checked > 300


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 20), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 3))
def test_output_size_property(size, k, s, p, d):
    if size + 2 * p < d * (k - 1) + 1:
        with pytest.raises(ValueError):
            conv_output_size(size, k, s, p, d)
        return
    with torch.no_grad():
        out = F.conv1d(torch.zeros(1, 1, size), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d)
    assert out.shape[-1] == conv_output_size(size, k, s, p, d)


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 12), k=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 2),
       op=st.integers(0, 2), d=st.integers(1, 2))
def test_transposed_output_size_property(size, k, s, p, op, d):
    want = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
    if op >= max(s, d) or want < 1:
        with pytest.raises(ValueError):
            conv_transpose_output_size(size, k, s, p, op, d)
        return
    conv = nn.ConvTranspose1d(1, 1, k, stride=s, padding=p, output_padding=op, dilation=d)
    with torch.no_grad():
        assert conv(torch.zeros(1, 1, size)).shape[-1] == conv_transpose_output_size(size, k, s, p, op, d)


def test_output_size_validation():
    with pytest.raises(ValueError, match="padding must be >= 0"):
        conv_output_size(8, 3, padding=-1)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv_output_size(8, 3, stride=0)
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        conv_output_size(8, 3.0)
    with pytest.raises(ValueError, match="output_padding=2 must be smaller"):
        conv_transpose_output_size(8, 4, 2, 1, 2)


@pytest.mark.parametrize("size", [(8, 8), (9, 7), (2, 3)])
def test_resamplers_shapes_and_oracles(size):
    h, w = size
    x = torch.randn(2, 4, h, w)
    down = StridedConvDownsample(4, 8)
    ref = nn.Conv2d(4, 8, 4, stride=2, padding=1)
    ref.load_state_dict(down.conv.state_dict())
    up = TransposedConvUpsample(4)
    ref_up = nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1)
    ref_up.load_state_dict(up.conv.state_dict())
    with torch.no_grad():
        assert down(x).shape == (2, 8, h // 2, w // 2)
        torch.testing.assert_close(down(x), ref(x), atol=1e-6, rtol=0)
        assert up(x).shape == (2, 4, 2 * h, 2 * w)
        torch.testing.assert_close(up(x), ref_up(x), atol=1e-6, rtol=0)
        # average pooling == LDM's Downsample(with_conv=False) == nn.AvgPool2d(2)
        pooled = AvgPoolDownsample(4)(x)
        torch.testing.assert_close(pooled, Downsample(4, with_conv=False)(x), atol=0, rtol=0)
        torch.testing.assert_close(pooled, nn.AvgPool2d(2)(x), atol=1e-7, rtol=0)
        # LDM's asymmetric pad + 3x3 stride 2 rounds down too: (H + 1 - 3) // 2 + 1 == H // 2
        assert Downsample(4)(x).shape[2:] == (h // 2, w // 2)
        assert Upsample(4)(x).shape[2:] == (2 * h, 2 * w)


def test_ldm_downsample_pads_right_and_bottom_only():
    down = Downsample(1)
    with torch.no_grad():
        down.conv.weight.zero_()
        down.conv.weight[0, 0, 0, 0] = 1.0  # picks the top-left tap of every window
        down.conv.bias.zero_()
    x = torch.arange(1.0, 37.0).reshape(1, 1, 6, 6)
    with torch.no_grad():
        out = down(x)
    torch.testing.assert_close(out, x[:, :, ::2, ::2])  # no padding on the left/top: windows start at 0
    with torch.no_grad():
        down.conv.weight.zero_()
        down.conv.weight[0, 0, 2, 2] = 1.0  # bottom-right tap: falls on the zero padding at the border
        out = down(x)
    assert out[0, 0, -1, -1] == 0 and out[0, 0, 0, 0] == x[0, 0, 2, 2]


def test_transposed_conv_checkerboard_and_nearest_conv_is_flat():
    """On a constant image, a random 4x4 stride-2 transposed conv gives a period-2 pattern in the interior;
    nearest upsampling + 3x3 conv gives a constant interior."""
    torch.manual_seed(0)
    x = torch.ones(1, 4, 8, 8)
    up = TransposedConvUpsample(4, 1)
    nn_up = Upsample(4)
    with torch.no_grad():
        t = up(x)[0, 0, 2:-2, 2:-2]
        n = nn_up(x)[:, :1][0, 0, 2:-2, 2:-2]
    parity = [t[i::2, j::2] for i in (0, 1) for j in (0, 1)]
    for p in parity:  # each parity class is constant ...
        assert p.max() - p.min() < 1e-5
    means = torch.stack([p.mean() for p in parity])
    assert means.max() - means.min() > 1e-2  # ... but the four classes differ: a checkerboard
    assert n.max() - n.min() < 1e-5


def test_resampler_validation():
    with pytest.raises(ValueError, match="has 3 channels"):
        StridedConvDownsample(4)(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="4-D"):
        TransposedConvUpsample(4)(torch.randn(4, 8, 8))
    with pytest.raises(ValueError, match="at least 2x2"):
        AvgPoolDownsample(4)(torch.randn(1, 4, 1, 8))
    with pytest.raises(ValueError, match="out_channels must be >= 1"):
        StridedConvDownsample(4, 0)
    with pytest.raises(TypeError, match="in_channels must be an int"):
        AvgPoolDownsample("4")
