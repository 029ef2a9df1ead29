"""Checks for the exercises of Chapter 8 (training a VAE)."""

from __future__ import annotations

import math

import torch

from ._common import ExerciseError, call_answer, close, expect_shape, passed

__all__ = ["check_elbo", "check_interpolation", "check_psnr"]


def _is(value, want: torch.Tensor, atol: float = 1e-4) -> bool:
    return isinstance(value, torch.Tensor) and close(value.detach().float(), want, atol=atol)


def check_elbo(fn) -> None:
    """Check ``fn(x, x_hat, mean, logvar, beta) -> (recon, kl, loss)``, per image, each of shape ``(B,)``.

    ``recon`` is the sum of squared errors over every value of an image, ``kl`` the closed-form
    KL(N(mean, exp(logvar)) || N(0, I)) summed over the latent, and ``loss = recon + beta * kl``.
    """
    gen = torch.Generator().manual_seed(8)
    b, c, h, w, z = 3, 2, 6, 6, 4
    x = torch.rand(b, c, h, w, generator=gen) * 2 - 1
    x_hat = x + 0.3 * torch.randn(b, c, h, w, generator=gen)
    mean = torch.randn(b, z, 3, 3, generator=gen)
    logvar = torch.randn(b, z, 3, 3, generator=gen) * 0.7 - 0.5
    beta = 0.25
    out = call_answer(fn, x, x_hat, mean, logvar, beta, what="your function")
    if not (isinstance(out, tuple) and len(out) == 3):
        raise ExerciseError(f"return a tuple (recon, kl, loss), got {type(out).__name__}")
    recon, kl, loss = out
    want_recon = (x - x_hat).pow(2).sum(dim=(1, 2, 3))
    want_kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=(1, 2, 3))
    for name, value in (("recon", recon), ("kl", kl), ("loss", loss)):
        if isinstance(value, torch.Tensor) and value.dim() == 0:
            raise ExerciseError(f"{name} is a single number: return one value per image, shape (B,) = ({b},). "
                                "Sum over every axis except the batch axis (dim=(1, 2, 3)).")
    expect_shape("recon", recon, (b,), "One value per image: sum over dim=(1, 2, 3).")
    expect_shape("kl", kl, (b,), "One value per image: sum over dim=(1, 2, 3).")
    expect_shape("loss", loss, (b,), "loss = recon + beta * kl, one value per image.")
    if not _is(recon, want_recon):
        if _is(recon * (c * h * w), want_recon):
            raise ExerciseError("recon is the MEAN squared error per value (F.mse_loss): the ELBO needs the log-"
                                "likelihood of the whole image, i.e. the SUM over all C*H*W values.")
        if _is(recon, want_recon.sqrt()):
            raise ExerciseError("recon looks like a norm ||x - x_hat||: use the sum of SQUARED errors, no sqrt.")
        raise ExerciseError("recon has the right shape but wrong values: (x - x_hat)**2 summed per image.")
    if not _is(kl, want_kl):
        if _is(kl, -want_kl):
            raise ExerciseError("kl has the wrong sign: KL(q || p) >= 0, it is 0.5 * sum(mean^2 + var - 1 - logvar).")
        if _is(kl, 2 * want_kl):
            raise ExerciseError("kl is twice the reference: the closed form has a factor 0.5 in front.")
        if _is(kl * (z * 9), want_kl):
            raise ExerciseError("kl is averaged over the latent: sum over the z*h*w latent values instead.")
        std_version = 0.5 * (mean.pow(2) + (0.5 * logvar).exp() - 1 - logvar).sum(dim=(1, 2, 3))
        if _is(kl, std_version):
            raise ExerciseError("kl uses the standard deviation exp(0.5 * logvar) where the variance exp(logvar) "
                                "belongs.")
        raise ExerciseError("kl has the right shape but wrong values: 0.5 * (mean**2 + exp(logvar) - 1 - logvar), "
                            "summed per image.")
    if not _is(loss, want_recon + beta * want_kl):
        if _is(loss, beta * want_recon + want_kl):
            raise ExerciseError("beta multiplies the reconstruction: in a beta-VAE it weights the KL term.")
        if _is(loss, -(want_recon + beta * want_kl)):
            raise ExerciseError("loss is the ELBO itself; return what is minimised, its negative: recon + beta*kl.")
        raise ExerciseError("loss has the right shape but wrong values: recon + beta * kl.")
    passed("recon, kl and loss match the reference for every image.")


