"""The cost measurements of Chapter 4 (multiply-adds, time) and the one peak-memory probe with its two methods
(Chapter 4: the tensors a call creates; Chapter 9 and the benchmarks: the allocator), checked against what can
be computed by hand."""

import pytest
import torch
from torch import nn

from encoderlab.attention import AttnBlock, attention
from encoderlab.cost import PEAK_MEMORY_METHODS, count_macs, one_conv_algorithm, peak_memory, time_call


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


def test_peak_memory_passes_keyword_arguments_and_rejects_other_devices_and_methods():
    q = torch.randn(1, 1, 256, 16)
    assert peak_memory(attention, q, q, q, backend="explicit") >= 2 * 256 * 256 * 4
    with pytest.raises(ValueError, match="CPU or CUDA memory"):
        peak_memory(torch.randn, 3, device="meta")
    with pytest.raises(ValueError, match=r"method must be one of \['tensors', 'allocator'\], got 'rss'"):
        peak_memory(torch.randn, 3, method="rss")
    with pytest.raises(TypeError, match="fn must be callable"):
        peak_memory(42, method="allocator")


def test_the_allocator_method_sees_torch_cpu_allocations():
    n = 4 * 2**20

    def work():
        a = torch.ones(n // 4)  # n bytes of float32, alive at the same time as ...
        b = torch.ones(n // 8)  # ... n / 2 more
        del a, b
        torch.ones(n // 16)  # freed memory is not counted twice

    peak = peak_memory(work, method="allocator")
    assert 1.5 * n <= peak < 1.5 * n + 64 * 1024
    before = torch.ones(n // 4)  # allocated before the measurement: not part of the peak
    assert peak_memory(lambda: before + 1, method="allocator") < 1.5 * n
    assert peak_memory(lambda: torch.empty(1000, dtype=torch.float64), method="allocator") == 8000


@pytest.mark.parametrize("method", PEAK_MEMORY_METHODS)
def test_both_methods_see_the_scores_of_explicit_attention(method):
    n = 512
    q = torch.randn(1, 1, n, 32)
    assert peak_memory(attention, q, q, q, backend="explicit", method=method) >= 2 * n * n * 4


def test_only_the_allocator_sees_the_scratch_buffer_of_a_convolution():
    conv = nn.Conv2d(16, 16, 3, padding=1)
    x = torch.randn(1, 16, 32, 32)
    with one_conv_algorithm():  # im2col: a (16 * 3 * 3) x (32 * 32) float32 buffer next to the output
        tensors = peak_memory(conv, x)
        allocator = peak_memory(conv, x, method="allocator")
    output = 16 * 32 * 32 * 4
    assert tensors == output  # the one tensor the call returns
    assert allocator >= output + 16 * 9 * 32 * 32 * 4


def test_one_conv_algorithm_turns_onednn_off_inside_the_block_only():
    before = torch.backends.mkldnn.enabled
    with one_conv_algorithm():
        assert torch.backends.mkldnn.enabled is False
    assert torch.backends.mkldnn.enabled == before
