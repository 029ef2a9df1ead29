"""The Chapter 4 exercise checks accept right answers and give a specific message for typical wrong ones."""

import math

import pytest

from encoderlab.exercises import ExerciseError
from encoderlab.exercises.attention import check_attention, check_split_heads, check_to_tokens


def test_check_to_tokens_accepts_right_answer(capsys):
    check_to_tokens(lambda x: x.flatten(2).transpose(1, 2))
    check_to_tokens(lambda x: x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, x.shape[1]))
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "answer,match",
    [
        (lambda x: x.reshape(x.shape[0], -1, x.shape[1]), "straight to"),
        (lambda x: x.flatten(2), "Transpose the last two axes"),
        (lambda x: x.permute(0, 3, 2, 1).reshape(x.shape[0], -1, x.shape[1]), "column-major"),
        (lambda x: x.flatten(2).transpose(1, 2) * 2, "wrong values"),
        (lambda x: x.flatten(), "shape"),
        (lambda x: exec("raise NotImplementedError"), "NotImplementedError"),
    ],
)
def test_check_to_tokens_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_to_tokens(answer)


def _scores(q, k):
    return q @ k.transpose(-1, -2)


def test_check_attention_accepts_right_answer(capsys):
    check_attention(lambda q, k, v: (_scores(q, k) / math.sqrt(q.shape[-1])).softmax(-1) @ v)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "answer,match",
    [
        (lambda q, k, v: _scores(q, k).softmax(-1) @ v, "forgot the scale"),
        (lambda q, k, v: (_scores(q, k) / q.shape[-1]).softmax(-1) @ v, "divided the scores by d"),
        (lambda q, k, v: (_scores(q, k) / math.sqrt(q.shape[-1])).softmax(-2) @ v, "over the queries"),
        (lambda q, k, v: (_scores(q, k) / math.sqrt(q.shape[-1])) @ v, "no softmax"),
        (lambda q, k, v: (_scores(q, k) / math.sqrt(q.shape[-1])).softmax(-1) @ v + 1, "wrong values"),
        (lambda q, k, v: q, "shape"),
    ],
)
def test_check_attention_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_attention(answer)


def test_check_split_heads_accepts_right_answer(capsys):
    check_split_heads(lambda x, h: x.reshape(x.shape[0], x.shape[1], h, -1).transpose(1, 2))
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "answer,match",
    [
        (lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1), "straight to"),
        (lambda x, h: x.reshape(x.shape[0], x.shape[1], h, -1), "head axis must come before"),
        (lambda x, h: x.reshape(x.shape[0], x.shape[1], -1, h).permute(0, 3, 1, 2), "interleaved"),
        (lambda x, h: x.reshape(x.shape[0], x.shape[1], h, -1).transpose(1, 2).flip(1), "wrong values"),
        (lambda x, h: x, "shape"),
    ],
)
def test_check_split_heads_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_split_heads(answer)
