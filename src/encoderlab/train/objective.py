"""Chapter 8, *The objective: the evidence lower bound*: what the trainer minimises, and how it is measured.

For one image ``x`` with ``D = C*H*W`` values, posterior ``q(z|x) = N(mean, diag(var))`` and decoder output
``x_hat = decode(z)``, ``z = mean + std * eps``:

    recon = sum (x - x_hat)^2          ("mse"; = -log p(x|z) + const for a Gaussian decoder with variance 1/2)
          or sum |x - x_hat|           ("l1";  = -log p(x|z) + const for a Laplace decoder with scale 1)
    kl    = KL(q(z|x) || N(0, I))      (closed form, summed over the latent)
    loss  = recon + beta_t * kl        (beta_t = beta * min(1, step / kl_warmup_steps))

With ``beta = 1`` the loss is the negative ELBO up to a constant. The terms are Chapter 5's
:func:`~encoderlab.distributions.elbo_loss` with ``reduction="none"`` (one value per image, in nats); the
optimiser minimises ``loss / D`` averaged over the batch, so that the learning rate and the gradient-clipping
threshold do not depend on the image size.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_float, check_int, check_one_of, check_tensor
from ..distributions import DiagonalGaussian, ELBOTerms, elbo_loss
from ..vae import VAE
from .config import RECON_KINDS, check_trainable

__all__ = ["ELBOModel", "elbo_terms", "kl_weight", "psnr"]


def kl_weight(step: int, beta: float, warmup_steps: int = 0) -> float:
    """The KL weight at ``step``: ``beta * min(1, step / warmup_steps)`` (just ``beta`` without warm-up).

    Chapter 8, *Training on a CPU* (the KL warm-up).
    """
    check_int("step", step, min_value=0)
    check_float("beta", beta, min_value=0.0)
    check_int("warmup_steps", warmup_steps, min_value=0)
    if warmup_steps == 0:
        return float(beta)
    return float(beta) * min(1.0, step / warmup_steps)


def elbo_terms(x: torch.Tensor, x_hat: torch.Tensor, posterior: DiagonalGaussian, beta: float = 1.0,
               recon: str = "mse") -> dict[str, torch.Tensor]:
    """The per-image terms of :func:`~encoderlab.distributions.elbo_loss` as a dict ``{"recon", "kl", "loss"}``,
    each of shape ``(B,)``.

    Kept so that ``from encoderlab.train import elbo_terms`` keeps working; it only renames the fields of
    ``elbo_loss(x, x_hat, posterior, beta=beta, kind=recon, reduction="none")`` (the one ELBO, Chapter 5, *The
    ELBO: what a VAE maximises*), which new code calls directly.
    """
    terms = elbo_loss(x, x_hat, posterior, beta=beta, kind=recon, reduction="none")
    return {"recon": terms.reconstruction, "kl": terms.kl, "loss": terms.loss}


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(data_range^2 / MSE)`` in dB; shape ``(B,)``.

    ``data_range`` is max - min of the signal: 2 for images in ``[-1, 1]`` (the book's convention), 1 for
    ``[0, 1]``, 255 for bytes. Clamp a reconstruction to the data range first if the decoder may overshoot.
    Chapter 8, *How good is it? Held-out PSNR*.
    """
    check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
    check_tensor("y", y, ndim=4, layout="(B, C, H, W)")
    if x.shape != y.shape:
        raise ValueError(f"y has shape {tuple(y.shape)}, expected the shape of x {tuple(x.shape)}")
    check_float("data_range", data_range, positive=True)
    mse = (x.float() - y.float()).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return 10.0 * torch.log10(data_range**2 / mse)


class ELBOModel(nn.Module):
    """Encode, sample with the given noise, decode: the per-image ELBO terms of a batch (what DDP wraps).

    ``forward(x, eps, beta)`` takes images ``(B, C, H, W)`` and the reparameterization noise ``(B, *latent)``
    and returns :class:`~encoderlab.distributions.ELBOTerms` of shape ``(B,)`` each. The posterior is kept in
    float32 under autocast. Chapter 8, *The objective: the evidence lower bound*.
    """

    def __init__(self, vae: VAE, recon: str) -> None:
        check_trainable("vae", vae)
        check_one_of("recon", recon, RECON_KINDS)
        super().__init__()
        self.vae = vae
        self.recon = recon

    def forward(self, x: torch.Tensor, eps: torch.Tensor, beta: float) -> ELBOTerms:
        moments = self.vae.encode_moments(x)
        posterior = DiagonalGaussian(moments.float())
        z = posterior.mean + posterior.std * eps
        x_hat = self.vae.decode(z.to(moments.dtype))
        return elbo_loss(x, x_hat, posterior, beta=beta, kind=self.recon, reduction="none")
