"""The Chapter 9 exercise checks accept right answers and give a specific message for typical wrong ones."""

import math

import pytest
from torch import nn

from encoderlab import GroupNorm, PerFrameGroupNorm
from encoderlab.exercises import ExerciseError
from encoderlab.exercises.video import check_fix_norms, check_latent_frames, check_tail_length


def test_check_latent_frames_accepts_right_answer(capsys):
    check_latent_frames(lambda t: 1 + (t - 1) // 8)
    check_latent_frames(lambda t: math.ceil(t / 8))
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("answer,match", [
    (lambda t: t // 8, "drops frame 0"),
    (lambda t: max(1, t // 8), r"T // 8 \(at least 1\)"),
    (lambda t: (t - 1) // 8, "one short"),
    (lambda t: max(1, (t - 1) // 8), "one short"),
    (lambda t: 1 + t // 8, r"1 \+ T // 8"),
    (lambda t: t / 8, "float"),
    (lambda t: float(1 + (t - 1) // 8), "float"),
    (lambda t: str(t), "return an int"),
    (lambda t: 1 + (t - 1) // 8 if t > 1 else 0, "single frame"),
    (lambda t: 1 + (t - 1) // 4, "ceil"),
    (lambda t: exec("raise NotImplementedError"), "NotImplementedError"),
])
def test_check_latent_frames_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_latent_frames(answer)


def _replace(model, factory, names=("norm1", "norm2", "conv_norm_out")):
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is GroupNorm and name in names:
                setattr(module, name, factory(child))
    return model


def _good(old):
    new = PerFrameGroupNorm(old.num_groups, old.num_channels, eps=old.eps)
    new.load_state_dict(old.state_dict())
    return new


def test_check_fix_norms_accepts_right_answer(capsys):
    check_fix_norms(lambda m: _replace(m, _good))
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("answer,match", [
    (lambda m: _replace(m, _good, names=("norm1",)), "still a clip-wide GroupNorm"),
    (lambda m: _replace(m, lambda o: nn.GroupNorm(o.num_groups, o.num_channels, eps=o.eps)), "torch.nn.GroupNorm"),
    (lambda m: _replace(m, lambda o: PerFrameGroupNorm(o.num_groups, o.num_channels, eps=o.eps)), "lost its learned"),
    (lambda m: _replace(m, lambda o: PerFrameGroupNorm(o.num_groups, o.num_channels)), "keep eps"),
    (lambda m: _replace(m, lambda o: PerFrameGroupNorm(1, o.num_channels, eps=o.eps)), "keep num_groups"),
    (lambda m: _replace(m, lambda o: nn.Identity()), "Identity, expected a PerFrameGroupNorm"),
    (lambda m: None, "returned None"),
    (lambda m: m.down_blocks, "disappeared"),
])
def test_check_fix_norms_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_fix_norms(answer)


def _good_tail(p, k, s):
    n_out = 0 if p < k else (p - k) // s + 1
    return p - n_out * s


def test_check_tail_length_accepts_right_answer(capsys):
    check_tail_length(_good_tail)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("answer,match", [
    (lambda p, k, s: k - 1, "right at stride 1 only"),
    (lambda p, k, s: max(k - s, 0), "Pyramid Flow"),
    (lambda p, k, s: p - ((p - k) // s + 1) * s, "no window fits"),
    (lambda p, k, s: (0 if p < k else (p - k) // s + 1) * s, "where the tail"),
    (lambda p, k, s: 1.0, "return an int"),
    (lambda p, k, s: p, "grow"),
    (lambda p, k, s: min(p, k - 1), "right at stride 1 but not"),
    (lambda p, k, s: 0, "Count the windows"),
])
def test_check_tail_length_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_tail_length(answer)
