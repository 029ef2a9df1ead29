"""encoderlab: the code of *Encoders from Scratch*.

Every chapter of the book builds one module of this package and proves that it computes what the
production implementation computes. The public API is re-exported here, one line per module.
"""

from .attention import ATTN_TYPES, AttnBlock, LinAttnBlock, MidBlock, attention, make_attn
from .conv import Downsample, Upsample, conv_output_size
from .distributions import DiagonalGaussian
from .ldm import AutoencoderKL, Decoder, Encoder
from .norm import GroupNorm, PerFrameGroupNorm, group_norm, per_frame_group_norm
from .resnet import ResnetBlock
from .utils import count_parameters, get_device, seed_everything
from .weights import export_weights, load_weights

__version__ = "0.1.0"

__all__ = [
    "ATTN_TYPES",
    "AttnBlock",
    "DiagonalGaussian",
    "Downsample",
    "GroupNorm",
    "LinAttnBlock",
    "MidBlock",
    "PerFrameGroupNorm",
    "ResnetBlock",
    "Upsample",
    "attention",
    "conv_output_size",
    "count_parameters",
    "get_device",
    "group_norm",
    "make_attn",
    "per_frame_group_norm",
    "seed_everything",
    "AutoencoderKL",
    "Decoder",
    "Encoder",
    "export_weights",
    "load_weights",
]
