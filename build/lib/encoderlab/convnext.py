"""Chapter 6: ConvNeXt ("A ConvNet for the 2020s", Liu et al., CVPR 2022, arXiv 2201.03545), and a
ConvNeXt-style block inside one of our encoders.

What is here, in the order of the chapter:

- :data:`ROADMAP`, :class:`RoadmapBlock` and :func:`roadmap_network`: the paper's ResNet-50 -> ConvNeXt-T
  roadmap (its numbers), the residual block after each step (one keyword argument per design change) and
  the whole network after each step, so that its multiply-adds can be measured.
- :func:`layer_norm_2d` / :class:`LayerNorm2d`: LayerNorm over the channels of a channels-first tensor, at
  every position separately (``nn.LayerNorm(C)`` applied to ``x.permute(0, 2, 3, 1)``).
- :func:`drop_path` / :class:`StochasticDepth`: drop the residual branch of whole samples while training.
- :class:`ConvNeXtBlock`, :class:`ConvNeXt` and the builders :func:`convnext_tiny` ... :func:`convnext_large`,
  laid out like the official ``models/convnext.py`` (same state-dict keys), parameter counts equal to
  torchvision's.
- :class:`ConvNeXtResnetBlock`: a ConvNeXt-style block with the ``(in_channels, out_channels)`` interface of
  :class:`encoderlab.ResnetBlock`, and :class:`SmallEncoder` / :class:`SmallDecoder`, a tiny LDM-style
  autoencoder whose encoder blocks can be either.
- :func:`count_multiply_adds`: multiply-adds of one forward pass, measured with ``torch.utils.flop_counter``
  (works on ``torch.device("meta")``, so full-size models are counted without memory or time).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import (
    check_bool,
    check_channels,
    check_divisible,
    check_float,
    check_int,
    check_one_of,
    check_tensor,
)
from .conv import Downsample, Upsample
from .cost import count_multiply_adds
from .norm import _LOW_PRECISION, GroupNorm, _apply_affine, _check_affine
from .resnet import ResnetBlock

__all__ = [
    "BLOCK_TYPES",
    "CONVNEXT_CONFIGS",
    "ROADMAP",
    "ROADMAP_CHANGES",
    "ConvNeXt",
    "ConvNeXtBlock",
    "ConvNeXtResnetBlock",
    "LayerNorm2d",
    "RoadmapBlock",
    "RoadmapNet",
    "SmallDecoder",
    "SmallEncoder",
    "StochasticDepth",
    "convnext",
    "convnext_base",
    "convnext_large",
    "convnext_small",
    "convnext_tiny",
    "count_multiply_adds",
    "drop_path",
    "layer_norm_2d",
    "roadmap_config",
    "roadmap_network",
]


# --------------------------------------------------------------------------------------------------------------
# The roadmap (the paper's numbers)
# --------------------------------------------------------------------------------------------------------------

#: The ResNet-50 -> ConvNeXt-T roadmap: ``(step, ImageNet-1K top-1 %, GFLOPs)`` after each step, from the
#: paper's Table 10 (Appendix C; mean of 3 seeds, ResNet-50/Swin-T regime). GFLOPs are multiply-adds.
#: The kernel-size step lists the chosen 7x7 (5x5: 80.35/4.10, 9x9: 80.57/4.21, 11x11: 80.47/4.29).
#: The BN -> LN row's 4.46 is the paper's printed value.
ROADMAP: tuple[tuple[str, float, float], ...] = (
    ("ResNet-50 (torchvision)", 76.13, 4.09),
    ("modern training recipe", 78.82, 4.09),
    ("stage ratio 3:3:9:3", 79.36, 4.53),
    ("patchify stem", 79.51, 4.42),
    ("depthwise conv", 78.28, 2.35),
    ("width 64 -> 96", 80.50, 5.27),
    ("inverted bottleneck", 80.64, 4.64),
    ("depthwise conv moved up", 79.92, 4.07),
    ("kernel 7x7", 80.57, 4.15),
    ("ReLU -> GELU", 80.62, 4.15),
    ("fewer activations", 81.27, 4.15),
    ("fewer norms", 81.41, 4.15),
    ("BN -> LN", 81.47, 4.46),
    ("separate downsampling = ConvNeXt-T", 81.97, 4.49),
)

#: ConvNeXt variants ``name -> (depths, dims)`` (paper Sec. 3). torchvision builds T/S/B/L.
CONVNEXT_CONFIGS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
    "xlarge": ((3, 3, 27, 3), (256, 512, 1024, 2048)),
}

#: The paper's stochastic-depth rates (Table 5), also torchvision's defaults.
_DROP_PATH_RATES = {"tiny": 0.1, "small": 0.4, "base": 0.5, "large": 0.5, "xlarge": 0.5}


# --------------------------------------------------------------------------------------------------------------
# LayerNorm over channels
# --------------------------------------------------------------------------------------------------------------

def _check_channels_first(x) -> None:
    check_tensor("x", x)
    if x.dim() < 3:
        raise ValueError(f"x must have shape (B, C, *) with at least one position axis, got shape {tuple(x.shape)}")


def layer_norm_2d(x: torch.Tensor, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                  eps: float = 1e-6) -> torch.Tensor:
    """ConvNeXt's "channels-first" LayerNorm, step by step.

    x: ``(B, C, *)`` (e.g. ``(B, C, H, W)``). Every position of every sample is normalised over its C channel
    values alone -- one mean and one (biased) variance per ``(b, h, w)`` -- then scaled by ``weight`` and
    shifted by ``bias`` (both ``(C,)``). Equal to ``nn.LayerNorm(C)`` applied to the channels-last tensor
    ``x.permute(0, 2, 3, 1)``; NOT the LayerNorm over ``(C, H, W)`` of Chapter 1 (that is ``GroupNorm(1, C)``).
    Half-precision inputs are normalised in float32 and cast back.
    """
    _check_channels_first(x)
    channels = x.shape[1]
    check_float("eps", eps, positive=True)
    _check_affine(weight, bias, channels)
    in_dtype = x.dtype
    if in_dtype in _LOW_PRECISION:
        x = x.float()
    mean = x.mean(dim=1, keepdim=True)                      # (B, 1, *): one mean per position
    var = x.var(dim=1, unbiased=False, keepdim=True)        # biased, as every normalisation layer
    y = (x - mean) * torch.rsqrt(var + eps)
    return _apply_affine(y, weight, bias).to(in_dtype)     # per-channel affine, broadcast over positions


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of a channels-first tensor (ConvNeXt's ``data_format="channels_first"``).

    Args:
        num_channels: C, the channel count the input must have.
        eps: added to the variance (ConvNeXt: 1e-6).
        affine: learn a per-channel ``weight`` (init 1) and ``bias`` (init 0), as ``nn.LayerNorm``.
        fused: compute with ``F.layer_norm`` on the permuted tensor (the default) instead of the step-by-step
            :func:`layer_norm_2d`. Both are tested equal to ``nn.LayerNorm``.

    Shape: ``(B, C, *) -> (B, C, *)``. State-dict keys ``weight``, ``bias`` (as ``nn.LayerNorm(C)``).
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, affine: bool = True, fused: bool = True) -> None:
        super().__init__()
        self.num_channels = check_int("num_channels", num_channels, min_value=1)
        self.eps = check_float("eps", eps, positive=True)
        self.affine = check_bool("affine", affine)
        self.fused = check_bool("fused", fused)
        if affine:
            self.weight = nn.Parameter(torch.ones(num_channels))
            self.bias = nn.Parameter(torch.zeros(num_channels))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_channels_first(x)
        check_channels("x", x, self.num_channels)
        if not self.fused:
            return layer_norm_2d(x, self.weight, self.bias, self.eps)
        # channels last, normalise the last axis, channels first again
        dims = list(range(x.dim()))
        to_last = [0, *dims[2:], 1]
        to_first = [0, x.dim() - 1, *dims[1:-1]]
        y = x.permute(to_last)
        if y.dtype in _LOW_PRECISION:
            out = F.layer_norm(y.float(), (self.num_channels,), self.weight, self.bias, self.eps).to(y.dtype)
        else:
            out = F.layer_norm(y, (self.num_channels,), self.weight, self.bias, self.eps)
        return out.permute(to_first)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}, affine={self.affine}"


# --------------------------------------------------------------------------------------------------------------
# Stochastic depth
# --------------------------------------------------------------------------------------------------------------

def drop_path(x: torch.Tensor, p: float, training: bool = True,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Stochastic depth (Huang et al., 2016) on a residual branch ``x`` of shape ``(B, *)``.

    In training, each *sample* keeps its whole branch with probability ``1 - p`` and loses all of it with
    probability ``p``; kept samples are divided by ``1 - p`` so that the expected output equals ``x``. In
    evaluation (``training=False``) or with ``p = 0`` it returns ``x`` itself. ``p = 1`` drops everything.
    """
    check_tensor("x", x)
    if x.dim() < 1:
        raise ValueError("x must have a batch axis, got a 0-D tensor")
    p = check_float("p", p, min_value=0.0, max_value=1.0)
    check_bool("training", training)
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
    mask.bernoulli_(keep, generator=generator)              # one draw per sample, broadcast over the rest
    if keep > 0.0:
        mask.div_(keep)
    return x * mask


