"""The seed-000 video encoder and its completion: every property of ``causal_video.md`` §5, with negative controls.

Oracles: the seed-000 printout itself (parsed from the seed file), the parameter counts of the reference (§2,
§2b), ``nn.GroupNorm`` (the seed's clip-wide norm), LDM's ``AttnBlock`` applied frame by frame, autograd (which
input frames an output frame depends on) and whole-clip encoding (for streaming).
"""

import math
import os
from pathlib import Path

import pytest
import torch
from _video_helpers import TINY, clip, randomise, tiny_encoder
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from encoderlab import (
    AttnBlock,
    CausalConv3d,
    CausalDownEncoder3d,
    CausalEncoder3D,
    CausalVideoEncoder,
    DiagonalGaussian,
    FrameAttention,
    GroupNorm,
    PerFrameGroupNorm,
    latent_frames,
    per_frame_change,
    stage_shapes,
    streaming,
)

SEED_FILE = "000_338b101e48ae5290.txt"
REPO = Path(__file__).resolve().parents[1]


def _seed_path() -> Path | None:
    candidates = []
    if os.environ.get("ENCODERLAB_SEEDS_DIR"):
        candidates.append(Path(os.environ["ENCODERLAB_SEEDS_DIR"]) / SEED_FILE)
    candidates += [REPO.parent / "shared" / "seeds" / SEED_FILE,  # the main checkout: <root>/../shared
                   REPO.parent.parent / "shared" / "seeds" / SEED_FILE]  # a worktree under <work>/wt/<name>
    return next((p for p in candidates if p.is_file()), None)


def _seed_printout() -> list[str]:
    """The module tree printed in the seed, one stripped line per entry (the seed indents inconsistently)."""
    path = _seed_path()
    if path is None:
        pytest.skip(f"seed file {SEED_FILE} not found (set ENCODERLAB_SEEDS_DIR to the seeds folder)")
    blocks = path.read_text().split("```")
    tree = next(b for b in blocks if "CausalEncoder3D(" in b)
    return [line.strip() for line in tree.strip().splitlines() if line.strip()]


PLANS_25 = [[25], [1, 8, 8, 8], [9, 8, 8], [1] + [4] * 6, [3, 5, 2, 7, 8], [1] * 25]


# -- 1. shape contract and parameter counts --------------------------------------------------------------------

def test_printout_is_the_seed_module_tree_line_by_line():
    seed = _seed_printout()
    with torch.device("meta"):  # as the seed's __main__ builds it
        model = CausalEncoder3D(block_out_channels=(128, 256, 512, 512), num_layers=(2, 2, 2, 2), num_groups=2)
    ours = [line.strip() for line in repr(model).splitlines()]
    assert len(ours) == len(seed) == 101
    for i, (mine, theirs) in enumerate(zip(ours, seed, strict=True)):
        assert mine == theirs, f"line {i + 1}: {mine!r} != {theirs!r}"
    with torch.device("meta"):
        assert repr(CausalEncoder3D()) == repr(CausalEncoder3D(block_out_channels=(128, 256, 512, 512),
                                                               num_layers=2, num_groups=2))


def test_seed_parameter_counts_match_the_reference_table():
    with torch.device("meta"):
        model = CausalEncoder3D()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model) == 61_238_016
    assert count(model.conv_in) == 10_496
    assert [count(b) for b in model.down_blocks] == [1_771_008, 2_688_512 + 3_540_480, 10_750_976 + 14_158_848,
                                                     28_317_696]
    # the per-frame fix changes no parameter
    with torch.device("meta"):
        assert count(CausalEncoder3D(per_frame_norm=True)) == 61_238_016


def test_completed_encoder_parameter_count_matches_pyramid_flow():
    with torch.device("meta"):
        model = CausalVideoEncoder()  # (128, 256, 512, 512), GroupNorm 32, z = 16
    assert sum(p.numel() for p in model.parameters()) == 109_633_088
    assert model.conv_out.out_channels == 32 and model.quant_conv.kernel_size == (1, 1, 1)
    assert model.temporal_factor == 8 and model.spatial_factor == 8


