"""encoderlab: the code of *Encoders from Scratch*.

Every chapter of the book builds one module of this package and proves that it computes what the
production implementation computes. The public API is re-exported here, one line per module.
"""

from .attention import ATTN_TYPES, AttnBlock, LinAttnBlock, MidBlock, attention, make_attn
from .causal import (
    CausalConv1d,
    CausalConv3d,
    StreamingModule,
    causal_output_frames,
    encode_stream,
    reset_caches,
    streaming,
    temporal_receptive_field,
)
from .conv import (
    AvgPoolDownsample,
    Downsample,
    StridedConvDownsample,
    TransposedConvUpsample,
    Upsample,
    conv_output_size,
    conv_transpose_output_size,
)
from .distributions import DiagonalGaussian
from .norm import GroupNorm, PerFrameGroupNorm, group_norm, per_frame_group_norm
from .resnet import CausalResnet3d, ResnetBlock, SkipConvResnetBlock, resnet_block_num_params
from .utils import count_parameters, get_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "ATTN_TYPES",
    "AttnBlock",
    "AvgPoolDownsample",
    "CausalConv1d",
    "CausalConv3d",
    "CausalResnet3d",
    "DiagonalGaussian",
    "Downsample",
    "GroupNorm",
    "LinAttnBlock",
    "MidBlock",
    "PerFrameGroupNorm",
    "ResnetBlock",
    "SkipConvResnetBlock",
    "StreamingModule",
    "StridedConvDownsample",
    "TransposedConvUpsample",
    "Upsample",
    "attention",
    "causal_output_frames",
    "conv_output_size",
    "conv_transpose_output_size",
    "count_parameters",
    "encode_stream",
    "get_device",
    "group_norm",
    "make_attn",
    "per_frame_group_norm",
    "reset_caches",
    "resnet_block_num_params",
    "seed_everything",
    "streaming",
    "temporal_receptive_field",
]
