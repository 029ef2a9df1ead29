"""The Chapter 7 exercise checks accept right answers and give a specific message for typical wrong ones."""

import re

import pytest
import torch
import torch.nn.functional as F

from encoderlab.exercises import ExerciseError
from encoderlab.exercises.ldm import check_decoder_key, check_downsample, check_latent_shape


def good_shape(image_shape, ch_mult, z_channels, double_z):
    b, _, h, w = image_shape
    f = 2 ** (len(ch_mult) - 1)
    return (b, 2 * z_channels if double_z else z_channels, h // f, w // f)


def test_check_latent_shape_accepts_right_answer(capsys):
    check_latent_shape(good_shape)
    check_latent_shape(lambda *a: torch.Size(good_shape(*a)))
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("answer,match", [
    (lambda s, m, z, d: (s[0], 2 * z if d else z, s[2] // 2 ** len(m), s[3] // 2 ** len(m)), "5 levels halve 4 times"),
    (lambda s, m, z, d: (s[0], z, s[2] // 2 ** (len(m) - 1), s[3] // 2 ** (len(m) - 1)), "mean AND the log-variance"),
    (lambda s, m, z, d: (s[0], 2 * z, s[2] // 2 ** (len(m) - 1), s[3] // 2 ** (len(m) - 1)), "only double_z=True"),
    (lambda s, m, z, d: (1,) + good_shape(s, m, z, d)[1:], "batch size"),
    (lambda s, m, z, d: good_shape(s, m, z, d)[1:], "four ints"),
    (lambda s, m, z, d: exec("raise NotImplementedError"), "NotImplementedError"),
])
def test_check_latent_shape_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_latent_shape(answer)


def good_key(key, n):
    m = re.match(r"decoder\.up\.(\d+)\.(block\.(\d+)|upsample)\.(.+)$", key)
    i = n - 1 - int(m.group(1))
    if m.group(3) is None:
        return f"decoder.up_blocks.{i}.upsamplers.0.{m.group(4)}"
    return f"decoder.up_blocks.{i}.resnets.{m.group(3)}.{m.group(4).replace('nin_shortcut', 'conv_shortcut')}"


def test_check_decoder_key_accepts_right_answer(capsys):
    check_decoder_key(good_key)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("answer,match", [
    (lambda k, n: good_key(k, n).replace(f"up_blocks.{n - 1 - int(k.split('.')[2])}.",
                                         f"up_blocks.{k.split('.')[2]}."), "not reversed"),
    (lambda k, n: good_key(k, n).replace(f"up_blocks.{n - 1 - int(k.split('.')[2])}.",
                                         f"up_blocks.{n - int(k.split('.')[2])}."), "off by one"),
    (lambda k, n: good_key(k, n).replace("conv_shortcut", "nin_shortcut"), "conv_shortcut"),
    (lambda k, n: good_key(k, n).replace("upsamplers.0", "upsample"), "upsamplers.0"),
    (lambda k, n: good_key(k, n).replace("resnets", "block"), "resnets"),
    (lambda k, n: 3, "as a str"),
])
def test_check_decoder_key_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_decoder_key(answer)


def test_check_downsample_accepts_right_answer(capsys):
    check_downsample(lambda x, conv: conv(F.pad(x, (0, 1, 0, 1))))
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("answer,match", [
    (lambda x, conv: F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1), "all four sides"),
    (lambda x, conv: conv(F.pad(x, (1, 0, 1, 0))), r"shifted by one pixel.*\(left, right, top, bottom\)"),
    (lambda x, conv: conv(x), "without padding"),
    (lambda x, conv: conv(F.pad(x, (0, 1, 0, 1), value=1.0)), "pad with zeros"),
    (lambda x, conv: x[:, :, ::2, ::2], "shape"),
    (lambda x, conv: "y", "return a tensor"),
])
def test_check_downsample_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_downsample(answer)
