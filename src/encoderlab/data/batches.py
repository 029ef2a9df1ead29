"""Chapter 8, *Training on a CPU* and *Checkpoints: stop, resume, and get exactly the same model*: batches that
are a pure function of the training step.

:class:`StepBatchSampler` yields the batch of *training step* ``s`` as a pure function of ``(seed, s)`` -- so
a run resumed at step ``s`` sees exactly the batches an uninterrupted run would, and under
DistributedDataParallel every rank takes its own slice of the same global batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .._validation import check_bool, check_int

__all__ = ["StepBatchSampler", "check_dataset", "eval_loader", "make_loader"]


def check_dataset(name: str, dataset) -> Dataset:
    """Return ``dataset`` if it is a non-empty map-style :class:`~torch.utils.data.Dataset` (a tensor of images
    is not: wrap it as ``ImageDataset(images)``). Chapter 8, *Data that needs no network*."""
    if isinstance(dataset, torch.Tensor):
        raise TypeError(f"{name} must be a Dataset, got a Tensor of shape {tuple(dataset.shape)}; wrap it as "
                        "encoderlab.data.ImageDataset(images)")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"{name} must be a Dataset such as encoderlab.data.ImageDataset, got "
                        f"{type(dataset).__name__}")
    if len(dataset) < 1:
        raise ValueError(f"{name} is empty (0 items)")
    return dataset


class StepBatchSampler(Sampler[list[int]]):
    """Yields the dataset indices of training steps ``start_step, start_step + 1, ...``.

    Step ``s`` belongs to epoch ``e = s // steps_per_epoch``; each epoch is a fresh permutation drawn from
    ``seed`` and ``e`` only, cut into global batches of ``batch_size`` (the remainder is dropped). With
    ``world_size > 1`` rank ``r`` yields the ``r``-th of ``world_size`` equal slices of that global batch, so the
    ranks together see exactly the batch a single process would.

    ``num_steps=None`` iterates forever (and has no ``len``). Chapter 8, *Training on a CPU* (a reproducible
    data order) and *Longer runs: the command line and ``torchrun``* (one slice of the batch per process).
    """

    def __init__(self, num_items: int, batch_size: int, *, seed: int = 0, start_step: int = 0,
                 num_steps: int | None = None, rank: int = 0, world_size: int = 1, shuffle: bool = True) -> None:
        check_int("num_items", num_items, min_value=1)
        check_int("batch_size", batch_size, min_value=1)
        check_int("seed", seed, min_value=0)
        check_int("start_step", start_step, min_value=0)
        if num_steps is not None:
            check_int("num_steps", num_steps, min_value=0)
        check_int("world_size", world_size, min_value=1)
        check_int("rank", rank, min_value=0)
        check_bool("shuffle", shuffle)
        if rank >= world_size:
            raise ValueError(f"rank must be < world_size={world_size}, got {rank}")
        if batch_size % world_size:
            raise ValueError(f"batch_size={batch_size} (the global batch) must be divisible by "
                             f"world_size={world_size}")
        if batch_size > num_items:
            raise ValueError(f"batch_size={batch_size} is larger than the dataset ({num_items} items)")
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.start_step, self.num_steps = start_step, num_steps
        self.rank, self.world_size, self.shuffle = rank, world_size, shuffle
        self.steps_per_epoch = num_items // batch_size
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            if self.shuffle:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._perm = torch.randperm(self.num_items, generator=g)
            else:
                self._perm = torch.arange(self.num_items)
            self._epoch = epoch
        return self._perm

    def global_batch(self, step: int) -> list[int]:
        """The indices of the whole (all-rank) batch of training step ``step``."""
        check_int("step", step, min_value=0)
        epoch, j = divmod(step, self.steps_per_epoch)
        perm = self._permutation(epoch)
        return perm[j * self.batch_size:(j + 1) * self.batch_size].tolist()

    def batch(self, step: int) -> list[int]:
        """This rank's share of :meth:`global_batch`."""
        local = self.batch_size // self.world_size
        return self.global_batch(step)[self.rank * local:(self.rank + 1) * local]

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while self.num_steps is None or step < self.start_step + self.num_steps:
            yield self.batch(step)
            step += 1

    def __len__(self) -> int:
        if self.num_steps is None:
            raise TypeError("an endless StepBatchSampler (num_steps=None) has no length")
        return self.num_steps


def make_loader(dataset: Dataset, batch_size: int, *, seed: int = 0, start_step: int = 0,
                num_steps: int | None = None, rank: int = 0, world_size: int = 1, shuffle: bool = True
                ) -> DataLoader:
    """A training :class:`~torch.utils.data.DataLoader` whose batches come from a :class:`StepBatchSampler`.

    ``batch_size`` is the *global* batch; each of ``world_size`` ranks receives ``batch_size // world_size``
    images per step. Yields ``(batch_size // world_size, C, H, W)`` tensors. Chapter 8, *Training on a CPU*.
    """
    check_dataset("dataset", dataset)
    sampler = StepBatchSampler(len(dataset), batch_size, seed=seed, start_step=start_step, num_steps=num_steps,
                               rank=rank, world_size=world_size, shuffle=shuffle)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=0)


def eval_loader(dataset: Dataset, batch_size: int = 256) -> DataLoader:
    """Every item once, in order, in batches of ``batch_size`` (the last one may be smaller).

    Chapter 8, *How good is it? Held-out PSNR*.
    """
    check_dataset("dataset", dataset)
    check_int("batch_size", batch_size, min_value=1)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=False, num_workers=0)
