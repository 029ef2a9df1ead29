"""Small instances of every public image-model entry, shared by the bad-input tables
(``tests/test_bad_inputs_image.py`` and ``tests/test_bad_arguments_image.py``).

Each entry is built once (``functools.cache``) at a size that runs in milliseconds.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

import encoderlab as el
from encoderlab import encoder_nets as en
from encoderlab.convnext import RoadmapBlock, RoadmapNet
from encoderlab.ldm import AutoencoderKL, Decoder, Encoder
from encoderlab.vae import VAE, DownBlock, UpBlock, vae_config

LDM = dict(ch=32, out_ch=3, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=[], in_channels=3, resolution=16,
           z_channels=4)
SEED003 = vae_config(down_channels=(8, 16), mid_channels=(16, 16), down_sample=(True,), norm_channels=8,
                     num_heads=2, num_down_layers=1, num_mid_layers=1, num_up_layers=1)


@functools.cache
def model(name: str) -> nn.Module:
    """The small instance called ``name`` (eval mode: no dropout, no stochastic depth)."""
    builders: dict[str, Callable[[], nn.Module]] = {
        "GroupNorm": lambda: el.GroupNorm(2, 4),
        "GroupNorm(fused=False)": lambda: el.GroupNorm(2, 4, fused=False),
        "PerFrameGroupNorm": lambda: el.PerFrameGroupNorm(2, 4),
        "Downsample": lambda: el.Downsample(4),
        "Downsample(with_conv=False)": lambda: el.Downsample(4, with_conv=False),
        "Upsample": lambda: el.Upsample(4),
        "Upsample(with_conv=False)": lambda: el.Upsample(4, with_conv=False),
        "StridedConvDownsample": lambda: el.StridedConvDownsample(4),
        "AvgPoolDownsample": lambda: el.AvgPoolDownsample(4),
        "TransposedConvUpsample": lambda: el.TransposedConvUpsample(4),
        "AttnBlock": lambda: el.AttnBlock(32),
        "LinAttnBlock": lambda: el.LinAttnBlock(4),
        "MultiHeadSelfAttention": lambda: el.MultiHeadSelfAttention(8, 2),
        "MidBlock": lambda: el.MidBlock(8, 8, num_heads=2, num_layers=1, norm_channels=4),
        "MidBlock(ours)": lambda: el.MidBlock(8, 8, num_heads=2, num_layers=1, norm_channels=4, attention="ours"),
        "ResnetBlock": lambda: el.ResnetBlock(32, 64),
        "SkipConvResnetBlock": lambda: el.SkipConvResnetBlock(8, norm_channels=4),
        "CausalResnet3d": lambda: el.CausalResnet3d(4, 8),
        "DownBlock": lambda: DownBlock(8, 8, True, 1, 4),
        "DownBlock(down_sample=False)": lambda: DownBlock(8, 8, False, 1, 4),
        "UpBlock": lambda: UpBlock(8, 8, True, 1, 4),
        "VAE": lambda: VAE(**SEED003),
        "Encoder": lambda: Encoder(**LDM),
        "Decoder": lambda: Decoder(**LDM),
        "AutoencoderKL": lambda: AutoencoderKL(LDM),
        "LayerNorm2d": lambda: el.LayerNorm2d(4),
        "LayerNorm2d(fused=False)": lambda: el.LayerNorm2d(4, fused=False),
        "ConvNeXtBlock": lambda: el.ConvNeXtBlock(4),
        "ConvNeXtResnetBlock": lambda: el.ConvNeXtResnetBlock(4, 8),
        "ConvNeXt": lambda: el.ConvNeXt(depths=(1, 1), dims=(8, 16), num_classes=3),
        "RoadmapBlock": lambda: RoadmapBlock(8, stride=2),
        "RoadmapNet": lambda: RoadmapNet(depths=(1, 1), width=8, stem="patchify", separate_downsampling=True,
                                         num_classes=3, norm="layer"),
        "SmallEncoder": lambda: el.SmallEncoder(ch=8, ch_mult=(1, 2), num_groups=4),
        "SmallEncoder(convnext)": lambda: el.SmallEncoder(ch=8, ch_mult=(1, 2), num_groups=4, block_type="convnext"),
        "SmallDecoder": lambda: el.SmallDecoder(ch=8, ch_mult=(1, 2), num_groups=4),
        "StochasticDepth": lambda: el.StochasticDepth(0.5),
        "BlockPlain1d": lambda: en.BlockPlain1d(4, 4),
        "BlockPlain2d": lambda: en.BlockPlain2d(4, 8, stride=2),
        "BlockPlain3d": lambda: en.BlockPlain3d(4, 4),
        "BlockBottleneck2d": lambda: en.BlockBottleneck2d(4, 4, stride=2),
        "BlockBottleneck2d(up)": lambda: en.BlockBottleneck2d(4, 4, stride=2, scaler="up"),
        "EncoderNet1d": lambda: en.EncoderNet1d(4, [1, 1]),
        "EncoderNet2d": lambda: en.EncoderNet2d(4, [1, 1], out_length=None),
        "EncoderNet3d": lambda: en.EncoderNet3d(2, [1, 1]),
        "DecoderNet2d": lambda: en.DecoderNet2d(4, [1, 1], out_size=(8, 8)),
        "DecoderNet2d(map)": lambda: en.DecoderNet2d(4, [1, 1], out_size=(8, 8), in_length=None),
    }
    return builders[name]().eval()


@dataclass(frozen=True)
class Entry:
    """A public forward (or model method) of one module: ``call(x)`` runs it on the input ``x`` of ``shape``.

    ``params``: the module has parameters (so the one dtype rule applies); ``small``: a spatial size the entry
    cannot take (besides 0), e.g. 1 for a stride-2 downsampler; ``empty_fragment``: the message for an empty
    spatial axis (``None``: an empty map is a valid input, e.g. of a reshape).
    """

    module: str
    label: str
    shape: tuple[int, ...]
    call: Callable[[torch.Tensor], object]
    arg: str = "x"
    params: bool = True
    small: int | None = None
    empty_fragment: str | None = "spatial size"


def _forward(name: str) -> Callable[[torch.Tensor], object]:
    return lambda x: model(name)(x)


def _method(name: str, method: str, **kwargs) -> Callable[[torch.Tensor], object]:
    return lambda x: getattr(model(name), method)(x, **kwargs)


#: The norms map an empty map to an empty map, as PyTorch's do (a streamed video hands them empty chunks).
EMPTY_IN_EMPTY_OUT = ("GroupNorm", "GroupNorm(fused=False)", "PerFrameGroupNorm", "LayerNorm2d",
                      "LayerNorm2d(fused=False)")


def _entries() -> list[Entry]:
    out = [
        Entry("norm", "group_norm", (1, 4, 3, 3), lambda x: el.group_norm(x, 2), params=False,
              empty_fragment=None),
        Entry("norm", "per_frame_group_norm", (1, 4, 2, 3, 3), lambda x: el.per_frame_group_norm(x, 2), params=False,
              empty_fragment=None),
        Entry("attention", "to_tokens", (1, 4, 3, 3), el.to_tokens, params=False, empty_fragment=None),
        Entry("convnext", "layer_norm_2d", (1, 4, 3, 3), el.layer_norm_2d, params=False,
              empty_fragment=None),
        Entry("convnext", "drop_path", (2, 4, 3, 3), lambda x: el.drop_path(x, 0.5), params=False,
              empty_fragment=None),
    ]
    blocks = {
        "norm": [("GroupNorm", (1, 4, 3, 3)), ("GroupNorm(fused=False)", (1, 4, 3, 3)),
                 ("PerFrameGroupNorm", (1, 4, 2, 3, 3))],
        "conv": [("Downsample", (1, 4, 4, 4)), ("Upsample", (1, 4, 2, 2)), ("StridedConvDownsample", (1, 4, 4, 4)),
                 ("TransposedConvUpsample", (1, 4, 2, 2))],
        "attention": [("AttnBlock", (1, 32, 2, 2)), ("LinAttnBlock", (1, 4, 2, 2))],
        "mid_block": [("MidBlock", (1, 8, 2, 2)), ("MidBlock(ours)", (1, 8, 2, 2))],
        "resnet": [("ResnetBlock", (1, 32, 3, 3)), ("SkipConvResnetBlock", (1, 8, 3, 3)),
                   ("CausalResnet3d", (1, 4, 2, 3, 3))],
        "vae": [("DownBlock", (1, 8, 4, 4)), ("DownBlock(down_sample=False)", (1, 8, 3, 3)), ("UpBlock", (1, 8, 2, 2))],
        "ldm": [("Encoder", (1, 3, 4, 4)), ("Decoder", (1, 4, 2, 2))],
        "convnext": [("LayerNorm2d", (1, 4, 3, 3)), ("LayerNorm2d(fused=False)", (1, 4, 3, 3)),
                     ("ConvNeXtBlock", (1, 4, 3, 3)), ("ConvNeXtResnetBlock", (1, 4, 3, 3)),
                     ("ConvNeXt", (1, 3, 8, 8)), ("RoadmapBlock", (1, 8, 3, 3)), ("RoadmapNet", (1, 3, 8, 8)),
                     ("SmallEncoder", (1, 3, 4, 4)), ("SmallEncoder(convnext)", (1, 3, 4, 4)),
                     ("SmallDecoder", (1, 4, 2, 2))],
        "encoder_nets": [("BlockPlain1d", (1, 4, 5)), ("BlockPlain2d", (1, 4, 4, 4)), ("BlockPlain3d", (1, 4, 2, 3, 3)),
                         ("BlockBottleneck2d", (1, 4, 4, 4)), ("BlockBottleneck2d(up)", (1, 4, 2, 2)),
                         ("EncoderNet1d", (1, 1, 8)), ("EncoderNet2d", (1, 1, 8, 8)), ("EncoderNet3d", (1, 1, 8, 4, 4))],
    }
    small = {"Downsample": 1, "StridedConvDownsample": 1, "RoadmapNet": 7, "BlockPlain2d": 1,
             "BlockBottleneck2d": 1, "EncoderNet2d": 2, "ConvNeXt": 4, "Encoder": 1, "SmallEncoder": 3}
    for module, items in blocks.items():
        for name, shape in items:
            out.append(Entry(module, name, shape, _forward(name), arg="z" if name in ("Decoder", "SmallDecoder") else "x",
                             small=small.get(name), empty_fragment=None if name in EMPTY_IN_EMPTY_OUT else "spatial size"))
    out += [
        Entry("conv", "Downsample(with_conv=False)", (1, 4, 4, 4), _forward("Downsample(with_conv=False)"),
              params=False, small=1),
        Entry("conv", "Upsample(with_conv=False)", (1, 4, 2, 2), _forward("Upsample(with_conv=False)"), params=False),
        Entry("conv", "AvgPoolDownsample", (1, 4, 4, 4), _forward("AvgPoolDownsample"), params=False, small=1),
        Entry("convnext", "StochasticDepth", (2, 4, 3, 3), lambda x: model("StochasticDepth").train()(x),
              params=False, empty_fragment=None),
        Entry("convnext", "ConvNeXt.forward_features", (1, 3, 8, 8), _method("ConvNeXt", "forward_features")),
        Entry("vae", "VAE.encode_moments", (1, 3, 4, 4), _method("VAE", "encode_moments"), small=1),
        Entry("vae", "VAE.encode", (1, 3, 4, 4), _method("VAE", "encode"), small=1),
        Entry("vae", "VAE.forward", (1, 3, 4, 4), _forward("VAE"), small=1),
        Entry("vae", "VAE.posterior", (1, 3, 4, 4), _method("VAE", "posterior")),
        Entry("vae", "VAE.reconstruct", (1, 3, 4, 4), _method("VAE", "reconstruct")),
        Entry("vae", "VAE.decode", (1, 4, 2, 2), _method("VAE", "decode"), arg="z"),
        Entry("ldm", "AutoencoderKL.encode", (1, 3, 4, 4), _method("AutoencoderKL", "encode"), small=1),
        Entry("ldm", "AutoencoderKL.forward", (1, 3, 4, 4), _forward("AutoencoderKL")),
        Entry("ldm", "AutoencoderKL.encode_latents", (1, 3, 4, 4), _method("AutoencoderKL", "encode_latents")),
        Entry("ldm", "AutoencoderKL.decode", (1, 4, 2, 2), _method("AutoencoderKL", "decode"), arg="z"),
        Entry("ldm", "AutoencoderKL.decode_latents", (1, 4, 2, 2), _method("AutoencoderKL", "decode_latents"),
              arg="latents"),
        Entry("encoder_nets", "DecoderNet2d(map)", (1, 8, 2, 2), _forward("DecoderNet2d(map)"),
              empty_fragment="must have shape"),
        Entry("distributions", "DiagonalGaussian", (1, 4, 3, 3), el.DiagonalGaussian, arg="moments", params=False),
    ]
    return out


ENTRIES = _entries()


@contextlib.contextmanager
def no_computation(module: nn.Module):
    """Fail the test if any convolution or linear layer of ``module`` runs: the refusal must come first."""
    def refuse(layer, _inputs):
        raise AssertionError(f"{type(layer).__name__} ran before the bad argument was refused")

    handles = [m.register_forward_pre_hook(refuse) for m in module.modules()
               if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear))]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
