"""Chapter 5: the diagonal Gaussian posterior of a VAE and the reparameterization trick."""

from __future__ import annotations

import math

import torch

from ._validation import check_tensor

__all__ = ["DiagonalGaussian"]


class DiagonalGaussian:
    """A Gaussian with diagonal covariance, built from the encoder's ``moments``.

    ``moments`` has shape ``(B, 2*z, *)``: the first ``z`` channels are the mean, the last ``z`` the log-variance
    (LDM's ``DiagonalGaussianDistribution``). The log-variance is clamped to ``[-30, 20]`` so that ``exp`` never
    overflows or underflows. With ``deterministic=True`` the variance is zero and ``sample() == mode()``.

    Reductions (``kl``, ``nll``) sum over every non-batch axis and return shape ``(B,)``.
    """

    LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0

    def __init__(self, moments: torch.Tensor, deterministic: bool = False) -> None:
        check_tensor("moments", moments)
        if moments.dim() < 2:
            raise ValueError(f"moments must have shape (B, 2*z, ...), got {tuple(moments.shape)}")
        if moments.shape[1] % 2 != 0:
            raise ValueError(
                f"moments must have an even number of channels (mean and log-variance), got {moments.shape[1]}"
            )
        self.moments = moments
        self.deterministic = deterministic
        self.mean, logvar = torch.chunk(moments, 2, dim=1)
        self.logvar = torch.clamp(logvar, self.LOGVAR_MIN, self.LOGVAR_MAX)
        if deterministic:
            self.logvar = torch.full_like(self.mean, -math.inf).clamp(self.LOGVAR_MIN)
            self.std = torch.zeros_like(self.mean)
            self.var = torch.zeros_like(self.mean)
        else:
            self.std = torch.exp(0.5 * self.logvar)
            self.var = torch.exp(self.logvar)

    def _dims(self) -> list[int]:
        return list(range(1, self.mean.dim()))

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """``mean + std * eps`` with ``eps ~ N(0, I)``: the reparameterization trick (gradients reach mean and std)."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        """The most likely latent: the mean."""
        return self.mean

    def kl(self, other: DiagonalGaussian | None = None) -> torch.Tensor:
        """KL(self || other), or KL(self || N(0, I)) when ``other`` is None; shape ``(B,)``."""
        if self.deterministic:
            return torch.zeros(self.mean.shape[0], device=self.mean.device, dtype=self.mean.dtype)
        if other is None:
            terms = self.mean.pow(2) + self.var - 1.0 - self.logvar
        else:
            if not isinstance(other, DiagonalGaussian):
                raise TypeError(f"other must be a DiagonalGaussian or None, got {type(other).__name__}")
            if other.mean.shape != self.mean.shape:
                raise ValueError(f"other has mean shape {tuple(other.mean.shape)}, expected {tuple(self.mean.shape)}")
            terms = (self.mean - other.mean).pow(2) / other.var + self.var / other.var - 1.0 - self.logvar + other.logvar
        return 0.5 * terms.sum(dim=self._dims())

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of ``x`` under this Gaussian, summed over non-batch axes; shape ``(B,)``."""
        check_tensor("x", x)
        if x.shape != self.mean.shape:
            raise ValueError(f"x has shape {tuple(x.shape)}, expected the latent shape {tuple(self.mean.shape)}")
        if self.deterministic:
            return torch.zeros(self.mean.shape[0], device=self.mean.device, dtype=self.mean.dtype)
        terms = math.log(2.0 * math.pi) + self.logvar + (x - self.mean).pow(2) / self.var
        return 0.5 * terms.sum(dim=self._dims())

    def __repr__(self) -> str:
        return f"DiagonalGaussian(mean shape={tuple(self.mean.shape)}, deterministic={self.deterministic})"
