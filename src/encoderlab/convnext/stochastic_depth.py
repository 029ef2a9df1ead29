"""Chapter 6, *Layer scale and stochastic depth*: stochastic depth (Huang et al., 2016).

The layer scale half of the section is the ``gamma`` parameter of :class:`encoderlab.ConvNeXtBlock`.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_bool, check_float, check_generator, check_tensor

__all__ = ["StochasticDepth", "drop_path"]


def drop_path(x: torch.Tensor, p: float, training: bool = True,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Stochastic depth on a residual branch ``x`` of shape ``(B, *)`` (Chapter 6, *Layer scale and
    stochastic depth*).

    In training, each *sample* keeps its whole branch with probability ``1 - p`` and loses all of it with
    probability ``p``; kept samples are divided by ``1 - p`` so that the expected output equals ``x``. In
    evaluation (``training=False``) or with ``p = 0`` it returns ``x`` itself. ``p = 1`` drops everything.
    """
    check_tensor("x", x, min_ndim=1, layout="(B, *): a batch axis")
    p = check_float("p", p, min_value=0.0, max_value=1.0)
    check_bool("training", training)
    check_generator("generator", generator)
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
    mask.bernoulli_(keep, generator=generator)              # one draw per sample, broadcast over the rest
    if keep > 0.0:
        mask.div_(keep)
    return x * mask


class StochasticDepth(nn.Module):
    """Module form of :func:`drop_path` (Chapter 6, *Layer scale and stochastic depth*; timm's ``DropPath``,
    torchvision's ``StochasticDepth(p, "row")``).

    Active in ``train()`` mode only; the identity in ``eval()`` mode. No parameters. Shape: unchanged.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = check_float("p", p, min_value=0.0, max_value=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
