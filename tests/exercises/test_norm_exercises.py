"""The Chapter 1 exercise checks accept right answers and give a specific message for typical wrong ones."""

import pytest
import torch

from encoderlab.exercises import ExerciseError
from encoderlab.exercises.norm import check_group_stats, check_norm_as_groups, check_per_frame


def good_stats(x, g):
    v = x.reshape(x.shape[0], g, -1)
    return v.mean(-1), v.var(-1, unbiased=False)


def test_check_group_stats_accepts_right_answer(capsys):
    check_group_stats(good_stats)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "answer,match",
    [
        (lambda x, g: (x.mean((2, 3)), x.var((2, 3))), "InstanceNorm"),
        (lambda x, g: (x.reshape(x.shape[0], g, -1).mean(-1), x.reshape(x.shape[0], g, -1).var(-1)), "unbiased"),
        (lambda x, g: (x.reshape(x.shape[0], g, -1).mean((0, 2)), None), "BatchNorm"),
        (lambda x, g: (x.reshape(x.shape[0], -1, g).mean(1), x.reshape(x.shape[0], -1, g).var(1)), "every G-th"),
        (lambda x, g: (x.reshape(x.shape[0], g, -1).mean(-1), x.reshape(x.shape[0], g, -1).std(-1, unbiased=False)),
         "standard deviation"),
        (lambda x, g: exec("raise NotImplementedError"), "NotImplementedError"),
        (lambda x, g: x.mean(), "tuple"),
    ],
)
def test_check_group_stats_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_group_stats(answer)


def test_check_norm_as_groups_accepts_right_answer_and_explains_mistakes():
    check_norm_as_groups(lambda norm, c: 1 if norm == "layer" else c)
    with pytest.raises(ExerciseError, match="all C channels must be in one group"):
        check_norm_as_groups(lambda norm, c: c)
    with pytest.raises(ExerciseError, match="its own statistics"):
        check_norm_as_groups(lambda norm, c: 1)
    with pytest.raises(ExerciseError, match="return an int"):
        check_norm_as_groups(lambda norm, c: "1")


def test_check_per_frame_accepts_right_answer_and_explains_mistakes():
    def good(x, norm):
        b, c, t, h, w = x.shape
        y = norm(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
        return y.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)

    def no_permute(x, norm):
        b, c, t, h, w = x.shape
        return norm(x.reshape(b * t, c, h, w)).reshape(b, c, t, h, w)

    def clip_wide(x, norm):
        return torch.nn.functional.group_norm(x, norm.num_groups, norm.weight, norm.bias, norm.eps)

    check_per_frame(good)
    with pytest.raises(ExerciseError, match="permute first"):
        check_per_frame(no_permute)
    with pytest.raises(ExerciseError, match="mix frames"):
        check_per_frame(clip_wide)
    with pytest.raises(ExerciseError, match="shape"):
        check_per_frame(lambda x, norm: x[:, :, 0])
