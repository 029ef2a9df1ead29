import random

import numpy as np
import pytest
import torch

from encoderlab import count_parameters, get_device, seed_everything


def test_seed_everything_repeats_every_generator():
    seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(7)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_seed_everything_rejects_bad_seeds():
    with pytest.raises(ValueError, match="seed must be >= 0"):
        seed_everything(-1)
    with pytest.raises(TypeError, match="seed must be an int"):
        seed_everything("0")


def test_get_device():
    assert get_device("cpu") == torch.device("cpu")
    assert get_device().type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        assert get_device().type in {"cpu", "mps"}
        with pytest.raises(ValueError, match="no CUDA device"):
            get_device("cuda")


def test_count_parameters_equals_torch_sum():
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.GroupNorm(2, 8))
    assert count_parameters(m) == sum(p.numel() for p in m.parameters()) == 3 * 8 * 9 + 8 + 16
    m[0].weight.requires_grad_(False)
    assert count_parameters(m, trainable_only=True) == 8 + 16
    with pytest.raises(TypeError):
        count_parameters("model")
