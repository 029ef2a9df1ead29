"""Chapter 9's tools for the Wan 2.1 encoder: diffusers' own cached encoding driven with any chunk plan, a
table of chunk plans (ours against diffusers'), and the real clip that ships with scikit-image.

The model is :class:`encoderlab.wan.WanEncoder`; its weights come from a ``diffusers.AutoencoderKLWan``
through :func:`encoderlab.video_weights.load_wan_encoder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ._validation import check_int, check_int_sequence, check_tensor
from .wan import WanEncoder

__all__ = ["compare_chunk_plans", "diffusers_wan_encode", "gif_clip"]


def diffusers_wan_encode(vae: nn.Module, video: torch.Tensor, chunk_sizes: Sequence[int] | None = None
                         ) -> torch.Tensor:
    """The moments diffusers' ``AutoencoderKLWan`` computes for ``video`` ``(B, 3, T, H, W)``.

    Chapter 9, *Streaming: ours and diffusers'*. ``chunk_sizes=None`` calls ``vae.encode`` (its fixed plan:
    1 frame, then chunks of 4; frames beyond ``1 + 4k`` are dropped). A plan runs the same loop as diffusers'
    ``_encode`` -- its encoder over each chunk with its feature cache (``clear_cache``, ``_enc_feat_map``,
    ``_enc_conv_idx``), then ``quant_conv`` -- but with the chunks given. Runs under ``torch.no_grad()``.
    Whatever diffusers raises for a plan it cannot run is raised unchanged.
    """
    check_tensor("video", video, ndim=5, layout="(B, C, T, H, W)")
    with torch.no_grad():
        if chunk_sizes is None:
            return vae.encode(video).latent_dist.parameters
        plan = check_int_sequence("chunk_sizes", chunk_sizes, min_value=1, min_len=1, example="[1, 4, 4]")
        if sum(plan) != video.shape[2]:
            raise ValueError(f"chunk_sizes must sum to the number of frames {video.shape[2]}, got sum {sum(plan)}")
        vae.clear_cache()
        try:
            outputs, start = [], 0
            for size in plan:
                vae._enc_conv_idx = [0]
                outputs.append(vae.encoder(video[:, :, start:start + size], feat_cache=vae._enc_feat_map,
                                           feat_idx=vae._enc_conv_idx))
                start += size
            return vae.quant_conv(torch.cat(outputs, dim=2))
        finally:
            vae.clear_cache()


def compare_chunk_plans(model: WanEncoder, vae: nn.Module, video: torch.Tensor,
                        plans: Sequence[Sequence[int]]) -> list[dict]:
    """For each chunk plan: our streamed moments and diffusers' cached ones, both against our whole clip.

    Chapter 9, *Streaming: ours and diffusers'*. ``model`` must carry ``vae``'s weights. One dict per plan:
    ``plan``, ``frames`` (latent frames of the whole clip), ``ours_frames``, ``ours_diff`` (max abs difference
    to the whole clip), ``diffusers_frames`` and ``diffusers_diff`` (``None`` where the frame count differs or
    diffusers fails) and ``diffusers_error`` (the exception's type and first line, or ``None``).
    """
    if not isinstance(model, WanEncoder):
        raise TypeError(f"model must be a WanEncoder, got {type(model).__name__}")
    with torch.no_grad():
        whole = model(video)
    rows = []
    for plan in plans:
        plan = list(plan)
        ours = model.encode_stream(video, plan)
        row = {"plan": plan, "frames": whole.shape[2], "ours_frames": ours.shape[2],
               "ours_diff": float((ours - whole).abs().max()), "diffusers_frames": None, "diffusers_diff": None,
               "diffusers_error": None}
        try:
            theirs = diffusers_wan_encode(vae, video, plan)
        except (RuntimeError, ValueError, IndexError, TypeError) as err:
            row["diffusers_error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:80]}"
        else:
            row["diffusers_frames"] = theirs.shape[2]
            if theirs.shape == whole.shape:
                row["diffusers_diff"] = float((theirs - whole).abs().max())
        rows.append(row)
    return rows


def gif_clip(path: str | Path | None = None, *, frames: int | None = None, size: tuple[int, int] | None = None,
             dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A real video clip from an animated GIF as ``(1, 3, T, H, W)`` in ``[-1, 1]``, read with Pillow.

    Chapter 9, *A real clip*. By default the clip that ships with scikit-image
    (``skimage/data/no_time_for_that_tiny.gif``: no download). ``frames`` keeps the first ``frames``
    frames; ``size=(H, W)`` resizes every frame (bilinear) to that size.
    """
    from PIL import Image, ImageSequence

    if path is None:
        import skimage

        path = Path(skimage.__file__).parent / "data" / "no_time_for_that_tiny.gif"
    if frames is not None:
        check_int("frames", frames, min_value=1)
    if size is not None:
        size = tuple(check_int_sequence("size", size, min_value=1, min_len=2, max_len=2, example="(64, 96)"))
    with Image.open(path) as gif:
        images = [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]
    images = images[:frames] if frames is not None else images
    if size is not None:
        images = [image.resize((size[1], size[0]), Image.BILINEAR) for image in images]
    pixels = torch.stack([torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
                          .reshape(image.height, image.width, 3) for image in images])  # (T, H, W, 3)
    clip = pixels.permute(3, 0, 1, 2).unsqueeze(0).to(dtype)
    return clip / 127.5 - 1.0
