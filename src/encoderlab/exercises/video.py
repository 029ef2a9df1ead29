"""Checks for the exercises of Chapter 9 (a causal video encoder)."""

from __future__ import annotations

import torch
from torch import nn

from ..norm import GroupNorm, PerFrameGroupNorm
from ..video import CausalEncoder3D, CausalVideoEncoder, per_frame_change
from ._common import ExerciseError, call_answer, passed

__all__ = ["check_fix_norms", "check_latent_frames", "check_tail_length"]


def _frames_reference(num_frames: int) -> int:
    return 1 + (num_frames - 1) // 8


def check_latent_frames(fn) -> None:
    """Check ``fn(num_frames) -> int``: latent frames of the completed encoder (8x in time) for a clip of T frames.

    The answer is compared for T = 1..200 with the rule and, for a few T, with the frame count a (shape-only)
    encoder actually produces.
    """
    for t in range(1, 201):
        got = call_answer(fn, t, what=f"your function for T={t}")
        want = _frames_reference(t)
        if isinstance(got, float) and got == int(got):
            raise ExerciseError(f"for T={t} you returned the float {got!r}: a number of frames is an int (use //).")
        if isinstance(got, bool) or not isinstance(got, int):
            raise ExerciseError(f"return an int number of frames, got {type(got).__name__} {got!r} for T={t}")
        if got == want:
            continue
        if t == 1:
            raise ExerciseError(f"for a single frame (an image, T=1) you gave {got} latent frames. The encoder is "
                                "causal: frame 0 is encoded on its own and always gets a latent frame: 1.")
        if got == t // 8:
            raise ExerciseError(f"for T={t} you gave T // 8 = {got}, expected {want}. Each causal stride-2 stage "
                                "maps T frames to ceil(T / 2) (frame 0 keeps its own output), so three stages "
                                "give ceil(T / 8) = 1 + (T - 1) // 8.")
        if got == (t - 1) // 8:
            raise ExerciseError(f"for T={t} you gave (T - 1) // 8 = {got}: one short. Frame 0 has a latent frame "
                                "of its own, so add 1.")
        if got == 1 + t // 8:
            raise ExerciseError(f"for T={t} you gave 1 + T // 8 = {got}, expected {want}. The first latent frame "
                                "covers frame 0 alone; each further one covers 8 new frames, so count the frames "
                                "after the first: 1 + (T - 1) // 8.")
        raise ExerciseError(f"for T={t} you gave {got} latent frames, expected {want}.")
    # the rule against a real (shape-only) encoder: conv arithmetic on the meta device costs nothing
    with torch.device("meta"):
        model = CausalVideoEncoder(block_out_channels=(4, 4, 4, 4), num_groups=2, z_channels=2).eval()
    for t in (1, 2, 8, 9, 16, 17, 25, 33):
        out = model(torch.empty(1, 3, t, 16, 16, device="meta"))
        assert out.shape[2] == fn(t), (t, out.shape)
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
    for name, module in fixed.named_modules():
        if isinstance(module, nn.GroupNorm):
            raise ExerciseError(f"{name!r} is a torch.nn.GroupNorm: on a 5-D video it pools its statistics over "
                                "all frames, exactly like the seed's. Use encoderlab.PerFrameGroupNorm.")
        if type(module) is GroupNorm:
            raise ExerciseError(f"{name!r} is still a clip-wide GroupNorm. Replace every norm (norm1 and norm2 of "
                                "every resnet), e.g. by walking named_modules() and setattr on the parent.")
    names = {name for name, _ in fixed.named_modules()}
    missing = sorted(set(before) - names)
    if missing:
        raise ExerciseError(f"module {missing[0]!r} disappeared: replace each norm under the same name "
                            "(setattr(parent, child_name, new_norm)) so that the state dict keys stay the same.")
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
        if not torch.allclose(fixed(frame), original(frame), atol=1e-5):
            raise ExerciseError("on a single frame the fixed model must compute exactly what the original does "
                                "(one frame: per-frame statistics = clip-wide statistics), but it does not.")
        clip = torch.randn(1, 3, 6, 8, 8, generator=gen)
        changed = clip.clone()
        changed[:, :, 4:] += 3.0
        change = per_frame_change(fixed(clip), fixed(changed))
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
    frames ``0, s, 2 s, ...`` and each spans ``kernel_size`` frames.
    """
    cases = [(p, k, s) for k in (1, 2, 3, 4) for s in (1, 2, 3) for p in range(1, 21)]
    for p, k, s in cases:
        got = call_answer(fn, p, k, s, what=f"your function for padded_frames={p}, kernel_size={k}, stride={s}")
        if isinstance(got, bool) or not isinstance(got, int):
            raise ExerciseError(f"return an int number of frames, got {type(got).__name__} {got!r}")
        want = _tail_reference(p, k, s)
        if got == want:
            continue
        n_out = 0 if p < k else (p - k) // s + 1
        where = f"padded_frames={p}, kernel_size={k}, stride={s}"
        if got == n_out * s:
            raise ExerciseError(f"for {where} you returned {got} = n_out * stride, the index where the tail *starts*; "
                                f"return how many frames it holds: padded_frames - n_out * stride = {want}.")
        if p < k and got != p:
            raise ExerciseError(f"for {where} no window fits yet ({p} < {k}), so nothing is consumed: keep all {p} "
                                f"frames, you kept {got}. (Careful: (p - k) // s + 1 is negative here.)")
        if got == k - 1:
            raise ExerciseError(f"for {where} you kept k - 1 = {got} frames, but {want} are still needed. That rule "
                                "is right at stride 1 only: with stride > 1 the next window starts at n_out * stride, "
                                "which depends on how many frames the chunk had.")
        if got == k - s:
            raise ExerciseError(f"for {where} you kept k - s = {got} frames (Pyramid Flow's and Wan's fixed cache), "
                                f"but {want} are needed. It is right only when every chunk ends on a window "
                                "boundary; keep every frame from the next window's start on: p - n_out * s.")
        raise ExerciseError(f"for {where} you kept {got} frames, expected {want}. Count the windows that fit, "
                            "n_out = (p - k) // s + 1 (0 if p < k), and keep the frames from n_out * s on.")
    passed("the tail keeps exactly the frames that a future window still needs, for any chunk and stride.")
