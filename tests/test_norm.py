"""Chapter 1: our GroupNorm against torch.nn.GroupNorm (outputs and gradients), per-frame GroupNorm
against GroupNorm applied frame by frame, and the argument checks."""

import pytest
import torch
from torch import nn

from encoderlab import GroupNorm, PerFrameGroupNorm, group_norm, per_frame_group_norm

SHAPES = [(2, 8, 16), (3, 12, 5, 7), (2, 6, 3, 4, 5), (1, 32, 9, 9)]  # 3-D, 4-D, 5-D, batch of one


def _groups(c):
    return [g for g in (1, 2, 3, 4, 6, 8, 32) if c % g == 0]


def _random_affine(norm, gen):
    with torch.no_grad():
        norm.weight.copy_(torch.randn(norm.weight.shape, generator=gen))
        norm.bias.copy_(torch.randn(norm.bias.shape, generator=gen))


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 2e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fused", [False, True])
def test_equals_torch_groupnorm_outputs_and_gradients(shape, dtype, atol, fused):
    gen = torch.Generator().manual_seed(0)
    c = shape[1]
    for g in _groups(c):
        ref = nn.GroupNorm(g, c, eps=1e-6).to(dtype)
        ours = GroupNorm(g, c, eps=1e-6, fused=fused).to(dtype)
        _random_affine(ref, gen)
        ours.load_state_dict(ref.state_dict())
        x = (torch.randn(shape, generator=gen, dtype=dtype) * 3 + 1).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        y_ref, y = ref(x), ours(x2)
        assert y.shape == y_ref.shape and y.dtype == dtype
        torch.testing.assert_close(y, y_ref, atol=atol, rtol=0)
        upstream = torch.randn(shape, generator=gen, dtype=dtype)
        (y_ref * upstream).sum().backward()
        (y * upstream).sum().backward()
        torch.testing.assert_close(x2.grad, x.grad, atol=atol * 10, rtol=0)
        torch.testing.assert_close(ours.weight.grad, ref.weight.grad, atol=atol * 100, rtol=0)
        torch.testing.assert_close(ours.bias.grad, ref.bias.grad, atol=atol * 100, rtol=0)


def test_functional_matches_torch_without_affine():
    x = torch.randn(4, 6, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(group_norm(x, 3), nn.functional.group_norm(x, 3), atol=1e-12, rtol=0)


def test_normalised_groups_have_zero_mean_unit_variance():
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64) * 5 + 3
    y = group_norm(x, 4, eps=1e-12).reshape(2, 4, -1)
    torch.testing.assert_close(y.mean(-1), torch.zeros(2, 4, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(2, 4, dtype=torch.float64), atol=1e-8, rtol=0)


def test_output_of_one_sample_does_not_depend_on_the_batch():
    norm = GroupNorm(2, 4)
    x = torch.randn(1, 4, 5, 5)
    others = torch.randn(7, 4, 5, 5) * 10
    torch.testing.assert_close(norm(torch.cat([x, others]))[:1], norm(x), atol=1e-6, rtol=0)


def test_half_precision_is_normalised_in_float32():
    """Under autocast (where half-precision activations reach a float32 norm) the statistics are float32;
    outside autocast the package's one dtype rule refuses the mix (tests/test_bad_inputs_image.py)."""
    x = (torch.randn(2, 8, 4, 4) * 100 + 1000).to(torch.bfloat16)
    assert torch.nn.functional.group_norm(x, 4).dtype == torch.bfloat16  # CPU autocast leaves group_norm alone
    for fused in (False, True):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = GroupNorm(4, 8, fused=fused)(x)
        assert y.dtype == torch.bfloat16
        ref = nn.functional.group_norm(x.float(), 4)
        assert (y.float() - ref).abs().max() < 0.05


def test_repr_matches_the_printouts_of_the_seeds():
    assert repr(GroupNorm(2, 128, eps=1e-6)) == "GroupNorm(2, 128, eps=1e-06, affine=True)"
    assert repr(GroupNorm(32, 64, affine=False)) == "GroupNorm(32, 64, eps=1e-05, affine=False)"


def test_state_dict_keys_match_torch():
    assert GroupNorm(2, 4).state_dict().keys() == nn.GroupNorm(2, 4).state_dict().keys()
    assert list(GroupNorm(2, 4, affine=False).state_dict()) == []


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("dtype,atol", [(torch.float32, 2e-5), (torch.float64, 1e-12)])
def test_per_frame_equals_groupnorm_on_each_frame(fused, dtype, atol):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 6, 5, 4, 3, generator=gen, dtype=dtype) + torch.arange(5, dtype=dtype).view(1, 1, 5, 1, 1)
    ref = nn.GroupNorm(3, 6, eps=1e-6).to(dtype)
    _random_affine(ref, gen)
    ours = PerFrameGroupNorm(3, 6, eps=1e-6, fused=fused).to(dtype)
    ours.load_state_dict(ref.state_dict())
    want = torch.stack([ref(x[:, :, t]) for t in range(x.shape[2])], dim=2)
    torch.testing.assert_close(ours(x), want, atol=atol, rtol=0)
    fn = per_frame_group_norm(x, 3, ref.weight, ref.bias, eps=1e-6)
    torch.testing.assert_close(fn, want, atol=atol, rtol=0)


