"""encoderlab: the code of *Encoders from Scratch*.

Every chapter of the book builds one module of this package and proves that it computes what the
production implementation computes. The public API is re-exported here, one line per module.
"""

from .attention import (
    ATTN_TYPES,
    AttnBlock,
    LinAttnBlock,
    attention,
    attention_weights,
    from_tokens,
    make_attn,
    to_tokens,
)
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
from .convnext import (
    ConvNeXt,
    ConvNeXtBlock,
    ConvNeXtResnetBlock,
    LayerNorm2d,
    SmallDecoder,
    SmallEncoder,
    StochasticDepth,
    convnext_base,
    convnext_large,
    convnext_small,
    convnext_tiny,
    count_multiply_adds,
    drop_path,
    layer_norm_2d,
)
from .cost import count_macs, one_conv_algorithm, peak_memory, time_call
from .data import ImageDataset, make_dataset
from .distributions import DiagonalGaussian, ELBOTerms, elbo_loss
from .encoder_nets import (
    BlockBottleneck1d,
    BlockBottleneck2d,
    BlockBottleneck3d,
    BlockPlain1d,
    BlockPlain2d,
    BlockPlain3d,
    DecoderNet1d,
    DecoderNet2d,
    DecoderNet3d,
    EncoderNet1d,
    EncoderNet2d,
    EncoderNet3d,
)
from .ldm import AutoencoderKL, Decoder, Encoder
from .mid_block import MidBlock, MultiHeadSelfAttention
from .norm import GroupNorm, PerFrameGroupNorm, group_norm, per_frame_group_norm
from .pretrained import available_pretrained, load_pretrained
from .resnet import CausalResnet3d, ResnetBlock, SkipConvResnetBlock, resnet_block_num_params
from .source import SourceListing, show_source
from .summary import LayerSummary, layer_summary, parse_summary
from .utils import count_parameters, experiment_scale, get_device, seed_everything
from .vae import VAE, DownBlock, UpBlock
from .video import (
    SEED_BLOCK_OUT_CHANNELS,
    CausalDownEncoder3d,
    CausalEncoder3D,
    CausalMidBlock3d,
    CausalVideoEncoder,
    FrameAttention,
    latent_frames,
)
from .video_data import moving_shapes
from .video_measure import fixed_tail_cache, memory_vs_length, per_frame_change, stage_shapes, streaming_plan
from .video_weights import (
    load_pyramid_encoder,
    load_wan_encoder,
    pyramid_encoder_from_config,
    wan_encoder_from_config,
)
from .wan import ChannelRMSNorm, WanEncoder
from .wan_measure import gif_clip
from .weights import export_weights, load_weights

__version__ = "0.1.0"

__all__ = [
    "ATTN_TYPES",
    "AttnBlock",
    "AutoencoderKL",
    "AvgPoolDownsample",
    "BlockBottleneck1d",
    "BlockBottleneck2d",
    "BlockBottleneck3d",
    "BlockPlain1d",
    "BlockPlain2d",
    "BlockPlain3d",
    "CausalConv1d",
    "CausalConv3d",
    "CausalDownEncoder3d",
    "CausalEncoder3D",
    "CausalMidBlock3d",
    "CausalResnet3d",
    "CausalVideoEncoder",
    "ChannelRMSNorm",
    "ConvNeXt",
    "ConvNeXtBlock",
    "ConvNeXtResnetBlock",
    "Decoder",
    "DecoderNet1d",
    "DecoderNet2d",
    "DecoderNet3d",
    "DiagonalGaussian",
    "DownBlock",
    "Downsample",
    "ELBOTerms",
    "Encoder",
    "EncoderNet1d",
    "EncoderNet2d",
    "EncoderNet3d",
    "FrameAttention",
    "GroupNorm",
    "ImageDataset",
    "LayerNorm2d",
    "LayerSummary",
    "SourceListing",
    "LinAttnBlock",
    "MidBlock",
    "MultiHeadSelfAttention",
    "PerFrameGroupNorm",
    "ResnetBlock",
    "SEED_BLOCK_OUT_CHANNELS",
    "SkipConvResnetBlock",
    "SmallDecoder",
    "SmallEncoder",
    "StochasticDepth",
    "StreamingModule",
    "StridedConvDownsample",
    "TransposedConvUpsample",
    "UpBlock",
    "Upsample",
    "VAE",
    "WanEncoder",
    "attention",
    "available_pretrained",
    "attention_weights",
    "causal_output_frames",
    "conv_output_size",
    "conv_transpose_output_size",
    "convnext_base",
    "convnext_large",
    "convnext_small",
    "convnext_tiny",
    "count_macs",
    "count_multiply_adds",
    "count_parameters",
    "drop_path",
    "elbo_loss",
    "encode_stream",
    "experiment_scale",
    "export_weights",
    "fixed_tail_cache",
    "from_tokens",
    "get_device",
    "gif_clip",
    "group_norm",
    "latent_frames",
    "layer_norm_2d",
    "layer_summary",
    "load_pretrained",
    "load_pyramid_encoder",
    "load_wan_encoder",
    "load_weights",
    "make_attn",
    "make_dataset",
    "memory_vs_length",
    "moving_shapes",
    "one_conv_algorithm",
    "parse_summary",
    "show_source",
    "peak_memory",
    "per_frame_change",
    "per_frame_group_norm",
    "pyramid_encoder_from_config",
    "reset_caches",
    "resnet_block_num_params",
    "seed_everything",
    "stage_shapes",
    "streaming",
    "streaming_plan",
    "temporal_receptive_field",
    "time_call",
    "to_tokens",
    "wan_encoder_from_config",
]
