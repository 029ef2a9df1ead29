"""Winograd's F(2x2, 3x3) of Chapter 7, *Faster than production*, against ``F.conv2d``: the identity in
float64, float32 within rounding, 16 instead of 36 multiply-adds per tile, where it falls back to the plain
convolution, the kernel cache, and :func:`~encoderlab.fast.speed_up` on whole models (plain and diffusers)."""

import copy
import types

import pytest
import torch
import torch.nn.functional as F
from test_ldm import DECODED_ATOL, SMALL_ATTN, max_diff, randomise

from encoderlab.cost import count_multiply_adds
from encoderlab.fast import speed_up
from encoderlab.fast_winograd import winograd_applies, winograd_conv3x3, winograd_forward, winograd_weight
from encoderlab.ldm import Decoder, Encoder
from encoderlab.weights import diffusers_config, export_weights


def conv3x3(cin, cout, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Conv2d(cin, cout, 3, padding=1).to(dtype)


@pytest.mark.parametrize("shape,cout", [((1, 3, 2, 2), 5), ((2, 8, 6, 10), 4), ((1, 16, 12, 8), 16)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("band", [None, 1])
def test_equals_the_direct_convolution_in_float64(shape, cout, channels_last, band):
    conv = conv3x3(shape[1], cout, dtype=torch.float64)
    x = torch.randn(shape, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = winograd_conv3x3(x, winograd_weight(conv.weight), conv.bias, max_chunk_elements=band)
        assert out.shape == (shape[0], cout) + shape[2:]
        assert max_diff(out, F.conv2d(x, conv.weight, conv.bias, padding=1)) < 1e-12
        assert max_diff(winograd_conv3x3(x, winograd_weight(conv.weight)), F.conv2d(x, conv.weight, padding=1)) < 1e-12


def test_float32_is_as_close_to_float64_as_the_direct_convolution():
    conv = conv3x3(64, 64, 1)
    x = torch.randn(1, 64, 16, 16)
    with torch.no_grad():
        exact = F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=1)
        direct = max_diff(conv(x).double(), exact)
        ours = max_diff(winograd_forward(conv, x).double(), exact)
    assert ours < 1e-5 and ours < 4 * direct


def test_sixteen_multiply_adds_per_tile_and_channel_pair_instead_of_thirty_six():
    conv = conv3x3(32, 24)
    conv.forward = types.MethodType(winograd_forward, conv)
    x = torch.randn(1, 32, 16, 8)
    tiles = (16 // 2) * (8 // 2)
    first = count_multiply_adds(conv, x)  # also transforms the kernel, once: 4 x 3 x 3 + 4 x 4 x 3 per pair
    assert first == 16 * tiles * 32 * 24 + (36 + 48) * 32 * 24
    assert count_multiply_adds(conv, x) == 16 * tiles * 32 * 24  # the transformed kernel kept
    assert count_multiply_adds(conv3x3(32, 24), x) == 36 * tiles * 32 * 24


def test_falls_back_to_the_plain_convolution():
    conv = conv3x3(8, 8, 2)
    x = torch.randn(1, 8, 6, 6, requires_grad=True)
    out = winograd_forward(conv, x)  # with autograd: the plain convolution, bit for bit, and its gradients
    assert torch.equal(out, conv(x))
    out.sum().backward()
    assert conv.weight.grad is not None and not hasattr(conv, "_winograd")
    with torch.no_grad():
        odd = torch.randn(1, 8, 5, 6)
        assert torch.equal(winograd_forward(conv, odd), conv(odd))
        half = torch.randn(1, 8, 6, 6, dtype=torch.bfloat16)
        assert torch.equal(winograd_forward(conv.bfloat16(), half), conv(half))
        assert not hasattr(conv, "_winograd")
    for other in (torch.nn.Conv2d(4, 4, 3, stride=2, padding=1), torch.nn.Conv2d(4, 4, 1),
                  torch.nn.Conv2d(4, 4, 3, padding=1, groups=2), torch.nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect")):
        assert not winograd_applies(other)
    assert winograd_applies(conv)


def test_the_kernel_cache_follows_the_weights():
    conv = conv3x3(8, 8, 3)
    x = torch.randn(1, 8, 8, 8)
    with torch.no_grad():
        winograd_forward(conv, x)
        conv.weight.mul_(2.0)  # an in-place update, as an optimiser step
        assert max_diff(winograd_forward(conv, x), conv(x)) < 1e-5
        conv.load_state_dict(conv3x3(8, 8, 4).state_dict())
        assert max_diff(winograd_forward(conv, x), conv(x)) < 1e-5
        conv.double()
        assert max_diff(winograd_forward(conv, x.double()), conv(x.double())) < 1e-12


def test_bad_kernels():
    with pytest.raises(ValueError, match="3x3 kernel"):
        winograd_weight(torch.zeros(4, 4, 5, 5))
    with pytest.raises(ValueError, match="weight"):
        winograd_weight(torch.zeros(4, 4, 3))
    conv = conv3x3(8, 8)
    with pytest.raises(ValueError, match="x"):
        winograd_forward(conv, torch.zeros(1, 4, 6, 6))


def _wide(model):
    """``speed_up`` with Winograd for every 3x3 convolution of the small test models (32 channels and up)."""
    return speed_up(copy.deepcopy(model), winograd_min_channels=32)


def test_speed_up_with_winograd_equals_plain_and_diffusers():
    from diffusers.models.autoencoders.vae import Decoder as DiffusersDecoder

    plain = randomise(Decoder(**SMALL_ATTN), 3)
    fast = _wide(plain)
    patched = [m for m in fast.modules() if isinstance(m, torch.nn.Conv2d) and "forward" in vars(m)]
    assert len(patched) == sum(1 for m in plain.modules() if winograd_applies(m) and min(m.in_channels, m.out_channels) >= 32) > 0
    assert list(fast.state_dict()) == list(plain.state_dict())
    ref = DiffusersDecoder(**diffusers_config(plain)).eval()
    ref.load_state_dict(export_weights(plain, "diffusers"), strict=True)
    z = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(fast(z), ref(z), atol=DECODED_ATOL, rtol=0)
        assert max_diff(fast.double()(z.double()), plain.double()(z.double())) < 1e-12
    encoder = randomise(Encoder(**SMALL_ATTN, double_z=True), 4)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert max_diff(_wide(encoder)(x), encoder(x)) < 1e-5
    assert torch.equal(_wide(encoder)(x), encoder(x))  # with autograd: the plain convolutions


def test_speed_up_winograd_threshold():
    plain = randomise(Decoder(**SMALL_ATTN), 5)
    for off in (speed_up(copy.deepcopy(plain), winograd_min_channels=0), speed_up(copy.deepcopy(plain))):
        assert not any("forward" in vars(m) for m in off.modules() if isinstance(m, torch.nn.Conv2d))
    with pytest.raises(TypeError, match="winograd_min_channels"):
        speed_up(copy.deepcopy(plain), winograd_min_channels=2.5)
    with pytest.raises(ValueError, match="winograd_min_channels"):
        speed_up(copy.deepcopy(plain), winograd_min_channels=-1)


def test_default_threshold_follows_the_cpu_kernels(monkeypatch):
    from encoderlab import fast_winograd

    plain = randomise(Decoder(**SMALL_ATTN), 5)
    wide = fast_winograd.WINOGRAD_MIN_CHANNELS
    for capability, want in (("AVX512", 0), ("AVX2", wide), ("DEFAULT", wide)):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert fast_winograd.default_min_channels() == want
    # speed_up without a threshold uses the default: off where the kernels use AVX-512
    monkeypatch.setattr(fast_winograd, "default_min_channels", lambda: 32)
    on = speed_up(copy.deepcopy(plain))
    assert any("forward" in vars(m) for m in on.modules() if isinstance(m, torch.nn.Conv2d))
    monkeypatch.setattr(fast_winograd, "default_min_channels", lambda: 0)
    off = speed_up(copy.deepcopy(plain))
    assert not any("forward" in vars(m) for m in off.modules() if isinstance(m, torch.nn.Conv2d))
