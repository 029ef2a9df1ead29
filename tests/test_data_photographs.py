"""The photographs dataset: the split by whole photograph, the crops, and the two baselines."""

import numpy as np
import pytest
import skimage.data
import torch
from sklearn.datasets import load_sample_images
from sklearn.decomposition import PCA

from encoderlab.baselines import bicubic_baseline, bicubic_side, fit_patch_pca, pca_patch_baseline
from encoderlab.data.photographs import (
    GREY_WEIGHT,
    HELD_OUT,
    TRAINING,
    PhotoCrops,
    held_out_photographs,
    is_colour,
    load_photograph,
    training_photographs,
    turn_hue,
)


def test_split_is_by_whole_photograph_and_disjoint():
    assert set(HELD_OUT) == {"skimage:astronaut", "skimage:coffee", "sklearn:china.jpg", "sklearn:flower.jpg"}
    assert not set(HELD_OUT) & set(TRAINING)
    native = {name: load_photograph(name) for name in HELD_OUT + TRAINING}
    sizes = {name: tuple(t.shape) for name, t in native.items()}
    assert sizes["skimage:astronaut"] == (3, 512, 512) and sizes["sklearn:china.jpg"] == (3, 427, 640)
    assert sizes["matplotlib:grace_hopper.jpg"] == (3, 600, 512) and sizes["skimage:motorcycle_left"] == (3, 500, 741)
    assert len(TRAINING) == 18
    # no training photograph is a copy of a held-out one (same pixels under another name)
    digests = {name: hash(t.numpy().tobytes()) for name, t in native.items()}
    assert len(set(digests.values())) == len(digests)


def test_photographs_are_the_packages_pixels():
    astronaut = torch.from_numpy(skimage.data.astronaut().copy()).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.equal(load_photograph("skimage:astronaut"), astronaut)
    china = torch.from_numpy(load_sample_images().images[0].copy()).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.equal(load_photograph("sklearn:china.jpg"), china)
    camera = load_photograph("skimage:camera")  # grey: three equal channels
    assert torch.equal(camera[0], camera[1]) and torch.equal(camera[1], camera[2])
    assert torch.equal(camera[0], torch.from_numpy(skimage.data.camera().astype(np.float32)) / 127.5 - 1)
    right = torch.from_numpy(skimage.data.stereo_motorcycle()[1].copy()).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.equal(load_photograph("skimage:motorcycle_right"), right)


def test_held_out_are_256_centre_crops_in_range():
    x = held_out_photographs()
    assert x.shape == (4, 3, 256, 256)
    assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(held_out_photographs(64), x[:, :, 96:160, 96:160])
    with pytest.raises(ValueError, match="size"):
        held_out_photographs(300)


def test_training_scales():
    photos = training_photographs()
    assert all(min(p.shape[-2:]) in (256, 384) for p in photos)
    # every training photograph at 256; the 384 scale only for those at least that large natively
    assert sum(min(p.shape[-2:]) == 256 for p in photos) == len(TRAINING)


def test_grey_photographs_are_cropped_less_often():
    crops = PhotoCrops(64, length=10)
    colour = [is_colour(p) for p in crops.photos]
    assert sum(colour) > 0 and not all(colour)
    assert not is_colour(load_photograph("skimage:camera")) and is_colour(load_photograph("skimage:chelsea"))
    areas = torch.tensor([(p.shape[-2] - 63) * (p.shape[-1] - 63) for p in crops.photos], dtype=torch.float64)
    ratio = crops._weights / areas  # per pixel of a photograph: GREY_WEIGHT for grey, 1 for colour
    grey_rate, colour_rate = ratio[~torch.tensor(colour)], ratio[torch.tensor(colour)]
    assert torch.allclose(grey_rate / colour_rate[0], torch.full_like(grey_rate, GREY_WEIGHT))
    assert torch.allclose(colour_rate, colour_rate[0].expand_as(colour_rate))


