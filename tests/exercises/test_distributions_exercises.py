"""The Chapter 5 exercise checks accept right answers and give a specific message for typical wrong ones."""

import pytest
import torch

from encoderlab.exercises import ExerciseError
from encoderlab.exercises.distributions import check_elbo, check_kl_standard_normal, check_reparameterize


def _kl(mean, logvar):
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=(1, 2, 3))


def test_check_reparameterize_accepts_right_answer(capsys):
    check_reparameterize(lambda mean, logvar, eps: mean + torch.exp(0.5 * logvar) * eps)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "answer,match",
    [
        (lambda m, lv, eps: m + torch.exp(lv) * eps, "variance"),
        (lambda m, lv, eps: m + lv * eps, "logvar itself"),
        (lambda m, lv, eps: m + torch.exp(0.5 * lv), "noise eps is missing"),
        (lambda m, lv, eps: m * torch.exp(0.5 * lv) + eps, "swapped"),
        (lambda m, lv, eps: m + torch.exp(0.5 * lv) * torch.randn_like(m), "draw new noise"),
        (lambda m, lv, eps: (m + torch.exp(0.5 * lv) * eps).detach(), "autograd graph"),
        (lambda m, lv, eps: torch.normal(m, torch.exp(0.5 * lv)), "draw new noise"),
        (lambda m, lv, eps: m.data + torch.exp(0.5 * lv) * eps, "gradients are wrong|no gradient"),
        (lambda m, lv, eps: m[0], "shape"),
    ],
)
def test_check_reparameterize_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_reparameterize(answer)


def test_check_kl_standard_normal_accepts_right_answer(capsys):
    check_kl_standard_normal(_kl)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "answer,match",
    [
        (lambda m, lv: _kl(m, lv).sum(), "reduced over the batch"),
        (lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - 1 - lv), "one value per latent element"),
        (lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - 1 - lv).mean(dim=(1, 2, 3)), "SUM"),
        (lambda m, lv: 2 * _kl(m, lv), "twice too large"),
        (lambda m, lv: -_kl(m, lv), "wrong sign"),
        (lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - lv).sum(dim=(1, 2, 3)), "'- 1' is missing"),
        (lambda m, lv: 0.5 * (m.pow(2) + torch.exp(0.5 * lv) - 1 - lv).sum(dim=(1, 2, 3)), "standard deviation"),
        (lambda m, lv: _kl(m, lv) + 1, "wrong values"),
        (lambda m, lv: m.sum(), "reduced over the batch"),
    ],
)
def test_check_kl_standard_normal_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_kl_standard_normal(answer)


def test_check_elbo_accepts_right_answer(capsys):
    check_elbo(lambda x, x_hat, m, lv, beta: ((x_hat - x).pow(2).sum(dim=(1, 2, 3)) + beta * _kl(m, lv)).mean())
    assert capsys.readouterr().out.startswith("Correct!")


def _rec(x, x_hat):
    return (x_hat - x).pow(2).sum(dim=(1, 2, 3))


@pytest.mark.parametrize(
    "answer,match",
    [
        (lambda x, x_hat, m, lv, beta: (_rec(x, x_hat) - beta * _kl(m, lv)).mean(), "subtracted the KL"),
        (lambda x, x_hat, m, lv, beta: (beta * _rec(x, x_hat) + _kl(m, lv)).mean(), "beta multiplies"),
        (lambda x, x_hat, m, lv, beta: (x_hat - x).pow(2).mean() + beta * _kl(m, lv).mean(), "different scales"),
        (lambda x, x_hat, m, lv, beta: _rec(x, x_hat).mean(), "KL term is missing"),
        (lambda x, x_hat, m, lv, beta: _rec(x, x_hat) + beta * _kl(m, lv), "scalar"),
        (lambda x, x_hat, m, lv, beta: 1.0, "return a tensor"),
        (lambda x, x_hat, m, lv, beta: (_rec(x, x_hat) + _kl(m, lv)).mean(), "wrong value"),
    ],
)
def test_check_elbo_explains_mistakes(answer, match):
    with pytest.raises(ExerciseError, match=match):
        check_elbo(answer)
