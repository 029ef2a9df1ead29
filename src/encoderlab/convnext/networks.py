"""Chapter 6, *The block and the four networks*: the ConvNeXt block and ConvNeXt-T/S/B/L.

Laid out like the official ``models/convnext.py`` (same state-dict keys); the parameter counts equal
torchvision's (28,589,128 / 50,223,688 / 88,591,464 / 197,767,336 with 1000 classes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._validation import (
    check_block_input,
    check_float,
    check_int,
    check_int_sequence,
    check_one_of,
    check_spatial_multiple,
)
from .layer_norm import LayerNorm2d
from .stochastic_depth import StochasticDepth

__all__ = [
    "CONVNEXT_CONFIGS",
    "ConvNeXt",
    "ConvNeXtBlock",
    "convnext",
    "convnext_base",
    "convnext_large",
    "convnext_small",
    "convnext_tiny",
]

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


def _check_odd_kernel(kernel_size) -> int:
    """``kernel_size`` as a positive odd int: padding ``k // 2`` then keeps H and W."""
    check_int("kernel_size", kernel_size, min_value=1)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd so that the block keeps H and W, got {kernel_size}")
    return kernel_size


def _add_convnext_layers(module: nn.Module, cin: int, cout: int, *, kernel_size: int, expansion: int,
                        layer_scale_init_value: float, drop_path: float, eps: float) -> None:
    """Give ``module`` the layers of a ConvNeXt branch ``cin -> cout`` under the official names.

    Shared by :class:`ConvNeXtBlock` and :class:`encoderlab.ConvNeXtResnetBlock` (one copy of the branch).
    """
    _check_odd_kernel(kernel_size)
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
    """The ConvNeXt block (Chapter 6, *The block and the four networks*; paper Fig. 4; official ``Block``,
    same parameter names).

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
        check_block_input("x", x, self, channels=self.dim)
        return x + self.drop_path(self.residual(x))


class ConvNeXt(nn.Module):
    """ConvNeXt (Chapter 6, *The block and the four networks*; paper Sec. 2.6 and 3), laid out like the
    official ``models/convnext.py``.

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
        self.in_chans = check_int("in_chans", in_chans, min_value=1)
        check_int("num_classes", num_classes, min_value=1)
        self.depths = check_int_sequence("depths", depths, min_value=1, min_len=1, example="(3, 3, 9, 3)")
        self.dims = check_int_sequence("dims", dims, min_value=1, min_len=1, example="(96, 192, 384, 768)")
        if len(self.depths) != len(self.dims):
            raise ValueError(f"depths and dims must be of equal length, got {self.depths!r} and {self.dims!r}")
        drop_path_rate = check_float("drop_path_rate", drop_path_rate, min_value=0.0, max_value=1.0)
        check_float("head_init_scale", head_init_scale)

        dims = self.dims
        self.downsample_layers = nn.ModuleList()
        self.downsample_layers.append(nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4),
                                                    LayerNorm2d(dims[0], eps=1e-6)))
        for i in range(len(dims) - 1):
            self.downsample_layers.append(nn.Sequential(LayerNorm2d(dims[i], eps=1e-6),
                                                        nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2)))
        rates = torch.linspace(0, drop_path_rate, sum(self.depths), device="cpu").tolist()
        self.stages = nn.ModuleList()
        start = 0
        for depth, dim in zip(self.depths, self.dims, strict=True):
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
        check_block_input("x", x, self, channels=self.in_chans, min_size=0)
        check_spatial_multiple("x", x, self.stride, why=f"the network stride is {self.stride}")
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
    """Build a ConvNeXt variant by name (``"tiny"``, ``"small"``, ``"base"``, ``"large"``, ``"xlarge"``);
    Chapter 6, *The block and the four networks*.

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
    """ConvNeXt-T (Chapter 6, *The block and the four networks*): depths (3, 3, 9, 3), dims (96, 192, 384, 768);
    28,589,128 parameters with 1000 classes."""
    return convnext("tiny", **kwargs)


def convnext_small(**kwargs) -> ConvNeXt:
    """ConvNeXt-S (Chapter 6, *The block and the four networks*): depths (3, 3, 27, 3), dims (96, 192, 384, 768);
    50,223,688 parameters."""
    return convnext("small", **kwargs)


def convnext_base(**kwargs) -> ConvNeXt:
    """ConvNeXt-B (Chapter 6, *The block and the four networks*): depths (3, 3, 27, 3), dims
    (128, 256, 512, 1024); 88,591,464 parameters."""
    return convnext("base", **kwargs)


def convnext_large(**kwargs) -> ConvNeXt:
    """ConvNeXt-L (Chapter 6, *The block and the four networks*): depths (3, 3, 27, 3), dims
    (192, 384, 768, 1536); 197,767,336 parameters."""
    return convnext("large", **kwargs)
