"""Offline datasets, checked against scikit-learn's own arrays."""

import pytest
import torch
from sklearn.datasets import load_digits, load_sample_images

from encoderlab.data import ImageDataset, make_dataset, split_indices
from encoderlab.data.datasets import load_digits_images, load_photo_patches, make_shapes


def test_digits_are_sklearns_digits_in_unit_range():
    images = load_digits_images()
    want = torch.as_tensor(load_digits().images, dtype=torch.float32) / 16 * 2 - 1
    assert tuple(images.shape) == (1797, 1, 8, 8)
    assert torch.equal(images[:, 0], want)
    assert tuple(load_digits_images(16).shape) == (1797, 1, 16, 16)


def test_digit_split_is_disjoint_seeded_and_complete():
    train, val = make_dataset("digits", "train"), make_dataset("digits", "val")
    assert (len(train), len(val)) == (1438, 359)
    everything = make_dataset("digits", "all").images
    tr_idx, va_idx = split_indices(1797, 0.2, seed=0)
    assert torch.equal(train.images, everything[tr_idx]) and torch.equal(val.images, everything[va_idx])
    assert len(set(tr_idx.tolist()) | set(va_idx.tolist())) == 1797
    assert not set(tr_idx.tolist()) & set(va_idx.tolist())
    assert not torch.equal(split_indices(1797, 0.2, seed=1)[1], va_idx)


def test_photo_patches_come_from_sklearn_photos_and_splits_share_no_pixel():
    photos = [torch.as_tensor(p.copy()).permute(2, 0, 1).float() / 255 * 2 - 1 for p in load_sample_images().images]
    train = load_photo_patches("train", patch_size=32, stride=32, scale=1.0, val_fraction=0.2)
    val = load_photo_patches("val", patch_size=32, stride=32, scale=1.0, val_fraction=0.2)
    # 427 x 640 photos, 512 training columns and 128 held-out columns: 13 rows x 16 (train) / 4 (val) patches each
    assert tuple(train.shape) == (2 * 13 * 16, 3, 32, 32) and tuple(val.shape) == (2 * 13 * 4, 3, 32, 32)
    assert torch.equal(train[0], photos[0][:, :32, :32])
    assert torch.equal(train[17], photos[0][:, 32:64, 32:64])  # row 1, column 1
    assert torch.equal(val[0], photos[0][:, :32, 512:544])
    assert torch.equal(val[2 * 13 * 4 - 1], photos[1][:, 384:416, 608:640])
    default = make_dataset("photos", "train")
    assert default.image_shape == (3, 32, 32) and default.images.min() >= -1 and default.images.max() <= 1


def test_shapes_are_a_pure_function_of_the_seed():
    a, b, c = make_shapes(16, 16, seed=3), make_shapes(16, 16, seed=3), make_shapes(16, 16, seed=4)
    assert tuple(a.shape) == (16, 3, 16, 16)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1
    assert (a.std(dim=(2, 3)) > 0.01).all()  # every image has structure
    ds = make_dataset("shapes", "val", 16, num_shapes_images=100)
    assert len(ds) == 20 and ds.image_shape == (3, 16, 16)


def test_dataset_argument_checks():
    with pytest.raises(ValueError, match="name must be one of"):
        make_dataset("mnist")
    with pytest.raises(ValueError, match="4-D"):
        ImageDataset(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="split must be one of"):
        load_photo_patches("test")