def test_turning_the_hue_is_a_rotation_about_the_grey_axis():
    x = torch.rand(3, 5, 7, dtype=torch.float64) - 0.5  # away from the clamp
    assert torch.allclose(turn_hue(x, 2 * np.pi / 3), x[[2, 0, 1]], atol=1e-12)  # a third of a turn: R<-B<-G
    assert torch.allclose(turn_hue(x, 4 * np.pi / 3), x[[1, 2, 0]], atol=1e-12)
    assert torch.allclose(turn_hue(turn_hue(x, 0.7), -0.7), x, atol=1e-12)
    grey = torch.full((3, 2, 2), 0.3, dtype=torch.float64)
    assert torch.allclose(turn_hue(grey, 1.1), grey, atol=1e-12)  # grey stays grey
    y = turn_hue(x, 1.1)
    assert torch.allclose(y.mean(0), x.mean(0), atol=1e-12)  # brightness (R + G + B) kept
    assert torch.allclose(y.norm(dim=0), x.norm(dim=0), atol=1e-12)  # a rotation keeps lengths
    assert turn_hue(torch.ones(3, 1, 1) * torch.tensor([1.0, -1.0, -1.0])[:, None, None], 1.0).abs().max() <= 1


def test_crops_are_a_pure_function_of_seed_and_index():
    a, b = PhotoCrops(32, length=100, seed=3), PhotoCrops(32, length=100, seed=3)
    assert all(torch.equal(a[i], b[i]) for i in (0, 7, 99))
    assert not torch.equal(a[0], PhotoCrops(32, length=100, seed=4)[0])
    assert not torch.equal(a[0], PhotoCrops(32, length=100, seed=3, split="monitor")[0])
    assert a[0].shape == (3, 32, 32) and a.image_shape == (3, 32, 32)
    # a crop is a window of one training photograph, mirrored about half the time, photographs by area
    big = PhotoCrops(32, length=2000, seed=0)
    windows = [big.window(i) for i in range(2000)]
    for i in (5, 6, 7, 8):  # some with their hues turned, some not
        k, top, left, flipped = windows[i]
        want = training_photographs()[k][:, top:top + 32, left:left + 32]
        want = want.flip(-1) if flipped else want
        angle = big.hue_angle(i)
        assert torch.equal(big[i], turn_hue(want, angle) if angle else want)
    angles = [big.hue_angle(i) for i in range(2000)]
    assert 0.45 < np.mean([a == 0 for a in angles]) < 0.55 and max(angles) < 2 * np.pi
    assert all(PhotoCrops(32, length=50, split="monitor").hue_angle(i) == 0 for i in range(50))
    assert 0.45 < np.mean([w[3] for w in windows]) < 0.55
    counts = np.bincount([w[0] for w in windows], minlength=len(big.photos)) / 2000
    assert np.abs(counts - big._weights.numpy()).max() < 0.03
    with pytest.raises(IndexError):
        a[100]
    with pytest.raises(ValueError, match="size"):
        PhotoCrops(512)


def test_bicubic_baseline_keeps_at_most_the_budget():
    assert bicubic_side(4 * 32 * 32) == 36  # 3*36*36 = 3888 <= 4096 < 3*37*37
    assert bicubic_side(3 * 64 * 64) == 64
    x = held_out_photographs(64)
    assert torch.equal(bicubic_baseline(x, 3 * 64 * 64), x)  # the whole image fits: nothing lost
    y = bicubic_baseline(x, 3 * 16 * 16)
    assert y.shape == x.shape and not torch.equal(x, y)


def test_pca_baseline_matches_sklearn():
    train = [p[:, :64, :64] for p in training_photographs()[:6]]
    x = held_out_photographs(32)
    ours = pca_patch_baseline(x, 4, 5, train)
    rows = torch.cat([t.unfold(1, 4, 4).unfold(2, 4, 4).permute(1, 2, 0, 3, 4).reshape(-1, 48) for t in train])
    pca = PCA(n_components=5, svd_solver="full").fit(rows.double().numpy())
    image = x[1].unfold(1, 4, 4).unfold(2, 4, 4).permute(1, 2, 0, 3, 4).reshape(-1, 48).double().numpy()
    want = torch.from_numpy(pca.inverse_transform(pca.transform(image))).float()
    got = ours[1].unfold(1, 4, 4).unfold(2, 4, 4).permute(1, 2, 0, 3, 4).reshape(-1, 48)
    torch.testing.assert_close(got, want.clamp(-1, 1), atol=1e-5, rtol=0)
    # all components: exact
    full = pca_patch_baseline(x, 2, 12, train)
    torch.testing.assert_close(full, x, atol=1e-5, rtol=0)
    mean, basis = fit_patch_pca(train, 4, 5)
    assert mean.shape == (48,) and basis.shape == (5, 48)
    with pytest.raises(ValueError, match="multiples? of 8|into 8x8"):
        pca_patch_baseline(held_out_photographs(36), 8, 4, train)
