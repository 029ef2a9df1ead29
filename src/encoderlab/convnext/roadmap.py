"""Chapter 6, *The roadmap, in numbers*: the paper's ResNet-50 -> ConvNeXt-T roadmap.

:data:`ROADMAP` holds the paper's numbers; :class:`RoadmapBlock` is the residual block after each step
(one keyword argument per design change, section *Every step as a change to a bottleneck block*);
:class:`RoadmapNet` / :func:`roadmap_network` the whole network after each step, so that its parameters and
multiply-adds can be measured.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._validation import (
    check_block_input,
    check_bool,
    check_divisible,
    check_int,
    check_int_sequence,
    check_one_of,
)
from .layer_norm import LayerNorm2d
from .networks import _check_odd_kernel

__all__ = ["ROADMAP", "ROADMAP_CHANGES", "RoadmapBlock", "RoadmapNet", "roadmap_config", "roadmap_network"]

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

_ACTS = {"relu": nn.ReLU, "gelu": nn.GELU}
_NORM_NAMES = {"batch": "BN", "layer": "LN"}


def _norm_layer(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else LayerNorm2d(channels, eps=1e-6)


class RoadmapBlock(nn.Module):
    """The residual block after a step of the ResNet-50 -> ConvNeXt roadmap (Chapter 6, *Every step as a
    change to a bottleneck block*; paper Sec. 2, Fig. 3 and 4).

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
        _check_odd_kernel(kernel_size)
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
        check_block_input("x", x, self, channels=self.in_dim)
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


def roadmap_config(step: int) -> dict:
    """All settings of the network after roadmap step ``step`` (0 = ResNet-50, 13 = ConvNeXt-T); Chapter 6,
    *The roadmap, in numbers*."""
    check_int("step", step, min_value=0)
    if step >= len(ROADMAP):
        raise ValueError(f"step must be < {len(ROADMAP)} (the number of roadmap rows), got {step}")
    config: dict = {}
    for change in ROADMAP_CHANGES[: step + 1]:
        config.update(change)
    return config


class RoadmapNet(nn.Module):
    """The whole network after a roadmap step (Chapter 6, *The roadmap, in numbers*): ResNet-50 at step 0,
    ConvNeXt-T without layer scale at the end.

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
        depths = check_int_sequence("depths", depths, min_value=1, min_len=1, example="(3, 4, 6, 3)")
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
        self.stem_kind = stem
        self.min_size = _smallest_input(stem, separate_downsampling, len(depths))
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_block_input("x", x, self, channels=self.in_chans, min_size=self.min_size,
                          why=f"the {self.stem_kind} stem and {len(self.stages) - 1} downsamplings shrink it")
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.fc(self.head_norm(x.mean(dim=(-2, -1))))


def _smallest_input(stem: str, separate_downsampling: bool, num_stages: int) -> int:
    """The smallest H (or W) that no layer of a :class:`RoadmapNet` empties: the patchify stem floors H / 4 and a
    separate 2x2 stride-2 downsampler floors H / 2 (the ResNet stem and the stride-2 blocks round up)."""
    def final(size: int) -> int:
        size = size // 4 if stem == "patchify" else -(-size // 4)
        for _ in range(num_stages - 1):
            size = size // 2 if separate_downsampling else -(-size // 2)
        return size

    return next(size for size in range(1, 4 * 2**num_stages + 1) if final(size) >= 1)


def roadmap_network(step: int, **kwargs) -> RoadmapNet:
    """The :class:`RoadmapNet` after roadmap step ``step`` (0 = ResNet-50 ... 13 = ConvNeXt-T without layer
    scale); Chapter 6, *The roadmap, in numbers*.

    Build it under ``with torch.device("meta"):`` to count parameters and multiply-adds for free.
    """
    return RoadmapNet(**roadmap_config(step), **kwargs)
