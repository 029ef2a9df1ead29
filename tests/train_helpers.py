"""What the tests of :mod:`encoderlab.train` share: a micro VAE configuration and a trainer of it on the digits."""

import functools
import struct

from encoderlab.data import make_dataset
from encoderlab.train import TrainConfig, Trainer

MICRO = {"z_channels": 2, "down_channels": [8, 8], "mid_channels": [8, 8], "down_sample": [True],
         "num_down_layers": 1, "num_mid_layers": 1, "num_up_layers": 1, "norm_channels": 4, "num_heads": 2}


@functools.lru_cache(maxsize=1)
def digits():
    """The digits' training and held-out splits (built once per test session)."""
    return make_dataset("digits", "train"), make_dataset("digits", "val")


def micro_trainer(**overrides) -> Trainer:
    """A CPU trainer of the micro VAE, batch 8, six steps unless ``overrides`` say otherwise."""
    cfg = TrainConfig(**{"dataset": "digits", "model": MICRO, "batch_size": 8, "lr": 3e-3, "steps": 6, **overrides})
    train, val = digits()
    return Trainer(cfg, device="cpu", train_data=train, val_data=val, progress=False)


def params(model) -> dict:
    """A copy of the model's state dict."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def header_length(path) -> int:
    """The length of the JSON header of a safetensors file."""
    return struct.unpack("<Q", path.read_bytes()[:8])[0]


def flip_data_byte(path, where=0.5):
    """Change one bit of the tensor data (after the JSON header) of a safetensors file."""
    data = bytearray(path.read_bytes())
    start = 8 + header_length(path)
    data[start + int((len(data) - start) * where)] ^= 0x10
    path.write_bytes(bytes(data))
