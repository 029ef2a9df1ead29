"""Causal convolution: torch oracles, causality, exact streaming for any chunk plan, and negative controls.

Oracles: ``nn.Conv1d``/``nn.Conv3d`` with their own symmetric zero padding (the first ceil(T/s) outputs of a
conv padded by ``d*(k-1)`` on both sides in time are exactly the causal outputs), the seed-000 printout and
the parameter counts of ``../shared/reference/causal_video.md`` §2.
"""

import pytest
import torch
import torch.nn.functional as F
from _video_helpers import randomise
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from encoderlab import (
    CausalConv1d,
    CausalConv3d,
    CausalResnet3d,
    causal_output_frames,
    encode_stream,
    reset_caches,
    streaming,
    temporal_receptive_field,
)

SEED_CONV_IN = """CausalConv3d(
  (conv): Conv3d(3, 128, kernel_size=(3, 3, 3), stride=(1, 1, 1))
)"""

# A CausalResnet3d of the seed-000 printout, re-indented by print() (2 spaces per level): every resnet there is
# this text with its channels, plus the 1x1x1 shortcut when the channel count changes (down_blocks.1.resnets[0]).
SEED_RESNET = """CausalResnet3d(
  (norm1): GroupNorm(2, {cin}, eps=1e-06, affine=True)
  (conv1): CausalConv3d(
    (conv): Conv3d({cin}, {cout}, kernel_size=(3, 3, 3), stride=(1, 1, 1))
  )
  (norm2): GroupNorm(2, {cout}, eps=1e-06, affine=True)
  (dropout): Dropout(p=0.0, inplace=False)
  (conv2): CausalConv3d(
    (conv): Conv3d({cout}, {cout}, kernel_size=(3, 3, 3), stride=(1, 1, 1))
  )
  (activation_fn): SiLU()
{shortcut})"""
SEED_SHORTCUT = """  (conv_shortcut): CausalConv3d(
    (conv): Conv3d({cin}, {cout}, kernel_size=(1, 1, 1), stride=(1, 1, 1))
  )
"""

PLANS_25 = [[25], [1] * 25, [3, 5, 2, 7, 8], [1, 8, 8, 8], [9, 8, 8], [17, 8], [1] + [4] * 6, [2, 8, 8, 7],
            [24, 1], [5, 20]]


def _stack(padding_mode="zeros", c=4):
    """A small video encoder: stride-1 and stride-2 (time and space) causal convs with per-frame resnets."""
    return randomise(nn.Sequential(
        CausalConv3d(3, c, 3, padding_mode=padding_mode),
        CausalResnet3d(c, c, num_groups=2, per_frame_norm=True, padding_mode=padding_mode),
        CausalConv3d(c, c, 3, stride=(1, 2, 2), padding_mode=padding_mode),
        CausalConv3d(c, c, 3, stride=(2, 1, 1), padding_mode=padding_mode),
        CausalResnet3d(c, 2 * c, num_groups=2, per_frame_norm=True, padding_mode=padding_mode),
        CausalConv3d(2 * c, 2 * c, (3, 1, 1), stride=(2, 1, 1), dilation=(2, 1, 1), padding_mode=padding_mode),
        CausalConv3d(2 * c, 2 * c, 3, stride=(2, 1, 1), padding_mode=padding_mode),
    ))


# -- repr and parameter counts against the seed ------------------------------------------------------------------

def test_conv_in_repr_matches_the_seed_printout():
    assert repr(CausalConv3d(3, 128, 3)) == SEED_CONV_IN


@pytest.mark.parametrize("cin,cout", [(128, 128), (128, 256), (256, 256), (256, 512), (512, 512)])
def test_resnet_repr_matches_the_seed_printout(cin, cout):
    with torch.device("meta"):
        block = CausalResnet3d(cin, cout, num_groups=2)
    shortcut = SEED_SHORTCUT.format(cin=cin, cout=cout) if cin != cout else ""
    assert repr(block) == SEED_RESNET.format(cin=cin, cout=cout, shortcut=shortcut)
    fields = ["norm1", "conv1", "norm2", "dropout", "conv2", "activation_fn"] + ["conv_shortcut"] * (cin != cout)
    assert [name for name, _ in block.named_children()] == fields


