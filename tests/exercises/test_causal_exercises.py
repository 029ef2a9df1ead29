"""The Chapter 2 exercise checks (causal convolution, streaming): right answers pass, typical mistakes get a
specific message."""

import pytest
import torch.nn.functional as F

from encoderlab.exercises import ExerciseError
from encoderlab.exercises.causal import check_causal_conv1d, check_next_window_start


def _causal(x, w, b, d):
    return F.conv1d(F.pad(x, (d * (w.shape[-1] - 1), 0)), w, b, dilation=d)


def test_check_causal_conv1d_accepts_right_answer(capsys):
    check_causal_conv1d(_causal)
    assert "Correct!" in capsys.readouterr().out


@pytest.mark.parametrize("answer,match", [
    (lambda x, w, b, d: F.conv1d(x, w, b, dilation=d), "Pad dilation"),
    (lambda x, w, b, d: F.conv1d(x, w, b, dilation=d, padding=d * (w.shape[-1] - 1)), "padded both ends"),
    (lambda x, w, b, d: F.conv1d(x, w, b, dilation=d, padding="same"), "centred"),
    (lambda x, w, b, d: F.conv1d(F.pad(x, (0, d * (w.shape[-1] - 1))), w, b, dilation=d), "at the end"),
    (lambda x, w, b, d: F.conv1d(F.pad(x, (d * (w.shape[-1] - 1), 0)), w, b), "ignores the dilation"),
    (lambda x, w, b, d: F.conv1d(F.pad(x, (d * (w.shape[-1] - 1), 0)), w.flip(-1), b, dilation=d), "flipped"),
    (lambda x, w, b, d: _causal(x, w, b, d) * 2, "wrong values"),
])
def test_check_causal_conv1d_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_causal_conv1d(answer)


def _start(p, k, s, d):
    span = d * (k - 1) + 1
    return ((p - span) // s + 1) * s if p >= span else 0


def test_check_next_window_start_accepts_right_answer_and_explains_mistakes(capsys):
    check_next_window_start(_start)
    assert "exact" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="only at stride 1"):
        check_next_window_start(lambda p, k, s, d: max(0, p - d * (k - 1)))
    with pytest.raises(ExerciseError, match="ignores dilation and stride"):
        check_next_window_start(lambda p, k, s, d: max(0, p - (k - 1)) if d == 2 and k > 1 else _start(p, k, s, d))
    with pytest.raises(ExerciseError, match="Off by one window"):
        check_next_window_start(lambda p, k, s, d: max(0, _start(p, k, s, d) - s))
    with pytest.raises(ExerciseError, match="Count the windows"):
        check_next_window_start(lambda p, k, s, d: 7)


def test_check_next_window_start_explains_a_crash():
    with pytest.raises(ExerciseError, match="raised ZeroDivisionError"):
        check_next_window_start(lambda p, k, s, d: 1 // 0)
