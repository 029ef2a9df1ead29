"""Chapter 5, *Reparameterization*: the diagonal Gaussian posterior of a VAE, the reparameterization trick, and
the ELBO loss.

An encoder emits ``moments`` of shape ``(B, 2*z, ...)``; :class:`DiagonalGaussian` reads them as a mean and a
log-variance (LDM's ``DiagonalGaussianDistribution``, diffusers' class of the same name), samples by
reparameterization, and gives the closed-form KL divergence that enters the loss (:func:`elbo_loss`, the one
ELBO of the package: Chapter 8's trainer uses it too).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ._validation import (
    check_bool,
    check_float,
    check_generator,
    check_one_of,
    check_spatial_min,
    check_tensor,
)

__all__ = ["REDUCTIONS", "DiagonalGaussian", "ELBOTerms", "elbo_loss"]


class DiagonalGaussian:
    """A Gaussian with diagonal covariance, built from the encoder's ``moments``.

    ``moments`` has shape ``(B, 2*z, *spatial)`` (any number of spatial axes, none included): the first ``z``
    channels are the mean, the last ``z`` the log-variance. The log-variance is clamped to ``[-30, 20]`` so that
    ``exp`` neither overflows nor underflows (``var`` stays within about ``[1e-13, 5e8]``).

    Attributes (all of the latent shape ``(B, z, *spatial)``): ``mean``, ``logvar`` (clamped), ``std``, ``var``.
    With ``deterministic=True`` the variance and the standard deviation are zero, ``sample() == mode()``, and
    ``kl``/``nll`` are zero (as in LDM and diffusers; ``logvar`` keeps the clamped value).

    Reductions (``kl``, ``nll``) sum over every non-batch axis and return shape ``(B,)``.

    Chapter 5, *From moments to a Gaussian* (the clamp: *Why clamp the log-variance?*).
    """

    LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0

    def __init__(self, moments: torch.Tensor, deterministic: bool = False) -> None:
        check_tensor("moments", moments)
        check_bool("deterministic", deterministic)
        if moments.dim() < 2:
            raise ValueError(f"moments must have shape (B, 2*z, ...) with at least 2 dimensions, "
                             f"got shape {tuple(moments.shape)}")
        if moments.shape[1] % 2 != 0:
            raise ValueError(
                f"moments must have an even number of channels (mean and log-variance, 2*z), got "
                f"{moments.shape[1]} channels in shape {tuple(moments.shape)}"
            )
        if moments.shape[1] == 0:
            raise ValueError(f"moments has no channels: shape {tuple(moments.shape)}")
        if moments.dim() > 2:
            check_spatial_min("moments", moments, 1, dims=moments.dim() - 2, why="an empty latent has nothing to "
                              "sample")
        self.moments = moments
        self.deterministic = deterministic
        self.mean, logvar = torch.chunk(moments, 2, dim=1)
        self.logvar = torch.clamp(logvar, self.LOGVAR_MIN, self.LOGVAR_MAX)
        if deterministic:
            self.std = torch.zeros_like(self.mean)
            self.var = torch.zeros_like(self.mean)
        else:
            self.std = torch.exp(0.5 * self.logvar)
            self.var = torch.exp(self.logvar)

    @classmethod
    def from_mean_logvar(cls, mean: torch.Tensor, logvar: torch.Tensor, deterministic: bool = False):
        """Build from a mean and a log-variance of the same shape ``(B, z, ...)``."""
        check_tensor("mean", mean)
        check_tensor("logvar", logvar)
        if mean.shape != logvar.shape:
            raise ValueError(f"mean and logvar must have the same shape, got {tuple(mean.shape)} and "
                             f"{tuple(logvar.shape)}")
        return cls(torch.cat([mean, logvar], dim=1), deterministic=deterministic)

    @property
    def shape(self) -> torch.Size:
        """The latent shape ``(B, z, *spatial)``."""
        return self.mean.shape

    def _dims(self) -> list[int]:
        return list(range(1, self.mean.dim()))

    def _zeros(self) -> torch.Tensor:
        return torch.zeros(self.mean.shape[0], device=self.mean.device, dtype=self.mean.dtype)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """``mean + std * eps`` with ``eps ~ N(0, I)``: the reparameterization trick.

        The randomness sits in ``eps`` alone, so gradients reach ``mean`` and ``logvar`` (through ``std``).
        ``generator`` makes the draw reproducible; a generator on another device than the latent (e.g. a CPU
        generator for a CUDA latent) draws on its own device and the noise is moved, so a seed gives the same
        sample on every device (diffusers does the same). Shape: the latent shape.
        Chapter 5, *Sampling, and the reparameterization trick*.
        """
        check_generator("generator", generator)
        draw_on = self.mean.device if generator is None else generator.device
        eps = torch.randn(self.mean.shape, generator=generator, device=draw_on, dtype=self.mean.dtype)
        return self.mean + self.std * eps.to(self.mean.device)

    def mode(self) -> torch.Tensor:
        """The most likely latent: the mean."""
        return self.mean

    def kl(self, other: DiagonalGaussian | None = None) -> torch.Tensor:
        """KL(self || other), or KL(self || N(0, I)) when ``other`` is None; shape ``(B,)``.

        ``0.5 * sum(mean**2 + var - 1 - logvar)`` against the standard normal, and
        ``0.5 * sum((m1 - m2)**2 / v2 + v1 / v2 - 1 - log v1 + log v2)`` against another diagonal Gaussian.
        Chapter 5, *The KL term in closed form*.
        """
        if other is not None:
            if not isinstance(other, DiagonalGaussian):
                raise TypeError(f"other must be a DiagonalGaussian or None, got {type(other).__name__}")
            if other.mean.shape != self.mean.shape:
                raise ValueError(f"other has latent shape {tuple(other.mean.shape)}, expected "
                                 f"{tuple(self.mean.shape)}")
        if self.deterministic:
            return self._zeros()
        if other is None:
            terms = self.mean.pow(2) + self.var - 1.0 - self.logvar
        else:
            terms = ((self.mean - other.mean).pow(2) / other.var + self.var / other.var - 1.0
                     - self.logvar + other.logvar)
        return 0.5 * terms.sum(dim=self._dims())

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood ``-log N(x; mean, var)`` summed over non-batch axes; shape ``(B,)``."""
        check_tensor("x", x)
        if x.shape != self.mean.shape:
            raise ValueError(f"x has shape {tuple(x.shape)}, expected the latent shape {tuple(self.mean.shape)}")
        if self.deterministic:
            return self._zeros()
        terms = math.log(2.0 * math.pi) + self.logvar + (x - self.mean).pow(2) / self.var
        return 0.5 * terms.sum(dim=self._dims())

    def to_torch(self) -> torch.distributions.Distribution:
        """The same distribution as a ``torch.distributions`` object: ``Independent(Normal(mean, std), z+spatial)``.

        Its ``rsample`` is our ``sample``, its ``log_prob`` is ``-nll`` and ``kl_divergence`` matches ``kl``.
        Not available for a deterministic posterior (a Normal needs ``std > 0``).
        """
        if self.deterministic:
            raise ValueError("a deterministic DiagonalGaussian has std = 0, which torch.distributions.Normal "
                             "does not accept")
        normal = torch.distributions.Normal(self.mean, self.std)
        return torch.distributions.Independent(normal, self.mean.dim() - 1)

    def __repr__(self) -> str:
        return f"DiagonalGaussian(latent shape={tuple(self.mean.shape)}, deterministic={self.deterministic})"


