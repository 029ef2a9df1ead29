"""encoderlab.grading: the assignment graders refuse the book's package (and forbidden torch functions) and
accept the student's own code; the comparison helpers say what is wrong."""

import functools
import importlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import encoderlab
from encoderlab import group_norm as gn_of_the_book
from encoderlab.grading import NotOwnWork, close, fingerprint, matches_fingerprint, own_work, raises


def own_group_norm(x, num_groups, eps=1e-5):
    v = x.reshape(x.shape[0], num_groups, -1)
    y = (v - v.mean(-1, keepdim=True)) / torch.sqrt(v.var(-1, unbiased=False, keepdim=True) + eps)
    return y.reshape(x.shape)


def aliased_wrapper(x, num_groups):
    el = encoderlab
    return el.group_norm(x, num_groups)


def default_argument(x, num_groups, _norm=gn_of_the_book):
    return _norm(x, num_groups)


def hidden_import(x, num_groups):
    return getattr(importlib.import_module("encoder" + "lab"), "group" + "_norm")(x, num_groups)


def torch_group_norm(x, num_groups):
    return F.group_norm(x, num_groups)


def hidden_builtin(q, k, v):
    return getattr(F, "scaled_dot_" + "product_attention")(q, k, v)


def via_module(x, module):
    return module(x)


class Subclass(encoderlab.GroupNorm):
    pass


class Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = encoderlab.GroupNorm(2, 4)

    def forward(self, x):
        return self.inner(x)


def test_own_work_passes():
    x = torch.randn(2, 4, 3, 3)
    want = F.group_norm(x, 2)  # oracles run outside the block: inside it, F.group_norm is forbidden
    with own_work(own_group_norm, forbid=[F.group_norm, nn.GroupNorm]):
        close(own_group_norm(x, 2), want, "own_group_norm", atol=1e-4)


@pytest.mark.parametrize("answer, why", [
    (encoderlab.group_norm, "is encoderlab.norm.group_norm"),
    (functools.partial(encoderlab.group_norm, num_groups=2), "is encoderlab.norm.group_norm"),
    (encoderlab.GroupNorm, "is encoderlab.norm.GroupNorm"),
    (Subclass, "builds on encoderlab.norm.GroupNorm"),
    (Holder(), "builds on encoderlab.norm.GroupNorm"),
    (aliased_wrapper, "mentions `encoderlab`"),
    (default_argument, "uses encoderlab.norm.group_norm"),
])
def test_static_refusals(answer, why):
    with pytest.raises(NotOwnWork, match="scores 0 until you write it yourself") as err, own_work(answer):
        pass
    assert why in str(err.value)


def test_traced_calls_are_refused():
    x = torch.randn(1, 4, 2, 2)
    with pytest.raises(NotOwnWork, match="calls encoderlab.norm.group_norm"), own_work(hidden_import):
        hidden_import(x, 2)
    with pytest.raises(NotOwnWork, match="calls group_norm"), own_work(via_module, forbid=[F.group_norm]):
        via_module(x, nn.GroupNorm(2, 4))  # names nothing forbidden; the traced call reaches F.group_norm
    q = torch.randn(1, 3, 4)
    with pytest.raises(NotOwnWork, match="calls scaled_dot_product_attention"), \
            own_work(hidden_builtin, forbid=[F.scaled_dot_product_attention]):
        hidden_builtin(q, q, q)
    with pytest.raises(NotOwnWork, match="calls torch.nn.functional.group_norm"), \
            own_work(torch_group_norm, forbid=[F.group_norm]):
        pass


def test_comparison_messages():
    with pytest.raises(AssertionError, match=r"has shape \(2,\), expected \(3,\)"):
        close(torch.zeros(2), torch.zeros(3), "x")
    with pytest.raises(AssertionError, match="largest difference 1"):
        close(torch.zeros(3), torch.ones(3), "x")
    with pytest.raises(AssertionError, match="must raise ValueError"):
        raises(ValueError, ["n"], lambda: None, what="f()")
    t = torch.arange(12.0).reshape(3, 4)
    matches_fingerprint(t, fingerprint(t), (3, 4), "t")
    with pytest.raises(AssertionError, match="sum is 66, expected 67"):
        matches_fingerprint(t, [67.0] + fingerprint(t)[1:], (3, 4), "t")
