"""Peak-memory measurement and the memory claim of streaming (small sizes; the benchmark script does it big)."""

import pytest
import torch

from encoderlab import CausalVideoEncoder, allocator_peak_memory, memory_vs_length, streaming_plan


def test_allocator_peak_memory_sees_torch_cpu_allocations():
    n = 4 * 2**20

    def work():
        a = torch.ones(n // 4)  # n bytes of float32, alive at the same time as ...
        b = torch.ones(n // 8)  # ... n / 2 more
        del a, b
        torch.ones(n // 16)  # freed memory is not counted twice

    peak = allocator_peak_memory(work)
    assert 1.5 * n <= peak < 1.5 * n + 64 * 1024
    before = torch.ones(n // 4)  # allocated before the measurement: not part of the peak
    assert allocator_peak_memory(lambda: before + 1) < 1.5 * n
    with pytest.raises(TypeError, match="fn must be callable"):
        allocator_peak_memory(42)


def test_streaming_plan():
    assert streaming_plan(1) == [1]
    assert streaming_plan(25) == [1, 8, 8, 8]
    assert streaming_plan(30, chunk=8, first=9) == [9, 8, 8, 5]
    assert sum(streaming_plan(129, chunk=5, first=3)) == 129


def test_streaming_memory_is_flat_while_whole_clip_memory_grows():
    model = CausalVideoEncoder(block_out_channels=(4, 8, 8, 8), num_groups=2, z_channels=2).eval()
    rows = memory_vs_length(model, (9, 33, 65), height=16, width=16)
    whole = [r["whole_bytes"] for r in rows]
    stream = [r["stream_bytes"] for r in rows]
    assert whole[0] < whole[1] < whole[2] and whole[2] > 4 * whole[0]
    assert max(stream) / min(stream) <= 1.3
    assert stream[2] < whole[2] / 3
    with pytest.raises(RuntimeError, match="eval mode"):
        memory_vs_length(model.train(), (9,))
