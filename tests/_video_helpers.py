"""Helpers shared by the tests of causal convolution and of the video encoder (``test_causal``, ``test_video``,
``test_video_measure``): seeded weights, seeded clips and a tiny completed encoder."""

import math

import torch
from torch import nn

from encoderlab import CausalVideoEncoder

TINY = {"block_out_channels": (4, 8, 8, 8), "num_groups": 2, "z_channels": 2}


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Weights with fan-in scaling (signals neither vanish nor explode), non-trivial norms and biases; eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            if p.dim() > 1:
                p.copy_(noise / math.sqrt(p[0].numel()))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * noise)
            else:
                p.copy_(0.1 * noise)
    return model.eval()


def tiny_encoder(seed: int = 0, **kwargs) -> CausalVideoEncoder:
    """A randomised :class:`CausalVideoEncoder` of widths (4, 8, 8, 8), z = 2 (``kwargs`` override)."""
    return randomise(CausalVideoEncoder(**{**TINY, **kwargs}), seed)


def clip(t: int, h: int = 8, w: int = 8, seed: int = 0, b: int = 1) -> torch.Tensor:
    """A seeded random clip ``(b, 3, t, h, w)``."""
    return torch.randn(b, 3, t, h, w, generator=torch.Generator().manual_seed(seed))
