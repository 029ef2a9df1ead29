"""The fast path of Chapter 7, *Faster than production*, against its oracles.

- the resize-convolution identity: nearest x2 + 3x3 convolution (the plain :class:`~encoderlab.Upsample`,
  ``F.interpolate`` + ``nn.Conv2d``) equals one 4x4 stride-2 transposed convolution, in float64 to 1e-12;
- :func:`encoderlab.fast.speed_up`: the sped-up encoder is bit-identical to the plain one, the sped-up decoder
  equals the plain one and diffusers' ``Decoder`` (transplanted weights) within the tolerances of
  ``tests/test_ldm.py``; it keeps the state dict, follows new weights, and needs less memory.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from test_ldm import DECODED_ATOL, SMALL_ATTN, SMALL_SD, max_diff, randomise

from encoderlab import Upsample
from encoderlab.cost import count_multiply_adds, peak_memory
from encoderlab.fast import speed_up
from encoderlab.fast_upsample import ResizeConvUpsample, resize_conv_kernel
from encoderlab.ldm import AutoencoderKL, Decoder, Encoder
from encoderlab.weights import diffusers_config, export_weights

diffusers = pytest.importorskip("diffusers")
from diffusers.models.autoencoders.vae import Decoder as DiffusersDecoder  # noqa: E402


def plain_resize_conv(x, conv):
    """The oracle: torch's own nearest-neighbour upsampling, then torch's own 3x3 convolution."""
    return F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), conv.weight, conv.bias, padding=1)


@pytest.mark.parametrize("shape", [(1, 4, 1, 1), (2, 8, 5, 7), (1, 16, 6, 6)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_resize_conv_equals_nearest_then_conv_float64(shape, channels_last):
    torch.manual_seed(0)
    up = Upsample(shape[1]).double()
    x = torch.randn(shape, dtype=torch.float64)
    if channels_last:
        up = up.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    fast = ResizeConvUpsample(up)
    with torch.no_grad():
        assert max_diff(fast(x), plain_resize_conv(x, up.conv)) < 1e-12
        assert max_diff(fast(x), up(x)) < 1e-12


def test_resize_conv_float32_and_gradients():
    torch.manual_seed(1)
    up = Upsample(32)
    fast = ResizeConvUpsample(copy.deepcopy(up))
    x = torch.randn(2, 32, 8, 8, requires_grad=True)
    y_plain, y_fast = up(x), fast(x)
    assert max_diff(y_plain, y_fast) < 1e-5
    grad = torch.randn_like(y_plain)
    g_plain = torch.autograd.grad(y_plain, (x, up.conv.weight, up.conv.bias), grad)
    g_fast = torch.autograd.grad(y_fast, (x, fast.conv.weight, fast.conv.bias), grad)
    for a, b in zip(g_plain, g_fast, strict=True):
        assert max_diff(a, b) < 1e-3 * b.abs().max().item()


def test_resize_conv_kernel_sums_taps():
    w = torch.arange(9.0).reshape(1, 1, 3, 3)  # rows (0 1 2), (3 4 5), (6 7 8)
    k = resize_conv_kernel(w)[0, 0]
    # along each axis the taps are (w2, w1 + w2, w0 + w1, w0): the corner tap k[0, 0] is w[2, 2]
    assert k.shape == (4, 4) and k[0, 0] == 8 and k[3, 3] == 0 and k[1, 1] == 4 + 5 + 7 + 8
    assert k.sum() == 4 * w.sum()  # every tap reaches each of the 4 phases once


def test_resize_conv_costs_four_multiply_adds_per_output_instead_of_nine():
    up = Upsample(64)
    x = torch.randn(1, 64, 8, 8)
    plain, fast = count_multiply_adds(up, x), count_multiply_adds(ResizeConvUpsample(up), x)
    assert plain == 64 * 64 * 9 * 16 * 16 and fast == 64 * 64 * 4 * 16 * 16


def test_resize_conv_bad_arguments():
    with pytest.raises(TypeError, match="upsample must be an encoderlab.Upsample"):
        ResizeConvUpsample(torch.nn.Conv2d(4, 4, 3))
    with pytest.raises(ValueError, match="with_conv=True"):
        ResizeConvUpsample(Upsample(4, with_conv=False))
    with pytest.raises(ValueError, match="x has 3 channels.*expected 4"):
        ResizeConvUpsample(Upsample(4))(torch.randn(1, 3, 2, 2))
    with pytest.raises(ValueError, match="3x3 kernel"):
        resize_conv_kernel(torch.randn(4, 4, 2, 2))


# --------------------------------------------------------------------------------------------------------
# speed_up on whole models


def test_speed_up_encoder_is_bit_identical():
    plain = randomise(Encoder(**SMALL_ATTN), 2)
    fast = speed_up(copy.deepcopy(plain))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(fast(x), plain(x))
    assert torch.equal(fast(x), plain(x))  # with autograd too


@pytest.mark.parametrize("config", [SMALL_SD, SMALL_ATTN], ids=["sd", "attn"])
def test_speed_up_decoder_equals_plain_and_diffusers(config):
    plain = randomise(Decoder(**config), 3)
    ref = DiffusersDecoder(**diffusers_config(plain)).eval()
    ref.load_state_dict(export_weights(plain, "diffusers"), strict=True)
    fast = speed_up(copy.deepcopy(plain))
    assert all(isinstance(level.upsample, ResizeConvUpsample) for level in fast.up[1:])
    z = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(fast(z), ref(z), atol=DECODED_ATOL, rtol=0)
        torch.testing.assert_close(fast(z), plain(z), atol=DECODED_ATOL, rtol=0)
        plain64, fast64, ref64, z64 = plain.double(), fast.double(), ref.double(), z.double()
        assert max_diff(fast64(z64), plain64(z64)) < 1e-12
        assert max_diff(fast64(z64), ref64(z64)) < 1e-10


def test_speed_up_autoencoder_keeps_state_and_follows_new_weights():
    plain = randomise(AutoencoderKL(SMALL_ATTN), 4)
    fast = speed_up(copy.deepcopy(plain))
    assert list(fast.state_dict()) == list(plain.state_dict())
    z = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        before = fast.decode(z)  # fills the kernel cache
        fast.load_state_dict(randomise(copy.deepcopy(plain), 5).state_dict())
        after, expected = fast.decode(z), randomise(plain, 5).decode(z)
    assert max_diff(after, expected) < DECODED_ATOL < max_diff(before, after)


def test_speed_up_copies_and_moves():
    fast = speed_up(randomise(Decoder(**SMALL_ATTN), 6))
    twin = copy.deepcopy(fast)
    with torch.no_grad():
        twin.conv_in.weight.zero_()  # the copy runs its own layers, not the original's
        z = torch.randn(1, 4, 8, 8)
        assert not torch.equal(twin(z), fast(z))
        assert fast.double()(z.double()).dtype == torch.float64


def test_speed_up_needs_less_memory():
    """The flat forward drops each level's input once it is consumed; the resize-convolution never stores the
    upsampled map (the "tensors" peak: deterministic on any machine). The upsamplers' kept kernels are made by
    the first call and held beside the weights (16/9 of the upsamplers' weights): measured from the second."""
    for cls, x, bound in ((Encoder, torch.randn(1, 3, 64, 64), 0.8), (Decoder, torch.randn(1, 4, 16, 16), 0.95)):
        plain = randomise(cls(**SMALL_SD), 7)
        fast = speed_up(copy.deepcopy(plain))
        peak_memory(fast, x)
        assert peak_memory(fast, x) < bound * peak_memory(plain, x), cls.__name__
        kept = sum(m.kept_kernel().numel() * 4 for m in fast.modules() if isinstance(m, ResizeConvUpsample))
        assert kept == sum(16 * m.conv.weight.numel() // 9 * 4 for m in fast.modules()
                           if isinstance(m, ResizeConvUpsample))


def test_speed_up_bad_arguments():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        speed_up("decoder")
    with pytest.raises(ValueError, match="contains no encoderlab.ldm Encoder or Decoder"):
        speed_up(torch.nn.Linear(2, 2))


def test_a_wide_upsampler_computes_its_output_channels_in_groups():
    """Without autograd an upsampler whose transposed kernel exceeds ``KERNEL_ELEMENTS`` computes a group of
    output channels at a time: the same values as the whole kernel, in less memory (bit for bit where oneDNN
    picks the same kernel for a group as for the whole; on an AVX-512 CPU a 3x5 map differs by 1e-6 relative)."""
    from encoderlab.fast_upsample import KERNEL_ELEMENTS

    up = randomise(Upsample(384), 8)  # a 384 x 384 x 4 x 4 kernel: 2.25 x KERNEL_ELEMENTS, three groups
    assert up.conv.weight.numel() * 16 // 9 > 2 * KERNEL_ELEMENTS
    fast = ResizeConvUpsample(up)
    x = torch.randn(1, 384, 3, 5).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        grouped = fast(x)
        whole = F.conv_transpose2d(x, fast.kernel(), up.conv.bias, stride=2, padding=1)
        assert max_diff(grouped, whole) <= 1e-6 * whole.abs().max().item()
        assert grouped.is_contiguous(memory_format=torch.channels_last)
        assert max_diff(grouped, plain_resize_conv(x, up.conv)) < 1e-4
        assert peak_memory(fast, x) < 0.6 * peak_memory(lambda t: F.conv_transpose2d(
            t, fast.kernel(), up.conv.bias, stride=2, padding=1), x)
    assert torch.equal(fast(x), whole)  # with autograd: the whole kernel, as before


def test_a_kept_kernel_is_reused_until_the_weight_changes():
    up = randomise(Upsample(16), 9)
    fast = ResizeConvUpsample(up, keep_kernel=True)
    assert "kernel kept" in repr(fast)
    x = torch.randn(2, 16, 5, 6)
    with torch.no_grad():
        first = fast(x)
        kernel = fast.kept_kernel()
        assert fast.kept_kernel() is kernel  # reused, not rebuilt
        assert torch.equal(kernel, resize_conv_kernel(up.conv.weight))
        assert torch.equal(first, ResizeConvUpsample(up)(x))  # the same computation as without keeping
        assert max_diff(first, plain_resize_conv(x, up.conv)) < 1e-4
        up.conv.weight.mul_(-0.5)  # an in-place update (an optimiser step, load_state_dict)
        assert fast.kept_kernel() is not kernel
        assert max_diff(fast(x), plain_resize_conv(x, up.conv)) < 1e-4
        up.conv.weight = torch.nn.Parameter(torch.randn_like(up.conv.weight))  # a new tensor
        assert max_diff(fast(x), plain_resize_conv(x, up.conv)) < 1e-4
        fast.double()  # a move
        assert fast(x.double()).dtype == torch.float64
        assert fast.kept_kernel().dtype == torch.float64
    # with autograd the kernel is derived on the call, so gradients reach the weight
    fast.float()
    fast(x).square().sum().backward()
    assert up.conv.weight.grad is not None and up.conv.weight.grad.abs().sum() > 0


def test_speed_up_keeps_the_upsamplers_kernels():
    fast = speed_up(randomise(Decoder(**SMALL_SD), 10))
    ups = [m for m in fast.modules() if isinstance(m, ResizeConvUpsample)]
    assert ups and all(m.keep_kernel for m in ups)
    with pytest.raises(TypeError, match="keep_kernel must be a bool"):
        ResizeConvUpsample(Upsample(4), keep_kernel="yes")
