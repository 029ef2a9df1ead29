"""The argument checks every public entry uses (src/encoderlab/_validation.py), on the classes of bad input."""

import math

import pytest
import torch

from encoderlab import _validation as v


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("bounds", [{}, {"positive": True}, {"min_value": 0.0}, {"max_value": 1.0}])
def test_check_float_refuses_every_non_finite_value(bad, bounds):
    with pytest.raises(ValueError, match="eps must be a finite number"):
        v.check_float("eps", bad, **bounds)


@pytest.mark.parametrize("bad,error", [(True, TypeError), ("1e-6", TypeError), (None, TypeError), (0.0, ValueError)])
def test_check_float_refuses_other_types_and_bounds(bad, error):
    with pytest.raises(error, match="eps"):
        v.check_float("eps", bad, positive=True)


def test_check_int_bounds_and_types():
    assert v.check_int("seed", 2**64 - 1, min_value=0, max_value=2**64 - 1) == 2**64 - 1
    for bad, error in [(2**64, ValueError), (-1, ValueError), (1.0, TypeError), (True, TypeError)]:
        with pytest.raises(error, match="seed"):
            v.check_int("seed", bad, min_value=0, max_value=2**64 - 1)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_check_tensor_refuses_complex(dtype):
    with pytest.raises(TypeError, match="x must be a real tensor"):
        v.check_tensor("x", torch.zeros(1, 3, 4, 4, dtype=dtype), ndim=4)


def test_check_tensor_rank_rules():
    with pytest.raises(ValueError, match=r"at least 3 dimensions \(B, C, \*\)"):
        v.check_tensor("x", torch.zeros(2, 3), min_ndim=3, layout="(B, C, *)")
    with pytest.raises(TypeError, match="floating-point"):
        v.check_tensor("x", torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        v.check_tensor("x", [[1.0]])


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.bfloat16])
def test_one_dtype_rule_outside_autocast(dtype):
    conv = torch.nn.Conv2d(3, 3, 1)
    x = torch.zeros(1, 3, 4, 4, dtype=dtype)
    with pytest.raises(TypeError, match=f"x has dtype {dtype} but the Conv2d's parameters are torch.float32"):
        v.check_dtype_matches("x", x, conv)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v.check_dtype_matches("x", x, conv)  # autocast mixes dtypes on purpose
    v.check_dtype_matches("x", x, conv.to(dtype))


def test_spatial_rules():
    x = torch.zeros(1, 3, 0, 8)
    with pytest.raises(ValueError, match="positive multiple of 8"):
        v.check_spatial_multiple("x", x, 8)  # 0 % 8 == 0, but an empty map is not a multiple
    with pytest.raises(ValueError, match="at least 2"):
        v.check_spatial_min("x", torch.zeros(1, 3, 1, 1), 2, why="a stride-2 downsampler needs 2 pixels")
    v.check_spatial_min("x", torch.zeros(1, 3, 2, 5), 2)


def test_sequences_checked_before_use():
    for bad, error in [(3, TypeError), (None, TypeError), ("abc", TypeError), ((1, "2"), TypeError),
                       ((1, True), TypeError), ((), ValueError), ((1, 0), ValueError)]:
        with pytest.raises(error, match="ch_mult"):
            v.check_int_sequence("ch_mult", bad, min_len=1, min_value=1)
    assert v.check_int_sequence("ch_mult", [1, 2], min_len=1, min_value=1) == (1, 2)


def test_other_types_that_would_reach_torch():
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        v.check_generator("generator", "seed")
    assert v.check_generator("generator", None) is None
    with pytest.raises(ValueError, match="device='tpu' is not a device"):
        v.check_device("device", "tpu")
    with pytest.raises(TypeError, match="device must be a str"):
        v.check_device("device", 0.5)
    assert v.check_device("device", "cpu") == torch.device("cpu")
    with pytest.raises(TypeError, match="path must be a path"):
        v.check_path("path", 3)
    with pytest.raises(TypeError, match="flag must be a bool"):
        v.check_bool("flag", "no")  # a truthy string does not silently mean True
    with pytest.raises(ValueError, match=r"unknown VAE config keys \['bogus'\]"):
        v.check_keys("VAE config keys", {"bogus": 1}, ["z_channels"])
