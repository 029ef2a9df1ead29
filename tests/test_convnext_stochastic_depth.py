"""Chapter 6, *Layer scale and stochastic depth* (``encoderlab.convnext.stochastic_depth``): drop_path exactly
and statistically (against torch's own Bernoulli sampler), StochasticDepth, and their argument checks."""

import pytest
import torch

from encoderlab import count_parameters
from encoderlab.convnext.stochastic_depth import StochasticDepth, drop_path


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
