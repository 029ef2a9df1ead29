"""Chapter 7, *A trained autoencoder at work*: what an autoencoder must beat.

A latent of ``c`` channels at ``1/f`` of the image's height and width keeps ``c * (H/f) * (W/f)`` numbers
of an image's ``3 * H * W``. Two classical codes keep the same number of numbers, or fewer:

- :func:`bicubic_baseline`: shrink the image (bicubic, antialiased) to the largest square RGB size whose
  values fit in that budget, and enlarge it back (bicubic);
- :func:`pca_patch_baseline`: cut the image into ``f`` x ``f`` patches and keep, per patch, its first ``c``
  principal components, fitted on the training photographs (the component basis and the mean are part of the
  method, like an autoencoder's weights; only the per-patch coefficients count as the code).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._validation import check_int, check_tensor

__all__ = ["bicubic_baseline", "bicubic_side", "fit_patch_pca", "pca_patch_baseline"]


def bicubic_side(numbers: int, channels: int = 3) -> int:
    """The largest square size ``s`` with ``channels * s * s <= numbers``."""
    check_int("numbers", numbers, min_value=channels)
    check_int("channels", channels, min_value=1)
    side = math.isqrt(numbers // channels)
    return side


def bicubic_baseline(images: torch.Tensor, numbers: int) -> torch.Tensor:
    """``images`` ``(B, C, H, W)`` in ``[-1, 1]`` shrunk to keep at most ``numbers`` values each, then enlarged
    back to ``H x W`` (both bicubic; the shrink antialiased), clamped to ``[-1, 1]``.

    Chapter 7, *A trained autoencoder at work*.
    """
    check_tensor("images", images, ndim=4, layout="(B, C, H, W)")
    b, c, h, w = images.shape
    side = bicubic_side(numbers, c)
    if side >= min(h, w):
        return images.clone()
    small = F.interpolate(images.float(), size=(side, side), mode="bicubic", antialias=True, align_corners=False)
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(-1.0, 1.0)


def _patches(image: torch.Tensor, patch: int) -> torch.Tensor:
    """``(C, H, W)`` -> ``(N, C*patch*patch)``, non-overlapping patches (the edge remainder dropped)."""
    c = image.shape[0]
    grid = image.unfold(1, patch, patch).unfold(2, patch, patch)  # (C, nh, nw, p, p)
    return grid.permute(1, 2, 0, 3, 4).reshape(-1, c * patch * patch)


def fit_patch_pca(images, patch: int, components: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean ``(D,)`` and the first ``components`` principal directions ``(components, D)`` of the
    non-overlapping ``patch`` x ``patch`` patches of ``images`` (a sequence of ``(C, H, W)`` tensors),
    computed in float64. Chapter 7, *A trained autoencoder at work*."""
    check_int("patch", patch, min_value=1)
    check_int("components", components, min_value=1)
    rows = torch.cat([_patches(torch.as_tensor(im).double(), patch) for im in images])
    if components > rows.shape[1]:
        raise ValueError(f"components must be at most the patch dimension {rows.shape[1]}, got {components}")
    mean = rows.mean(0)
    _, _, vh = torch.linalg.svd(rows - mean, full_matrices=False)
    return mean, vh[:components]


def pca_patch_baseline(images: torch.Tensor, patch: int, components: int, train_images) -> torch.Tensor:
    """Each ``patch`` x ``patch`` patch of ``images`` ``(B, C, H, W)`` replaced by its projection on the first
    ``components`` principal directions of ``train_images``' patches (:func:`fit_patch_pca`), clamped to
    ``[-1, 1]``: a code of ``components`` numbers per patch. ``H`` and ``W`` must be multiples of ``patch``.

    Chapter 7, *A trained autoencoder at work*.
    """
    check_tensor("images", images, ndim=4, layout="(B, C, H, W)")
    b, c, h, w = images.shape
    check_int("patch", patch, min_value=1)
    if h % patch or w % patch:
        raise ValueError(f"images of {h}x{w} do not split into {patch}x{patch} patches; use a multiple of {patch}")
    mean, basis = fit_patch_pca(train_images, patch, components)
    out = []
    for image in images:
        rows = _patches(image.double(), patch)
        coded = (rows - mean) @ basis.T  # (N, components): the code
        rows = coded @ basis + mean
        grid = rows.reshape(h // patch, w // patch, c, patch, patch).permute(2, 0, 3, 1, 4)
        out.append(grid.reshape(c, h, w))
    return torch.stack(out).to(images.dtype).clamp(-1.0, 1.0)
