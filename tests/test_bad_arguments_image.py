"""Bad *arguments* to the public classes and functions of the image models, refused with a ValueError/TypeError
that names the argument, before any computation (issue 15, classes 1 and 3-7).

One row per bad argument: ``(module, class of hole, call, expected exception, message fragment)``. The class is
one of ``nonfinite`` (1), ``dtype`` (3), ``spatial`` (4), ``sequence`` (5), ``bool`` (6) and ``type`` (7); the
complex, dtype and spatial *inputs* of every forward are in ``tests/test_bad_inputs_image.py``. Rows marked
``before`` also check that no convolution or linear layer ran before the refusal.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from _bad_input_models import LDM, SEED003, model, no_computation
from torch import nn

import encoderlab as el
from encoderlab import encoder_nets as en
from encoderlab.convnext import RoadmapBlock, RoadmapNet, convnext, roadmap_config
from encoderlab.encoder_nets import kernel_rule, scaled_shapes
from encoderlab.ldm import AutoencoderKL, Decoder, Encoder, ldm_level_resolutions
from encoderlab.summary import short_label
from encoderlab.vae import VAE, DownBlock, UpBlock

NAN, INF = math.nan, math.inf


def _x(*shape, dtype=torch.float32):
    return torch.randn(shape, dtype=dtype)


def _posterior():
    return el.DiagonalGaussian(torch.zeros(2, 4, 3, 3))


def _before(name, call):
    """Run ``call`` on ``model(name)`` and fail if any of its layers computes before the refusal."""
    def run():
        with no_computation(model(name)):
            call(model(name))
    return run


ROWS = [
    # ---- 1. non-finite floats ----------------------------------------------------------------------------------
    ("norm", "nonfinite", lambda: el.GroupNorm(2, 4, eps=NAN), ValueError, "eps must be a finite number"),
    ("norm", "nonfinite", lambda: el.GroupNorm(2, 4, eps=INF), ValueError, "eps must be a finite number"),
    ("norm", "nonfinite", lambda: el.PerFrameGroupNorm(2, 4, eps=-INF), ValueError, "eps must be a finite number"),
    ("norm", "nonfinite", lambda: el.group_norm(_x(1, 4, 3), 2, eps=NAN), ValueError, "eps must be a finite"),
    ("norm", "nonfinite", lambda: el.per_frame_group_norm(_x(1, 4, 2, 3, 3), 2, eps=INF), ValueError, "eps"),
    ("attention", "nonfinite", lambda: el.AttnBlock(32, eps=NAN), ValueError, "eps must be a finite"),
    ("resnet", "nonfinite", lambda: el.ResnetBlock(32, dropout=NAN), ValueError, "dropout must be a finite"),
    ("resnet", "nonfinite", lambda: el.ResnetBlock(32, eps=INF), ValueError, "eps must be a finite"),
    ("resnet", "nonfinite", lambda: el.CausalResnet3d(4, dropout=INF), ValueError, "dropout must be a finite"),
    ("resnet", "nonfinite", lambda: el.CausalResnet3d(4, eps=NAN), ValueError, "eps must be a finite"),
    ("distributions", "nonfinite", lambda: el.elbo_loss(_x(2, 3, 4, 4), _x(2, 3, 4, 4), _posterior(), beta=NAN),
     ValueError, "beta must be a finite"),
    ("distributions", "nonfinite", lambda: el.elbo_loss(_x(2, 3, 4, 4), _x(2, 3, 4, 4), _posterior(), beta=INF),
     ValueError, "beta must be a finite"),
    ("ldm", "nonfinite", lambda: AutoencoderKL(LDM, scaling_factor=INF), ValueError, "scaling_factor must be a fin"),
    ("ldm", "nonfinite", lambda: AutoencoderKL(LDM, scaling_factor=NAN), ValueError, "scaling_factor must be a fin"),
    ("ldm", "nonfinite", lambda: Encoder(**{**LDM, "dropout": NAN}), ValueError, "dropout must be a finite"),
    ("ldm", "nonfinite", lambda: Decoder(**{**LDM, "dropout": INF}), ValueError, "dropout must be a finite"),
    ("convnext", "nonfinite", lambda: el.ConvNeXtBlock(4, layer_scale_init_value=NAN), ValueError,
     "layer_scale_init_value must be a finite"),
    ("convnext", "nonfinite", lambda: el.ConvNeXtBlock(4, drop_path=NAN), ValueError, "drop_path must be a finite"),
    ("convnext", "nonfinite", lambda: el.ConvNeXtBlock(4, eps=INF), ValueError, "eps must be a finite"),
    ("convnext", "nonfinite", lambda: el.ConvNeXtResnetBlock(4, 8, layer_scale_init_value=INF), ValueError,
     "layer_scale_init_value must be a finite"),
    ("convnext", "nonfinite", lambda: el.ConvNeXt(depths=(1,), dims=(8,), drop_path_rate=NAN), ValueError,
     "drop_path_rate must be a finite"),
    ("convnext", "nonfinite", lambda: el.ConvNeXt(depths=(1,), dims=(8,), head_init_scale=INF), ValueError,
     "head_init_scale must be a finite"),
    ("convnext", "nonfinite", lambda: el.ConvNeXt(depths=(1,), dims=(8,), layer_scale_init_value=NAN), ValueError,
     "layer_scale_init_value must be a finite"),
    ("convnext", "nonfinite", lambda: convnext("tiny", drop_path_rate=INF), ValueError, "drop_path_rate must"),
    ("convnext", "nonfinite", lambda: el.LayerNorm2d(4, eps=NAN), ValueError, "eps must be a finite"),
    ("convnext", "nonfinite", lambda: el.layer_norm_2d(_x(1, 4, 3, 3), eps=INF), ValueError, "eps must be a finite"),
    ("convnext", "nonfinite", lambda: el.StochasticDepth(NAN), ValueError, "p must be a finite"),
    ("convnext", "nonfinite", lambda: el.drop_path(_x(2, 4), NAN), ValueError, "p must be a finite"),
    ("convnext", "nonfinite", lambda: el.SmallEncoder(block_type="convnext", drop_path=INF), ValueError,
     "drop_path must be a finite"),
    # ---- 3. dtypes: q/k/v of different dtypes, a query of another dtype than the projection --------------------
    ("attention", "dtype", lambda: el.attention(_x(1, 4, 8), _x(1, 4, 8, dtype=torch.float64), _x(1, 4, 8)),
     TypeError, "must have one dtype, got q torch.float32, k torch.float64"),
    ("attention", "dtype", lambda: el.attention(_x(1, 4, 8), _x(1, 4, 8), _x(1, 4, 8, dtype=torch.float16)),
     TypeError, "v torch.float16"),
    ("attention", "dtype", lambda: el.attention(_x(1, 4, 8), _x(1, 4, 8), _x(1, 4, 8, dtype=torch.float64),
                                                backend="explicit"), TypeError, "must have one dtype"),
    ("attention", "dtype", lambda: el.attention_weights(_x(1, 4, 8, dtype=torch.float64), _x(1, 4, 8)), TypeError,
     "q and k must have one dtype"),
    ("mid_block", "dtype", lambda: model("MultiHeadSelfAttention")(_x(1, 3, 8, dtype=torch.float64)), TypeError,
     "query has dtype torch.float64 but the MultiHeadSelfAttention"),
    ("mid_block", "dtype", lambda: model("MultiHeadSelfAttention")(_x(1, 3, 8), _x(1, 3, 8, dtype=torch.float16)),
     TypeError, "key has dtype torch.float16"),
    ("mid_block", "dtype", lambda: model("MultiHeadSelfAttention")(_x(1, 3, 8), _x(1, 3, 8),
                                                                   _x(1, 3, 8, dtype=torch.float64)),
     TypeError, "value has dtype torch.float64"),
    ("summary", "dtype", lambda: el.layer_summary(nn.Conv2d(3, 4, 3), (3, 8, 8), dtypes=[torch.float64]),
     TypeError, "has dtype torch.float64 but the Conv2d"),
    # ---- 4. empty and too-small sizes that are not a forward's input -------------------------------------------
    ("attention", "spatial", lambda: el.attention(_x(1, 4, 8), _x(1, 0, 8), _x(1, 0, 8)), ValueError,
     "k has no tokens"),
    ("attention", "spatial", lambda: el.attention_weights(_x(1, 4, 8), _x(1, 0, 8)), ValueError, "k has no tokens"),
    ("mid_block", "spatial", lambda: model("MultiHeadSelfAttention")(_x(1, 3, 8), _x(1, 0, 8)), ValueError,
     "key has no tokens"),
    ("norm", "spatial", lambda: el.GroupNorm(4, 4)(_x(2, 4, 1, 1)), ValueError, "a single value per sample"),
    ("norm", "spatial", lambda: el.GroupNorm(4, 4, fused=False)(_x(2, 4, 1)), ValueError, "a single value"),
    ("norm", "spatial", lambda: el.group_norm(_x(2, 4, 1, 1), 4), ValueError, "a single value per sample"),
    ("norm", "spatial", lambda: el.PerFrameGroupNorm(4, 4)(_x(1, 4, 3, 1, 1)), ValueError, "a single value per frame"),
    ("norm", "spatial", lambda: el.per_frame_group_norm(_x(1, 4, 3, 1, 1), 4), ValueError, "single value per frame"),
    ("resnet", "spatial", lambda: el.ResnetBlock(32)(_x(1, 32, 1, 1)), ValueError, "a single value per sample"),
    ("ldm", "spatial", lambda: model("Decoder")(_x(1, 4, 1, 1)), ValueError, "z of spatial size (1, 1) is too small"),
    ("ldm", "spatial", lambda: model("AutoencoderKL").decode(_x(1, 4, 1, 1)), ValueError, "is too small: level 1"),
    ("ldm", "spatial", lambda: model("Encoder")(_x(1, 3, 2, 2)), ValueError, "x of spatial size (2, 2) is too small"),
    ("distributions", "spatial", lambda: el.DiagonalGaussian(torch.zeros(1, 4, 0, 3)), ValueError,
     "moments has spatial size (0, 3)"),
    ("distributions", "spatial", lambda: el.DiagonalGaussian.from_mean_logvar(torch.zeros(1, 2, 3, 0),
                                                                          torch.zeros(1, 2, 3, 0)),
     ValueError, "moments has spatial size"),
    ("encoder_nets", "spatial", lambda: en.BlockBottleneck2d(4, 4, stride=2)(_x(1, 4, 2, 1)), ValueError,
     "reaches a single-element map (1, 1) at the output"),
    ("encoder_nets", "spatial", lambda: en.BlockPlain1d(4, 4, normalizer="inst")(_x(2, 4, 1)), ValueError,
     "single-element map"),
    # ---- 5. sequences used before their type is checked --------------------------------------------------------
    ("vae", "sequence", lambda: VAE(down_channels=64), TypeError, "down_channels must be a sequence of ints"),
    ("vae", "sequence", lambda: VAE(down_channels=None), TypeError, "down_channels must be a sequence of ints"),
    ("vae", "sequence", lambda: VAE(**{**SEED003, "mid_channels": 16}), TypeError, "mid_channels must be a sequence"),
    ("vae", "sequence", lambda: VAE(**{**SEED003, "down_sample": True}), TypeError, "down_sample must be a sequence"),
    ("vae", "sequence", lambda: VAE(**{**SEED003, "down_sample": (True, True)}), ValueError,
     "down_sample must have one entry per DownBlock"),
    ("ldm", "sequence", lambda: Encoder(**{**LDM, "ch_mult": 4}), TypeError, "ch_mult must be a sequence of ints"),
    ("ldm", "sequence", lambda: Decoder(**{**LDM, "ch_mult": None}), TypeError, "ch_mult must be a sequence"),
    ("ldm", "sequence", lambda: Encoder(**{**LDM, "attn_resolutions": 16}), TypeError, "attn_resolutions must be"),
    ("ldm", "sequence", lambda: AutoencoderKL({**LDM, "ch_mult": "12"}), TypeError, "ch_mult must be a sequence"),
    ("ldm", "sequence", lambda: ldm_level_resolutions("32", 2), TypeError, "resolution must be an int"),
    ("ldm", "sequence", lambda: ldm_level_resolutions(32, None), TypeError, "num_levels must be an int"),
    ("ldm", "sequence", lambda: ldm_level_resolutions(32, 0), ValueError, "num_levels must be >= 1"),
    ("convnext", "sequence", lambda: el.ConvNeXt(depths=3), TypeError, "depths must be a sequence of ints"),
    ("convnext", "sequence", lambda: el.ConvNeXt(depths=(1, 1), dims=(8,)), ValueError, "must be of equal length"),
    ("convnext", "sequence", lambda: RoadmapNet(depths=None), TypeError, "depths must be a sequence"),
    ("convnext", "sequence", lambda: el.SmallEncoder(ch_mult=2), TypeError, "ch_mult must be a sequence"),
    ("convnext", "sequence", lambda: el.SmallDecoder(ch_mult=None), TypeError, "ch_mult must be a sequence"),
    ("encoder_nets", "sequence", lambda: en.EncoderNet2d(4, 2), TypeError, "layers must be a sequence of ints"),
    ("encoder_nets", "sequence", lambda: en.EncoderNet2d(4, [2]), ValueError, "layers must list at least 2"),
    ("encoder_nets", "sequence", lambda: en.EncoderNet2d(4, [1, 1], kernel_size=(3, 3, 3)), ValueError,
     "kernel_size must have 2 entries"),
    ("encoder_nets", "sequence", lambda: en.BlockPlain2d(4, 4, stride=(2, 2, 2)), ValueError,
     "stride must have 2 entries"),
    ("encoder_nets", "sequence", lambda: en.DecoderNet2d(4, [1, 1], out_size=(8, 8, 8)), ValueError,
     "out_size must have 2 entries"),
    ("encoder_nets", "sequence", lambda: en.DecoderNet2d(4, [1, 1], out_size=None), TypeError, "out_size must be"),
    ("encoder_nets", "sequence", lambda: scaled_shapes(8, 2, (2,)), TypeError, "size must be a sequence of ints"),
    ("encoder_nets", "sequence", lambda: scaled_shapes((8, 8), 2, (2,)), ValueError, "stride must have at least 2"),
    ("encoder_nets", "sequence", lambda: scaled_shapes((8,), 2, None), TypeError, "stride must be a sequence"),
    ("encoder_nets", "sequence", lambda: scaled_shapes(("8",), 2, (2,)), TypeError, "size must contain ints"),
    ("encoder_nets", "sequence", lambda: kernel_rule((3, 3), 1), ValueError, "kernel_size must have 1 entries"),
    ("encoder_nets", "sequence", lambda: model("EncoderNet2d").stage_sizes(5.0), TypeError, "size must be an int"),
    ("summary", "sequence", lambda: el.layer_summary(nn.ReLU(), 5), TypeError, "input_size must be a tuple"),
    ("summary", "sequence", lambda: el.layer_summary(nn.ReLU(), ((3, 4), 5)), TypeError,
     "input_size[1] must be a sequence of ints"),
    ("summary", "sequence", lambda: el.layer_summary(nn.ReLU(), [()]), ValueError, "input_size[0] must have at least"),
    ("summary", "sequence", lambda: el.layer_summary(nn.ReLU(), (3,), dtypes=torch.float32), TypeError,
     "dtypes must be a sequence of torch.dtype"),
    ("summary", "sequence", lambda: el.layer_summary(nn.ReLU(), (3,), dtypes=[torch.float32] * 2), ValueError,
     "dtypes has 2 entries for 1 inputs"),
    # ---- 6. booleans ---------------------------------------------------------------------------------------------
    ("ldm", "bool", lambda: model("AutoencoderKL").encode_latents(_x(1, 3, 4, 4), sample_posterior="no"), TypeError,
     "sample_posterior must be a bool"),
    ("ldm", "bool", lambda: model("AutoencoderKL")(_x(1, 3, 4, 4), sample_posterior="no"), TypeError,
     "sample_posterior must be a bool"),
    ("ldm", "bool", lambda: Encoder(**LDM, double_z="no"), TypeError, "double_z must be a bool"),
    ("ldm", "bool", lambda: Encoder(**{**LDM, "resamp_with_conv": "no"}), TypeError, "resamp_with_conv must be a bo"),
    ("ldm", "bool", lambda: Encoder(**LDM, use_linear_attn="no"), TypeError, "use_linear_attn must be a bool"),
    ("ldm", "bool", lambda: Encoder(**LDM, tanh_out="no"), TypeError, "tanh_out must be a bool"),
    ("ldm", "bool", lambda: Encoder(**LDM, give_pre_end=1), TypeError, "give_pre_end must be a bool"),
    ("ldm", "bool", lambda: Decoder(**LDM, double_z="no"), TypeError, "double_z must be a bool"),
    ("ldm", "bool", lambda: Decoder(**LDM, give_pre_end="no"), TypeError, "give_pre_end must be a bool"),
    ("ldm", "bool", lambda: Decoder(**LDM, tanh_out=1), TypeError, "tanh_out must be a bool"),
    ("ldm", "bool", lambda: AutoencoderKL({**LDM, "tanh_out": "no"}), TypeError, "tanh_out must be a bool"),
    ("mid_block", "bool", lambda: model("MultiHeadSelfAttention")(_x(1, 3, 8), need_weights="no"), TypeError,
     "need_weights must be a bool"),
    ("mid_block", "bool", lambda: model("MultiHeadSelfAttention")(_x(1, 3, 8), need_weights=True,
                                                                  average_attn_weights="no"),
     TypeError, "average_attn_weights must be a bool"),
    ("mid_block", "bool", lambda: el.MultiHeadSelfAttention(8, 2, bias="no"), TypeError, "bias must be a bool"),
    ("norm", "bool", lambda: el.GroupNorm(2, 4, affine="no"), TypeError, "affine must be a bool"),
    ("norm", "bool", lambda: el.GroupNorm(2, 4, fused=1), TypeError, "fused must be a bool"),
    ("conv", "bool", lambda: el.Downsample(4, with_conv="no"), TypeError, "with_conv must be a bool"),
    ("conv", "bool", lambda: el.Upsample(4, with_conv=0), TypeError, "with_conv must be a bool"),
    ("resnet", "bool", lambda: el.ResnetBlock(32, 64, conv_shortcut="no"), TypeError, "conv_shortcut must be a bool"),
    ("resnet", "bool", lambda: el.CausalResnet3d(4, per_frame_norm="no"), TypeError, "per_frame_norm must be a bool"),
    ("vae", "bool", lambda: DownBlock(8, 8, "no", 1, 4), TypeError, "down_sample must be a bool"),
    ("vae", "bool", lambda: UpBlock(8, 8, 1, 1, 4), TypeError, "up_sample must be a bool"),
    ("vae", "bool", lambda: VAE(**{**SEED003, "down_sample": ("no",)}), TypeError, "down_sample[0] must be a bool"),
    ("distributions", "bool", lambda: el.DiagonalGaussian(torch.zeros(1, 4), deterministic="no"), TypeError,
     "deterministic must be a bool"),
    ("convnext", "bool", lambda: el.drop_path(_x(2, 4), 0.5, training="no"), TypeError, "training must be a bool"),
    ("convnext", "bool", lambda: el.LayerNorm2d(4, affine="yes"), TypeError, "affine must be a bool"),
    ("convnext", "bool", lambda: RoadmapBlock(8, depthwise="no"), TypeError, "depthwise must be a bool"),
    ("convnext", "bool", lambda: RoadmapNet(depths=(1,), inverted="no"), TypeError, "inverted must be a bool"),
    ("fast", "bool", lambda: setattr(model("Encoder"), "cpu_channels_last", "no"), TypeError,
     "cpu_channels_last must be a bool"),
    # ---- 7. other types that would reach torch -------------------------------------------------------------------
    ("attention", "type", lambda: el.attention(_x(1, 4, 8), _x(1, 4, 8), None), TypeError,
     "v must be a torch.Tensor, got NoneType"),
    ("attention", "type", lambda: el.attention(_x(1, 4, 8), None, _x(1, 4, 8)), TypeError, "k must be a torch.Tens"),
    ("attention", "type", lambda: el.attention(_x(2, 4, 8), _x(3, 4, 8), _x(3, 4, 8)), ValueError,
     "leading (batch, head) dimensions of q, k and v must match or be 1"),
    ("attention", "type", lambda: el.attention(_x(2, 2, 4, 8), _x(2, 3, 4, 8), _x(2, 3, 4, 8), backend="explicit"),
     ValueError, "must match or be 1"),
    ("attention", "type", lambda: el.attention_weights(_x(2, 4, 8), _x(3, 4, 8)), ValueError, "q and k must match"),
    ("attention", "type", lambda: el.attention(_x(4, 8), _x(4, 8), _x(4, 8), backend=None), ValueError, "backend"),
    ("attention", "type", lambda: el.attention(_x(8), _x(4, 8), _x(4, 8)), ValueError, "q must have at least 2"),
    ("vae", "type", _before("VAE", lambda m: m.encode(_x(1, 3, 4, 4), generator="seed")), TypeError,
     "generator must be a torch.Generator or None"),
    ("vae", "type", _before("VAE", lambda m: m(_x(1, 3, 4, 4), generator=0)), TypeError, "generator must be a torch"),
    ("vae", "type", _before("VAE", lambda m: m.sample_prior(1, 4, generator="seed")), TypeError,
     "generator must be a torch.Generator"),
    ("vae", "type", lambda: model("VAE").latent_shape("4"), TypeError, "height must be an int"),
    ("ldm", "type", _before("AutoencoderKL", lambda m: m(_x(1, 3, 4, 4), generator="seed")), TypeError,
     "generator must be a torch.Generator"),
    ("ldm", "type", _before("AutoencoderKL", lambda m: m.encode_latents(_x(1, 3, 4, 4), True, generator=3)),
     TypeError, "generator must be a torch.Generator"),
    ("ldm", "type", _before("AutoencoderKL", lambda m: m.encode_latents(_x(1, 3, 4, 4), sample_posterior="no")),
     TypeError, "sample_posterior must be a bool"),
    ("ldm", "type", lambda: model("AutoencoderKL").decode_latents([[0.0]]), TypeError,
     "latents must be a torch.Tensor, got list"),
    ("ldm", "type", lambda: model("AutoencoderKL").decode_latents(None), TypeError, "latents must be a torch.Tensor"),
    ("ldm", "type", lambda: Encoder(**{**LDM, "out_ch": "3"}), TypeError, "out_ch must be an int"),
    ("ldm", "type", lambda: Decoder(**{**LDM, "in_channels": 3.0}), TypeError, "in_channels must be an int"),
    ("distributions", "type", lambda: _posterior().sample("seed"), TypeError, "generator must be a torch.Generator"),
    ("distributions", "type", lambda: _posterior().kl(torch.zeros(2, 4, 3, 3)), TypeError, "other must be a Diag"),
    ("distributions", "type", lambda: el.elbo_loss(_x(2, 3), _x(2, 3), torch.zeros(2, 4)), TypeError,
     "posterior must be a DiagonalGaussian"),
    ("convnext", "type", lambda: el.drop_path(_x(2, 4), 0.5, generator="seed"), TypeError,
     "generator must be a torch.Generator"),
    ("convnext", "type", lambda: el.drop_path(_x(2, 4), 0.5, generator=0), TypeError, "generator must be a torch"),
    ("convnext", "type", lambda: roadmap_config("3"), TypeError, "step must be an int"),
    ("norm", "type", lambda: el.group_norm(_x(1, 4, 3), 2, weight=torch.ones(4, dtype=torch.complex64)), TypeError,
     "weight must be a real tensor"),
    ("norm", "type", lambda: el.group_norm(_x(1, 4, 3), 2, bias=torch.zeros(4, dtype=torch.int64)), TypeError,
     "bias must be a floating-point tensor"),
    ("convnext", "type", lambda: el.layer_norm_2d(_x(1, 4, 3, 3), weight=[1.0] * 4), TypeError,
     "weight must be a torch.Tensor or None"),
    ("summary", "type", lambda: el.layer_summary(nn.ReLU(), (3,), device="tpu"), ValueError,
     "device='tpu' is not a device PyTorch knows"),
    ("summary", "type", lambda: el.layer_summary(nn.ReLU(), (3,), device=0), TypeError, "device must be a str"),
    ("summary", "type", lambda: el.layer_summary(nn.ReLU(), (3,), dtypes=["float32"]), TypeError,
     "dtypes must contain torch.dtype values"),
    ("summary", "type", lambda: el.layer_summary(torch.zeros(3), (3,)), TypeError, "model must be a torch.nn.Module"),
    ("summary", "type", lambda: short_label("ConvTranspose2d-12345", width="20"), TypeError, "width must be an int"),
    ("summary", "type", lambda: el.parse_summary(None), TypeError, "text must be a str"),
]


@pytest.mark.parametrize("module,kind,call,error,fragment",
                         [pytest.param(*row, id=f"{row[0]}:{row[1]}:{i}") for i, row in enumerate(ROWS)])
def test_bad_argument_is_refused_clearly(module, kind, call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value), str(info.value)


def test_the_table_covers_every_class_in_every_module():
    counts = Counter((module, kind) for module, kind, *_ in ROWS)
    kinds = {kind for _, kind in counts}
    assert kinds == {"nonfinite", "dtype", "spatial", "sequence", "bool", "type"}
    for module in ("norm", "attention", "mid_block", "resnet", "vae", "ldm", "convnext", "encoder_nets",
                   "distributions", "summary"):
        assert sum(n for (m, _), n in counts.items() if m == module) >= 3, module