def test_printout_shape_contract_full_size_on_meta():
    with torch.device("meta"):
        model = CausalEncoder3D()
        for t in (1, 2, 7):
            assert model(torch.empty(2, 3, t, 12, 20)).shape == (2, 512, t, 12, 20)


@settings(max_examples=10, deadline=None)
@given(t=st.integers(1, 6), h=st.integers(1, 7), w=st.integers(1, 7), per_frame=st.booleans())
def test_printout_shape_contract_tiny(t, h, w, per_frame):
    model = randomise(CausalEncoder3D(block_out_channels=(4, 4, 8, 8), per_frame_norm=per_frame))
    with torch.no_grad():
        assert model(clip(t, h, w)).shape == (1, 8, t, h, w)


def test_completed_shape_contract_full_size_on_meta():
    with torch.device("meta"):
        model = CausalVideoEncoder()
        for t, lat in ((1, 1), (17, 3), (49, 7), (121, 16)):
            moments = model(torch.empty(1, 3, t, 64, 40))
            assert moments.shape == (1, 32, lat, 8, 5)


@settings(max_examples=15, deadline=None)
@given(t=st.integers(1, 26), h=st.integers(1, 20), w=st.integers(1, 20), b=st.integers(1, 2))
def test_completed_shape_contract_tiny(t, h, w, b):
    model = tiny_encoder()
    with torch.no_grad():
        posterior = model.encode(clip(t, h, w, b=b))
    assert isinstance(posterior, DiagonalGaussian)
    want = (b, 2, 1 + (t - 1) // 8, -(-h // 8), -(-w // 8))
    assert posterior.mean.shape == posterior.logvar.shape == want
    assert posterior.moments.shape == (b, 4, *want[2:])
    assert model.output_frames(t) == latent_frames(t) == math.ceil(t / 8)


def test_latent_frame_rule():
    assert [latent_frames(t) for t in (1, 8, 9, 16, 17, 49, 121)] == [1, 1, 2, 2, 3, 7, 16]
    assert all(latent_frames(1 + 8 * k) == 1 + k for k in range(20))
    assert latent_frames(17, temporal_downsamples=1) == 9 and latent_frames(5, temporal_downsamples=0) == 5


def test_stages_follow_the_reference_layout():
    model = tiny_encoder()
    shapes = dict(stage_shapes(model, clip(17, 64, 64)))
    assert shapes["conv_in"] == (1, 4, 17, 64, 64)
    assert shapes["down_blocks.0.spatial_downsampler"] == (1, 4, 17, 32, 32)  # space first ...
    assert shapes["down_blocks.0.temporal_downsampler"] == (1, 4, 9, 32, 32)  # ... then time
    assert shapes["down_blocks.1.temporal_downsampler"] == (1, 8, 5, 16, 16)
    assert shapes["down_blocks.2.temporal_downsampler"] == (1, 8, 3, 8, 8)
    assert shapes["down_blocks.3.resnets"] == shapes["mid_block"] == (1, 8, 3, 8, 8)
    assert shapes["quant_conv"] == (1, 4, 3, 8, 8)
    assert not hasattr(model.down_blocks[3], "spatial_downsampler")
    assert model.down_blocks[0].spatial_downsampler.stride == (1, 2, 2)
    assert model.down_blocks[0].temporal_downsampler.stride == (2, 1, 1)


def test_resnets_are_chained():
    block = randomise(CausalDownEncoder3d(4, 8, 2, per_frame_norm=True))
    x = torch.randn(1, 4, 3, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(block(x), block.resnets[1](block.resnets[0](x)), atol=0, rtol=0)
        # the seed's original source fed every resnet the block input: impossible when the width changes
        with pytest.raises(ValueError, match="has 4 channels"):
            block.resnets[1](x)


def test_per_frame_fix_uses_per_frame_norms_everywhere():
    fixed = CausalVideoEncoder(**TINY)
    norms = [m for m in fixed.modules() if isinstance(m, GroupNorm)]
    # 2 per resnet (8 + 2 mid) + conv_norm_out; the attention's own norm sees one frame at a time
    assert sum(isinstance(m, PerFrameGroupNorm) for m in norms) == 21
    assert [type(m) for m in CausalEncoder3D(**{"block_out_channels": (4, 4)}).modules()
            if isinstance(m, GroupNorm)] == [GroupNorm] * 8
    assert "PerFrameGroupNorm(2, 4, eps=1e-06, affine=True)" in repr(CausalEncoder3D(3, (4,), per_frame_norm=True))


def test_init_follows_pyramid_flow():
    model = CausalVideoEncoder(block_out_channels=(32, 32, 64, 64))
    weights = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, (nn.Conv3d, nn.Conv2d))])
    assert abs(weights.std().item() - 0.02) < 0.001
    assert all(not m.bias.any() for m in model.modules() if isinstance(m, (nn.Conv3d, nn.Conv2d)))
    assert all(m.weight.eq(1).all() and not m.bias.any() for m in model.modules() if isinstance(m, GroupNorm))


