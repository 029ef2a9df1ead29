"""Checks for the exercises of Chapter 5 (reparameterization)."""

from __future__ import annotations

import torch

from ._common import ExerciseError, call_answer, close, expect_shape, passed

__all__ = ["check_elbo", "check_kl_standard_normal", "check_reparameterize"]


def _inputs(seed: int, shape=(3, 4, 2, 2)):
    gen = torch.Generator().manual_seed(seed)
    mean = torch.randn(shape, generator=gen)
    logvar = torch.randn(shape, generator=gen) - 0.5
    return mean, logvar


def check_reparameterize(fn) -> None:
    """Check ``fn(mean, logvar, eps) -> z``: a sample of ``N(mean, exp(logvar))`` built from the given noise
    ``eps ~ N(0, I)`` so that gradients reach ``mean`` and ``logvar``. All tensors share one shape."""
    mean, logvar = _inputs(7)
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(8))
    mean.requires_grad_()
    logvar.requires_grad_()
    z = call_answer(fn, mean, logvar, eps, what="your function")
    expect_shape("z", z, tuple(mean.shape), "The sample has the shape of the mean.")
    want = mean + torch.exp(0.5 * logvar) * eps
    if not close(z, want):
        if close(z, mean + torch.exp(logvar) * eps):
            raise ExerciseError("you scaled eps by exp(logvar), which is the variance. The noise must be scaled by "
                                "the standard deviation, exp(0.5 * logvar).")
        if close(z, mean + logvar * eps):
            raise ExerciseError("you scaled eps by logvar itself. logvar is log(sigma**2): the standard deviation "
                                "is exp(0.5 * logvar).")
        if close(z, mean + torch.exp(0.5 * logvar)):
            raise ExerciseError("z = mean + std: the noise eps is missing. z = mean + std * eps.")
        if close(z, mean * torch.exp(0.5 * logvar) + eps):
            raise ExerciseError("the roles are swapped: the mean is added, the standard deviation multiplies eps.")
        z2 = call_answer(fn, mean, logvar, eps, what="your function")
        if isinstance(z2, torch.Tensor) and not torch.equal(z.detach(), z2.detach()):
            raise ExerciseError("two calls with the same eps gave different samples: you draw new noise inside the "
                                "function. Use the eps argument, so the randomness stays outside the graph.")
        raise ExerciseError("z has the right shape but wrong values: z = mean + exp(0.5 * logvar) * eps.")
    if not z.requires_grad:
        raise ExerciseError("z does not depend on mean and logvar in the autograd graph (did you detach, use "
                            ".data, or sample with torch.normal?). Gradients must flow through the sample.")
    g_mean, g_logvar = torch.autograd.grad(z.sum(), (mean, logvar), allow_unused=True)
    if g_mean is None or g_logvar is None:
        missing = "mean" if g_mean is None else "logvar"
        raise ExerciseError(f"no gradient reaches {missing}: build z from mean and logvar with differentiable ops.")
    if not (close(g_mean, torch.ones_like(mean)) and close(g_logvar, 0.5 * torch.exp(0.5 * logvar) * eps)):
        raise ExerciseError("the gradients are wrong: dz/dmean must be 1 and dz/dlogvar = 0.5 * std * eps.")
    passed("z = mean + exp(0.5 * logvar) * eps, and gradients reach mean (1) and logvar (0.5 * std * eps).")


