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
from .video import (
    SEED_BLOCK_OUT_CHANNELS,
    CausalDownEncoder3d,
    CausalEncoder3D,
    CausalMidBlock3d,
    CausalVideoEncoder,
    FrameAttention,
    fixed_tail_cache,
    latent_frames,
    memory_vs_length,
    one_conv_algorithm,
    peak_memory,
    per_frame_change,
    stage_shapes,
    streaming_plan,
)
from .video_data import moving_shapes

__version__ = "0.1.0"

__all__ = [
    "ATTN_TYPES",
    "AttnBlock",
    "AvgPoolDownsample",
    "CausalConv1d",
    "CausalConv3d",
    "CausalDownEncoder3d",
    "CausalEncoder3D",
    "CausalMidBlock3d",
    "CausalResnet3d",
    "CausalVideoEncoder",
    "DiagonalGaussian",
    "Downsample",
    "FrameAttention",
    "GroupNorm",
    "LinAttnBlock",
    "MidBlock",
    "PerFrameGroupNorm",
    "ResnetBlock",
    "SEED_BLOCK_OUT_CHANNELS",
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
    "fixed_tail_cache",
    "get_device",
    "group_norm",
    "latent_frames",
    "make_attn",
    "memory_vs_length",
    "moving_shapes",
    "one_conv_algorithm",
    "peak_memory",
    "per_frame_change",
    "per_frame_group_norm",
    "reset_caches",
    "resnet_block_num_params",
    "seed_everything",
    "stage_shapes",
    "streaming",
    "streaming_plan",
    "temporal_receptive_field",
]