def test_frame_attention_is_ldm_attention_frame_by_frame():
    attn = randomise(FrameAttention(8, num_groups=2))
    ref = AttnBlock(8, num_groups=2)
    ref.load_state_dict(attn.attention.state_dict())
    x = torch.randn(2, 8, 3, 4, 5)
    with torch.no_grad():
        want = torch.stack([ref(x[:, :, t]) for t in range(3)], dim=2)
        torch.testing.assert_close(attn(x), want, atol=1e-5, rtol=0)
        assert attn(x[:, :, :0]).shape == (2, 8, 0, 4, 5)


# -- 2. causality ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["zeros", "replicate"])
def test_completed_encoder_is_causal_and_tight(mode):
    model = tiny_encoder(padding_mode=mode)
    video = clip(25)
    with torch.no_grad():
        base = model(video)
        for j in range(base.shape[2]):
            later = video.clone()
            later[:, :, 8 * j + 1:] = torch.randn_like(later[:, :, 8 * j + 1:]) * 2
            assert torch.equal(model(later)[:, :, :j + 1], base[:, :, :j + 1]), j
            at = video.clone()
            at[:, :, 8 * j] += 1.0  # frame 8j is the last frame latent j sees
            assert (model(at)[:, :, j] - base[:, :, j]).abs().max() > 1e-4, j


@settings(max_examples=10, deadline=None)
@given(cut=st.integers(0, 6), mode=st.sampled_from(["zeros", "replicate"]))
def test_fixed_printout_is_causal(cut, mode):
    model = randomise(CausalEncoder3D(block_out_channels=(4, 4, 8, 8), per_frame_norm=True, padding_mode=mode))
    video = clip(8, 5, 5)
    changed = video.clone()
    changed[:, :, cut + 1:] = -changed[:, :, cut + 1:] * 3
    with torch.no_grad():
        change = per_frame_change(model(video), model(changed))
    assert change[:cut + 1].max() == 0
    assert change[cut + 1] > 1e-4


# -- 3. image mode ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["zeros", "replicate"])
def test_image_mode_is_the_first_latent_frame(mode):
    model = tiny_encoder(padding_mode=mode)
    video = clip(17, 16, 16, b=2)
    with torch.no_grad():
        image = model.encode(video[:, :, :1])
        whole = model.encode(video)
    assert image.mean.shape == (2, 2, 1, 2, 2)
    torch.testing.assert_close(image.mean, whole.mean[:, :, :1], atol=1e-6, rtol=0)
    torch.testing.assert_close(image.logvar, whole.logvar[:, :, :1], atol=1e-6, rtol=0)


# -- 4. chunk-plan invariance ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["zeros", "replicate"])
@pytest.mark.parametrize("plan", PLANS_25, ids=lambda p: "-".join(map(str, p[:6])))
def test_streaming_equals_wholeclip(plan, mode):
    model = tiny_encoder(padding_mode=mode)
    video = clip(25)
    with torch.no_grad():
        whole = model(video)
    streamed = model.encode_stream(video, plan)
    assert streamed.shape == whole.shape == (1, 4, 4, 1, 1)
    assert (streamed - whole).abs().max() <= 1e-5


@settings(max_examples=20, deadline=None)
@given(plan=st.lists(st.integers(1, 9), min_size=1, max_size=6), mode=st.sampled_from(["zeros", "replicate"]),
       seed=st.integers(0, 3))