def check_psnr(fn) -> None:
    """Check ``fn(x, y) -> psnr`` in dB, one value per image ``(B,)``, for images in ``[-1, 1]``."""
    gen = torch.Generator().manual_seed(9)
    b = 4
    x = torch.rand(b, 3, 8, 8, generator=gen) * 2 - 1
    y = (x + torch.linspace(0.02, 0.3, b).view(b, 1, 1, 1) * torch.randn(b, 3, 8, 8, generator=gen)).clamp(-1, 1)
    out = call_answer(fn, x, y, what="your function")
    mse = (x - y).pow(2).mean(dim=(1, 2, 3))
    want = 10 * torch.log10(4.0 / mse)
    if isinstance(out, torch.Tensor) and out.dim() == 0:
        raise ExerciseError(f"psnr is a single number: return one value per image, shape ({b},). Average the "
                            "squared error over dim=(1, 2, 3) only.")
    expect_shape("psnr", out, (b,), "One value per image.")
    if _is(out, want, atol=1e-3):
        passed("PSNR per image matches 10 * log10(2**2 / MSE).")
        return
    if _is(out, want - 20 * math.log10(2.0), atol=1e-3):
        raise ExerciseError("your PSNR is 6.02 dB too low: the images span [-1, 1], so the peak-to-peak range "
                            "is 2 and the numerator is 2**2 = 4, not 1.")
    if _is(out, 10 * torch.log(4.0 / mse), atol=1e-3):
        raise ExerciseError("use log10, not the natural log: decibels are 10 * log10(ratio).")
    if _is(out, 20 * torch.log10(4.0 / mse), atol=1e-3) or _is(out, 20 * torch.log10(2.0 / mse), atol=1e-3):
        raise ExerciseError("20 * log10 goes with the RMSE (a ratio of amplitudes); with the MSE (a ratio of "
                            "powers) it is 10 * log10(range**2 / MSE).")
    batch = 10 * torch.log10(4.0 / mse.mean())
    if _is(out, batch.expand(b), atol=1e-3):
        raise ExerciseError("every image got the same PSNR, that of the pooled batch MSE: compute the MSE per "
                            "image.")
    raise ExerciseError("psnr has the right shape but wrong values: 10 * log10(2**2 / mean((x - y)**2)).")


def check_interpolation(fn) -> None:
    """Check ``fn(z0, z1, n) -> zs``: ``n`` latents on the straight line from ``z0`` to ``z1``, ends included.

    ``z0`` and ``z1`` have the same shape ``(C, h, w)``; ``zs`` is ``(n, C, h, w)`` with ``zs[0] == z0`` and
    ``zs[-1] == z1``, equally spaced.
    """
    gen = torch.Generator().manual_seed(10)
    z0, z1 = torch.randn(4, 3, 3, generator=gen), torch.randn(4, 3, 3, generator=gen)
    for n in (2, 7):
        zs = call_answer(fn, z0, z1, n, what=f"your function with n={n}")
        if isinstance(zs, (list, tuple)):
            raise ExerciseError("return one tensor of shape (n, C, h, w): torch.stack the latents.")
        expect_shape("zs", zs, (n, *z0.shape), "Stack the n latents along a new first axis.")
        t = torch.linspace(0, 1, n).view(n, 1, 1, 1)
        want = (1 - t) * z0 + t * z1
        if _is(zs, want, atol=1e-5):
            continue
        if _is(zs, want.flip(0), atol=1e-5):
            raise ExerciseError("the path runs backwards: zs[0] must be z0 and zs[-1] must be z1.")
        if not _is(zs[-1], z1, atol=1e-5):
            raise ExerciseError(f"zs[-1] is not z1 (n={n}): include the end point, e.g. t = torch.linspace(0, 1, n) "
                                "rather than torch.arange(n) / n.")
        if not _is(zs[0], z0, atol=1e-5):
            raise ExerciseError(f"zs[0] is not z0 (n={n}): the path must start at z0.")
        raise ExerciseError("the end points are right but the steps are not equally spaced on the straight line "
                            "(1 - t) * z0 + t * z1.")
    passed("the latents are equally spaced on the line from z0 to z1, both ends included.")
