"""The trainer's objective (Chapter 5's ELBO, per image) against torch.distributions, the KL warm-up, PSNR."""

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence
from train_helpers import MICRO

from encoderlab import DiagonalGaussian, elbo_loss
from encoderlab.train import elbo_terms, kl_weight, psnr
from encoderlab.train.objective import ELBOModel
from encoderlab.vae import VAE


def test_per_image_elbo_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    x, x_hat = torch.randn(3, 2, 4, 4, generator=gen), torch.randn(3, 2, 4, 4, generator=gen)
    post = DiagonalGaussian(torch.randn(3, 6, 2, 2, generator=gen))
    terms = elbo_loss(x, x_hat, post, beta=0.3, reduction="none")
    want_kl = kl_divergence(Normal(post.mean, post.std), Normal(0.0, 1.0)).sum(dim=(1, 2, 3))
    want_rec = F.mse_loss(x_hat, x, reduction="none").sum(dim=(1, 2, 3))
    assert torch.allclose(terms.kl, want_kl, atol=1e-5)
    assert torch.allclose(terms.reconstruction, want_rec, atol=1e-5)
    assert torch.allclose(terms.loss, want_rec + 0.3 * want_kl, atol=1e-5)
    l1 = elbo_loss(x, x_hat, post, kind="l1", reduction="none").reconstruction
    assert torch.allclose(l1, F.l1_loss(x_hat, x, reduction="none").sum(dim=(1, 2, 3)), atol=1e-5)
    # recon = -log N(x; x_hat, 1/2) + const: the Gaussian log-likelihood with variance 1/2
    nll = -Normal(x_hat, 0.5**0.5).log_prob(x).sum(dim=(1, 2, 3))
    assert torch.allclose(nll - terms.reconstruction,
                          torch.full((3,), 32 * 0.5 * torch.log(torch.tensor(torch.pi)).item()), atol=1e-4)
    # elbo_terms is the same computation under the names the trainer's history uses
    old = elbo_terms(x, x_hat, post, beta=0.3)
    assert list(old) == ["recon", "kl", "loss"]
    assert all(torch.equal(old[k], v) for k, v in zip(old, (terms.reconstruction, terms.kl, terms.loss), strict=True))
    with pytest.raises(ValueError, match="but reconstruction has"):
        elbo_terms(x, x_hat[:, :1], post)


def test_the_module_ddp_wraps_is_encode_sample_decode():
    torch.manual_seed(0)
    vae = VAE(im_channels=1, **MICRO)
    x = torch.randn(2, 1, 8, 8)
    eps = torch.randn(2, *vae.latent_shape(8, 8))
    terms = ELBOModel(vae, "mse")(x, eps, 0.5)
    post = DiagonalGaussian(vae.encode_moments(x))
    want = elbo_loss(x, vae.decode(post.mean + post.std * eps), post, beta=0.5, reduction="none")
    assert all(torch.allclose(a, b) for a, b in zip(terms, want, strict=True))
    assert terms.loss.shape == (2,)


def test_psnr_known_values_and_kl_warmup():
    x = torch.zeros(2, 1, 4, 4)
    y = x + torch.tensor([0.1, 0.2]).view(2, 1, 1, 1)  # MSE 0.01 and 0.04
    assert torch.allclose(psnr(x, y), torch.tensor([26.0206, 20.0000]), atol=1e-3)
    assert torch.allclose(psnr(x, y, data_range=1.0), torch.tensor([20.0, 13.9794]), atol=1e-3)
    with pytest.raises(ValueError, match="y has shape"):
        psnr(x, y[:1])
    assert [kl_weight(s, 2.0, 4) for s in (0, 1, 4, 10)] == [0.0, 0.5, 2.0, 2.0]
    assert kl_weight(0, 2.0) == 2.0
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        kl_weight(0, 1.0, -1)
