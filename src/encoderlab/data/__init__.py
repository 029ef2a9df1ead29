"""Chapter 8: the data a training run sees -- image datasets that need no network
(:mod:`~encoderlab.data.datasets`, *Data that needs no network*) and batches that are a pure function of the
training step, so that a run can stop and resume mid-epoch (:mod:`~encoderlab.data.batches`, *Training on a
CPU* and *Checkpoints: stop, resume, and get exactly the same model*).
"""

from .batches import StepBatchSampler, check_dataset, eval_loader, make_loader
from .datasets import (
    DATASETS,
    ImageDataset,
    dataset_image_shape,
    load_digits_images,
    load_photo_patches,
    make_dataset,
    make_shapes,
    split_indices,
)

__all__ = [
    "DATASETS",
    "ImageDataset",
    "StepBatchSampler",
    "check_dataset",
    "dataset_image_shape",
    "eval_loader",
    "load_digits_images",
    "load_photo_patches",
    "make_dataset",
    "make_loader",
    "make_shapes",
    "split_indices",
]