def test_streaming_random_chunk_plans(plan, mode, seed):
    model = tiny_encoder(seed, padding_mode=mode)
    video = clip(sum(plan), 8, 8, seed=seed)
    with torch.no_grad():
        whole = model(video)
    streamed = model.encode_stream(video, plan)
    assert streamed.shape == whole.shape
    assert (streamed - whole).abs().max() <= 1e-5


def test_streaming_the_fixed_printout_and_a_longclip():
    printout = randomise(CausalEncoder3D(block_out_channels=(4, 4, 8, 8), per_frame_norm=True))
    from encoderlab import encode_stream

    video = clip(11, 4, 4)
    with torch.no_grad():
        assert (encode_stream(printout, video, [2, 1, 5, 3]) - printout(video)).abs().max() <= 1e-5
    model = tiny_encoder()
    long = clip(129, 8, 8)
    with torch.no_grad():
        whole = model(long)
    streamed = model.encode_stream(long, [1] + [8] * 16)
    assert streamed.shape[2] == 17 and (streamed - whole).abs().max() <= 1e-5


# -- 5. reset and isolation ------------------------------------------------------------------------------------

def test_reset_between_clips():
    model = tiny_encoder()
    a, b = clip(13, seed=1), clip(11, seed=2)
    alone = model.encode_stream(b, [3, 8])
    model.encode_stream(a, [5, 8])  # the caches are reset after every clip ...
    assert torch.equal(model.encode_stream(b, [3, 8]), alone)
    with torch.no_grad(), streaming(model):  # ... and without a reset clip b would continue clip a
        model(a)
        continued = torch.cat([model(b[:, :, :3]), model(b[:, :, 3:])], dim=2)
    assert continued.shape != alone.shape or (continued - alone).abs().max() > 1e-3


def test_cache_is_never_touched_in_training():
    model = tiny_encoder().train()
    convs = [m for m in model.modules() if isinstance(m, CausalConv3d)]
    model(clip(9)).sum().backward()
    assert all(c.cached_frames == 0 and not c.streaming for c in convs)
    with pytest.raises(RuntimeError, match="eval mode"):
        model.encode_stream(clip(9), [9])
    model.eval()
    with pytest.raises(RuntimeError, match="gradients off"), streaming(model):
        pass
    assert all(c.cached_frames == 0 for c in convs)


# -- 6. negative controls: the tests above have teeth ----------------------------------------------------------

def test_seed_printout_clip_wide_groupnorm_is_not_causal_nor_streamable():
    seed = randomise(CausalEncoder3D(block_out_channels=(4, 4, 8, 8)))  # the printout's GroupNorm(2, C)
    video = clip(8, 5, 5)
    changed = video.clone()
    changed[:, :, 4:] = -changed[:, :, 4:] * 3
    from encoderlab import encode_stream

    with torch.no_grad():
        change = per_frame_change(seed(video), seed(changed))
        assert bool((change[:4] > 1e-3).all())  # frames 0-3 see frames 4-7
        assert (encode_stream(seed, video, [3, 5]) - seed(video)).abs().max() > 1e-3


def test_clip_wide_groupnorm_breaks_the_completedtiny_encoder():
    leaky = tiny_encoder(per_frame_norm=False)
    video = clip(25)
    later = video.clone()
    later[:, :, 9:] = torch.randn_like(later[:, :, 9:]) * 2
    with torch.no_grad():
        assert (leaky(later)[:, :, 0] - leaky(video)[:, :, 0]).abs().max() > 1e-3  # latent 0 sees frames >= 9
        whole = leaky(video)
    for plan in ([1, 8, 8, 8], [3, 5, 2, 7, 8]):
        assert (leaky.encode_stream(video, plan) - whole).abs().max() > 1e-3


# -- 7. padding-mode independence ------------------------------------------------------------------------------

def test_padding_modes_give_different_latents():
    zeros, replicate = tiny_encoder(padding_mode="zeros"), tiny_encoder(padding_mode="replicate")
    replicate.load_state_dict(zeros.state_dict())
    video = clip(9) + 1.0
    with torch.no_grad():
        assert (zeros(video) - replicate(video)).abs().max() > 1e-3


# -- 8. receptive field ----------------------------------------------------------------------------------------