@pytest.mark.parametrize("cin,cout,want", [
    (128, 128, 1_771_008 // 2), (128, 256, 2_688_512), (256, 256, 3_540_480), (256, 512, 10_750_976),
    (512, 512, 14_158_848),
])
def test_resnet_parameter_counts_match_the_reference_table(cin, cout, want):
    with torch.device("meta"):
        block = CausalResnet3d(cin, cout)
    assert sum(p.numel() for p in block.parameters()) == want


def test_seed_conv_in_parameter_count():
    with torch.device("meta"):
        assert sum(p.numel() for p in CausalConv3d(3, 128, 3).parameters()) == 10_496


# -- equal to torch's own convolutions ---------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(t=st.integers(1, 9), k=st.integers(1, 4), s=st.integers(1, 3), d=st.integers(1, 3),
       kh=st.sampled_from([1, 3, 5]), sh=st.integers(1, 2))
def test_zeros_mode_equals_nn_conv3d_with_symmetric_padding(t, k, s, d, kh, sh):
    causal = randomise(CausalConv3d(2, 3, (k, kh, 3), stride=(s, sh, 1), dilation=(d, 1, 1)))
    ref = nn.Conv3d(2, 3, (k, kh, 3), stride=(s, sh, 1), dilation=(d, 1, 1), padding=(d * (k - 1), kh // 2, 1))
    ref.load_state_dict(causal.conv.state_dict())
    x = torch.randn(1, 2, t, 6, 5)
    with torch.no_grad():
        out = causal(x)
        want = ref(x)[:, :, :causal_output_frames(t, s)]
    assert out.shape == want.shape
    assert out.shape[2] == -(-t // s)
    torch.testing.assert_close(out, want, atol=1e-6, rtol=0)


@settings(max_examples=20, deadline=None)
@given(t=st.integers(1, 12), k=st.integers(1, 5), s=st.integers(1, 3), d=st.integers(1, 3))
def test_causal_conv1d_equals_nn_conv1d(t, k, s, d):
    causal = randomise(CausalConv1d(3, 2, k, stride=s, dilation=d))
    ref = nn.Conv1d(3, 2, k, stride=s, dilation=d, padding=d * (k - 1))
    ref.load_state_dict(causal.conv.state_dict())
    x = torch.randn(2, 3, t)
    with torch.no_grad():
        torch.testing.assert_close(causal(x), ref(x)[:, :, :causal_output_frames(t, s)], atol=1e-6, rtol=0)


def test_replicate_mode_replicates_the_first_frame_in_time_only():
    causal = randomise(CausalConv3d(2, 3, 3, padding_mode="replicate"))
    x = torch.randn(1, 2, 5, 6, 6) + 2.0  # non-zero borders: replicating them would show
    # oracle: copies of frame 0 in front, then torch's zero padding in space
    front = torch.cat([x[:, :, :1]] * 2 + [x], dim=2)
    ref = nn.Conv3d(2, 3, 3, padding=(0, 1, 1))
    ref.load_state_dict(causal.conv.state_dict())
    wrong = F.pad(x, (1, 1, 1, 1, 2, 0), mode="replicate")  # the Hunyuan/Mochi pitfall: borders replicated too
    with torch.no_grad():
        out = causal(x)
        torch.testing.assert_close(out, ref(front), atol=1e-6, rtol=0)
        assert (out - causal.conv(wrong)).abs().max() > 1e-2
        # the interior does not see the border, so there the two agree
        torch.testing.assert_close(out[..., 1:-1, 1:-1], causal.conv(wrong)[..., 1:-1, 1:-1], atol=1e-6, rtol=0)
        # and zeros vs replicate differ only in the first k_t - 1 frames
        zeros = CausalConv3d(2, 3, 3)
        zeros.load_state_dict(causal.state_dict())
        diff = (zeros(x) - out).abs().amax(dim=(0, 1, 3, 4))
    assert bool((diff[:2] > 1e-3).all()) and bool((diff[2:] == 0).all())


def test_replicate_mode_works_for_a_single_frame():
    causal = randomise(CausalConv3d(2, 3, (5, 3, 3), padding_mode="replicate"))
    x = torch.randn(1, 2, 1, 4, 4)
    with torch.no_grad():
        static = causal.conv(F.pad(x.expand(1, 2, 5, 4, 4), (1, 1, 1, 1)))
        torch.testing.assert_close(causal(x), static, atol=1e-6, rtol=0)


# -- causality ---------------------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(t=st.integers(2, 10), k=st.integers(1, 4), s=st.integers(1, 2), d=st.integers(1, 2),
       mode=st.sampled_from(["zeros", "replicate"]), data=st.data())
def test_future_frames_never_change_past_outputs(t, k, s, d, mode, data):
    causal = randomise(CausalConv3d(2, 2, (k, 3, 3), stride=(s, 1, 1), dilation=(d, 1, 1), padding_mode=mode))
    cut = data.draw(st.integers(0, t - 2), label="last unchanged frame")
    x = torch.randn(1, 2, t, 4, 4)
    y = x.clone()
    y[:, :, cut + 1:] = torch.randn_like(y[:, :, cut + 1:]) * 3
    with torch.no_grad():
        a, b = causal(x), causal(y)
    keep = cut // s + 1  # output j reads input frames j*s - d*(k-1) .. j*s
    assert torch.equal(a[:, :, :keep], b[:, :, :keep])
    if keep < a.shape[2] and (cut + 1) % s == 0:  # tightness: the window ending at the first changed frame moves
        assert (a[:, :, keep] - b[:, :, keep]).abs().max() > 0


def test_stack_causality_and_receptive_field_by_autograd():
    kernels, strides, dilations = [3, 3, 3, 2], [1, 2, 1, 2], [1, 1, 2, 1]
    convs = nn.Sequential(*[
        CausalConv1d(2, 2, k, stride=s, dilation=d) for k, s, d in zip(kernels, strides, dilations, strict=True)
    ])
    randomise(convs)
    field = temporal_receptive_field(kernels, strides, dilations)
    assert field == 1 + 1 * 2 * 1 + 1 * 2 * 1 + 2 * 2 * 2 + 1 * 1 * 2  # 1 + sum d (k-1) prod(earlier strides)
    x = torch.randn(1, 2, 40, requires_grad=True)
    out = convs(x)
    jump = 4
    for j in (0, 3, out.shape[2] - 1):
        (grad,) = torch.autograd.grad(out[0, :, j].sum(), x, retain_graph=True)
        seen = (grad[0].abs().sum(0) > 0).nonzero().flatten()
        assert int(seen.max()) == j * jump  # never a later frame
        assert int(seen.min()) == max(0, j * jump - field + 1)


def test_one_plus_k_two_to_the_n_frame_rule():
    for n in (1, 2, 3):
        for k in (0, 1, 2, 5):
            frames = 1 + k * 2**n
            for _ in range(n):
                frames = causal_output_frames(frames, 2)
            assert frames == 1 + k
    layer = CausalConv3d(1, 1, 3, stride=(2, 1, 1))
    with torch.no_grad():
        assert layer(torch.randn(1, 1, 17, 2, 2)).shape[2] == 9


# -- streaming ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["zeros", "replicate"])
@pytest.mark.parametrize("plan", PLANS_25, ids=str)
def test_streaming_equals_whole_clip_for_any_plan(plan, mode):
    model = _stack(mode)
    video = torch.randn(1, 3, 25, 8, 8)
    with torch.no_grad():
        whole = model(video)
    streamed = encode_stream(model, video, plan)
    assert streamed.shape == whole.shape == (1, 8, 4, 4, 4)
    assert (streamed - whole).abs().max() <= 1e-5


def test_streaming_all_ones_input():
    model = _stack()
    video = torch.ones(2, 3, 19, 8, 8)
    with torch.no_grad():
        whole = model(video)
    for plan in ([1] * 19, [3, 5, 2, 7, 2], [19]):
        assert (encode_stream(model, video, plan) - whole).abs().max() <= 1e-5


@settings(max_examples=15, deadline=None)
@given(plan=st.lists(st.integers(1, 6), min_size=1, max_size=8), mode=st.sampled_from(["zeros", "replicate"]))
def test_streaming_random_plans(plan, mode):
    model = _stack(mode, c=2)
    video = torch.randn(1, 3, sum(plan), 4, 4, generator=torch.Generator().manual_seed(len(plan)))
    with torch.no_grad():
        whole = model(video)
    streamed = encode_stream(model, video, plan)
    assert streamed.shape == whole.shape
    assert (streamed - whole).abs().max() <= 1e-5


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 4), s=st.integers(1, 4), d=st.integers(1, 3), mode=st.sampled_from(["zeros", "replicate"]),
       plan=st.lists(st.integers(1, 5), min_size=1, max_size=7))