class StochasticDepth(nn.Module):
    """Module form of :func:`drop_path` (timm's ``DropPath``, torchvision's ``StochasticDepth(p, "row")``).

    Active in ``train()`` mode only; the identity in ``eval()`` mode. No parameters. Shape: unchanged.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = check_float("p", p, min_value=0.0, max_value=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# --------------------------------------------------------------------------------------------------------------
# ConvNeXt
# --------------------------------------------------------------------------------------------------------------

def _add_convnext_layers(module: nn.Module, cin: int, cout: int, *, kernel_size: int, expansion: int,
                         layer_scale_init_value: float, drop_path: float, eps: float) -> None:
    """Give ``module`` the layers of a ConvNeXt branch ``cin -> cout`` under the official names."""
    check_int("kernel_size", kernel_size, min_value=1)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd so that the block keeps H and W, got {kernel_size}")
    check_int("expansion", expansion, min_value=1)
    layer_scale_init_value = check_float("layer_scale_init_value", layer_scale_init_value, min_value=0.0)
    check_float("drop_path", drop_path, min_value=0.0, max_value=1.0)
    check_float("eps", eps, positive=True)
    module.dwconv = nn.Conv2d(cin, cin, kernel_size=kernel_size, padding=kernel_size // 2, groups=cin)
    module.norm = nn.LayerNorm(cin, eps=eps)
    module.pwconv1 = nn.Linear(cin, expansion * cout)
    module.act = nn.GELU()
    module.pwconv2 = nn.Linear(expansion * cout, cout)
    if layer_scale_init_value > 0:
        module.gamma = nn.Parameter(torch.full((cout,), layer_scale_init_value))
    else:
        module.register_parameter("gamma", None)
    module.drop_path = StochasticDepth(drop_path)


def _convnext_branch(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``gamma * pwconv2(GELU(pwconv1(LayerNorm(dwconv(x)))))`` with the layers of :func:`_add_convnext_layers`."""
    y = module.dwconv(x)
    y = y.permute(0, 2, 3, 1)                               # (B, H, W, C): Linear acts on channels
    y = module.pwconv2(module.act(module.pwconv1(module.norm(y))))
    if module.gamma is not None:
        y = module.gamma * y
    return y.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """The ConvNeXt block (paper Fig. 4; official ``Block``, same parameter names).

    ``x + drop_path(gamma * pwconv2(GELU(pwconv1(LayerNorm(dwconv(x))))))``, where ``dwconv`` is a 7x7
    depthwise conv (pad 3), the LayerNorm normalises the channels of each position (eps 1e-6), ``pwconv1`` /
    ``pwconv2`` are the pointwise (1x1) layers ``dim -> 4*dim -> dim`` written as ``nn.Linear`` on the
    channels-last tensor, and ``gamma`` is the per-channel layer scale (Touvron et al., 2021).

    Args:
        dim: channels C (input and output).
        drop_path: stochastic-depth probability of this block.
        layer_scale_init_value: initial value of every entry of ``gamma`` (1e-6); 0 means no layer scale.
        kernel_size: of the depthwise conv (odd; 7 in ConvNeXt).
        expansion: hidden width of the pointwise MLP, in multiples of ``dim`` (4).
        eps: LayerNorm epsilon.

    Shape: ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, dim: int, drop_path: float = 0.0, layer_scale_init_value: float = 1e-6, *,
                 kernel_size: int = 7, expansion: int = 4, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = check_int("dim", dim, min_value=1)
        _add_convnext_layers(self, dim, dim, kernel_size=kernel_size, expansion=expansion,
                             layer_scale_init_value=layer_scale_init_value, drop_path=drop_path, eps=eps)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The residual branch alone (before stochastic depth): ``(B, C, H, W) -> (B, C, H, W)``."""
        return _convnext_branch(self, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.dim)
        return x + self.drop_path(self.residual(x))


