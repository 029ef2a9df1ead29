"""Chapters 7 and 8, *Photographs that ship with a package*: real photographs for training and judging an
autoencoder, with no download.

scikit-image ships a few dozen test images inside its wheel, scikit-learn two sample photographs and
Matplotlib a portrait among its sample data. The real photographs among them (not the synthetic ones:
checkerboard, colour wheel, logo, blobs, horse silhouette, phantom) are split once, here, by *whole
photograph*:

- **held out** (:data:`HELD_OUT`): scikit-image's ``astronaut`` and ``coffee`` and scikit-learn's ``china.jpg``
  and ``flower.jpg``. They are never seen in training or in choosing a model; they are only judged, as
  256x256 centre crops (:func:`held_out_photographs`).
- **training** (:data:`TRAINING`): the other eighteen, grey ones used as RGB (the three channels equal): the
  sixteen other photographs of scikit-image (the motorcycle as its stereo pair, left and right) and
  Matplotlib's ``grace_hopper.jpg``. A model sees random crops of them, flipped at random and, half of the
  time, with their hues turned by a random angle (:class:`PhotoCrops`). Ten of the eighteen are grey (and
  one nearly), so grey photographs are cropped a quarter as often as colour ones: trained on them in
  proportion to their area, a model still reconstructed the colourful held-out photographs in shades of grey
  after a thousand steps.

Every photograph is first resized so that its shorter side is 256 pixels -- the scale at which the held-out
crops are judged -- and the training photographs also at 384 pixels, for more content at the same scale of
detail (the 384-pixel scale only for photographs at least that large). Values are in ``[-1, 1]``.
"""

from __future__ import annotations

import functools
import hashlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .._validation import check_int, check_one_of

__all__ = [
    "GREY_WEIGHT",
    "HELD_OUT",
    "TRAINING",
    "PhotoCrops",
    "held_out_photographs",
    "is_colour",
    "load_photograph",
    "training_photographs",
    "turn_hue",
]

#: The held-out photographs (``source:name``): judged only, never trained on.
HELD_OUT = ("skimage:astronaut", "skimage:coffee", "sklearn:china.jpg", "sklearn:flower.jpg")

#: The training photographs: every other real photograph in scikit-image's wheel, and Matplotlib's portrait.
TRAINING = (*(f"skimage:{name}" for name in (
    "brick", "camera", "cell", "chelsea", "clock", "coins", "grass", "gravel", "hubble_deep_field",
    "immunohistochemistry", "moon", "motorcycle_left", "motorcycle_right", "page", "retina", "rocket", "text")),
    "matplotlib:grace_hopper.jpg")

#: Shorter side, in pixels, of the photographs a model is judged on and trained on.
EVAL_SIDE = 256
TRAIN_SIDES = (256, 384)


def load_photograph(name: str) -> torch.Tensor:
    """One photograph of :data:`HELD_OUT` or :data:`TRAINING` at its native size, ``(3, H, W)`` in ``[-1, 1]``.

    Chapter 7, *Photographs that ship with a package*.
    """
    check_one_of("name", name, HELD_OUT + TRAINING)
    return _native(name).clone()


@functools.cache
def _native(name: str) -> torch.Tensor:
    source, _, key = name.partition(":")
    if source == "skimage":
        try:
            import skimage.data
        except ImportError as err:  # pragma: no cover - scikit-image is a dependency
            raise ImportError("the photographs need scikit-image: pip install scikit-image") from err
        if key.startswith("motorcycle_"):  # the two views of skimage.data.stereo_motorcycle()
            left, right, _ = skimage.data.stereo_motorcycle()
            pixels = np.asarray(left if key == "motorcycle_left" else right)
        else:
            pixels = np.asarray(getattr(skimage.data, key)())
    elif source == "matplotlib":
        from matplotlib import cbook
        from PIL import Image

        pixels = np.asarray(Image.open(cbook.get_sample_data(key, asfileobj=False)).convert("RGB"))
    else:
        from PIL import Image

        from .datasets import _sklearn_file

        path = _sklearn_file("datasets", "images", key)
        if path is None:  # pragma: no cover - scikit-learn is a dependency
            raise ImportError("the photographs need scikit-learn: pip install scikit-learn")
        pixels = np.asarray(Image.open(path).convert("RGB"))
    if pixels.ndim == 2:  # grey: the same value in R, G and B
        pixels = np.repeat(pixels[..., None], 3, axis=-1)
    image = torch.from_numpy(np.array(pixels[..., :3], copy=True)).permute(2, 0, 1).float()
    return image / 127.5 - 1.0


def _resized(image: torch.Tensor, side: int) -> torch.Tensor:
    """``image`` resized (bicubic, antialiased) so that its shorter side is ``side``, clamped to [-1, 1]."""
    h, w = image.shape[-2:]
    scale = side / min(h, w)
    size = (max(side, round(h * scale)), max(side, round(w * scale)))
    out = F.interpolate(image[None], size=size, mode="bicubic", antialias=True, align_corners=False)[0]
    return out.clamp(-1.0, 1.0)


def _centre_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    h, w = image.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return image[:, top:top + size, left:left + size]


def held_out_photographs(size: int = EVAL_SIDE) -> torch.Tensor:
    """The four held-out photographs as ``(4, 3, size, size)``: each resized to a shorter side of 256 pixels,
    then its centre ``size`` x ``size`` crop (the whole 256x256 centre by default). In :data:`HELD_OUT` order.

    Chapter 7, *A trained autoencoder at work*.
    """
    check_int("size", size, min_value=8, max_value=EVAL_SIDE)
    return torch.stack([_centre_crop(_resized(_native(n), EVAL_SIDE), size) for n in HELD_OUT]).contiguous()