def test_streaming_one_conv_any_kernel_stride_dilation(k, s, d, mode, plan):
    """Including strides longer than the kernel span (k=1, s=2 or k=2, s=3): frames between two windows."""
    conv = randomise(CausalConv3d(2, 3, (k, 1, 1), stride=(s, 1, 1), dilation=(d, 1, 1), padding_mode=mode))
    video = torch.randn(1, 2, sum(plan), 2, 2)
    with torch.no_grad():
        whole = conv(video)
    streamed = encode_stream(conv, video, plan)
    assert streamed.shape == whole.shape
    assert (streamed - whole).abs().max() <= 1e-5


def test_streaming_chunks_may_output_zero_frames_and_the_cache_stays_bounded():
    model = _stack()
    convs = [m for m in model.modules() if isinstance(m, CausalConv3d)]
    video = torch.randn(1, 3, 12, 8, 8)
    counts = []
    with torch.no_grad(), streaming(model):
        for t in range(12):
            counts.append(model(video[:, :, t:t + 1]).shape[2])
            assert all(c.cached_frames <= c.time_span - 1 for c in convs)
    assert 0 in counts and sum(counts) == causal_output_frames(12, 8)
    assert all(c.cached_frames == 0 for c in convs)  # reset on exit


def test_reset_between_clips_isolates_them():
    model = _stack()
    a, b = torch.randn(1, 3, 9, 8, 8), torch.randn(1, 3, 9, 8, 8)
    alone = encode_stream(model, b, [4, 5])
    with torch.no_grad(), streaming(model):
        model(a)
        reset_caches(model)
        after_reset = torch.cat([model(b[:, :, :4]), model(b[:, :, 4:])], dim=2)
        reset_caches(model)
        model(a)
        leaked = torch.cat([model(b[:, :, :4]), model(b[:, :, 4:])], dim=2)  # no reset: b continues a
    assert torch.equal(after_reset, alone)
    assert leaked.shape != alone.shape or (leaked - alone).abs().max() > 1e-3
    with torch.no_grad():
        torch.testing.assert_close(alone, model(b), atol=1e-5, rtol=0)


