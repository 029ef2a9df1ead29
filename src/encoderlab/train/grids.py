"""Chapter 8: pictures of a run -- images tiled into one grid (*Data that needs no network*), and the sample
grids the command line writes (*Longer runs: the command line and ``torchrun``*)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .._validation import check_int, check_path, check_spatial_min, check_tensor
from ..vae import VAE

__all__ = ["image_grid", "write_sample_grid"]


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 1) -> torch.Tensor:
    """Tile ``(N, C, H, W)`` images in ``[-1, 1]`` into one ``(rows*(H+p)+p, nrow*(W+p)+p, C)`` array in ``[0, 1]``.

    Grey images (``C == 1``) give ``(..., 1)``; squeeze the last axis for ``plt.imshow(..., cmap="gray")``.
    Chapter 8, *Data that needs no network*.
    """
    check_tensor("images", images, ndim=4, layout="(N, C, H, W)")
    if images.shape[0] < 1:
        raise ValueError(f"images must hold at least one image, got shape {tuple(images.shape)}")
    check_spatial_min("images", images, 1, why="an image cannot be empty")
    check_int("nrow", nrow, min_value=1)
    check_int("padding", padding, min_value=0)
    n, c, h, w = images.shape
    rows = math.ceil(n / nrow)
    grid = torch.ones(c, rows * (h + padding) + padding, nrow * (w + padding) + padding)
    unit = ((images.detach().float().cpu() + 1.0) / 2.0).clamp(0.0, 1.0)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = unit[i]
    return grid.permute(1, 2, 0)


def write_sample_grid(model: VAE, images: torch.Tensor, path: Path, *, seed: int = 0) -> None:
    """Write a PNG with three rows: ``images`` ``(N, C, H, W)``, their reconstructions, and ``N`` samples from
    the prior (drawn from ``seed``). Small images are enlarged to about 64 pixels, pixels kept square.

    Chapter 8, *Longer runs: the command line and ``torchrun``*.
    """
    import matplotlib.image

    from .config import check_trainable

    check_trainable("model", model)
    path = Path(check_path("path", path))
    check_int("seed", seed, min_value=0)
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        rows = torch.cat([images, model.reconstruct(images),
                          model.sample_prior(images.shape[0], *images.shape[-2:], generator=gen)]).float().cpu()
    model.train(was_training)
    grid = image_grid(rows, nrow=images.shape[0])
    scale = max(1, 64 // images.shape[-1])  # small images (8x8 digits) are enlarged, pixels kept square
    grid = grid.repeat_interleave(scale, dim=0).repeat_interleave(scale, dim=1).numpy()
    if grid.shape[-1] == 1:
        grid = grid.repeat(3, axis=-1)
    path.parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(path, grid)
