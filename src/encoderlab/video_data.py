"""Procedurally generated video clips for Chapter 9: coloured shapes gliding and bouncing over a background.

No download and no randomness outside a seeded ``torch.Generator``: the same arguments give the same clip on
every machine. Clips are ``(B, 3, T, H, W)`` in ``[-1, 1]``, the range the encoders expect.
"""

from __future__ import annotations

import math

import torch

from ._validation import check_float, check_int
from .utils import MAX_SEED, _available_device

__all__ = ["SHAPES", "moving_shapes"]

SHAPES = ("disc", "square", "diamond")


def _bounce(start: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor, low: torch.Tensor,
            high: torch.Tensor) -> torch.Tensor:
    """Position at times ``t`` of a point moving at ``velocity`` and reflecting off ``low`` and ``high``.

    ``start, velocity, low, high``: ``(B, N)``; ``t``: ``(T,)`` -> ``(B, N, T)``. A triangle wave of period
    ``2 (high - low)``.
    """
    span = (high - low).clamp_min(1e-6).unsqueeze(-1)
    raw = (start - low).unsqueeze(-1) + velocity.unsqueeze(-1) * t
    phase = torch.remainder(raw, 2 * span)
    return low.unsqueeze(-1) + torch.where(phase <= span, phase, 2 * span - phase)


def moving_shapes(num_frames: int, height: int = 32, width: int = 32, *, batch_size: int = 1,
                  num_shapes: int = 3, max_speed: float = 1.5, seed: int = 0,
                  dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """A batch of clips of coloured discs, squares and diamonds moving in straight lines and bouncing off the
    borders, over a slowly drifting colour gradient.

    Chapter 9, *The seed: a printed model* (the clips every later section encodes).

    Args:
        num_frames: T, frames per clip (>= 1).
        height, width: frame size in pixels (>= 4).
        batch_size: B, number of independent clips.
        num_shapes: shapes per clip (>= 1).
        max_speed: largest speed in pixels per frame.
        seed: seed of the private random generator (the global RNG is not touched), ``0 <= seed < 2**64``.
        dtype, device: of the returned tensor.

    Returns:
        ``(B, 3, T, H, W)`` with values in ``[-1, 1]``.
    """
    for name, value, least in (("num_frames", num_frames, 1), ("height", height, 4), ("width", width, 4),
                               ("batch_size", batch_size, 1), ("num_shapes", num_shapes, 1)):
        check_int(name, value, min_value=least)
    check_int("seed", seed, min_value=0, max_value=MAX_SEED)
    check_float("max_speed", max_speed, min_value=0.0)
    if device is not None:
        device = _available_device("device", device)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")

    gen = torch.Generator().manual_seed(seed)
    b, n = batch_size, num_shapes

    def uniform(*shape, low=0.0, high=1.0):
        return low + (high - low) * torch.rand(*shape, generator=gen, dtype=torch.float64)

    size = min(height, width)
    radius = uniform(b, n, low=0.10 * size, high=0.18 * size)
    cy = uniform(b, n, low=0.0, high=1.0) * (height - 2 * radius) + radius
    cx = uniform(b, n, low=0.0, high=1.0) * (width - 2 * radius) + radius
    angle = uniform(b, n, high=2 * math.pi)
    speed = uniform(b, n, low=0.3, high=1.0) * max_speed
    colour = uniform(b, n, 3, low=-0.2, high=1.0)
    kind = torch.randint(len(SHAPES), (b, n), generator=gen)
    background = uniform(b, 3, 2, low=-1.0, high=-0.3)  # colour at the left and the right edge
    drift = uniform(b, 1, low=-0.02, high=0.02)

    t = torch.arange(num_frames, dtype=torch.float64)
    ys = _bounce(cy, speed * torch.sin(angle), t, radius, height - radius)  # (B, N, T)
    xs = _bounce(cx, speed * torch.cos(angle), t, radius, width - radius)
    yy = (torch.arange(height, dtype=torch.float64) + 0.5).view(1, 1, 1, height, 1)
    xx = (torch.arange(width, dtype=torch.float64) + 0.5).view(1, 1, 1, 1, width)
    dy = (yy - ys[..., None, None]).abs()  # (B, N, T, H, W)
    dx = (xx - xs[..., None, None]).abs()
    r = radius[..., None, None, None]
    distance = torch.stack([
        torch.sqrt(dy**2 + dx**2) / r,  # disc
        torch.maximum(dy, dx) / r,  # square
        (dy + dx) / (1.3 * r),  # diamond
    ])  # (3 kinds, B, N, T, H, W)
    distance = distance.gather(0, kind[None, :, :, None, None, None].expand(1, *distance.shape[1:]))[0]
    alpha = torch.clamp((1.0 - distance) * r * 1.5 + 0.5, 0.0, 1.0)  # ~1-pixel soft edge

    # background: a horizontal gradient whose colours drift slowly with time
    ramp = (xx / width).squeeze(1)  # (1, 1, 1, W)
    left, right = background[..., 0], background[..., 1]  # (B, 3)
    tt = t.view(1, 1, -1, 1, 1)
    video = (left[..., None, None, None] + (right - left)[..., None, None, None] * ramp.unsqueeze(1)
             + drift.view(b, 1, 1, 1, 1) * tt).expand(b, 3, num_frames, height, width).clone()
    for i in range(n):  # paint the shapes in order: later ones in front
        a = alpha[:, i].unsqueeze(1)  # (B, 1, T, H, W)
        video = video * (1 - a) + colour[:, i].view(b, 3, 1, 1, 1) * a
    return video.clamp(-1.0, 1.0).to(device=device, dtype=dtype)
