"""The procedurally generated clips: shape, range, determinism, motion, argument checks."""

import pytest
import torch

from encoderlab import moving_shapes


def test_shape_range_and_dtype():
    video = moving_shapes(9, 24, 20, batch_size=3)
    assert video.shape == (3, 3, 9, 24, 20) and video.dtype == torch.float32
    assert video.min() >= -1 and video.max() <= 1
    assert moving_shapes(2, dtype=torch.float64).dtype == torch.float64


def test_deterministic_and_seeded():
    assert torch.equal(moving_shapes(5, seed=4), moving_shapes(5, seed=4))
    assert not torch.equal(moving_shapes(5, seed=4), moving_shapes(5, seed=5))
    state = torch.get_rng_state()
    moving_shapes(3)
    assert torch.equal(state, torch.get_rng_state())  # the global generator is left alone


def test_shapes_move_and_stay_inside():
    video = moving_shapes(40, 32, 32, num_shapes=1, max_speed=2.0, seed=1)
    change = (video[:, :, 1:] - video[:, :, :-1]).abs().amax(dim=(0, 1, 3, 4))
    assert bool((change > 0.05).all())  # something moves in every frame
    # a shape never leaves the frame: the frame always differs from the bare background somewhere
    assert bool((video.std(dim=(3, 4)).amax(dim=1) > 0.05).all())
    assert torch.equal(moving_shapes(1, 16, 16, max_speed=0.0), moving_shapes(1, 16, 16, max_speed=3.0))


def test_validation():
    with pytest.raises(ValueError, match="num_frames must be >= 1"):
        moving_shapes(0)
    with pytest.raises(ValueError, match="height must be >= 4"):
        moving_shapes(3, 2, 8)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        moving_shapes(3, batch_size=1.0)
    with pytest.raises(TypeError, match="dtype must be a floating-point"):
        moving_shapes(3, dtype=torch.int64)
