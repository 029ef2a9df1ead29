"""The Chapter 8 exercise checks accept right answers and give a specific message for typical wrong ones."""

import math

import pytest
import torch
import torch.nn.functional as F

from encoderlab.exercises import ExerciseError
from encoderlab.exercises.vae import check_elbo, check_interpolation, check_psnr


def _kl(mean, logvar):
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=(1, 2, 3))


def _sse(x, x_hat):
    return (x - x_hat).pow(2).sum(dim=(1, 2, 3))


def good_elbo(x, x_hat, mean, logvar, beta):
    return _sse(x, x_hat), _kl(mean, logvar), _sse(x, x_hat) + beta * _kl(mean, logvar)


def test_check_elbo_accepts_right_answer(capsys):
    check_elbo(good_elbo)
    assert capsys.readouterr().out.startswith("Correct!")


def _with(recon=None, kl=None, loss=None):
    def answer(x, x_hat, mean, logvar, beta):
        r = _sse(x, x_hat) if recon is None else recon(x, x_hat)
        k = _kl(mean, logvar) if kl is None else kl(mean, logvar)
        return r, k, (r + beta * k) if loss is None else loss(r, k, beta)
    return answer


@pytest.mark.parametrize(
    "answer,match",
    [
        (_with(recon=lambda x, y: F.mse_loss(y, x, reduction="none").mean(dim=(1, 2, 3))), "SUM over all"),
        (_with(recon=lambda x, y: _sse(x, y).sqrt()), "no sqrt"),
        (_with(kl=lambda m, lv: -_kl(m, lv)), "wrong sign"),
        (_with(kl=lambda m, lv: 2 * _kl(m, lv)), "factor 0.5"),
        (_with(kl=lambda m, lv: _kl(m, lv) / m[0].numel()), "averaged over the latent"),
        (_with(kl=lambda m, lv: 0.5 * (m.pow(2) + (0.5 * lv).exp() - 1 - lv).sum(dim=(1, 2, 3))),
         "standard deviation"),
        (_with(loss=lambda r, k, beta: beta * r + k), "beta multiplies the reconstruction"),
        (_with(loss=lambda r, k, beta: -(r + beta * k)), "its negative"),
        (lambda x, y, m, lv, beta: (F.mse_loss(y, x), _kl(m, lv).mean(), F.mse_loss(y, x)), "single number"),
        (lambda x, y, m, lv, beta: _sse(x, y), "tuple"),
        (lambda x, y, m, lv, beta: exec("raise NotImplementedError"), "NotImplementedError"),
    ],
)
def test_check_elbo_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_elbo(answer)


def _mse(x, y):
    return (x - y).pow(2).mean(dim=(1, 2, 3))


@pytest.mark.parametrize(
    "answer,match",
    [
        (lambda x, y: 10 * torch.log10(1.0 / _mse(x, y)), "6.02 dB too low"),
        (lambda x, y: 10 * torch.log(4.0 / _mse(x, y)), "log10"),
        (lambda x, y: 20 * torch.log10(4.0 / _mse(x, y)), "RMSE"),
        (lambda x, y: (10 * torch.log10(4.0 / _mse(x, y).mean())).expand(x.shape[0]), "pooled batch"),
        (lambda x, y: 10 * torch.log10(4.0 / (x - y).pow(2).mean()), "single number"),
        (lambda x, y: 10 * torch.log10(4.0 / _mse(x, y)) + 1.0, "wrong values"),
    ],
)
def test_check_psnr_explains_mistakes(answer, match):
    check_psnr(lambda x, y: 10 * torch.log10(4.0 / _mse(x, y)))
    with pytest.raises(ExerciseError, match=match):
        check_psnr(answer)
    assert math.isclose(20 * math.log10(2.0), 6.0206, abs_tol=1e-4)


def good_path(z0, z1, n):
    t = torch.linspace(0, 1, n).view(n, 1, 1, 1)
    return (1 - t) * z0 + t * z1


@pytest.mark.parametrize(
    "answer,match",
    [
        (lambda z0, z1, n: good_path(z0, z1, n).flip(0), "backwards"),
        (lambda z0, z1, n: torch.stack([z0 + (z1 - z0) * i / n for i in range(n)]), "include the end point"),
        (lambda z0, z1, n: [z0, z1], "torch.stack"),
        (lambda z0, z1, n: good_path(z0, z1, n).transpose(0, 1), "shape"),
        (lambda z0, z1, n: good_path(z0, z1, n) ** 1 * torch.linspace(1, 1.1, n).view(n, 1, 1, 1)
         if n > 2 else good_path(z0, z1, n), "zs\\[-1\\] is not z1"),
        (lambda z0, z1, n: torch.stack([z0 + (z1 - z0) * (i / (n - 1)) ** 2 for i in range(n)]), "equally spaced"),
    ],
)
def test_check_interpolation_explains_mistakes(answer, match):
    check_interpolation(good_path)
    with pytest.raises(ExerciseError, match=match):
        check_interpolation(answer)