def test_streaming_refuses_training_and_grad():
    model = _stack()
    with pytest.raises(RuntimeError, match="gradients off"):
        with streaming(model):
            pass
    model.train()
    with pytest.raises(RuntimeError, match="eval mode"), torch.no_grad(), streaming(model):
        pass
    with pytest.raises(RuntimeError, match="eval mode"):
        encode_stream(model, torch.randn(1, 3, 4, 8, 8), [4])
    model.eval()
    with torch.no_grad(), streaming(model):
        with pytest.raises(RuntimeError, match="already active"), streaming(model):
            pass
        model[0].train()  # switched to training inside the block: the layer itself refuses
        with pytest.raises(RuntimeError, match="eval mode"):
            model(torch.randn(1, 3, 2, 8, 8))
    conv = model[0]
    assert not conv.streaming and conv.cached_frames == 0
    # outside streaming the cache is never touched, in training or not
    conv.train()
    conv(torch.randn(1, 3, 4, 8, 8)).sum().backward()
    assert conv.cached_frames == 0


def test_stream_validation():
    model = _stack()
    video = torch.randn(1, 3, 10, 8, 8)
    with pytest.raises(ValueError, match="sum to the number of frames 10"):
        encode_stream(model, video, [3, 3])
    with pytest.raises(ValueError, match=r"every entry of chunk_sizes must be >= 1, got \[10, 0\]"):
        encode_stream(model, video, [10, 0])
    with pytest.raises(TypeError, match=r"chunk_sizes must contain ints, got float 5.0 in \[5.0, 5\]"):
        encode_stream(model, video, [5.0, 5])
    with pytest.raises(ValueError, match="chunk_sizes must have at least 1 entry, got 0"):
        encode_stream(model, video, [])
    with pytest.raises(TypeError, match="chunk_sizes must be a sequence of ints such as .*, got int 10"):
        encode_stream(model, video, 10)
    with pytest.raises(ValueError, match="5-D"):
        encode_stream(model, video[0], [10])
    with pytest.raises(ValueError, match="expected 3"):
        encode_stream(model, torch.randn(1, 4, 10, 8, 8), [10])
    with torch.no_grad(), streaming(model):
        model(video[:, :, :3])
        with pytest.raises(ValueError, match="expected 3"):  # a chunk with the wrong channel count
            model(torch.randn(1, 2, 3, 8, 8))
        with pytest.raises(ValueError, match="does not continue the clip"):
            model(torch.randn(1, 3, 3, 6, 8))


