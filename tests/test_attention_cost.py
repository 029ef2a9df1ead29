"""Chapter 4's cost measurements: multiply-adds, time and peak memory, checked against what can be computed by hand."""

import pytest
import torch
from torch import nn

from encoderlab.attention import AttnBlock, attention
from encoderlab.cost import count_macs, peak_memory, time_call


def test_count_macs_of_a_conv_and_of_attention():
    conv = nn.Conv2d(16, 32, 3, padding=1)
    x = torch.randn(1, 16, 8, 8)
    assert count_macs(conv, x) == 9 * 16 * 32 * 64
    q = torch.randn(1, 1, 100, 8)
    # q k^T and weights @ v: 2 * N * M * d multiply-adds
    assert count_macs(lambda: attention(q, q, q, backend="explicit")) == 2 * 100 * 100 * 8


def test_attn_block_macs_grow_with_the_square_of_the_number_of_positions():
    blk = AttnBlock(32, backend="explicit")
    small = count_macs(blk, torch.randn(1, 32, 8, 8))
    big = count_macs(blk, torch.randn(1, 32, 16, 16))
    n1, n2 = 64, 256
    assert small == 4 * 32 * 32 * n1 + 2 * n1 * n1 * 32  # four 1x1 convs + two products
    assert big == 4 * 32 * 32 * n2 + 2 * n2 * n2 * 32


def test_peak_memory_sees_the_score_matrix_of_explicit_attention_only():
    n = 1024
    q = torch.randn(1, 1, n, 32)
    explicit = peak_memory(lambda: attention(q, q, q, backend="explicit"))
    fused = peak_memory(lambda: attention(q, q, q, backend="sdpa"))
    assert explicit >= 2 * n * n * 4  # scores and softmax, float32, alive together
    assert fused < n * n * 4 / 8  # the fused kernel never returns an N x N tensor
    assert peak_memory(lambda: torch.empty(1000, dtype=torch.float64)) == 8000


def test_time_call_and_argument_checks():
    assert time_call(torch.randn, 10, repeats=2) > 0
    threads = torch.get_num_threads()
    seen = []
    time_call(lambda: seen.append(torch.get_num_threads()), repeats=1, num_threads=1)
    assert seen == [1, 1] and torch.get_num_threads() == threads  # warmup + 1 run, then restored
    with pytest.raises(TypeError, match="fn must be callable"):
        time_call(3)
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        time_call(torch.randn, 3, repeats=0)


def test_peak_memory_passes_keyword_arguments_and_rejects_other_devices():
    q = torch.randn(1, 1, 256, 16)
    assert peak_memory(attention, q, q, q, backend="explicit") >= 2 * 256 * 256 * 4
    with pytest.raises(ValueError, match="CPU or CUDA memory"):
        peak_memory(torch.randn, 3, device="meta")
