"""Chapter 6, *A LayerNorm over channels* (``encoderlab.convnext.layer_norm``): LayerNorm2d and layer_norm_2d
against ``nn.LayerNorm`` on the channels-last tensor (outputs and gradients), and their argument checks."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from encoderlab import count_parameters
from encoderlab.convnext.layer_norm import LayerNorm2d, layer_norm_2d


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
    for got, want, scale in ((x2.grad, x.grad, 10), (ours.weight.grad, ref.weight.grad, 100),
                             (ours.bias.grad, ref.bias.grad, 100)):
        torch.testing.assert_close(got, want, atol=atol * scale, rtol=0)


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
        with torch.autocast("cpu", dtype=torch.bfloat16):  # outside autocast the one dtype rule refuses the mix
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