def test_construction_and_input_validation():
    with pytest.raises(ValueError, match="kernel_size must have 3 entries"):
        CausalConv3d(2, 2, (3, 3))
    with pytest.raises(ValueError, match="every entry of stride must be >= 1"):
        CausalConv3d(2, 2, 3, stride=(1, -1, 1))
    with pytest.raises(ValueError, match="every entry of dilation must be >= 1"):
        CausalConv3d(2, 2, 3, dilation=0)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        CausalConv3d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(TypeError, match="in_channels must be an int"):
        CausalConv3d(2.0, 2, 3)
    with pytest.raises(ValueError, match="kernel_size must have 1 entries"):
        CausalConv1d(2, 2, (3, 3))
    conv = CausalConv3d(2, 2, 3)
    with pytest.raises(ValueError, match=r"5-D tensor \(B, C, T, H, W\)"):
        conv(torch.randn(2, 5, 4, 4))
    with pytest.raises(ValueError, match="has 3 channels"):
        conv(torch.randn(1, 3, 2, 4, 4))
    with pytest.raises(ValueError, match="0 frames"):
        conv(torch.randn(1, 2, 0, 4, 4))
    with pytest.raises(ValueError, match="in_channels=6 must be divisible by num_groups=4"):
        CausalResnet3d(6, 8, num_groups=4)
    with pytest.raises(ValueError, match="has 4 channels"):
        CausalResnet3d(8)(torch.randn(1, 4, 2, 4, 4))
    with pytest.raises(ValueError, match="5-D"):
        CausalResnet3d(8)(torch.randn(1, 8, 4, 4))
    with pytest.raises(ValueError, match="the same length"):
        temporal_receptive_field([3, 3], [1])


# -- negative controls: the tests above have teeth ---------------------------------------------------------------

class NaiveCacheConv3d(CausalConv3d):
    """Keeps a fixed "last k_t - 1 frames" tail, whatever the stride (wrong at stride 2)."""

    def next_window_start(self, padded_frames, n_out):
        return padded_frames - self.time_pad


