"""Chapter 9's measurement tools: changed frames, stage shapes, the fixed-size cache (the negative control of
streaming), chunk plans and the memory of whole-clip vs streaming encoding.

Oracles: a frame-by-frame loop, the stages run by hand, whole-clip encoding, and sums of chunk plans.
"""

import math

import pytest
import torch
from _video_helpers import clip, randomise, tiny_encoder
from torch import nn

from encoderlab import (
    CausalConv3d,
    CausalEncoder3D,
    CausalVideoEncoder,
    fixed_tail_cache,
    memory_vs_length,
    per_frame_change,
    stage_shapes,
    streaming_plan,
)


def test_per_frame_change_is_the_largest_change_of_each_frame():
    a, b = torch.randn(2, 3, 5, 4, 4), torch.randn(2, 3, 5, 4, 4)
    want = torch.stack([(a[:, :, t] - b[:, :, t]).abs().max() for t in range(5)])  # frame by frame
    assert torch.equal(per_frame_change(a, b), want)
    assert torch.equal(per_frame_change(a, a), torch.zeros(5))
    with pytest.raises(ValueError, match="same shape"):
        per_frame_change(torch.zeros(1, 1, 2, 1, 1), torch.zeros(1, 1, 3, 1, 1))
    with pytest.raises(ValueError, match="5-D"):
        per_frame_change(torch.zeros(1, 2, 1, 1), torch.zeros(1, 2, 1, 1))


def test_stage_shapes_are_the_shapes_of_the_stages_run_by_hand():
    model = tiny_encoder()
    x = clip(9, 16, 16)
    shapes = stage_shapes(model, x)
    with torch.no_grad():
        h = model.conv_in(x)
        want = [("conv_in", tuple(h.shape))]
        for i, block in enumerate(model.down_blocks):
            for resnet in block.resnets:
                h = resnet(h)
            want.append((f"down_blocks.{i}.resnets", tuple(h.shape)))
            for name in ("spatial_downsampler", "temporal_downsampler"):
                if hasattr(block, name):
                    h = getattr(block, name)(h)
                    want.append((f"down_blocks.{i}.{name}", tuple(h.shape)))
        h = model.mid_block(h)
        want.append(("mid_block", tuple(h.shape)))
        h = model.conv_out(model.conv_act(model.conv_norm_out(h)))
        want += [("conv_out", tuple(h.shape)), ("quant_conv", tuple(model.quant_conv(h).shape))]
    assert shapes == want
    assert all(not m._forward_hooks for m in model.modules())  # the hooks are removed afterwards
    printout = CausalEncoder3D(block_out_channels=(4, 4))  # no downsamplers, no mid-block, no head
    assert [name for name, _ in stage_shapes(printout, clip(2))] == ["conv_in", "down_blocks.0.resnets",
                                                                     "down_blocks.1.resnets"]
    with pytest.raises(TypeError, match="CausalEncoder3D"):
        stage_shapes(nn.Identity(), clip(2))
    with pytest.raises(ValueError, match="has 1 channels"):
        stage_shapes(model, torch.randn(1, 1, 2, 8, 8))


def test_fixed_size_caches_break_chunk_invariance():
    model = tiny_encoder()
    video = clip(25)
    with torch.no_grad():
        whole = model(video)

    def error(plan):
        try:
            out = model.encode_stream(video, plan)
        except RuntimeError:  # mismatched frame counts inside the model: broken too
            return math.inf
        return math.inf if out.shape != whole.shape else (out - whole).abs().max().item()

    with fixed_tail_cache(model, keep=2):  # "keep the last k_t - 1 frames" everywhere: wrong at stride 2
        assert error([9, 8, 8]) > 1e-2 and error([3, 5, 2, 7, 8]) > 1e-2
    with fixed_tail_cache(model):  # Pyramid Flow / Wan: keep k_t - s_t frames
        for plan in ([9, 8, 8], [17, 8], [1, 8, 8, 8]):  # exact for its own plans ...
            assert error(plan) <= 1e-5
        for plan in ([1] + [4] * 6, [3, 5, 2, 7, 8], [2, 8, 8, 7]):  # ... but not for others
            assert error(plan) > 1e-2
    assert error([3, 5, 2, 7, 8]) <= 1e-5  # the exact rule is back after the block
    assert all("next_window_start" not in vars(m) for m in model.modules() if isinstance(m, CausalConv3d))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fixed_tail_cache(42)
    with pytest.raises(ValueError, match="keep must be >= 0"):
        fixed_tail_cache(model, keep=-1)


def test_streaming_plan():
    assert streaming_plan(1) == [1]
    assert streaming_plan(25) == [1, 8, 8, 8]
    assert streaming_plan(30, chunk=8, first=9) == [9, 8, 8, 5]
    assert streaming_plan(5, first=9) == [5]
    assert sum(streaming_plan(129, chunk=5, first=3)) == 129
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        streaming_plan(9, chunk=0)


def test_streaming_memory_is_flat_while_whole_clip_memory_grows():
    model = randomise(CausalVideoEncoder(block_out_channels=(4, 8, 8, 8), num_groups=2, z_channels=2))
    rows = memory_vs_length(model, (9, 33, 65), height=16, width=16, timed=True)
    assert [r["frames"] for r in rows] == [9, 33, 65]
    whole = [r["whole_bytes"] for r in rows]
    stream = [r["stream_bytes"] for r in rows]
    assert whole[0] < whole[1] < whole[2] and whole[2] > 4 * whole[0]
    assert max(stream) / min(stream) <= 1.3
    assert stream[2] < whole[2] / 3
    assert all(r["whole_s"] > 0 and r["stream_s"] > 0 for r in rows)
    with pytest.raises(ValueError, match=r"every entry of lengths must be >= 1"):
        memory_vs_length(model, (9, 0))
    with pytest.raises(TypeError, match="CausalVideoEncoder"):
        memory_vs_length(CausalEncoder3D(block_out_channels=(4, 4)).eval(), (9,))
    with pytest.raises(RuntimeError, match="eval mode"):
        memory_vs_length(model.train(), (9,))
