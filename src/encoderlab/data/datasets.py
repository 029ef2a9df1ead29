"""Chapter 8, *Data that needs no network*: image data shipped with a package.

Three datasets, all as float tensors ``(N, C, H, W)`` scaled to ``[-1, 1]`` (the seed's convention):

- ``"digits"``: scikit-learn's 1,797 handwritten digits (8x8 grey, shipped inside scikit-learn; the UCI
  optical-recognition test set), at their native 8x8 (or resized to ``image_size`` with bilinear interpolation).
- ``"photos"``: square patches of the two photographs scikit-learn ships (``load_sample_images``: a temple in
  China and a flower, 427x640 RGB). The held-out split is *spatially disjoint*: validation patches come from the
  right-most columns of each photo, which no training patch touches.
- ``"shapes"``: procedurally generated RGB images (discs, squares and triangles of random colour, position and
  size on a colour gradient), a pure function of ``seed``.
- ``"photographs"``: random crops of the eighteen training photographs of scikit-image and Matplotlib
  (:mod:`~encoderlab.data.photographs`, which also holds the four held-out photographs that no split of this
  dataset contains); ``"val"`` is a fixed set of crops of the same training photographs, for watching a run.

:func:`make_dataset` returns one split as an :class:`ImageDataset`.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .._validation import check_float, check_int, check_one_of, check_spatial_min, check_tensor

__all__ = [
    "DATASETS",
    "ImageDataset",
    "dataset_image_shape",
    "load_digits_images",
    "load_photo_patches",
    "make_dataset",
    "make_shapes",
    "split_indices",
]

DATASETS = ("digits", "photos", "shapes", "photographs")
_CHANNELS = {"digits": 1, "photos": 3, "shapes": 3, "photographs": 3}
_DEFAULT_SIZE = {"digits": 8, "photographs": 128}


def dataset_image_shape(name: str, image_size: int | None = None) -> tuple[int, int, int]:
    """``(C, H, W)`` of the images of dataset ``name`` at ``image_size`` (default: 8 for the digits, their
    native size, 128 for the photographs' crops, 32 otherwise), known without loading anything.
    Chapter 8, *Data that needs no network*."""
    check_one_of("name", name, DATASETS)
    size = _DEFAULT_SIZE.get(name, 32) if image_size is None else image_size
    check_int("image_size", size, min_value=8)
    return (_CHANNELS[name], size, size)


def _to_unit_range(x: torch.Tensor, max_value: float) -> torch.Tensor:
    """Map ``[0, max_value]`` to ``[-1, 1]``."""
    return x / max_value * 2.0 - 1.0


def split_indices(n: int, val_fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of ``range(n)`` into ``(train, val)`` index tensors (each sorted).

    ``val`` has ``round(n * val_fraction)`` entries (at least 1 when ``val_fraction > 0``). Chapter 8, *Data that needs no network*.
    """
    check_int("n", n, min_value=2)
    check_float("val_fraction", val_fraction, min_value=0.0, max_value=0.9)
    check_int("seed", seed, min_value=0)
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def _sklearn_file(*parts: str) -> Path | None:
    """The path of a data file shipped inside scikit-learn, found WITHOUT importing scikit-learn (slow to import).

    Returns None when scikit-learn is missing or its layout changed; callers then use scikit-learn's API.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.is_file() else None


def load_digits_images(image_size: int = 8) -> torch.Tensor:
    """All 1,797 scikit-learn digits as ``(1797, 1, image_size, image_size)`` in ``[-1, 1]`` (float32).

    Chapter 8, *Data that needs no network*.
    """
    check_int("image_size", image_size, min_value=8)
    path = _sklearn_file("datasets", "data", "digits.csv.gz")
    if path is not None:  # the file behind sklearn.datasets.load_digits: 64 pixel values (0..16) and the label
        with gzip.open(path, "rt") as handle:
            rows = np.loadtxt(handle, delimiter=",", dtype=np.float32)
        pixels = rows[:, :64].reshape(-1, 8, 8)
    else:
        try:
            from sklearn.datasets import load_digits
        except ImportError as err:  # pragma: no cover - scikit-learn is in requirements.txt
            raise ImportError("the 'digits' dataset needs scikit-learn: pip install scikit-learn") from err
        pixels = load_digits().images
    images = _to_unit_range(torch.as_tensor(pixels, dtype=torch.float32).unsqueeze(1), 16.0)  # (N, 1, 8, 8)
    if image_size != 8:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return images.clamp(-1.0, 1.0).contiguous()


def _sample_photos() -> list[torch.Tensor]:
    paths = [_sklearn_file("datasets", "images", name) for name in ("china.jpg", "flower.jpg")]
    if all(p is not None for p in paths):  # the files behind sklearn.datasets.load_sample_images, read by Pillow
        from PIL import Image

        photos = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    else:
        try:
            from sklearn.datasets import load_sample_images
        except ImportError as err:  # pragma: no cover
            raise ImportError("the 'photos' dataset needs scikit-learn and Pillow: pip install scikit-learn") from err
        photos = load_sample_images().images  # two uint8 arrays (427, 640, 3)
    return [torch.tensor(p).permute(2, 0, 1).float() for p in photos]


def load_photo_patches(split: str = "train", patch_size: int = 32, stride: int | None = None,
                       scale: float = 0.5, val_fraction: float = 0.2) -> torch.Tensor:
    """Square RGB patches ``(N, 3, patch_size, patch_size)`` in ``[-1, 1]`` from scikit-learn's two photos.

    Each photo is first resized by ``scale`` (0.5: 214x320, so a patch shows more structure), then cut into
    patches on a grid with step ``stride`` (default ``patch_size // 4``). The right-most ``val_fraction`` of the
    columns of each photo is reserved for ``split="val"``; ``"train"`` patches come from the rest, so the two
    splits share no pixel. Chapter 8, *Data that needs no network*.
    """
    check_one_of("split", split, ("train", "val"))
    check_int("patch_size", patch_size, min_value=4)
    stride = patch_size // 4 if stride is None else stride
    check_int("stride", stride, min_value=1)
    check_float("scale", scale, positive=True, max_value=1.0)
    check_float("val_fraction", val_fraction, min_value=0.05, max_value=0.5)
    out = []
    for photo in _sample_photos():
        if scale != 1.0:
            h, w = photo.shape[-2:]
            size = (round(h * scale), round(w * scale))
            photo = F.interpolate(photo[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
        h, w = photo.shape[-2:]
        cut = round(w * (1.0 - val_fraction))
        region = photo[:, :, :cut] if split == "train" else photo[:, :, cut:]
        if region.shape[-1] < patch_size or h < patch_size:
            raise ValueError(f"patch_size={patch_size} is larger than the {split} region {tuple(region.shape[-2:])}"
                             f" of a photo at scale={scale}")
        patches = region.unfold(1, patch_size, stride).unfold(2, patch_size, stride)  # (3, nh, nw, P, P)
        out.append(patches.permute(1, 2, 0, 3, 4).reshape(-1, 3, patch_size, patch_size))
    return _to_unit_range(torch.cat(out), 255.0).clamp(-1.0, 1.0).contiguous()


def make_shapes(n: int, image_size: int = 32, seed: int = 0) -> torch.Tensor:
    """``n`` procedurally generated RGB images ``(n, 3, image_size, image_size)`` in ``[-1, 1]``.

    Every image is a two-colour vertical/horizontal gradient with one to three shapes (disc, square or triangle)
    of random colour, centre and size painted on top. The result is a pure function of ``(n, image_size, seed)``.
    Chapter 8, *Data that needs no network*.
    """
    check_int("n", n, min_value=1)
    check_int("image_size", image_size, min_value=8)
    check_int("seed", seed, min_value=0)
    g = torch.Generator().manual_seed(seed)
    s = image_size
    coords = (torch.arange(s, dtype=torch.float32) + 0.5) / s
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")  # (S, S) in (0, 1)
    c0, c1 = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    angle = torch.rand(n, 1, 1, generator=g) * 2 * math.pi
    t = (torch.cos(angle) * (xx - 0.5) + torch.sin(angle) * (yy - 0.5) + 0.5).clamp(0, 1)  # (n, S, S)
    images = 0.6 * (c0 * (1 - t[:, None]) + c1 * t[:, None])  # darker background, (n, 3, S, S)
    num_shapes = torch.randint(1, 4, (n,), generator=g)
    for k in range(3):
        kind = torch.randint(0, 3, (n, 1, 1), generator=g)
        centre = 0.2 + 0.6 * torch.rand(n, 2, 1, 1, generator=g)
        radius = 0.1 + 0.15 * torch.rand(n, 1, 1, generator=g)
        colour = torch.rand(n, 3, 1, 1, generator=g)
        dx, dy = xx - centre[:, 0], yy - centre[:, 1]
        disc = dx**2 + dy**2 <= radius**2
        square = (dx.abs() <= radius * 0.85) & (dy.abs() <= radius * 0.85)
        # upward triangle: below the apex, inside two slanted edges
        triangle = (dy <= radius * 0.8) & (dy >= -radius) & (dx.abs() <= (dy + radius) * 0.6)
        mask = torch.where(kind == 0, disc, torch.where(kind == 1, square, triangle))
        mask = mask & (num_shapes > k).view(n, 1, 1)
        images = torch.where(mask[:, None], colour.expand(-1, -1, s, s), images)
    return (images * 2.0 - 1.0).clamp(-1.0, 1.0).contiguous()


@functools.lru_cache(maxsize=2)
def _cached_shapes(n: int, image_size: int, seed: int) -> torch.Tensor:
    """``make_shapes`` for :func:`make_dataset`, which builds the train and val splits from the same images."""
    return make_shapes(n, image_size, seed)


class ImageDataset(Dataset):
    """A map-style dataset over an in-memory image tensor ``(N, C, H, W)``; item ``i`` is ``images[i]``.

    Chapter 8, *Data that needs no network*.
    """

    def __init__(self, images: torch.Tensor, name: str = "images") -> None:
        check_tensor("images", images, ndim=4, layout="(N, C, H, W)")
        if images.shape[0] < 1:
            raise ValueError("images must hold at least one image")
        if images.shape[1] < 1:
            raise ValueError(f"images must have at least one channel, got shape {tuple(images.shape)}")
        check_spatial_min("images", images, 1, why="an image cannot be empty")
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__} {name!r}")
        self.images = images
        self.name = name

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every item."""
        return tuple(self.images.shape[1:])

    def __repr__(self) -> str:
        return f"ImageDataset({self.name!r}, {len(self)} images of shape {self.image_shape})"


def make_dataset(name: str, split: str = "train", image_size: int | None = None, *, val_fraction: float = 0.2,
                 seed: int = 0, num_shapes_images: int = 4096) -> ImageDataset:
    """One split (``"train"``, ``"val"`` or ``"all"``) of a dataset named in :data:`DATASETS`, offline.

    ``image_size`` defaults to 8 for digits (their native size) and 32 otherwise. The split is seeded (digits,
    shapes) or spatial (photos, see :func:`load_photo_patches`); ``seed`` only changes the random split and the
    generated shapes.
    Chapter 8, *Data that needs no network*.
    """
    image_size = dataset_image_shape(name, image_size)[-1]
    check_one_of("split", split, ("train", "val", "all"))
    check_float("val_fraction", val_fraction, min_value=0.0, max_value=0.9)
    check_int("seed", seed, min_value=0)
    if name == "photographs":
        from .photographs import PhotoCrops

        if split == "all":
            raise ValueError("the 'photographs' dataset has no split 'all': its crops are drawn at random "
                             "('train') or fixed for watching a run ('val')")
        if split == "train":
            return PhotoCrops(image_size, seed=seed)
        return PhotoCrops(image_size, length=64, seed=seed, split="monitor")
    if name == "photos":
        if split == "all":
            images = torch.cat([load_photo_patches(s, image_size, val_fraction=val_fraction)
                                for s in ("train", "val")])
        else:
            images = load_photo_patches(split, image_size, val_fraction=val_fraction)
        return ImageDataset(images, f"photos/{split}")
    if name == "digits":
        images = load_digits_images(image_size)
    else:
        check_int("num_shapes_images", num_shapes_images, min_value=2)
        images = _cached_shapes(num_shapes_images, image_size, seed)
    if split == "all":
        images = images.clone()
    else:
        train_idx, val_idx = split_indices(images.shape[0], val_fraction, seed)
        images = images[train_idx if split == "train" else val_idx]  # advanced indexing copies
    return ImageDataset(images.contiguous(), f"{name}/{split}")
