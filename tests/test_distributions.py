"""DiagonalGaussian against torch.distributions."""

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from encoderlab.distributions import DiagonalGaussian


def _normal(d):
    return Independent(Normal(d.mean, d.std), 3)


def test_kl_to_standard_normal_equals_torch_distributions():
    moments = torch.randn(3, 8, 4, 5, dtype=torch.float64)
    d = DiagonalGaussian(moments)
    prior = Independent(Normal(torch.zeros_like(d.mean), torch.ones_like(d.mean)), 3)
    torch.testing.assert_close(d.kl(), kl_divergence(_normal(d), prior))


def test_kl_between_two_gaussians_equals_torch_distributions():
    a = DiagonalGaussian(torch.randn(2, 6, 3, 3, dtype=torch.float64))
    b = DiagonalGaussian(torch.randn(2, 6, 3, 3, dtype=torch.float64))
    torch.testing.assert_close(a.kl(b), kl_divergence(_normal(a), _normal(b)))


def test_nll_equals_torch_log_prob():
    d = DiagonalGaussian(torch.randn(2, 4, 3, 3, dtype=torch.float64))
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(d.nll(x), -_normal(d).log_prob(x))


def test_logvar_is_clamped_and_sampling_is_reproducible_and_differentiable():
    moments = torch.cat([torch.zeros(1, 2, 2, 2), torch.tensor([-100.0, 100.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2)], 1)
    d = DiagonalGaussian(moments)
    assert d.logvar.min() == -30 and d.logvar.max() == 20
    m = torch.randn(2, 8, 4, 4, requires_grad=True)
    d = DiagonalGaussian(m)
    s1 = d.sample(generator=torch.Generator().manual_seed(0))
    s2 = d.sample(generator=torch.Generator().manual_seed(0))
    assert torch.equal(s1, s2)
    s1.sum().backward()
    assert m.grad[:, :4].abs().sum() > 0 and m.grad[:, 4:].abs().sum() > 0


def test_bad_moments_are_rejected():
    with pytest.raises(ValueError, match="even number of channels"):
        DiagonalGaussian(torch.randn(1, 3, 4, 4))
    with pytest.raises(TypeError, match="moments must be a torch.Tensor"):
        DiagonalGaussian([1.0, 2.0])
