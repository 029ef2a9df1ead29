"""Checks for the exercises of Chapter 9 (a causal video encoder)."""

from __future__ import annotations

import torch
from torch import nn

from ..norm import GroupNorm, PerFrameGroupNorm
from ..video import CausalEncoder3D, CausalVideoEncoder
from ..video_measure import per_frame_change
from ._common import ExerciseError, call_answer, close, expect_shape, passed

__all__ = ["check_fix_norms", "check_latent_frames", "check_tail_length"]


def _frames_reference(num_frames: int) -> int:
    return 1 + (num_frames - 1) // 8


def check_latent_frames(fn) -> None:
    """Check ``fn(num_frames) -> int``: latent frames of the completed encoder (8x in time) for a clip of T frames.

    The answer is compared for T = 1..200 with the rule and, for a few T, with the frame count a (shape-only)
    encoder actually produces. A wrong answer is matched against the usual mistakes to explain it.
    """
    frames = range(1, 201)
    got = {}
    for t in frames:
        value = call_answer(fn, t, what=f"your function for T={t}")
        if isinstance(value, float):
            raise ExerciseError(f"for T={t} you returned the float {value!r}: a number of frames is an int "
                                "(use // for integer division).")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ExerciseError(f"return an int number of frames, got {type(value).__name__} {value!r} for T={t}")
        got[t] = value
    wrong = [t for t in frames if got[t] != _frames_reference(t)]
    if wrong:
        t = wrong[0]
        example = f"for T={t} you gave {got[t]}, expected {_frames_reference(t)}"
        mistakes = [
            (lambda t: t // 8, "that is T // 8, which drops frame 0's own latent frame (an image, T=1, would give "
                               "0). Each causal stride-2 stage maps T frames to ceil(T / 2), so three stages give "
                               "ceil(T / 8) = 1 + (T - 1) // 8."),
            (lambda t: max(1, t // 8), "that is T // 8 (at least 1): each causal stride-2 stage maps T frames to "
                                       "ceil(T / 2), so three stages give ceil(T / 8) = 1 + (T - 1) // 8."),
            (lambda t: (t - 1) // 8, "that is (T - 1) // 8, one short: frame 0 has a latent frame of its own, so "
                                     "add 1."),
            (lambda t: max(1, (t - 1) // 8), "that is (T - 1) // 8, one short: frame 0 has a latent frame of its "
                                             "own, so add 1."),
            (lambda t: 1 + t // 8, "that is 1 + T // 8: the first latent frame covers frame 0 alone and each "
                                   "further one 8 new frames, so count the frames after the first: 1 + (T - 1) // 8."),
        ]
        for formula, why in mistakes:
            if all(got[t] == formula(t) for t in frames):
                raise ExerciseError(f"{example}: {why}")
        if wrong == [1]:
            raise ExerciseError(f"{example}: a single frame (an image) is encoded on its own and gets exactly one "
                                "latent frame.")
        raise ExerciseError(f"{example}. Three causal stride-2 stages each map T frames to ceil(T / 2).")
    # the rule against a real encoder (a tiny one: only the frame count matters)
    model = CausalVideoEncoder(block_out_channels=(2, 2, 2, 2), num_groups=1, z_channels=1).eval()
    with torch.no_grad():
        for t in (1, 2, 8, 9, 16, 17, 25, 33):
            assert model(torch.zeros(1, 3, t, 8, 8)).shape[2] == got[t], t
    passed("1 + (T - 1) // 8 latent frames, as the encoder itself produces (17 -> 3, 121 -> 16).")


def _seed_like(seed: int = 0) -> CausalEncoder3D:
    """A small seed-style encoder (clip-wide GroupNorm) with non-trivial norm parameters."""
    gen = torch.Generator().manual_seed(seed)
    model = CausalEncoder3D(block_out_channels=(4, 8, 8, 8), num_groups=2, eps=1e-3)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return model.eval()


def check_fix_norms(fn) -> None:
    """Check ``fn(model) -> model`` that replaces every clip-wide GroupNorm of a :class:`CausalEncoder3D` by a
    :class:`~encoderlab.norm.PerFrameGroupNorm` with the same groups, eps and learned parameters.

    The returned model (it may be the same object, changed in place) must keep the module names, must be causal,
    and must compute exactly what the original computes on a single frame (where per-frame and clip-wide
    statistics coincide).
    """
    original = _seed_like()
    model = _seed_like()
    before = {name: type(m) for name, m in model.named_modules()}
    fixed = call_answer(fn, model, what="your function")
    if fixed is None:
        raise ExerciseError("your function returned None: return the fixed model (it may be the same object).")
    if not isinstance(fixed, nn.Module):
        raise ExerciseError(f"return the fixed model, got {type(fixed).__name__}")
    fixed.eval()
    names = {name for name, _ in fixed.named_modules()}
    missing = [name for name in before if name not in names]
    if missing:
        raise ExerciseError(f"module {missing[0]!r} disappeared: replace each norm under the same name "
                            "(setattr(parent, child_name, new_norm)) so that the state dict keys stay the same.")
    for name, module in fixed.named_modules():
        if isinstance(module, nn.GroupNorm):
            raise ExerciseError(f"{name!r} is a torch.nn.GroupNorm: on a 5-D video it pools its statistics over "
                                "all frames, exactly like the seed's. Use encoderlab.PerFrameGroupNorm.")
        if type(module) is GroupNorm:
            raise ExerciseError(f"{name!r} is still a clip-wide GroupNorm. Replace every norm (norm1 and norm2 of "
                                "every resnet), e.g. by walking named_modules() and setattr on the parent.")
    for name, kind in before.items():
        if kind is GroupNorm:
            new = dict(fixed.named_modules())[name]
            old = dict(original.named_modules())[name]
            if not isinstance(new, PerFrameGroupNorm):
                raise ExerciseError(f"{name!r} is a {type(new).__name__}, expected a PerFrameGroupNorm.")
            if new.num_groups != old.num_groups:
                raise ExerciseError(f"{name!r} has {new.num_groups} groups, the original {old.num_groups}: keep "
                                    "num_groups.")
            if new.eps != old.eps:
                raise ExerciseError(f"{name!r} has eps={new.eps}, the original eps={old.eps}: keep eps (the "
                                    "default 1e-5 is not the seed's).")
            if not (torch.equal(new.weight, old.weight) and torch.equal(new.bias, old.bias)):
                raise ExerciseError(f"{name!r} lost its learned scale and shift: copy weight and bias from the old "
                                    "norm (new.load_state_dict(old.state_dict())), or a trained model is ruined.")
    gen = torch.Generator().manual_seed(5)
    frame = torch.randn(2, 3, 1, 8, 8, generator=gen)
    with torch.no_grad():
        want = original(frame)
        if not close(call_answer(fixed, frame, what="the fixed model on one frame"), want, atol=1e-5):
            raise ExerciseError("on a single frame the fixed model must compute exactly what the original does "
                                "(one frame: per-frame statistics = clip-wide statistics), but it does not.")
        clip = torch.randn(1, 3, 6, 8, 8, generator=gen)
        changed = clip.clone()
        changed[:, :, 4:] += 3.0
        outs = [call_answer(fixed, video, what="the fixed model on a clip") for video in (clip, changed)]
        for out in outs:
            expect_shape("the fixed model's output", out, (1, want.shape[1], 6, 8, 8))
        change = per_frame_change(*outs)
    if change[:4].max() != 0:
        raise ExerciseError("changing frames 4 and 5 still changes output frames 0-3: the model is not causal.")
    passed("every GroupNorm is per-frame, the weights are kept, and the future no longer reaches the past.")


def _tail_reference(padded_frames: int, kernel_size: int, stride: int) -> int:
    n_out = 0 if padded_frames < kernel_size else (padded_frames - kernel_size) // stride + 1
    return padded_frames - n_out * stride


def check_tail_length(fn) -> None:
    """Check ``fn(padded_frames, kernel_size, stride) -> int``: how many of the last padded frames a causal conv
    must keep in its streaming cache after a chunk, so that the next chunk continues the clip exactly.

    ``padded_frames`` counts the frames the conv sees for this chunk (cache + new frames); the windows start at
    frames ``0, s, 2 s, ...`` and each spans ``kernel_size`` frames (at least ``stride``). The answer is checked
    on every case with kernel 1-4, stride 1-3 and 1-20 frames; a wrong one is matched against the usual mistakes.
    """
    cases = [(p, k, s) for k in (3, 2, 4, 1) for s in (1, 2, 3) if s <= k for p in range(1, 21)]
    got = {}
    for p, k, s in cases:
        value = call_answer(fn, p, k, s, what=f"your function for padded_frames={p}, kernel_size={k}, stride={s}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ExerciseError(f"return an int number of frames, got {type(value).__name__} {value!r}")
        got[p, k, s] = value
    wrong = [c for c in cases if got[c] != _tail_reference(*c)]
    if not wrong:
        passed("the tail keeps exactly the frames that a future window still needs, for any chunk and stride.")
        return
    p, k, s = wrong[0]
    example = (f"for padded_frames={p}, kernel_size={k}, stride={s} you kept {got[p, k, s]} frames, expected "
               f"{_tail_reference(p, k, s)}")

    def n_out(p, k, s):
        return 0 if p < k else (p - k) // s + 1

    mistakes = [
        (lambda p, k, s: n_out(p, k, s) * s, "you returned n_out * stride, the index where the tail *starts*; "
                                             "return how many frames it holds: padded_frames - n_out * stride."),
        (lambda p, k, s: p, "you keep every frame: the cache would grow with the clip. Drop the frames that no "
                            "future window needs (those before n_out * stride)."),
        (lambda p, k, s: k - s, "that is k - s, Pyramid Flow's and Wan's fixed cache: right only when every chunk "
                                "ends on a window boundary. Keep every frame from the next window's start on: "
                                "p - n_out * s."),
        (lambda p, k, s: k - 1, "that is k - 1, right at stride 1 only: with stride > 1 the next window starts "
                                "at n_out * stride, which depends on how many frames the chunk had."),
    ]
    for formula, why in mistakes:
        if all(got[c] == formula(*c) for c in cases):
            raise ExerciseError(f"{example}: {why}")
    if all(c[0] < c[1] for c in wrong):
        raise ExerciseError(f"{example}. When fewer frames than the kernel arrived, no window fits and nothing is "
                            "consumed: keep all of them. (Careful: (p - k) // s + 1 is negative there.)")
    if all(c[2] > 1 for c in wrong):
        raise ExerciseError(f"{example}. Your rule is right at stride 1 but not at stride > 1: the next window "
                            "starts at n_out * stride, so keep padded_frames - n_out * stride frames.")
    raise ExerciseError(f"{example}. Count the windows that fit, n_out = (p - k) // s + 1 (0 if p < k), and keep "
                        "the frames from n_out * s on.")
