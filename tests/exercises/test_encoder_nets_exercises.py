"""The Chapter 10 exercise checks accept right answers and give a specific message for typical wrong ones."""

import math

import pytest

from encoderlab.exercises import ExerciseError
from encoderlab.exercises.encoder_nets import check_bottleneck_params, check_label, check_stage_sizes


def bottleneck(cin, cout, k, order, stride, *, norm=2, prelu=None, bias=False, inner=None, kk_11=False,
               shortcut=None):
    """Written independently of the check: the reference's formula with switches for the mistakes."""
    kk = k**order
    mid = cin if inner is None else inner
    total = 0
    for c_in, c_out, kernel in ((cin, mid, 1), (mid, mid, kk), (mid, cout, 1)):
        kernel = kk if kk_11 else kernel
        total += norm * c_in + (c_in if prelu is None else prelu) + c_in * c_out * kernel + (c_out if bias else 0)
    if (stride > 1 or cin != cout) if shortcut is None else shortcut:
        total += cin * cout + (2 * cout if norm else 0) + (cout if bias else 0)
    return total


def test_check_bottleneck_params_accepts_right_answer(capsys):
    def good(cin, cout, k, order, stride):
        kk = k**order
        count = 9 * cin + cin * cin * (1 + kk) + cin * cout
        return count + (cin * cout + 2 * cout if stride > 1 or cin != cout else 0)

    check_bottleneck_params(good)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("switch,match", [
    (dict(norm=0), "InstanceNorm parameters"),
    (dict(prelu=1), "one slope per channel"),
    (dict(bias=True), "bias-free"),
    (dict(shortcut=False), "forgot the projection shortcut"),
    (dict(shortcut=True), "identity shortcut"),
    (dict(kk_11=True), "1x1"),
])
def test_check_bottleneck_params_explains_mistakes(switch, match):
    with pytest.raises(ExerciseError, match=match):
        check_bottleneck_params(lambda *c: bottleneck(*c, **switch))


def test_check_bottleneck_params_explains_other_failures():
    with pytest.raises(ExerciseError, match="NO channel reduction"):
        check_bottleneck_params(lambda cin, cout, k, o, s: bottleneck(cin, cout, k, o, s, inner=cin // 4))
    with pytest.raises(ExerciseError, match="return an int"):
        check_bottleneck_params(lambda *c: float(bottleneck(*c)))
    with pytest.raises(ExerciseError, match=r"returned \d+, expected \d+"):
        check_bottleneck_params(lambda *c: bottleneck(*c) + 1)
    with pytest.raises(ExerciseError, match="NotImplementedError"):
        check_bottleneck_params(lambda *c: exec("raise NotImplementedError"))


def test_check_stage_sizes_accepts_right_answer_and_explains_mistakes():
    check_stage_sizes(lambda size, n: [math.ceil(size / 2**i) for i in range(n + 1)])
    with pytest.raises(ExerciseError, match="floor division"):
        check_stage_sizes(lambda size, n: [size // 2**i for i in range(n + 1)])
    with pytest.raises(ExerciseError, match="start with the input size"):
        check_stage_sizes(lambda size, n: [math.ceil(size / 2**i) for i in range(1, n + 1)])
    with pytest.raises(ExerciseError, match="once per stage"):
        check_stage_sizes(lambda size, n: [math.ceil(size / 2**i) for i in range(n + 2)])
    with pytest.raises(ExerciseError, match="list of ints"):
        check_stage_sizes(lambda size, n: size)


def test_check_label_accepts_right_answer_and_explains_mistakes():
    check_label(lambda s: s if len(s) <= 20 else s[:8] + "..." + s[-9:])
    with pytest.raises(ExerciseError, match="shortened"):
        check_label(lambda s: s)
    with pytest.raises(ExerciseError, match="swapped"):
        check_label(lambda s: s if len(s) <= 20 else s[:9] + "..." + s[-8:])
    with pytest.raises(ExerciseError, match="exactly 20"):
        check_label(lambda s: s if len(s) < 20 else s[:8] + "..." + s[-9:])
    with pytest.raises(ExerciseError, match="does not cut"):
        check_label(lambda s: s[:20])
    with pytest.raises(ExerciseError, match="return a str"):
        check_label(len)
