"""Checks for the exercises of Chapter 10 (residual encoder networks).

Each check runs the reader's function on several cases, compares with the truth (taken from the real modules
where possible) and, when the answers match a typical mistake on every case, says which mistake.
"""

from __future__ import annotations

import math

import torch

from ..encoder_nets import _BlockBottleneckNd
from ..summary import short_label
from ._common import ExerciseError, call_answer, passed

__all__ = ["check_bottleneck_params", "check_label", "check_stage_sizes"]


def _answers(fn, cases, what):
    out = []
    for case in cases:
        got = call_answer(fn, *case, what=f"{what}{case}")
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        out.append(got)
    return out


def _diagnose(got, cases, truth, mistakes, what):
    """Raise the message of the first mistake whose answers equal ``got`` on every case, else a generic one."""
    want = [truth(*case) for case in cases]
    if got == want:
        return want
    for wrong, message in mistakes:
        if got == [wrong(*case) for case in cases]:
            raise ExerciseError(message)
    first = next(i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
    raise ExerciseError(f"{what}{cases[first]} returned {got[first]!r}, expected {want[first]!r}.")


# ---------------------------------------------------------------------------------------------------------
# 1. parameters of a bottleneck block
# ---------------------------------------------------------------------------------------------------------

_BOTTLENECK_CASES = [(8, 8, 3, 2, 1), (8, 16, 3, 2, 2), (6, 6, 5, 1, 2), (4, 12, 3, 3, 1), (16, 16, 3, 2, 1)]


def _bottleneck_truth(cin, cout, k, order, stride):
    with torch.device("meta"):
        block = _BlockBottleneckNd(order, cin, cout, kernel_size=k, stride=stride, padding=k // 2)
    return sum(p.numel() for p in block.parameters())


def _has_shortcut(cin, cout, stride):
    return stride > 1 or cin != cout


def _formula(cin, cout, k, order, stride, *, norm=2, prelu=None, bias=False, inner=None, kk_11=False,
             shortcut=None):
    """Bottleneck parameter count with switches for the typical mistakes."""
    kk = k**order
    mid = cin if inner is None else inner
    units = [(cin, mid, 1), (mid, mid, kk), (mid, cout, 1)]
    total = 0
    for c_in, c_out, kernel in units:
        kernel = kk if kk_11 else kernel
        total += norm * c_in + (c_in if prelu is None else prelu) + c_in * c_out * kernel + (c_out if bias else 0)
    with_shortcut = _has_shortcut(cin, cout, stride) if shortcut is None else shortcut
    if with_shortcut:
        total += cin * cout + (2 * cout if norm else 0) + (cout if bias else 0)
    return total


def check_bottleneck_params(fn) -> None:
    """Check ``fn(in_planes, out_planes, kernel_size, order, stride) -> int``: the number of parameters of
    ``BlockBottleneck{order}d(in_planes, out_planes, kernel_size, stride)`` (padding ``kernel_size // 2``)."""
    got = _answers(fn, _BOTTLENECK_CASES, "your function")
    for g in got:
        if isinstance(g, bool) or not isinstance(g, int):
            raise ExerciseError(f"return an int parameter count, got {type(g).__name__} {g!r}")
    mistakes = [
        (lambda *c: _formula(*c, norm=0),
         "you left out the InstanceNorm parameters: with affine=True every InstanceNorm has a weight and a "
         "bias per channel (2 * channels), in each of the three units and in the shortcut."),
        (lambda *c: _formula(*c, prelu=1),
         "your PReLU has a single slope. Here it is PReLU(num_parameters=channels): one slope per channel."),
        (lambda *c: _formula(*c, bias=True),
         "you counted convolution biases. Every conv in a block is bias-free (the InstanceNorm that follows "
         "or precedes it has its own shift)."),
        (lambda *c: _formula(*c, inner=c[0] // 4),
         "you reduced the inner width by 4 as torchvision's ResNet bottleneck does. This family has NO "
         "channel reduction: conv1 and conv2 keep in_planes channels."),
        (lambda *c: _formula(*c, shortcut=False),
         "you forgot the projection shortcut: when the block resamples (stride > 1) or changes the width, "
         "in_node = Conv 1x1 (in * out weights) followed by InstanceNorm (2 * out)."),
        (lambda *c: _formula(*c, shortcut=True),
         "an identity shortcut (stride 1 and in_planes == out_planes) has no parameters; only a resampling "
         "or width-changing block gets the 1x1 projection."),
        (lambda *c: _formula(*c, kk_11=True),
         "conv1 and conv3 are 1x1 (point-wise) convolutions: only conv2 has the k**order kernel."),
    ]
    _diagnose(got, _BOTTLENECK_CASES, _bottleneck_truth, mistakes, "your function")
    passed("your formula matches the real BlockBottleneck modules on every case.")


# ---------------------------------------------------------------------------------------------------------
# 2. sizes along the encoder
# ---------------------------------------------------------------------------------------------------------

_SIZE_CASES = [(128, 5), (63, 5), (64, 3), (31, 4), (9, 2), (100, 2)]


def _sizes_truth(size, n_stages):
    sizes = [size]
    for _ in range(n_stages):
        sizes.append((sizes[-1] - 1) // 2 + 1)
    return sizes


def check_stage_sizes(fn) -> None:
    """Check ``fn(size, n_stages) -> list``: the length of one axis (kernel 3) at the input of stage 0 and
    after each of the ``n_stages`` stages, i.e. ``n_stages + 1`` ints starting with ``size``."""
    got = _answers(fn, _SIZE_CASES, "your function")
    got = [list(g) if isinstance(g, (list, tuple)) else g for g in got]
    for g in got:
        if not isinstance(g, list):
            raise ExerciseError(f"return a list of ints, got {type(g).__name__} {g!r}")
    mistakes = [
        (lambda s, n: [s // 2**i for i in range(n + 1)],
         "you halve with floor division: for odd sizes that loses a pixel. A 3x3 conv with stride 2 and "
         "padding 1 maps L to (L - 1) // 2 + 1 = ceil(L / 2): 63 -> 32, not 31."),
        (lambda s, n: _sizes_truth(s, n)[1:],
         "return n_stages + 1 sizes: start with the input size itself (the first conv keeps it)."),
        (lambda s, n: _sizes_truth(s, n + 1),
         "the encoder resamples once per stage, n_stages times in all; the first conv and the final conv keep "
         "the size."),
        (lambda s, n: [math.ceil(s / 2**i) for i in range(n)],
         "return n_stages + 1 sizes: the input size and one after every stage."),
    ]
    _diagnose(got, _SIZE_CASES, _sizes_truth, mistakes, "your function")
    passed("63 -> 32 -> 16 -> 8 -> 4 -> 2: every stage maps L to ceil(L / 2).")


# ---------------------------------------------------------------------------------------------------------
# 3. labels of the summary table
# ---------------------------------------------------------------------------------------------------------

_LABEL_CASES = [("Conv1d-1",), ("InstanceNorm1d-100",), ("_BlockBottleneckNd-11",), ("_BlockResStkNd-124",),
                ("_BlockBottleneckNd-111",), ("AdaptiveAvgPool1d-126",), ("AdaptiveAvgPool2d-7",),
                ("ABCDEFGHIJKLMNOPQRST",), ("ABCDEFGHIJKLMNOPQRSTU",)]


def check_label(fn) -> None:
    """Check ``fn(label) -> str``: the label as the seed table prints it (at most 20 characters)."""
    got = _answers(fn, _LABEL_CASES, "your function")
    for g in got:
        if not isinstance(g, str):
            raise ExerciseError(f"return a str, got {type(g).__name__} {g!r}")
    mistakes = [
        (lambda s: s, "long labels are shortened: _BlockBottleneckNd-11 prints as _BlockBo...neckNd-11."),
        (lambda s: s if len(s) <= 20 else s[:9] + "..." + s[-8:],
         "the head and the tail are swapped: keep the first 8 characters and the last 9 "
         "(8 + 3 + 9 = 20)."),
        (lambda s: s if len(s) < 20 else s[:8] + "..." + s[-9:],
         "a label of exactly 20 characters fits and is printed whole: shorten only when len(label) > 20."),
        (lambda s: s[:20],
         "the table does not cut labels at 20 characters: it keeps the first 8, writes '...', and keeps the "
         "last 9, so the index at the end stays readable."),
    ]
    _diagnose(got, _LABEL_CASES, short_label, mistakes, "your function")
    passed("_BlockBottleneckNd-11 -> _BlockBo...neckNd-11 and _BlockBottleneckNd-111 -> _BlockBo...eckNd-111.")
