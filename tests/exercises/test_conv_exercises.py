"""The Chapter 2 exercise checks (convolution arithmetic): right answers pass, typical mistakes get a specific
message."""

import pytest

from encoderlab.exercises import ExerciseError
from encoderlab.exercises.conv import check_output_size, check_same_padding


def test_check_output_size_accepts_right_answer(capsys):
    check_output_size(lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) // s + 1)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("answer,match", [
    (lambda n, k, s, p, d: (n + 2 * p - k) // s + 1, "ignore the dilation"),
    (lambda n, k, s, p, d: (n + p - d * (k - 1) - 1) // s + 1, "both sides"),
    (lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) // s, "Off by one"),
    (lambda n, k, s, p, d: -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1, "rounded up"),
    (lambda n, k, s, p, d: float((n + 2 * p - d * (k - 1) - 1) // s + 1), "integer division"),
    (lambda n, k, s, p, d: n // s, "Write it as"),
    (lambda n, k, s, p, d: exec("raise NotImplementedError"), "NotImplementedError"),
])
def test_check_output_size_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_output_size(answer)


def test_check_same_padding_accepts_right_answer_and_explains_mistakes():
    check_same_padding(lambda k, d: d * (k - 1) // 2)
    with pytest.raises(ExerciseError, match="ignores the dilation"):
        check_same_padding(lambda k, d: k // 2)
    with pytest.raises(ExerciseError, match="half of it"):
        check_same_padding(lambda k, d: d * (k - 1))
    with pytest.raises(ExerciseError, match="expected 16"):
        check_same_padding(lambda k, d: d * k)
    with pytest.raises(ExerciseError, match="return an int"):
        check_same_padding(lambda k, d: "1")


def test_check_output_size_explains_a_non_function():
    with pytest.raises(ExerciseError, match="expected a function"):
        check_output_size(3)