def check_kl_standard_normal(fn) -> None:
    """Check ``fn(mean, logvar) -> kl``: KL(N(mean, exp(logvar)) || N(0, I)) summed over every non-batch axis,
    one value per sample, shape ``(B,)``."""
    mean, logvar = _inputs(9)
    b = mean.shape[0]
    n = mean[0].numel()
    kl = call_answer(fn, mean, logvar, what="your function")
    if isinstance(kl, torch.Tensor) and kl.dim() == 0:
        raise ExerciseError("kl is a single number: you reduced over the batch too. Return one value per sample, "
                            "shape (B,), by summing over dims 1, 2, 3 only.")
    if isinstance(kl, torch.Tensor) and tuple(kl.shape) == tuple(mean.shape):
        raise ExerciseError("kl has one value per latent element: sum over every axis except the batch.")
    expect_shape("kl", kl, (b,), "One KL value per sample.")
    terms = mean.pow(2) + logvar.exp() - 1.0 - logvar
    want = 0.5 * terms.sum(dim=(1, 2, 3))
    oracle = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean, torch.exp(0.5 * logvar)), torch.distributions.Normal(0.0, 1.0)
    ).sum(dim=(1, 2, 3))
    assert close(want, oracle, atol=1e-4)  # the reference itself equals torch.distributions
    if close(kl, want, atol=1e-4):
        passed("kl equals torch.distributions.kl_divergence summed over the latent (shape (B,)).")
        return
    if close(kl, want / n, atol=1e-4):
        raise ExerciseError("kl is the mean over the latent elements; the KL of a diagonal Gaussian is the SUM of "
                            "the per-element KLs.")
    if close(kl, 2 * want, atol=1e-4):
        raise ExerciseError("kl is twice too large: the closed form has a factor 0.5 in front.")
    if close(kl, -want, atol=1e-4):
        raise ExerciseError("kl has the wrong sign: a KL divergence is never negative. It is "
                            "0.5 * sum(mean**2 + exp(logvar) - 1 - logvar).")
    if close(kl, want + 0.5 * n, atol=1e-4):
        raise ExerciseError("the '- 1' is missing: with mean 0 and logvar 0 (the prior itself) your KL is not 0.")
    if close(kl, 0.5 * (mean.pow(2) + torch.exp(0.5 * logvar) - 1.0 - logvar).sum(dim=(1, 2, 3)), atol=1e-4):
        raise ExerciseError("you used the standard deviation exp(0.5 * logvar) where the variance exp(logvar) "
                            "belongs.")
    raise ExerciseError("kl has the right shape but wrong values: 0.5 * sum(mean**2 + exp(logvar) - 1 - logvar) "
                        "over dims 1, 2, 3.")


def check_elbo(fn) -> None:
    """Check ``fn(x, x_hat, mean, logvar, beta) -> loss``: the negative ELBO used to train a VAE,
    ``mean over the batch of [ sum((x - x_hat)**2) + beta * KL(q || N(0, I)) ]`` (sums over non-batch axes)."""
    gen = torch.Generator().manual_seed(10)
    x = torch.rand(3, 1, 4, 4, generator=gen)
    x_hat = x + 0.3 * torch.randn(x.shape, generator=gen)
    mean, logvar = _inputs(11, shape=(3, 2, 2, 2))
    beta = 0.25
    loss = call_answer(fn, x, x_hat, mean, logvar, beta, what="your function")
    if not isinstance(loss, torch.Tensor):
        raise ExerciseError(f"return a tensor, got {type(loss).__name__}")
    if loss.dim() != 0:
        raise ExerciseError(f"loss has shape {tuple(loss.shape)}: return one number (a scalar), the mean over the "
                            "batch of reconstruction + beta * KL.")
    rec = (x_hat - x).pow(2).sum(dim=(1, 2, 3))
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=(1, 2, 3))
    want = (rec + beta * kl).mean()
    if close(loss, want, atol=1e-4):
        passed("loss = mean over the batch of sum of squared errors + beta * KL.")
        return
    if close(loss, (rec - beta * kl).mean(), atol=1e-4):
        raise ExerciseError("you subtracted the KL. The ELBO is E[log p(x|z)] - KL, so the loss (the negative "
                            "ELBO) ADDS beta * KL to the reconstruction error.")
    if close(loss, (beta * rec + kl).mean(), atol=1e-4):
        raise ExerciseError("beta multiplies the reconstruction term; it belongs on the KL term.")
    if close(loss, (x_hat - x).pow(2).mean() + beta * kl.mean(), atol=1e-4):
        raise ExerciseError("the reconstruction term is a mean over pixels (F.mse_loss) while the KL is a sum over "
                            "the latent: the two are then on different scales. Sum the squared errors over "
                            "each sample's pixels, like the KL.")
    if close(loss, rec.mean(), atol=1e-4):
        raise ExerciseError("the KL term is missing: loss = reconstruction + beta * KL.")
    raise ExerciseError("wrong value: loss = mean_b[ sum((x - x_hat)**2) + beta * 0.5 * sum(mean**2 + "
                        "exp(logvar) - 1 - logvar) ].")
