"""What the tests of :mod:`encoderlab.weights` share: autoencoder configs and random weights."""

import torch

from encoderlab.ldm import AutoencoderKL

SD = dict(ch=128, out_ch=3, ch_mult=(1, 2, 4, 4), num_res_blocks=2, attn_resolutions=[], in_channels=3,
          resolution=256, z_channels=4, double_z=True, dropout=0.0)
SMALL_SD = dict(SD, ch=32, resolution=32)
SMALL_ATTN = dict(ch=32, out_ch=3, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=[16], in_channels=3,
                  resolution=32, z_channels=4)


def randomise(module, seed=0, scale=0.05):
    """Every parameter drawn from N(0, scale^2) with ``seed``; returns the module in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return module.eval()


def same_state(a: dict, b: dict) -> bool:
    """The same keys and bit-identical tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def tiny_autoencoder(config=SMALL_ATTN, seed=0):
    """A randomised encoderlab AutoencoderKL of ``config``."""
    return randomise(AutoencoderKL(config), seed)