class ConvNeXt(nn.Module):
    """ConvNeXt (paper Sec. 2.6 and 3), laid out like the official ``models/convnext.py``.

    ``downsample_layers[0]`` is the stem (4x4 conv, stride 4, then LayerNorm2d); ``downsample_layers[i > 0]`` is
    LayerNorm2d then a 2x2 conv with stride 2; ``stages[i]`` holds ``depths[i]`` :class:`ConvNeXtBlock`\\ s of
    ``dims[i]`` channels; the head is global average pooling, ``norm`` (LayerNorm) and ``head`` (Linear).
    Drop-path rates grow linearly from 0 to ``drop_path_rate`` over all blocks. Conv and Linear weights start
    from ``trunc_normal_(std=0.02)`` (cut at +-2, as in the official code) with zero biases; the head's weight
    and bias are multiplied by ``head_init_scale``.

    Shape: ``(B, in_chans, H, W) -> (B, num_classes)``; H and W divisible by 32 for the default 4 stages.
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 1000, depths: Sequence[int] = (3, 3, 9, 3),
                 dims: Sequence[int] = (96, 192, 384, 768), drop_path_rate: float = 0.0,
                 layer_scale_init_value: float = 1e-6, head_init_scale: float = 1.0) -> None:
        super().__init__()
        check_int("in_chans", in_chans, min_value=1)
        check_int("num_classes", num_classes, min_value=1)
        depths, dims = tuple(depths), tuple(dims)
        if len(depths) != len(dims) or not depths:
            raise ValueError(f"depths and dims must be non-empty and of equal length, got {depths!r} and {dims!r}")
        for i, (d, c) in enumerate(zip(depths, dims, strict=True)):
            check_int(f"depths[{i}]", d, min_value=1)
            check_int(f"dims[{i}]", c, min_value=1)
        drop_path_rate = check_float("drop_path_rate", drop_path_rate, min_value=0.0, max_value=1.0)
        check_float("head_init_scale", head_init_scale)
        self.in_chans = in_chans
        self.depths, self.dims = depths, dims

        self.downsample_layers = nn.ModuleList()
        self.downsample_layers.append(nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4),
                                                    LayerNorm2d(dims[0], eps=1e-6)))
        for i in range(len(dims) - 1):
            self.downsample_layers.append(nn.Sequential(LayerNorm2d(dims[i], eps=1e-6),
                                                        nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2)))
        rates = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        self.stages = nn.ModuleList()
        start = 0
        for depth, dim in zip(depths, dims, strict=True):
            self.stages.append(nn.Sequential(*[
                ConvNeXtBlock(dim, drop_path=rates[start + j], layer_scale_init_value=layer_scale_init_value)
                for j in range(depth)
            ]))
            start += depth
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)

        self.apply(self._init_weights)
        with torch.no_grad():
            self.head.weight.mul_(head_init_scale)
            self.head.bias.mul_(head_init_scale)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    @property
    def stride(self) -> int:
        """Total downsampling factor: 4 from the stem, 2 per later stage (32 for four stages)."""
        return 4 * 2 ** (len(self.dims) - 1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's output: ``(B, in_chans, H, W) -> (B, dims[-1], H / stride, W / stride)``."""
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_chans)
        for name, size in (("H", x.shape[2]), ("W", x.shape[3])):
            check_divisible(f"input {name}", size, "the network stride", self.stride)
        for down, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(down(x))
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled, normalised features ``(B, dims[-1])`` (global average pool, then LayerNorm)."""
        return self.norm(self.feature_map(x).mean(dim=(-2, -1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def convnext(variant: str, *, num_classes: int = 1000, drop_path_rate: float | None = None,
             layer_scale_init_value: float = 1e-6, **kwargs) -> ConvNeXt:
    """Build a ConvNeXt variant by name (``"tiny"``, ``"small"``, ``"base"``, ``"large"``, ``"xlarge"``).

    ``drop_path_rate`` defaults to the paper's ImageNet-1K value (0.1 / 0.4 / 0.5 / 0.5 / 0.5), which is also
    torchvision's default. To count a full-size model without allocating it, build it under
    ``with torch.device("meta"):``.
    """
    check_one_of("variant", variant, list(CONVNEXT_CONFIGS))
    depths, dims = CONVNEXT_CONFIGS[variant]
    rate = _DROP_PATH_RATES[variant] if drop_path_rate is None else drop_path_rate
    return ConvNeXt(num_classes=num_classes, depths=depths, dims=dims, drop_path_rate=rate,
                    layer_scale_init_value=layer_scale_init_value, **kwargs)


def convnext_tiny(**kwargs) -> ConvNeXt:
    """ConvNeXt-T: depths (3, 3, 9, 3), dims (96, 192, 384, 768); 28,589,128 parameters with 1000 classes."""
    return convnext("tiny", **kwargs)


def convnext_small(**kwargs) -> ConvNeXt:
    """ConvNeXt-S: depths (3, 3, 27, 3), dims (96, 192, 384, 768); 50,223,688 parameters."""
    return convnext("small", **kwargs)


def convnext_base(**kwargs) -> ConvNeXt:
    """ConvNeXt-B: depths (3, 3, 27, 3), dims (128, 256, 512, 1024); 88,591,464 parameters."""
    return convnext("base", **kwargs)


def convnext_large(**kwargs) -> ConvNeXt:
    """ConvNeXt-L: depths (3, 3, 27, 3), dims (192, 384, 768, 1536); 197,767,336 parameters."""
    return convnext("large", **kwargs)


# --------------------------------------------------------------------------------------------------------------
# Counting multiply-adds
# --------------------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------------------
# The roadmap block
# --------------------------------------------------------------------------------------------------------------

_ACTS = {"relu": nn.ReLU, "gelu": nn.GELU}
_NORM_NAMES = {"batch": "BN", "layer": "LN"}


def _norm_layer(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else LayerNorm2d(channels, eps=1e-6)


class RoadmapBlock(nn.Module):
    """The residual block after a step of the ResNet-50 -> ConvNeXt roadmap (paper Sec. 2, Fig. 3 and 4).

    Each design change of the roadmap is one keyword argument; the defaults give ResNet-50's bottleneck.

    Args:
        dim: channels of the residual stream (the block's output).
        hidden: channels between the 1x1 convs (default ``dim // 4``: ResNet's bottleneck; ``4 * dim``: the
            inverted bottleneck).
        in_dim: input channels (default ``dim``); with ``stride`` this makes the first block of a stage,
            which changes the channels and halves H and W, with a projection shortcut (1x1 conv + norm).
        stride: of the spatial conv (1 or 2), as in torchvision's ResNet-50 ("ResNet v1.5").
        kernel_size: of the spatial conv (3 in ResNet; 7 in ConvNeXt).
        depthwise: make the spatial conv depthwise (``groups`` = its channels), "ResNeXt-ify".
        spatial_first: put the spatial conv first, before the 1x1s ("moving up the depthwise conv").
        act: ``"relu"`` or ``"gelu"``.
        fewer_acts: keep one activation, between the two 1x1 convs (requires ``spatial_first``).
        fewer_norms: keep one norm, after the spatial conv (requires ``spatial_first``).
        norm: ``"batch"`` (BatchNorm2d) or ``"layer"`` (:class:`LayerNorm2d`, eps 1e-6).

    A conv followed by BatchNorm has no bias (as in ResNet); every other conv has one (as in ConvNeXt).
    The layers, in order, are ``branch`` (an ``nn.Sequential``); the output is ``post(shortcut(x) + branch(x))``
    with ``post`` the final activation (``nn.Identity`` once ``fewer_acts``).
    Shape: ``(B, in_dim, H, W) -> (B, dim, H / stride, W / stride)``.
    """

    def __init__(self, dim: int, hidden: int | None = None, *, in_dim: int | None = None, stride: int = 1,
                 kernel_size: int = 3, depthwise: bool = False, spatial_first: bool = False, act: str = "relu",
                 fewer_acts: bool = False, fewer_norms: bool = False, norm: str = "batch") -> None:
        super().__init__()
        check_int("dim", dim, min_value=1)
        if hidden is None:
            check_divisible("dim", dim, "the bottleneck ratio", 4)
            hidden = dim // 4
        check_int("hidden", hidden, min_value=1)
        in_dim = dim if in_dim is None else check_int("in_dim", in_dim, min_value=1)
        check_one_of("stride", stride, [1, 2])
        check_int("kernel_size", kernel_size, min_value=1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that the block keeps H and W, got {kernel_size}")
        for name, flag in (("depthwise", depthwise), ("spatial_first", spatial_first),
                           ("fewer_acts", fewer_acts), ("fewer_norms", fewer_norms)):
            check_bool(name, flag)
        check_one_of("act", act, list(_ACTS))
        check_one_of("norm", norm, list(_NORM_NAMES))
        if (fewer_acts or fewer_norms) and not spatial_first:
            raise ValueError("fewer_acts / fewer_norms are defined for the block with the spatial conv first: "
                             "set spatial_first=True")
        self.dim, self.hidden, self.in_dim, self.stride = dim, hidden, in_dim, stride
        self.config = dict(kernel_size=kernel_size, depthwise=depthwise, spatial_first=spatial_first, act=act,
                           fewer_acts=fewer_acts, fewer_norms=fewer_norms, norm=norm)
        bn = norm == "batch"

        def spatial(c: int, normed: bool) -> nn.Conv2d:
            return nn.Conv2d(c, c, kernel_size, stride=stride, padding=kernel_size // 2,
                             groups=c if depthwise else 1, bias=not (bn and normed))

        def pointwise(cin: int, cout: int, normed: bool) -> nn.Conv2d:
            return nn.Conv2d(cin, cout, 1, bias=not (bn and normed))

        layers: list[nn.Module] = []
        if spatial_first:
            # spatial conv on in_dim channels, then 1x1 in_dim -> hidden, then 1x1 hidden -> dim
            layers += [spatial(in_dim, True), _norm_layer(norm, in_dim)]
            if not fewer_acts:
                layers.append(_ACTS[act]())
            layers.append(pointwise(in_dim, hidden, not fewer_norms))
            if not fewer_norms:
                layers.append(_norm_layer(norm, hidden))
            layers += [_ACTS[act](), pointwise(hidden, dim, not fewer_norms)]
            if not fewer_norms:
                layers.append(_norm_layer(norm, dim))
        else:
            # ResNet's bottleneck order: 1x1 in_dim -> hidden, spatial conv on hidden, 1x1 hidden -> dim
            layers += [pointwise(in_dim, hidden, True), _norm_layer(norm, hidden), _ACTS[act](),
                       spatial(hidden, True), _norm_layer(norm, hidden), _ACTS[act](),
                       pointwise(hidden, dim, True), _norm_layer(norm, dim)]
        self.branch = nn.Sequential(*layers)
        if in_dim != dim or stride != 1:
            self.shortcut = nn.Sequential(nn.Conv2d(in_dim, dim, 1, stride=stride, bias=not bn),
                                          _norm_layer(norm, dim))
        else:
            self.shortcut = nn.Identity()
        self.post = nn.Identity() if fewer_acts else _ACTS[act]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_dim)
        return self.post(self.shortcut(x) + self.branch(x))

    def describe(self) -> str:
        """The branch in one line, e.g. ``'1x1 256->64, BN, ReLU | 3x3 64->64, BN, ReLU | 1x1 64->256, BN | add, ReLU'``.

        ``d7x7`` is a depthwise conv, ``/2`` a stride of 2.
        """
        parts: list[str] = []
        for layer in self.branch:
            if isinstance(layer, nn.Conv2d):
                k = layer.kernel_size[0]
                kind = f"d{k}x{k}" if layer.groups > 1 else f"{k}x{k}"
                kind += "/2" if layer.stride[0] == 2 else ""
                parts.append(f"{kind} {layer.in_channels}->{layer.out_channels}")
            elif isinstance(layer, (nn.BatchNorm2d, LayerNorm2d)):
                parts[-1] += ", " + _NORM_NAMES[self.config["norm"]]
            else:
                parts[-1] += ", " + ("ReLU" if isinstance(layer, nn.ReLU) else "GELU")
        act_name = "ReLU" if self.config["act"] == "relu" else "GELU"
        tail = "add" if isinstance(self.post, nn.Identity) else f"add, {act_name}"
        return " | ".join([*parts, tail])


#: The network-level and block-level settings after each roadmap step, as changes to the previous step
#: (``ROADMAP_CHANGES[i]`` belongs to ``ROADMAP[i]``). Read by :func:`roadmap_config`.
ROADMAP_CHANGES: tuple[dict, ...] = (
    dict(depths=(3, 4, 6, 3), width=64, stem="resnet", inverted=False, separate_downsampling=False,
         kernel_size=3, depthwise=False, spatial_first=False, act="relu", fewer_acts=False, fewer_norms=False,
         norm="batch"),
    dict(),                                   # the training recipe changes nothing in the network
    dict(depths=(3, 3, 9, 3)),
    dict(stem="patchify"),
    dict(depthwise=True),
    dict(width=96),
    dict(inverted=True),
    dict(spatial_first=True),
    dict(kernel_size=7),
    dict(act="gelu"),
    dict(fewer_acts=True),
    dict(fewer_norms=True),
    dict(norm="layer"),
    dict(separate_downsampling=True),
)


def roadmap_config(step: int) -> dict:
    """All settings of the network after roadmap step ``step`` (0 = ResNet-50, 13 = ConvNeXt-T)."""
    check_int("step", step, min_value=0)
    if step >= len(ROADMAP):
        raise ValueError(f"step must be < {len(ROADMAP)} (the number of roadmap rows), got {step}")
    config: dict = {}
    for change in ROADMAP_CHANGES[: step + 1]:
        config.update(change)
    return config


class RoadmapNet(nn.Module):
    """The whole network after a roadmap step: ResNet-50 at step 0, ConvNeXt-T without layer scale at the end.

    ``stem`` -> ``stages`` (``nn.ModuleList`` of ``nn.Sequential`` of :class:`RoadmapBlock`) -> average pool ->
    ``head_norm`` (LayerNorm, only with separate downsampling) -> ``fc``.

    Args:
        depths: blocks per stage.
        width: stage-1 width (64 in ResNet-50, 96 in ConvNeXt-T); stage i uses ``width * 2**i``. The residual
            stream of stage i has ``4 * width * 2**i`` channels (bottleneck) or ``width * 2**i`` (inverted, where
            the hidden width is 4x the stream).
        stem: ``"resnet"`` (7x7 conv stride 2, norm, ReLU, 3x3 max-pool stride 2) or ``"patchify"`` (4x4 conv
            stride 4, then a norm).
        inverted: inverted bottleneck.
        separate_downsampling: downsample between stages with a norm and a 2x2 stride-2 conv (ConvNeXt) instead
            of a stride-2 first block with a projection shortcut (ResNet); also adds the final LayerNorm.
        **block_kwargs: :class:`RoadmapBlock` settings (kernel_size, depthwise, spatial_first, act, fewer_acts,
            fewer_norms, norm).

    Shape: ``(B, 3, H, W) -> (B, num_classes)``.
    """

    def __init__(self, *, depths: Sequence[int] = (3, 4, 6, 3), width: int = 64, stem: str = "resnet",
                 inverted: bool = False, separate_downsampling: bool = False, num_classes: int = 1000,
                 in_chans: int = 3, **block_kwargs) -> None:
        super().__init__()
        depths = tuple(depths)
        if not depths:
            raise ValueError("depths must have at least one entry")
        for i, d in enumerate(depths):
            check_int(f"depths[{i}]", d, min_value=1)
        check_int("width", width, min_value=1)
        check_one_of("stem", stem, ["resnet", "patchify"])
        check_bool("inverted", inverted)
        check_bool("separate_downsampling", separate_downsampling)
        check_int("num_classes", num_classes, min_value=1)
        self.in_chans = check_int("in_chans", in_chans, min_value=1)
        norm = block_kwargs.get("norm", "batch")
        check_one_of("norm", norm, list(_NORM_NAMES))
        bn = norm == "batch"
        if stem == "resnet":
            self.stem = nn.Sequential(nn.Conv2d(in_chans, width, 7, stride=2, padding=3, bias=not bn),
                                      _norm_layer(norm, width), nn.ReLU(),
                                      nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_chans, width, 4, stride=4, bias=not bn), _norm_layer(norm, width))
        self.stages = nn.ModuleList()
        c = width
        for i, depth in enumerate(depths):
            w = width * 2**i
            dim, hidden = (w, 4 * w) if inverted else (4 * w, w)
            blocks: list[nn.Module] = []
            if separate_downsampling and i > 0:
                blocks += [_norm_layer(norm, c), nn.Conv2d(c, dim, kernel_size=2, stride=2)]
                c = dim
            for j in range(depth):
                stride = 2 if (i > 0 and j == 0 and not separate_downsampling) else 1
                blocks.append(RoadmapBlock(dim, hidden, in_dim=c, stride=stride, **block_kwargs))
                c = dim
            self.stages.append(nn.Sequential(*blocks))
        self.head_norm = nn.LayerNorm(c, eps=1e-6) if separate_downsampling else nn.Identity()
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_chans)
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.fc(self.head_norm(x.mean(dim=(-2, -1))))


def roadmap_network(step: int, **kwargs) -> RoadmapNet:
    """The :class:`RoadmapNet` after roadmap step ``step`` (0 = ResNet-50 ... 13 = ConvNeXt-T without layer scale).

    Build it under ``with torch.device("meta"):`` to count parameters and multiply-adds for free.
    """
    return RoadmapNet(**roadmap_config(step), **kwargs)


# --------------------------------------------------------------------------------------------------------------
# The bridge: a ConvNeXt-style block in an LDM-style encoder
# --------------------------------------------------------------------------------------------------------------

class ConvNeXtResnetBlock(nn.Module):
    """A ConvNeXt block with the interface of :class:`encoderlab.ResnetBlock` (``in_channels -> out_channels``).

    ``skip(x) + drop_path(gamma * pwconv2(GELU(pwconv1(LayerNorm(dwconv(x))))))``: a depthwise
    ``kernel_size`` conv on the ``in_channels``, a channels LayerNorm, the pointwise MLP
    ``in_channels -> expansion * out_channels -> out_channels`` and a layer scale of ``out_channels``
    entries. ``skip`` is the identity, or a 1x1 ``nin_shortcut`` when the channel count changes (as in
    ResnetBlock). With ``in_channels == out_channels`` it is exactly :class:`ConvNeXtBlock` (same keys).

    Shape: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, kernel_size: int = 7,
                 expansion: int = 4, layer_scale_init_value: float = 1e-6, drop_path: float = 0.0,
                 eps: float = 1e-6) -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        out_channels = in_channels if out_channels is None else check_int("out_channels", out_channels, min_value=1)
        self.in_channels, self.out_channels = in_channels, out_channels
        _add_convnext_layers(self, in_channels, out_channels, kernel_size=kernel_size, expansion=expansion,
                             layer_scale_init_value=layer_scale_init_value, drop_path=drop_path, eps=eps)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The skip path: identity, or the 1x1 ``nin_shortcut`` when the channel count changes."""
        return x if self.in_channels == self.out_channels else self.nin_shortcut(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_channels)
        return self.shortcut(x) + self.drop_path(_convnext_branch(self, x))


#: Block types :class:`SmallEncoder` accepts.
BLOCK_TYPES = ("resnet", "convnext")


class _Level(nn.Module):
    """One resolution level: ``block`` (a ModuleList) and, except at the last level, ``downsample``."""


class SmallEncoder(nn.Module):
    """A small LDM-style encoder whose residual blocks are ResnetBlocks or ConvNeXtResnetBlocks.

    ``conv_in`` (3x3) -> for each level i: ``num_blocks`` blocks to ``ch * ch_mult[i]`` channels, then
    (except at the last level) :class:`encoderlab.Downsample` -> ``norm_out`` (GroupNorm) -> SiLU ->
    ``conv_out`` (3x3) to ``z_channels``. Only the blocks depend on ``block_type``; conv_in, the
    downsamplers and the head are the same, so a comparison isolates the block.

    Args:
        in_channels: image channels.
        ch, ch_mult, num_blocks: widths per level (``ch * ch_mult[i]``) and blocks per level.
        z_channels: output channels.
        block_type: ``"resnet"`` (:class:`encoderlab.ResnetBlock`) or ``"convnext"``
            (:class:`ConvNeXtResnetBlock`).
        num_groups: GroupNorm groups of the ResnetBlocks and of ``norm_out``.
        **block_kwargs: passed to every block (e.g. ``kernel_size=3`` or ``drop_path=0.1`` for ConvNeXt).

    Shape: ``(B, in_channels, H, W) -> (B, z_channels, H / 2**(L-1), W / 2**(L-1))`` for ``L`` levels
    (H and W divisible by ``2**(L-1)``).
    """

    def __init__(self, in_channels: int = 3, *, ch: int = 32, ch_mult: Sequence[int] = (1, 2), num_blocks: int = 1,
                 z_channels: int = 4, block_type: str = "resnet", num_groups: int = 8, **block_kwargs) -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        check_int("ch", ch, min_value=1)
        ch_mult = tuple(ch_mult)
        if not ch_mult:
            raise ValueError("ch_mult must have at least one entry")
        for i, m in enumerate(ch_mult):
            check_int(f"ch_mult[{i}]", m, min_value=1)
        check_int("num_blocks", num_blocks, min_value=1)
        check_int("z_channels", z_channels, min_value=1)
        check_one_of("block_type", block_type, BLOCK_TYPES)
        check_int("num_groups", num_groups, min_value=1)
        for m in ch_mult:
            check_divisible("ch * ch_mult[i]", ch * m, "num_groups", num_groups)
        check_divisible("ch", ch, "num_groups", num_groups)
        self.in_channels, self.block_type = in_channels, block_type
        self.num_levels = len(ch_mult)

        def make_block(cin: int, cout: int) -> nn.Module:
            if block_type == "resnet":
                return ResnetBlock(cin, cout, num_groups=num_groups, **block_kwargs)
            return ConvNeXtResnetBlock(cin, cout, **block_kwargs)

        self.conv_in = nn.Conv2d(in_channels, ch, kernel_size=3, padding=1)
        self.down = nn.ModuleList()
        c = ch
        for i, mult in enumerate(ch_mult):
            level = _Level()
            level.block = nn.ModuleList()
            for _ in range(num_blocks):
                level.block.append(make_block(c, ch * mult))
                c = ch * mult
            if i != len(ch_mult) - 1:
                level.downsample = Downsample(c)
            self.down.append(level)
        self.norm_out = GroupNorm(num_groups, c, eps=1e-6)
        self.conv_out = nn.Conv2d(c, z_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_channels)
        factor = 2 ** (self.num_levels - 1)
        for name, size in (("H", x.shape[2]), ("W", x.shape[3])):
            check_divisible(f"input {name}", size, "2**(levels - 1)", factor)
        h = self.conv_in(x)
        for level in self.down:
            for block in level.block:
                h = block(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class SmallDecoder(nn.Module):
    """The mirror of :class:`SmallEncoder` with ResnetBlocks only: the fixed decoder of the chapter's experiment.

    ``conv_in`` (3x3, z -> widest) -> for each level from the last: ``num_blocks`` ResnetBlocks, then
    (except at level 0) :class:`encoderlab.Upsample` -> ``norm_out`` -> SiLU -> ``conv_out`` (3x3).
    Shape: ``(B, z_channels, h, w) -> (B, out_channels, h * 2**(L-1), w * 2**(L-1))``.
    """

    def __init__(self, out_channels: int = 3, *, ch: int = 32, ch_mult: Sequence[int] = (1, 2), num_blocks: int = 1,
                 z_channels: int = 4, num_groups: int = 8) -> None:
        super().__init__()
        check_int("out_channels", out_channels, min_value=1)
        check_int("ch", ch, min_value=1)
        ch_mult = tuple(ch_mult)
        if not ch_mult:
            raise ValueError("ch_mult must have at least one entry")
        for i, m in enumerate(ch_mult):
            check_int(f"ch_mult[{i}]", m, min_value=1)
            check_divisible("ch * ch_mult[i]", ch * m, "num_groups", num_groups)
        check_int("num_blocks", num_blocks, min_value=1)
        self.z_channels = check_int("z_channels", z_channels, min_value=1)
        c = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, c, kernel_size=3, padding=1)
        self.up = nn.ModuleList()
        for i in reversed(range(len(ch_mult))):
            level = _Level()
            level.block = nn.ModuleList()
            for _ in range(num_blocks):
                level.block.append(ResnetBlock(c, ch * ch_mult[i], num_groups=num_groups))
                c = ch * ch_mult[i]
            if i != 0:
                level.upsample = Upsample(c)
            self.up.append(level)
        self.norm_out = GroupNorm(num_groups, c, eps=1e-6)
        self.conv_out = nn.Conv2d(c, out_channels, kernel_size=3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_tensor("z", z, ndim=4, layout="(B, C, H, W)")
        check_channels("z", z, self.z_channels)
        h = self.conv_in(z)
        for level in self.up:
            for block in level.block:
                h = block(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))
