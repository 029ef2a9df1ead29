"""The Chapter 6 exercise checks accept right answers and give a specific message for typical wrong ones."""

import pytest
import torch

from encoderlab.exercises import ExerciseError
from encoderlab.exercises.convnext import check_block_params, check_drop_path, check_layer_norm_2d

# --- channels-first LayerNorm --------------------------------------------------------------------------------


def good_ln(x, weight, bias, eps):
    mean = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)


def test_check_layer_norm_2d_accepts_right_answer(capsys):
    check_layer_norm_2d(good_ln)
    ln = torch.nn.functional.layer_norm
    check_layer_norm_2d(lambda x, w, b, eps: ln(x.permute(0, 2, 3, 1), (x.shape[1],), w, b, eps).permute(0, 3, 1, 2))
    assert capsys.readouterr().out.startswith("Correct!")


def _with_stats(dims, unbiased=False, eps_outside=False, affine=True):
    def fn(x, weight, bias, eps):
        mean = x.mean(dims, keepdim=True)
        var = x.var(dims, unbiased=unbiased, keepdim=True)
        y = (x - mean) / (var.sqrt() + eps) if eps_outside else (x - mean) / torch.sqrt(var + eps)
        return y * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1) if affine else y
    return fn


@pytest.mark.parametrize(
    "answer,match",
    [
        (_with_stats((1, 2, 3)), "Chapter 1's LayerNorm"),
        (_with_stats((2, 3)), "InstanceNorm"),
        (_with_stats(1, unbiased=True), "unbiased"),
        (_with_stats(1, eps_outside=True), "inside the"),
        (_with_stats(1, affine=False), "not scaled and shifted"),
        (lambda x, w, b, eps: good_ln(x, w, b, eps).permute(0, 2, 3, 1), "permute it back"),
        (lambda x, w, b, eps: x * w + b, "RuntimeError"),  # weight broadcast over W: shapes do not match
        (lambda x, w, b, eps: good_ln(x, w, b, eps)[:, :, :1], "shape"),
        (lambda x, w, b, eps: good_ln(x, w, b, eps) * 1.1, "wrong values"),
    ],
)
def test_check_layer_norm_2d_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_layer_norm_2d(answer)


# --- stochastic depth ------------------------------------------------------------------------------------------


def good_drop_path(x, p, training):
    if not training or p == 0:
        return x
    mask = torch.empty(x.shape[0], *([1] * (x.dim() - 1))).bernoulli_(1 - p)
    return x * mask / (1 - p)


def test_check_drop_path_accepts_right_answer(capsys):
    check_drop_path(good_drop_path)
    assert capsys.readouterr().out.startswith("Correct!")


def _mask(x, keep):
    return (torch.rand(x.shape[0], *([1] * (x.dim() - 1))) < keep).to(x.dtype)


@pytest.mark.parametrize(
    "answer,match",
    [
        (lambda x, p, t: torch.nn.functional.dropout(x, p, t), "that is Dropout"),
        (lambda x, p, t: x * _mask(x, 1 - p) / (1 - p), "training=False"),
        (lambda x, p, t: x * _mask(x, 1 - p) if t else x, "not rescaled"),
        (lambda x, p, t: x * _mask(x, 1 - p) * (1 - p) if t else x, "DIVIDED"),
        (lambda x, p, t: x * _mask(x, p) / p if t and p > 0 else x, "probability to DROP"),
        (lambda x, p, t: x * _mask(x, 1 - p) / (1 - p) ** 2 if t else x, "scaled by"),
        (lambda x, p, t: x * _mask(x, 0.5) * 2 if t and p > 0 else x, "should be kept"),
        (lambda x, p, t: x[0], "shape"),
    ],
)
def test_check_drop_path_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_drop_path(answer)


# --- parameters of a block, by hand ----------------------------------------------------------------------------


def good_params(dim, k, e):
    return (k * k * dim + dim) + 2 * dim + (dim * e * dim + e * dim) + (e * dim * dim + dim) + dim


def test_check_block_params_accepts_right_answer(capsys):
    check_block_params(good_params)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "answer,match",
    [
        (lambda d, k, e: good_params(d, k, e) + k * k * d * (d - 1), "depthwise"),
        (lambda d, k, e: good_params(d, k, e) - (d + e * d + d), "biases"),
        (lambda d, k, e: good_params(d, k, e) - 2 * d, "LayerNorm"),
        (lambda d, k, e: good_params(d, k, e) - d, "layer scale"),
        (lambda d, k, e: good_params(d, k, 4), "expansion"),
        (lambda d, k, e: good_params(d, k, e) + 1, "Add up"),
        (lambda d, k, e: float(good_params(d, k, e)), "return an int"),
    ],
)
def test_check_block_params_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_block_params(answer)
