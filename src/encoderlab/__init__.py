"""encoderlab: the code of *Encoders from Scratch*.

Every chapter of the book builds one module of this package and proves that it computes what the
production implementation computes. The public API is re-exported here, one line per module.
"""

from .attention import (
    ATTN_TYPES,
    AttnBlock,
    LinAttnBlock,
    MidBlock,
    MultiHeadSelfAttention,
    attention,
    attention_weights,
    from_tokens,
    make_attn,
    to_tokens,
)
from .conv import Downsample, Upsample, conv_output_size
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
from .cost import count_macs, peak_memory, time_call
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
from .norm import GroupNorm, PerFrameGroupNorm, group_norm, per_frame_group_norm
from .resnet import ResnetBlock
from .summary import LayerSummary, layer_summary, parse_summary
from .utils import count_parameters, get_device, seed_everything
from .vae import VAE, DownBlock, UpBlock

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
    "MultiHeadSelfAttention",
    "attention_weights",
    "from_tokens",
    "to_tokens",
    "count_macs",
    "peak_memory",
    "time_call",
    "ELBOTerms",
    "elbo_loss",
    # Chapter 10: residual encoder networks and the seed-format layer summary
    "BlockBottleneck1d",
    "BlockBottleneck2d",
    "BlockBottleneck3d",
    "BlockPlain1d",
    "BlockPlain2d",
    "BlockPlain3d",
    "DecoderNet1d",
    "DecoderNet2d",
    "DecoderNet3d",
    "EncoderNet1d",
    "EncoderNet2d",
    "EncoderNet3d",
    "LayerSummary",
    "layer_summary",
    "parse_summary",
    "VAE",
    "DownBlock",
    "UpBlock",
    "ImageDataset",
    "make_dataset",
    "ConvNeXt",
    "ConvNeXtBlock",
    "ConvNeXtResnetBlock",
    "LayerNorm2d",
    "SmallDecoder",
    "SmallEncoder",
    "StochasticDepth",
    "convnext_base",
    "convnext_large",
    "convnext_small",
    "convnext_tiny",
    "count_multiply_adds",
    "drop_path",
    "layer_norm_2d",
]