@functools.lru_cache(maxsize=1)
def training_photographs() -> tuple[torch.Tensor, ...]:
    """Every training photograph at every training scale, as a tuple of ``(3, H, W)`` tensors: shorter side 256
    pixels for all (``page`` and ``text``, smaller, are enlarged to it) and 384 for those at least that large.
    Chapter 8, *Photographs that ship with a package*."""
    out = []
    for name in TRAINING:
        image = _native(name)
        for side in TRAIN_SIDES:
            if side <= min(image.shape[-2:]) or side == TRAIN_SIDES[0]:
                out.append(_resized(image, side))
    return tuple(out)


#: How often a grey training photograph is cropped, relative to a colour one of the same area: grey ones are
#: half of the training area, and a model trained on them in proportion learns brightness long before colour.
GREY_WEIGHT = 0.25


def is_colour(image: torch.Tensor) -> bool:
    """Whether a ``(3, H, W)`` photograph has colour: its mean distance from grey above 0.05 (of the range 2)."""
    return bool((image - image.mean(0, keepdim=True)).abs().mean() > 0.05)


def turn_hue(image: torch.Tensor, angle: float) -> torch.Tensor:
    """``image`` ``(3, H, W)`` in ``[-1, 1]`` with every pixel's colour rotated by ``angle`` radians about the
    grey axis ``R = G = B`` (a rotation of RGB space, so grey stays grey and brightness is kept), clamped
    to ``[-1, 1]``. A third of a turn is a cyclic swap of the channels. Chapter 8, *Photographs that ship
    with a package*."""
    u = torch.full((3,), 1.0 / math.sqrt(3.0), dtype=torch.float64)
    cross = torch.tensor([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]], dtype=torch.float64)
    rotation = (math.cos(angle) * torch.eye(3, dtype=torch.float64) + math.sin(angle) * cross
                + (1.0 - math.cos(angle)) * torch.outer(u, u))
    turned = torch.einsum("ij,jhw->ihw", rotation.to(image.dtype), image)
    return turned.clamp(-1.0, 1.0)


def _item_seed(seed: int, index: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class PhotoCrops(Dataset):
    """Random ``size`` x ``size`` crops of the training photographs, flipped left-right at random and, in the
    ``"train"`` split, half of the time with their hues turned (:func:`turn_hue`) by a random angle.

    Item ``i`` is a pure function of ``(seed, i)``: which photograph (chosen in proportion to its area, so
    every pixel of one photograph is equally likely, and a grey photograph :data:`GREY_WEIGHT` times as often
    as a colour one of the same area), where, whether flipped, and the hue angle (:meth:`hue_angle`). ``length`` is how many distinct items an epoch
    has (the step sampler of :mod:`~encoderlab.data.batches` shuffles them). ``split="monitor"`` gives a fixed
    set of crops of the *same* training photographs, for watching the loss during a run -- not a held-out
    set (that is :func:`held_out_photographs`, never used while training).
    Chapter 8, *Photographs that ship with a package*.
    """

    def __init__(self, size: int = 128, *, length: int = 65_536, seed: int = 0, split: str = "train") -> None:
        check_int("size", size, min_value=8, max_value=TRAIN_SIDES[0])
        check_int("length", length, min_value=1)
        check_int("seed", seed, min_value=0)
        check_one_of("split", split, ("train", "monitor"))
        self.size, self.length, self.split = size, length, split
        self.seed = seed if split == "train" else seed + 1_000_000_007
        self.photos = training_photographs()
        areas = torch.tensor([(p.shape[-2] - size + 1) * (p.shape[-1] - size + 1) for p in self.photos],
                             dtype=torch.float64)
        weights = areas * torch.tensor([1.0 if is_colour(p) else GREY_WEIGHT for p in self.photos],
                                       dtype=torch.float64)
        self._weights = weights / weights.sum()

    def __len__(self) -> int:
        return self.length

    def window(self, index: int) -> tuple[int, int, int, bool]:
        """Where item ``index`` comes from: ``(photograph, top, left, flipped)``, ``photograph`` indexing
        :attr:`photos` (:func:`training_photographs`)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} is out of range for {self.length} crops")
        gen = torch.Generator().manual_seed(_item_seed(self.seed, int(index)))
        k = int(torch.multinomial(self._weights, 1, generator=gen))
        h, w = self.photos[k].shape[-2:]
        top = int(torch.randint(h - self.size + 1, (1,), generator=gen))
        left = int(torch.randint(w - self.size + 1, (1,), generator=gen))
        return k, top, left, bool(torch.rand((), generator=gen) < 0.5)

    def hue_angle(self, index: int) -> float:
        """The angle, in radians, by which item ``index``'s hues are turned: 0 for half of the items and for
        every item of the ``"monitor"`` split, else uniform in ``[0, 2 pi)``."""
        if self.split != "train":
            return 0.0
        self.window(index)  # checks the index
        gen = torch.Generator().manual_seed(_item_seed(self.seed + 7, int(index)))
        if bool(torch.rand((), generator=gen) < 0.5):
            return 0.0
        return float(torch.rand((), generator=gen, dtype=torch.float64)) * 2.0 * math.pi

    def __getitem__(self, index: int) -> torch.Tensor:
        k, top, left, flipped = self.window(index)
        crop = self.photos[k][:, top:top + self.size, left:left + self.size]
        crop = crop.flip(-1) if flipped else crop
        angle = self.hue_angle(index)
        return (turn_hue(crop, angle) if angle else crop).contiguous()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    def __repr__(self) -> str:
        return (f"PhotoCrops({self.split!r}, {self.length} crops of {self.size}x{self.size} from "
                f"{len(self.photos)} photograph scales, seed={self.seed})")
