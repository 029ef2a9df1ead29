"""Checks for the exercises of Chapter 7 (the latent-diffusion autoencoder).

Every check compares the reader's answer with encoderlab itself (the Encoder built on the meta device, the
key mapping of :mod:`encoderlab.weights`, :class:`encoderlab.Downsample`), which the test suite checks
against diffusers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..conv import Downsample
from ..ldm import Encoder
from ..weights import ldm_to_diffusers
from ._common import ExerciseError, call_answer, close, expect_shape, passed

__all__ = ["check_decoder_key", "check_downsample", "check_latent_shape"]


def _encoder_output_shape(image_shape, ch_mult, z_channels, double_z) -> tuple[int, ...]:
    with torch.device("meta"):
        enc = Encoder(ch=32, ch_mult=ch_mult, num_res_blocks=1, attn_resolutions=[], in_channels=image_shape[1],
                      resolution=image_shape[2], z_channels=z_channels, double_z=double_z, attn_type="none")
        return tuple(enc(torch.empty(image_shape)).shape)


_SHAPE_CASES = [
    ((1, 3, 128, 128), (1, 1, 2, 2, 4), 16, False),  # the seed's example
    ((2, 3, 256, 256), (1, 2, 4, 4), 4, True),  # Stable Diffusion's VAE
    ((1, 3, 64, 96), (1, 2), 8, True),
    ((4, 1, 32, 32), (1,), 3, False),
]


def check_latent_shape(fn) -> None:
    """Check ``fn(image_shape, ch_mult, z_channels, double_z) -> (B, C, h, w)``, the shape of the Encoder's output."""
    for image_shape, ch_mult, z, double_z in _SHAPE_CASES:
        what = f"your function for image_shape={image_shape}, ch_mult={ch_mult}, z_channels={z}, double_z={double_z}"
        got = call_answer(fn, image_shape, ch_mult, z, double_z, what=what)
        if not isinstance(got, (tuple, list, torch.Size)) or len(got) != 4:
            raise ExerciseError(f"return a tuple (B, C, h, w) of four ints, got {got!r}")
        got = tuple(int(v) for v in got)
        want = _encoder_output_shape(image_shape, ch_mult, z, double_z)
        if got == want:
            continue
        b, _, height, width = image_shape
        levels = len(ch_mult)
        if got[2:] == (height // 2**levels, width // 2**levels):
            raise ExerciseError(f"for ch_mult={ch_mult} you halved H and W {levels} times. Every level except the "
                                f"last one downsamples: {levels} levels halve {levels - 1} times.")
        if got[1] == z and double_z:
            raise ExerciseError(f"with double_z=True the encoder outputs the mean AND the log-variance: "
                                f"2 * z_channels = {2 * z} channels, not {z}.")
        if got[1] == 2 * z and not double_z:
            raise ExerciseError(f"with double_z=False the encoder outputs z_channels = {z} channels; only "
                                "double_z=True doubles them.")
        if got[0] != b:
            raise ExerciseError(f"the batch size passes through unchanged: expected B = {b}, got {got[0]}.")
        raise ExerciseError(f"{what} returned {got}, expected {want}.")
    passed("your shapes match the Encoder's for the seed's example, Stable Diffusion's VAE and two more.")


_KEY_CASES = [
    "decoder.up.0.block.2.conv1.weight",
    "decoder.up.3.block.0.norm2.bias",
    "decoder.up.1.block.0.nin_shortcut.weight",
    "decoder.up.3.upsample.conv.bias",
    "decoder.up.1.upsample.conv.weight",
]


def check_decoder_key(fn) -> None:
    """Check ``fn(ldm_key, num_levels) -> diffusers_key`` for the decoder's ResnetBlock and Upsample keys."""
    n = 4
    for key in _KEY_CASES:
        got = call_answer(fn, key, n, what=f"your function for {key!r}")
        if not isinstance(got, str):
            raise ExerciseError(f"return the diffusers key as a str, got {type(got).__name__} {got!r}")
        want = next(iter(ldm_to_diffusers({key: torch.zeros(1)}, num_levels=n)))
        if got == want:
            continue
        i = int(key.split(".")[2])
        if f"up_blocks.{i}." in got and i != n - 1 - i:
            raise ExerciseError(f"{key} -> {got}: the index was not reversed. LDM's up[0] is the full-resolution level "
                                f"(it runs last), diffusers' up_blocks[0] the lowest (it runs first): up[{i}] is "
                                f"up_blocks[{n - 1 - i}] when there are {n} levels.")
        if f"up_blocks.{n - i}." in got:
            raise ExerciseError(f"{key} -> {got}: off by one. With {n} levels the indices run 0..{n - 1}, so up[{i}] "
                                f"is up_blocks[{n} - 1 - {i}] = up_blocks[{n - 1 - i}].")
        if "nin_shortcut" in got:
            raise ExerciseError(f"{key} -> {got}: diffusers calls the 1x1 skip convolution conv_shortcut.")
        if "upsample." in got and "upsamplers.0" not in got:
            raise ExerciseError(f"{key} -> {got}: diffusers keeps its upsampler in a list: upsamplers.0.conv.")
        if ".block." in got or ".resnets." not in got and ".block." in key:
            raise ExerciseError(f"{key} -> {got}: diffusers calls the list of ResnetBlocks resnets, not block.")
        raise ExerciseError(f"{key} -> {got}, expected {want}.")
    passed("every decoder key lands where diffusers expects it.")


def check_downsample(fn) -> None:
    """Check ``fn(x, conv) -> y``: LDM's downsampling with a given 3x3, stride-2, unpadded ``conv``."""
    gen = torch.Generator().manual_seed(7)
    c = 4
    conv = nn.Conv2d(c, c, kernel_size=3, stride=2, padding=0)
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    reference = Downsample(c)
    reference.conv.load_state_dict(conv.state_dict())
    for h, w in ((8, 8), (7, 10)):
        x = torch.randn(2, c, h, w, generator=gen)
        with torch.no_grad():
            want = reference(x)
            y = call_answer(fn, x, conv, what=f"your function on a {h}x{w} input")
        if not isinstance(y, torch.Tensor):
            raise ExerciseError(f"return a tensor, got {type(y).__name__}")
        if tuple(y.shape) == (2, c, (h - 3) // 2 + 1, (w - 3) // 2 + 1) and y.shape != want.shape:
            raise ExerciseError(f"y has shape {tuple(y.shape)}: without padding a 3x3 stride-2 conv loses a row and a "
                                "column. Pad one zero column on the right and one zero row at the bottom first.")
        expect_shape("y", y, tuple(want.shape), "A 3x3 stride-2 conv after padding (0, 1, 0, 1) halves H and W "
                     "(rounding up).")
        if close(y, want):
            continue
        with torch.no_grad():
            shifted = (close(y, F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1))
                       or close(y, conv(F.pad(x, (1, 0, 1, 0)))))
        if shifted:
            raise ExerciseError("your sampling grid is shifted by one pixel: you padded the left and the top (or all "
                                "four sides, like padding=1). LDM pads only the right and the bottom, and F.pad's "
                                "order for the last two axes is (left, right, top, bottom): F.pad(x, (0, 1, 0, 1)).")
        raise ExerciseError("y has the right shape but wrong values: pad with zeros (0, 1, 0, 1), then apply conv.")
    passed("your downsampling equals LDM's (and diffusers' padding=0 Downsample2D), odd sizes included.")
