"""Chapter 10, *The kernel rule* (``encoderlab.encoder_nets.shapes``): the kernel / padding / stride rule and
the decoder's ceil pyramid."""

import pytest

from encoderlab.encoder_nets.shapes import kernel_rule, scaled_shapes


def test_kernel_rule():
    assert kernel_rule(3, 2) == ((3, 3), (1, 1), (2, 2))
    assert kernel_rule(3, 2, plus=2) == ((5, 5), (2, 2), (2, 2))
    assert kernel_rule((5, 1), 2, plus=2) == ((7, 1), (3, 0), (2, 1))
    assert kernel_rule((3,), 1) == ((3,), (1,), (2,))  # tuples work in 1d too


def test_scaled_shapes_is_the_ceil_pyramid():
    assert scaled_shapes((64, 63), 3, (2, 2)) == ((64, 63), (32, 32), (16, 16), (8, 8))
    assert scaled_shapes((9, 7), 2, (2, 1)) == ((9, 7), (5, 7), (3, 7))
    with pytest.raises(ValueError, match="too small for 5 levels"):
        scaled_shapes((8,), 5, (2,))
    with pytest.raises(ValueError, match="kernel_size must be odd on every axis"):
        kernel_rule((3, 4), 2)
    with pytest.raises(ValueError, match="order must be one of"):
        kernel_rule(3, 4)
