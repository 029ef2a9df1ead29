"""The resumable, rank-aware batch sampler and the loaders built on it."""

import pytest
import torch

from encoderlab.data import StepBatchSampler, eval_loader, make_dataset, make_loader


def test_step_sampler_epochs_resume_and_ranks():
    n, batch = 50, 8
    sampler = StepBatchSampler(n, batch, seed=2, num_steps=12)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 12 and all(len(b) == batch for b in batches)
    per_epoch = n // batch  # 6 steps, 48 distinct items, 2 dropped
    for epoch in range(2):
        seen = [i for b in batches[epoch * per_epoch:(epoch + 1) * per_epoch] for i in b]
        assert len(set(seen)) == 48
    assert batches[:per_epoch] != batches[per_epoch:]  # a new permutation every epoch
    resumed = list(StepBatchSampler(n, batch, seed=2, start_step=5, num_steps=7))
    assert resumed == batches[5:]
    ranks = [list(StepBatchSampler(n, batch, seed=2, num_steps=12, rank=r, world_size=4)) for r in range(4)]
    for step in range(12):
        assert [i for r in range(4) for i in ranks[r][step]] == batches[step]
    assert batches != list(StepBatchSampler(n, batch, seed=3, num_steps=12))


def test_sampler_argument_checks():
    with pytest.raises(ValueError, match="divisible by world_size"):
        StepBatchSampler(50, 6, world_size=4)
    with pytest.raises(ValueError, match="rank must be < world_size"):
        StepBatchSampler(50, 8, rank=2, world_size=2)
    with pytest.raises(ValueError, match="larger than the dataset"):
        StepBatchSampler(5, 8)
    with pytest.raises(TypeError, match="no length"):
        len(StepBatchSampler(50, 8))


def test_loaders_yield_batches():
    ds = make_dataset("digits", "val")
    x = next(iter(make_loader(ds, 16, num_steps=1)))
    assert tuple(x.shape) == (16, 1, 8, 8) and x.dtype == torch.float32
    half = next(iter(make_loader(ds, 16, num_steps=1, rank=1, world_size=2)))
    assert torch.equal(half, x[8:])
    sizes = [b.shape[0] for b in eval_loader(ds, 100)]
    assert sizes == [100, 100, 100, 59]