def test_per_frame_is_causal_and_clip_wide_is_not():
    x = torch.randn(1, 4, 6, 3, 3)
    x_future = x.clone()
    x_future[:, :, 4:] += 5.0
    per_frame = PerFrameGroupNorm(2, 4)
    assert torch.equal(per_frame(x)[:, :, :4], per_frame(x_future)[:, :, :4])
    clip = GroupNorm(2, 4)
    assert not torch.allclose(clip(x)[:, :, :4], clip(x_future)[:, :, :4], atol=1e-3)


def test_per_frame_gradients_match_framewise_reference():
    x = torch.randn(2, 4, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    ours = PerFrameGroupNorm(2, 4).double()
    ref = nn.GroupNorm(2, 4).double()
    torch.stack([ref(x[:, :, t]) for t in range(3)], 2).pow(2).sum().backward()
    ours(x2).pow(2).sum().backward()
    torch.testing.assert_close(x2.grad, x.grad, atol=1e-10, rtol=0)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(num_groups=3, num_channels=8), ValueError, r"num_channels=8 must be divisible by num_groups=3"),
        (dict(num_groups=0, num_channels=8), ValueError, r"num_groups must be >= 1, got 0"),
        (dict(num_groups=2, num_channels=8, eps=0.0), ValueError, r"eps must be > 0"),
        (dict(num_groups=2, num_channels=8, eps=-1e-5), ValueError, r"eps must be > 0"),
        (dict(num_groups=2.0, num_channels=8), TypeError, r"num_groups must be an int"),
        (dict(num_groups=2, num_channels=8, affine="yes"), TypeError, r"affine must be a bool"),
    ],
)
def test_bad_configuration_is_rejected(kwargs, error, match):
    for cls in (GroupNorm, PerFrameGroupNorm):
        with pytest.raises(error, match=match):
            cls(**kwargs)


def test_bad_inputs_are_rejected_with_clear_messages():
    norm = GroupNorm(2, 8)
    with pytest.raises(ValueError, match=r"x has 6 channels .* expected 8"):
        norm(torch.randn(2, 6, 4, 4))
    with pytest.raises(ValueError, match=r"at least one position axis"):
        norm(torch.randn(2, 8))
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor"):
        norm([[1.0] * 8])
    with pytest.raises(TypeError, match=r"floating-point"):
        norm(torch.ones(2, 8, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"5-D tensor \(B, C, T, H, W\)"):
        PerFrameGroupNorm(2, 8)(torch.randn(2, 8, 4, 4))
    with pytest.raises(ValueError, match=r"must be divisible by num_groups=3"):
        group_norm(torch.randn(2, 8, 4), 3)
    with pytest.raises(ValueError, match=r"weight must have shape \(8,\)"):
        group_norm(torch.randn(2, 8, 4), 2, weight=torch.ones(4))
    with pytest.raises(ValueError, match=r"eps must be > 0"):
        per_frame_group_norm(torch.randn(1, 4, 2, 2, 2), 2, eps=0)
