"""DiagonalGaussian against torch.distributions, diffusers' DiagonalGaussianDistribution (LDM's class, ported
verbatim) and autograd; the ELBO loss."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Independent, Normal, kl_divergence

from encoderlab.distributions import DiagonalGaussian, ELBOTerms, elbo_loss


def _normal(d):
    return Independent(Normal(d.mean, d.std), d.mean.dim() - 1)


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


@settings(max_examples=30, deadline=None)
@given(shape=st.sampled_from([(2, 4), (3, 2, 5), (2, 6, 3, 3), (1, 4, 2, 3, 3)]), seed=st.integers(0, 2**16),
       spread=st.floats(0.1, 3.0))
def test_kl_and_nll_equal_torch_distributions_for_any_rank(shape, seed, spread):
    gen = torch.Generator().manual_seed(seed)
    a = DiagonalGaussian(spread * torch.randn(shape, generator=gen, dtype=torch.float64))
    b = DiagonalGaussian(spread * torch.randn(shape, generator=gen, dtype=torch.float64))
    prior = Independent(Normal(torch.zeros_like(a.mean), torch.ones_like(a.mean)), a.mean.dim() - 1)
    torch.testing.assert_close(a.kl(), kl_divergence(_normal(a), prior))
    torch.testing.assert_close(a.kl(b), kl_divergence(_normal(a), _normal(b)))
    x = torch.randn(a.shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(a.nll(x), -a.to_torch().log_prob(x))
    assert a.kl().shape == (shape[0],)
    assert (a.kl() >= 0).all() and (a.kl(b) >= 0).all()
    torch.testing.assert_close(a.kl(a), torch.zeros(shape[0], dtype=torch.float64))


# --------------------------------------------------------------------------------------------------------
# diffusers' DiagonalGaussianDistribution is LDM's class with a generator argument


@pytest.fixture(scope="module")
def ldm_posterior():
    pytest.importorskip("diffusers")
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    return DiagonalGaussianDistribution


def test_equals_diffusers_posterior_attributes_sample_kl_nll(ldm_posterior):
    moments = torch.randn(2, 8, 4, 4) * 3
    moments[0, 4, 0, 0], moments[1, 5, 1, 1] = -80.0, 45.0  # outside the clamp on purpose
    ours, ref = DiagonalGaussian(moments), ldm_posterior(moments)
    for name in ("mean", "logvar", "std", "var"):
        assert torch.equal(getattr(ours, name), getattr(ref, name)), name
    assert torch.equal(ours.mode(), ref.mode())
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(ours.sample(generator=g1), ref.sample(generator=g2))
    other_m = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(ours.kl(), ref.kl())
    torch.testing.assert_close(ours.kl(DiagonalGaussian(other_m)), ref.kl(ldm_posterior(other_m)))
    x = torch.randn(2, 4, 4, 4)
    torch.testing.assert_close(ours.nll(x), ref.nll(x))


def test_deterministic_posterior_equals_diffusers(ldm_posterior):
    moments = torch.randn(3, 4, 2, 2)
    ours, ref = DiagonalGaussian(moments, deterministic=True), ldm_posterior(moments, deterministic=True)
    for name in ("mean", "logvar", "std", "var"):
        assert torch.equal(getattr(ours, name), getattr(ref, name)), name
    assert torch.equal(ours.sample(), ours.mode())
    assert torch.equal(ours.kl(), torch.zeros(3)) and torch.equal(ours.nll(ours.mean), torch.zeros(3))
    with pytest.raises(ValueError, match="std = 0"):
        ours.to_torch()


# --------------------------------------------------------------------------------------------------------
# the clamp, reproducible sampling, and gradients through sample()


def test_logvar_is_clamped_and_sampling_is_reproducible_and_differentiable():
    moments = torch.cat([torch.zeros(1, 2, 2, 2), torch.tensor([-100.0, 100.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2)], 1)
    d = DiagonalGaussian(moments)
    assert d.logvar.min() == -30 and d.logvar.max() == 20
    assert torch.isfinite(d.var).all() and torch.isfinite(d.kl()).all()
    m = torch.randn(2, 8, 4, 4, requires_grad=True)
    d = DiagonalGaussian(m)
    s1 = d.sample(generator=torch.Generator().manual_seed(0))
    s2 = d.sample(generator=torch.Generator().manual_seed(0))
    assert torch.equal(s1, s2)
    s1.sum().backward()
    assert m.grad[:, :4].abs().sum() > 0 and m.grad[:, 4:].abs().sum() > 0


def test_sample_gradients_are_the_reparameterization_derivatives():
    mean = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    d = DiagonalGaussian.from_mean_logvar(mean, logvar)
    z = d.sample(generator=torch.Generator().manual_seed(1))
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(z, mean + torch.exp(0.5 * logvar) * eps)
    g_mean, g_logvar = torch.autograd.grad(z.sum(), (mean, logvar))
    torch.testing.assert_close(g_mean, torch.ones_like(mean))  # dz/dmean = 1
    torch.testing.assert_close(g_logvar, 0.5 * torch.exp(0.5 * logvar) * eps)  # dz/dlogvar = std * eps / 2
    # the same derivatives as torch.distributions' own reparameterized sample
    assert torch.autograd.gradcheck(lambda m, lv: DiagonalGaussian.from_mean_logvar(m, lv).sample(
        generator=torch.Generator().manual_seed(2)), (mean[:1, :1], logvar[:1, :1]))


def test_sampling_without_the_trick_blocks_gradients_but_the_trick_does_not():
    mean = torch.zeros(4, requires_grad=True)
    std = torch.ones(4, requires_grad=True)
    assert Normal(mean, std).sample().grad_fn is None  # no path back to mean and std
    assert Normal(mean, std).rsample().grad_fn is not None


def test_the_clamp_stops_gradients_outside_its_range():
    moments = torch.tensor([[0.0, -50.0], [0.0, 0.0]], requires_grad=True)
    DiagonalGaussian(moments).kl().sum().backward()
    assert moments.grad[0, 1] == 0 and moments.grad[1, 1] == 0  # d KL / d logvar = (exp(logvar) - 1) / 2 = 0 at 0


@settings(max_examples=10, deadline=None)
@given(mu=st.floats(-2, 2), log_sigma=st.floats(-1.5, 1.0))
def test_monte_carlo_moments_of_samples(mu, log_sigma):
    moments = torch.tensor([[mu, 2 * log_sigma]], dtype=torch.float64).expand(20_000, 2)
    z = DiagonalGaussian(moments).sample(generator=torch.Generator().manual_seed(0))
    sigma = math.exp(log_sigma)
    assert abs(z.mean().item() - mu) < 5 * sigma / math.sqrt(20_000)
    assert abs(z.std().item() / sigma - 1) < 0.05


def test_a_cpu_generator_serves_a_latent_on_another_device():
    d = DiagonalGaussian(torch.randn(1, 4, 2, 2, device="meta"))
    assert d.sample(generator=torch.Generator().manual_seed(0)).device.type == "meta"
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        d.sample(generator=0)


# --------------------------------------------------------------------------------------------------------
# the ELBO loss


def test_elbo_loss_is_reconstruction_plus_beta_kl():
    x = torch.rand(3, 1, 4, 4)
    x_hat = x + 0.1 * torch.randn(3, 1, 4, 4)
    post = DiagonalGaussian(torch.randn(3, 4, 2, 2))
    for kind, err in (("mse", (x_hat - x).pow(2)), ("l1", (x_hat - x).abs())):
        terms = elbo_loss(x, x_hat, post, beta=0.3, kind=kind)
        rec = err.sum(dim=(1, 2, 3)).mean()
        torch.testing.assert_close(terms.reconstruction, rec)
        torch.testing.assert_close(terms.kl, post.kl().mean())
        torch.testing.assert_close(terms.loss, rec + 0.3 * post.kl().mean())
    # "mse" is the Gaussian negative log-likelihood with variance 1/2, up to a constant
    gauss = -Independent(Normal(x_hat, math.sqrt(0.5)), 3).log_prob(x).mean()
    const = 0.5 * 16 * math.log(2 * math.pi * 0.5)
    torch.testing.assert_close(elbo_loss(x, x_hat, post, beta=0.0).loss + const, gauss, atol=1e-4, rtol=1e-5)


def test_elbo_loss_reductions_and_precision():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, 1, 4, 4, generator=gen)
    x_hat = x + 0.1 * torch.randn(3, 1, 4, 4, generator=gen)
    post = DiagonalGaussian(torch.randn(3, 4, 2, 2, generator=gen))
    per_image = elbo_loss(x, x_hat, post, beta=0.3, reduction="none")
    assert all(t.shape == (3,) for t in per_image)
    torch.testing.assert_close(per_image.reconstruction, (x_hat - x).pow(2).sum(dim=(1, 2, 3)))
    torch.testing.assert_close(per_image.kl, post.kl())
    torch.testing.assert_close(per_image.loss, per_image.reconstruction + 0.3 * per_image.kl)
    mean, total = elbo_loss(x, x_hat, post, beta=0.3), elbo_loss(x, x_hat, post, beta=0.3, reduction="sum")
    for name in ELBOTerms._fields:
        torch.testing.assert_close(getattr(mean, name), getattr(per_image, name).mean())
        torch.testing.assert_close(getattr(total, name), getattr(per_image, name).sum())
    # a half-precision reconstruction (autocast) is compared in float32; float64 stays float64
    half = elbo_loss(x, x_hat.bfloat16(), post, reduction="none")
    assert half.loss.dtype == torch.float32
    torch.testing.assert_close(half.reconstruction, (x_hat.bfloat16().float() - x).pow(2).sum(dim=(1, 2, 3)))
    assert elbo_loss(x.double(), x_hat.double(), post).loss.dtype == torch.float64


def test_elbo_loss_validation():
    post = DiagonalGaussian(torch.randn(3, 4, 2, 2))
    x = torch.rand(3, 1, 4, 4)
    with pytest.raises(ValueError, match="reconstruction has"):
        elbo_loss(x, x[:, :, :2], post)
    with pytest.raises(ValueError, match="must share the batch size"):
        elbo_loss(x[:2], x[:2], post)
    with pytest.raises(ValueError, match=r"x must have at least 2 dimensions \(B, ...\), got shape \(3,\)"):
        elbo_loss(x[:, 0, 0, 0], x[:, 0, 0, 0], post)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        elbo_loss(x, x, post, beta=-1.0)
    with pytest.raises(ValueError, match="kind must be one of"):
        elbo_loss(x, x, post, kind="bce")
    with pytest.raises(ValueError, match=r"reduction must be one of \['mean', 'sum', 'none'\], got 'max'"):
        elbo_loss(x, x, post, reduction="max")
    with pytest.raises(TypeError, match="posterior must be a DiagonalGaussian"):
        elbo_loss(x, x, post.mean)


# --------------------------------------------------------------------------------------------------------
# validation


def test_bad_moments_are_rejected():
    with pytest.raises(ValueError, match="even number of channels"):
        DiagonalGaussian(torch.randn(1, 3, 4, 4))
    with pytest.raises(TypeError, match="moments must be a torch.Tensor"):
        DiagonalGaussian([1.0, 2.0])
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(8,\)"):
        DiagonalGaussian(torch.randn(8))
    with pytest.raises(TypeError, match="moments must be a floating-point tensor"):
        DiagonalGaussian(torch.ones(1, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="deterministic must be a bool"):
        DiagonalGaussian(torch.randn(1, 2), deterministic=1)


def test_bad_arguments_to_methods_are_rejected():
    d = DiagonalGaussian(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"other has latent shape \(2, 2, 3, 4\)"):
        d.kl(DiagonalGaussian(torch.randn(2, 4, 3, 4)))
    with pytest.raises(TypeError, match="other must be a DiagonalGaussian"):
        d.kl(torch.randn(2, 2, 3, 3))
    with pytest.raises(ValueError, match=r"x has shape \(2, 4, 3, 3\), expected the latent shape \(2, 2, 3, 3\)"):
        d.nll(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="mean and logvar must have the same shape"):
        DiagonalGaussian.from_mean_logvar(torch.randn(2, 2), torch.randn(2, 3))
