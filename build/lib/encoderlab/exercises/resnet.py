"""Checks for the residual-block exercises of Chapter 3."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..resnet import ResnetBlock, resnet_block_num_params
from ._common import ExerciseError, call_answer, close, expect_shape, passed

__all__ = ["check_block_forward", "check_block_params"]


def check_block_params(fn) -> None:
    """Check ``fn(in_channels, out_channels) -> int``: the parameters of LDM's ``ResnetBlock`` (1x1 shortcut
    when the channel count changes), compared with ``sum(p.numel())`` of a real block."""
    for cin, cout in ((64, 64), (128, 256), (256, 128), (32, 32), (32, 96)):
        got = call_answer(fn, cin, cout, what=f"your function for ({cin}, {cout})")
        if isinstance(got, bool) or not isinstance(got, int):
            raise ExerciseError(f"return an int, got {type(got).__name__} {got!r}")
        with torch.device("meta"):
            want = sum(p.numel() for p in ResnetBlock(cin, cout).parameters())
        if got == want:
            continue
        where = f"for in={cin}, out={cout}: expected {want:,}, got {got:,}."
        convs = cin * cout * 9 + cout * cout * 9
        skip = cin * cout + cout if cin != cout else 0
        if got == want - 2 * cin - 2 * cout:
            raise ExerciseError(f"{where} You left out the two GroupNorms: each has a scale and a shift per channel.")
        if got == want - 2 * cout - (cout if cin != cout else 0):
            raise ExerciseError(f"{where} You left out the biases: every conv has one per output channel.")
        if got == want - skip and skip:
            raise ExerciseError(f"{where} When the channel count changes, the skip path needs a 1x1 conv "
                                "(nin_shortcut) with its own weights and bias.")
        if cin == cout and got == want + cin * cout + cout:
            raise ExerciseError(f"{where} With equal channels LDM's skip path is the identity: no parameters "
                                "(a 1x1 conv on every block is the seed-003 variant).")
        if got in (convs, want - 2 * cin - 2 * cout - 2 * cout):
            raise ExerciseError(f"{where} You counted only the conv weights; add biases, GroupNorms, skip.")
        if got == resnet_block_num_params(cin, cout, shortcut="conv"):
            raise ExerciseError(f"{where} The default shortcut is 1x1 (nin_shortcut), not 3x3.")
        raise ExerciseError(f"{where} Add up: 2 GroupNorms (2C each), two 3x3 convs with bias, the 1x1 skip.")
    passed("your count equals sum(p.numel()) for every block tried.")


def check_block_forward(fn) -> None:
    """Check ``fn(block, x) -> y``: the forward pass of a :class:`ResnetBlock` written with its layers
    ``block.norm1, conv1, norm2, dropout, conv2`` and ``block.nin_shortcut`` (or identity)."""
    gen = torch.Generator().manual_seed(5)
    for cin, cout in ((8, 8), (8, 16)):
        block = ResnetBlock(cin, cout, num_groups=4).eval()
        with torch.no_grad():
            for p in block.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        x = torch.randn(2, cin, 5, 5, generator=gen) + 1.0
        with torch.no_grad():
            y = call_answer(fn, block, x, what=f"your function ({cin} -> {cout} channels)")
            want = block(x)
            expect_shape("y", y, tuple(want.shape))
            if close(y, want, atol=1e-4):
                continue
            skip = x if cin == cout else block.nin_shortcut(x)
            h = block.conv2(F.silu(block.norm2(block.conv1(F.silu(block.norm1(x))))))
            if close(y, h, atol=1e-4):
                raise ExerciseError("y is the residual branch only: add the skip path (x, or nin_shortcut(x)).")
            if cin == cout:  # the original ResNet's post-activation order (conv -> norm -> act)
                inner = block.norm2(block.conv2(F.silu(block.norm1(block.conv1(x)))))
                if close(y, skip + inner, atol=1e-4) or close(y, F.silu(skip + inner), atol=1e-4):
                    raise ExerciseError("that is the post-activation order (conv -> norm -> act). LDM's block is "
                                        "pre-activation: norm -> SiLU -> conv, twice, then add the skip.")
            relu = block.conv2(F.relu(block.norm2(block.conv1(F.relu(block.norm1(x))))))
            if close(y, skip + relu, atol=1e-4):
                raise ExerciseError("the activation is SiLU (x * sigmoid(x)), not ReLU.")
            no_norm2 = block.conv2(F.silu(block.conv1(F.silu(block.norm1(x)))))
            if close(y, skip + no_norm2, atol=1e-4):
                raise ExerciseError("norm2 is missing: normalise again before the second SiLU and conv.")
            raise ExerciseError("right shape, wrong values: y = skip(x) + conv2(dropout(SiLU(norm2(conv1("
                                "SiLU(norm1(x)))))))")
    passed("your forward pass equals ResnetBlock's, with and without a channel change.")
