"""The Chapter 3 exercise checks (residual block): right answers pass, typical mistakes get a specific message."""

import pytest
import torch.nn.functional as F

from encoderlab.exercises import ExerciseError
from encoderlab.exercises.resnet import check_block_forward, check_block_params


def test_check_block_params_accepts_right_answer(capsys):
    def good(cin, cout):
        skip = cin * cout + cout if cin != cout else 0
        return 2 * cin + cin * cout * 9 + cout + 2 * cout + cout * cout * 9 + cout + skip

    check_block_params(good)
    assert "Correct!" in capsys.readouterr().out
    for wrong, match in [
        (lambda ci, co: good(ci, co) - 2 * ci - 2 * co, "GroupNorms"),
        (lambda ci, co: good(ci, co) - 2 * co - (co if ci != co else 0), "biases"),
        (lambda ci, co: good(ci, co) + ci * co + co if ci == co else good(ci, co), "identity"),
        (lambda ci, co: ci * co * 9 + co * co * 9, "only the conv weights"),
        (lambda ci, co: good(ci, co) + (ci * co * 8 if ci != co else 0), "not 3x3"),
        (lambda ci, co: good(ci, co) + 1, "Add up"),
    ]:
        with pytest.raises(ExerciseError, match=match):
            check_block_params(wrong)


def test_check_block_params_explains_a_missing_shortcut():
    def no_skip(cin, cout):
        return 2 * cin + cin * cout * 9 + cout + 2 * cout + cout * cout * 9 + cout

    with pytest.raises(ExerciseError, match="nin_shortcut"):
        check_block_params(no_skip)


def _skip(block, x):
    return x if block.in_channels == block.out_channels else block.nin_shortcut(x)


def test_check_block_forward_accepts_right_answer_and_explains_mistakes(capsys):
    def good(block, x):
        h = block.conv1(F.silu(block.norm1(x)))
        return _skip(block, x) + block.conv2(block.dropout(F.silu(block.norm2(h))))

    check_block_forward(good)
    assert "Correct!" in capsys.readouterr().out
    for wrong, match in [
        (lambda b, x: b.conv2(F.silu(b.norm2(b.conv1(F.silu(b.norm1(x)))))), "residual branch only"),
        (lambda b, x: _skip(b, x) + b.norm2(b.conv2(F.silu(b.norm1(b.conv1(x))))), "post-activation"),
        (lambda b, x: _skip(b, x) + b.conv2(F.relu(b.norm2(b.conv1(F.relu(b.norm1(x)))))), "not ReLU"),
        (lambda b, x: _skip(b, x) + b.conv2(F.silu(b.conv1(F.silu(b.norm1(x))))), "norm2 is missing"),
        (lambda b, x: x[:, :1], "shape"),
        (lambda b, x: 2 * b(x), "wrong values"),
    ]:
        with pytest.raises(ExerciseError, match=match):
            check_block_forward(wrong)