def _naive(model):
    for name, child in model.named_children():
        if type(child) is CausalConv3d:
            naive = NaiveCacheConv3d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                     child.dilation, child.padding_mode)
            naive.load_state_dict(child.state_dict())
            setattr(model, name, naive.eval())
        else:
            _naive(child)
    return model


def test_naive_last_frames_cache_is_wrong_at_stride_2():
    video = torch.randn(1, 3, 25, 8, 8)
    strided = _stack()
    with torch.no_grad():
        whole = strided(video)
    naive = _naive(_stack())
    assert sum(isinstance(m, NaiveCacheConv3d) for m in naive.modules()) == 10
    for plan in ([9, 8, 8], [3, 5, 2, 7, 8], [1] * 25):
        streamed = encode_stream(naive, video, plan)
        assert streamed.shape != whole.shape or (streamed - whole).abs().max() > 1e-2, plan
    # ... while at stride 1 the fixed tail coincides with the exact rule
    plain = randomise(nn.Sequential(CausalConv3d(3, 4, 3), CausalConv3d(4, 4, 3, dilation=(2, 1, 1))))
    with torch.no_grad():
        whole = plain(video)
    naive_plain = _naive(randomise(nn.Sequential(CausalConv3d(3, 4, 3), CausalConv3d(4, 4, 3, dilation=(2, 1, 1)))))
    assert (encode_stream(naive_plain, video, [3, 5, 2, 7, 8]) - whole).abs().max() <= 1e-5


class SpanMinusStrideConv3d(CausalConv3d):
    """The Pyramid Flow / Wan rule: keep the last span - s_t frames (exact only for their own chunk plans)."""

    def next_window_start(self, padded_frames, n_out):
        return padded_frames - (self.time_span - self.stride[0])


def test_pyramid_style_cache_is_exact_only_for_its_own_plans():
    encoder = randomise(nn.Sequential(
        CausalConv3d(3, 4, 3), CausalConv3d(4, 4, 3, stride=(2, 1, 1)), CausalConv3d(4, 4, 3, stride=(2, 1, 1)),
        CausalConv3d(4, 4, 3, stride=(2, 1, 1)),
    ))
    fixed = nn.Sequential(*[SpanMinusStrideConv3d(c.in_channels, c.out_channels, c.kernel_size, c.stride)
                            for c in encoder])
    fixed.load_state_dict(encoder.state_dict())
    fixed.eval()
    video = torch.randn(1, 3, 25, 4, 4)
    with torch.no_grad():
        whole = encoder(video)
    for plan in ([9, 8, 8], [17, 8], [1, 8, 8, 8]):  # 1 + 8m, then multiples of 8
        assert (encode_stream(fixed, video, plan) - whole).abs().max() <= 1e-5
    for plan in ([3, 5, 2, 7, 8], [1] * 25, [2, 8, 8, 7]):
        streamed = encode_stream(fixed, video, plan)
        assert streamed.shape != whole.shape or (streamed - whole).abs().max() > 1e-2
        assert (encode_stream(encoder, video, plan) - whole).abs().max() <= 1e-5


def test_clip_wide_groupnorm_breaks_causality_and_streaming():
    seed_block = randomise(CausalResnet3d(4, 4, num_groups=2))  # the seed: GroupNorm over the whole clip
    fixed = randomise(CausalResnet3d(4, 4, num_groups=2, per_frame_norm=True))
    x = torch.randn(1, 4, 9, 6, 6)
    y = x.clone()
    y[:, :, 5:] *= 4
    with torch.no_grad():
        assert (seed_block(x)[:, :, :5] - seed_block(y)[:, :, :5]).abs().max() > 1e-3
        assert torch.equal(fixed(x)[:, :, :5], fixed(y)[:, :, :5])
        assert (encode_stream(seed_block, x, [4, 5]) - seed_block(x)).abs().max() > 1e-3
        assert (encode_stream(fixed, x, [4, 5]) - fixed(x)).abs().max() <= 1e-5