class ELBOTerms(NamedTuple):
    """The terms of the negative ELBO: scalars averaged (or summed) over the batch, or ``(B,)`` per image.

    Chapter 5, *The ELBO: what a VAE maximises*.
    """

    loss: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


REDUCTIONS = ("mean", "sum", "none")


def elbo_loss(x: torch.Tensor, reconstruction: torch.Tensor, posterior: DiagonalGaussian, *, beta: float = 1.0,
              kind: str = "mse", reduction: str = "mean") -> ELBOTerms:
    """The VAE loss ``reconstruction + beta * KL(q(z|x) || N(0, I))``, averaged over the batch by default.

    ``x`` and ``reconstruction``: ``(B, ...)`` of the same shape; ``posterior``: the encoder's
    :class:`DiagonalGaussian` for this batch. The reconstruction term is summed over every non-batch axis,
    like the KL, so that ``beta = 1`` is the negative ELBO of a decoder ``p(x|z) = N(x_hat, 1/2)`` (``"mse"``:
    squared error) or ``Laplace(x_hat, 1)`` (``"l1"``: absolute error, as in LDM), up to a constant.
    ``reduction``: ``"mean"`` (scalars, what an optimiser minimises), ``"sum"`` over the batch, or ``"none"``
    (one value per image, shape ``(B,)``: what Chapter 8's trainer logs). The terms are computed in at least
    float32 (a half-precision reconstruction under autocast is upcast).
    Returns ``ELBOTerms(loss, reconstruction, kl)``. Chapter 5, *The ELBO: what a VAE maximises*; Chapter 8,
    *The objective: the evidence lower bound*.
    """
    check_tensor("x", x, min_ndim=2, layout="(B, ...)")
    check_tensor("reconstruction", reconstruction)
    if not isinstance(posterior, DiagonalGaussian):
        raise TypeError(f"posterior must be a DiagonalGaussian, got {type(posterior).__name__}")
    if x.shape != reconstruction.shape:
        raise ValueError(f"x has shape {tuple(x.shape)} but reconstruction has {tuple(reconstruction.shape)}")
    if x.shape[0] != posterior.mean.shape[0]:
        raise ValueError(f"x {tuple(x.shape)} and the posterior {tuple(posterior.mean.shape)} must share the "
                         "batch size (dimension 0)")
    beta = check_float("beta", beta, min_value=0.0)
    check_one_of("kind", kind, ("mse", "l1"))
    check_one_of("reduction", reduction, REDUCTIONS)
    dtype = torch.promote_types(torch.promote_types(x.dtype, reconstruction.dtype), torch.float32)
    err = reconstruction.to(dtype) - x.to(dtype)
    per_element = err.pow(2) if kind == "mse" else err.abs()
    recon = per_element.sum(dim=list(range(1, x.dim())))
    kl = posterior.kl()
    kl = kl.to(torch.promote_types(kl.dtype, torch.float32))
    if reduction != "none":
        recon, kl = (recon.mean(), kl.mean()) if reduction == "mean" else (recon.sum(), kl.sum())
    return ELBOTerms(recon + beta * kl, recon, kl)


class _PriorAndPosterior:
    """What an autoencoder with a diagonal-Gaussian posterior and an N(0, I) prior offers once it has
    ``encode_moments``, ``decode`` and ``latent_shape``: the seed-003 VAE (Chapter 8) and LDM's AutoencoderKL
    (Chapter 7) share it."""

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction through the posterior mean: ``decode(mean)``."""
        return self.decode(DiagonalGaussian(self.encode_moments(x)).mean)

    @torch.no_grad()
    def sample_prior(self, num: int, height: int, width: int | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``num`` latents drawn from the prior N(0, I): ``(num, channels, height, width)``."""
        from ._validation import check_int

        check_int("num", num, min_value=1)
        check_generator("generator", generator)
        shape = self.latent_shape(height, width)
        ref = next(self.parameters())
        noise_device = generator.device if generator is not None else ref.device
        z = torch.randn((num, *shape), generator=generator, device=noise_device)
        return self.decode(z.to(device=ref.device, dtype=ref.dtype))