def _frames_seen(model: nn.Module, video: torch.Tensor, j: int) -> torch.Tensor:
    video = video.clone().requires_grad_()
    (grad,) = torch.autograd.grad(model(video)[:, :, j].sum(), video)
    return (grad.abs().amax(dim=(0, 1, 3, 4)) > 0).nonzero().flatten()


def test_receptive_field_of_the_completedtiny_encoder():
    model = randomise(CausalVideoEncoder(block_out_channels=(8, 8, 8, 8), num_groups=2, z_channels=2)).double()
    field = model.temporal_receptive_field()
    assert field == 231  # 1 + 2 * (7 + 2 * 6 + 4 * 6 + 8 * 9): the 3-tap convs at time steps 1, 2, 4, 8
    video = torch.randn(1, 3, 8 * 29 + 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for j in (29, 27):
        seen = _frames_seen(model, video, j)
        assert int(seen.max()) == 8 * j  # never a later frame
        assert int(seen.min()) == max(0, 8 * j - field + 1)  # 8j - 230, clamped at 0
        assert len(seen) == int(seen.max()) - int(seen.min()) + 1  # and every frame in between


def test_receptive_field_of_the_printout():
    model = randomise(CausalEncoder3D(block_out_channels=(4, 4, 4, 4), per_frame_norm=True)).double()
    assert model.temporal_receptive_field() == 35  # 17 stride-1 convs of 3 taps
    video = torch.randn(1, 3, 40, 4, 4, dtype=torch.float64)
    seen = _frames_seen(model, video, 39)
    assert (int(seen.min()), int(seen.max())) == (39 - 34, 39)


# -- argument checks -------------------------------------------------------------------------------------------

def test_validation():
    with pytest.raises(ValueError, match=r"block_out_channels\[0\]=6 must be divisible by num_groups=4"):
        CausalEncoder3D(block_out_channels=(6, 8), num_groups=4)
    with pytest.raises(TypeError, match=r"block_out_channels must be a sequence of ints such as \(128, 256"):
        CausalEncoder3D(block_out_channels=128)
    with pytest.raises(ValueError, match="block_out_channels must have at least 1 entry"):
        CausalEncoder3D(block_out_channels=())
    with pytest.raises(ValueError, match=r"every entry of block_out_channels must be >= 1, got \(4, 0\)"):
        CausalEncoder3D(block_out_channels=(4, 0))
    with pytest.raises(ValueError, match="num_layers must have one entry per block"):
        CausalEncoder3D(block_out_channels=(4, 4), num_layers=(2, 2, 2))
    with pytest.raises(TypeError, match="spatial_downsample must be a bool or a sequence of 2 of them"):
        CausalEncoder3D(block_out_channels=(4, 4), spatial_downsample="yes")
    with pytest.raises(TypeError, match="entries of temporal_downsample must be a bool"):
        CausalEncoder3D(block_out_channels=(4, 4), temporal_downsample=(True, 1))
    with pytest.raises(ValueError, match=r"every entry of num_layers must be >= 1, got \(2, 0\)"):
        CausalEncoder3D(block_out_channels=(4, 4), num_layers=(2, 0))
    with pytest.raises(ValueError, match="num_layers must be >= 1, got 0"):
        CausalEncoder3D(block_out_channels=(4, 4), num_layers=0)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        CausalEncoder3D(block_out_channels=(4, 4), padding_mode="reflect")
    with pytest.raises(ValueError, match=r"in_channels=6 must be divisible by num_groups=4"):
        CausalDownEncoder3d(6, 8, num_groups=4)
    with pytest.raises(ValueError, match="eps must be > 0"):
        CausalDownEncoder3d(4, 8, eps=0.0)
    with pytest.raises(TypeError, match="z_channels must be an int"):
        CausalVideoEncoder(**{**TINY, "z_channels": 2.5})
    model = CausalEncoder3D(block_out_channels=(4, 4))
    with pytest.raises(ValueError, match=r"5-D tensor \(B, C, T, H, W\)"):
        model(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="has 1 channels"):
        model(torch.randn(1, 1, 2, 8, 8))
    with pytest.raises(ValueError, match="sum to the number of frames 9"):
        tiny_encoder().encode_stream(clip(9), [4, 4])
    with pytest.raises(ValueError, match="num_frames must be >= 1"):
        latent_frames(0)
