"""Chapter 10: residual encoder (and decoder) networks in 1-D, 2-D and 3-D (seeds 002 and 004).

The family documented by MDNC's ``modules.resnet``: pre-activation residual blocks built from units

    InstanceNorm(affine) -> PReLU(per channel) -> Conv(bias=False)

stacked into stages that change the width in their FIRST block and resample in their LAST block, behind a
first convolution of kernel ``k + 2`` and in front of a final convolution and an optional vector head
(global average pooling, flatten, ``nn.Linear``).

Everything is written from the reference description so that the hook-based layer summary of
:mod:`encoderlab.summary` prints the seed tables row for row: the class names (``_BlockBottleneckNd``,
``_BlockPlainNd``, ``_BlockResStkNd``, ``EncoderNet2d``, ...), the containers (every unit is an
``nn.Sequential``, every list of layers an ``nn.ModuleList``), the module order and the parameter counts.

Shapes: ``EncoderNetNd`` maps ``(B, in_planes, *L)`` to ``(B, out_length)`` with the vector head, or to
``(B, channel * 2**(n-1), *ceil(L / 2**n))`` without it (``n = len(layers)``; axes with kernel 1 keep their
size). ``DecoderNetNd`` maps ``(B, in_length)`` (or ``(B, C0, *shapes[-1])``) to ``(B, out_planes, *out_size)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._validation import check_channels, check_int, check_int_tuple, check_one_of, check_tensor

__all__ = [
    "BLOCKS",
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
    "block_depth",
    "kernel_rule",
    "scaled_shapes",
]

BLOCKS = ("bottleneck", "plain")
NORMALIZERS = ("pinst", "inst", "batch", "null")
ACTIVATORS = ("prelu", "relu", "null")
LAYER_ORDERS = ("new", "old")
SCALERS = ("down", "up")

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_INSTANCE_NORM = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
_INTERP = {1: "linear", 2: "bilinear", 3: "trilinear"}
_LAYOUT = {1: "(B, C, L)", 2: "(B, C, H, W)", 3: "(B, C, D, H, W)"}


# ----------------------------------------------------------------------------------------------------------
# argument helpers
# ----------------------------------------------------------------------------------------------------------

def _check_order(order) -> int:
    check_int("order", order)
    return check_one_of("order", order, (1, 2, 3))


def _check_block(block) -> str:
    if not isinstance(block, str):
        raise TypeError(f"block must be a str ('bottleneck' or 'plain'), got {type(block).__name__} {block!r}")
    name = block.casefold()
    if name not in BLOCKS:
        raise ValueError(f"block must be 'bottleneck' or 'plain' (any case), got {block!r}")
    return name


def block_depth(block: str) -> int:
    """Convolutions along the depth of one block: 3 for ``'bottleneck'``, 2 for ``'plain'``."""
    return 3 if _check_block(block) == "bottleneck" else 2


def _check_odd_kernel(kernel_size, order: int) -> tuple[int, ...]:
    kernel = check_int_tuple("kernel_size", kernel_size, order, min_value=1)
    if any(k % 2 == 0 for k in kernel):
        raise ValueError(
            f"kernel_size must be odd on every axis, got {kernel_size!r}: an even kernel with padding k // 2 "
            "grows every stride-1 map by one, so the residual add cannot match the shortcut"
        )
    return kernel


def kernel_rule(kernel_size, order: int, *, plus: int = 0) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """The per-axis kernel / padding / stride rule of the family: ``(kernel, padding, stride)`` tuples.

    For every axis with ``k > 1``: kernel ``k + plus``, padding ``(k + plus) // 2`` and stride 2 (a block
    resamples that axis). For ``k == 1``: kernel 1, padding 0, stride 1 (that axis is never resampled).
    ``plus=2`` gives the outer convolutions (the encoder's first conv, the decoder's last), which always use
    stride 1 whatever the returned stride says.
    """
    order = _check_order(order)
    check_int("plus", plus, min_value=0)
    kernel = _check_odd_kernel(kernel_size, order)
    ks = tuple(k + plus if k > 1 else 1 for k in kernel)
    return ks, tuple(k // 2 for k in ks), tuple(2 if k > 1 else 1 for k in kernel)


def scaled_shapes(size: Sequence[int], levels: int, stride: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """The ceil pyramid ``shapes[0] = size``, ``shapes[j+1] = ceil(shapes[j] / stride)``, ``levels + 1`` entries.

    Raises ``ValueError`` when some level would need ``size // stride == 0`` (the size is too small for that
    many levels).
    """
    size = tuple(size)
    check_int("levels", levels, min_value=1)
    shapes = [size]
    for level in range(levels):
        cur = shapes[-1]
        if any(s // st == 0 for s, st in zip(cur, stride, strict=True)):
            raise ValueError(
                f"out_size {size} is too small for {levels} levels: level {level} has size {cur}, which cannot "
                f"be halved again (need size // stride >= 1 on every resampled axis)"
            )
        shapes.append(tuple(-(-s // st) for s, st in zip(cur, stride, strict=True)))
    return tuple(shapes)


def _is_resampling(stride: tuple[int, ...], output_size, scaler: str) -> bool:
    return (output_size is not None and scaler == "up") or any(s > 1 for s in stride)


def _check_layers(layers) -> tuple[int, ...]:
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError(f"layers must be a sequence of ints (blocks per stage), got {type(layers).__name__} {layers!r}")
    items = tuple(layers)
    if len(items) < 2:
        raise ValueError(f"layers must list at least 2 stages, got {len(items)}: {layers!r}")
    for n in items:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"layers must contain ints, got {layers!r}")
    if any(n < 1 for n in items):
        raise ValueError(f"every stage needs at least one block (stack_level >= 1), got layers={layers!r}")
    return items


def _check_optional_length(name: str, value) -> int:
    """``None`` or an int; ``None`` and values ``<= 0`` mean "no vector" (returned as 0)."""
    if value is None:
        return 0
    check_int(name, value)
    return max(value, 0)


def _check_spatial(name: str, sizes: Sequence[tuple[int, ...]], where: Sequence[str], shape) -> None:
    """InstanceNorm (PyTorch >= 2) refuses maps with a single element: say so before running anything."""
    for size, label in zip(sizes, where, strict=True):
        if math.prod(size) <= 1:
            raise ValueError(
                f"{name} of shape {tuple(shape)} reaches a single-element map {size} {label}; InstanceNorm needs "
                "more than one spatial element per channel. Use a larger input or fewer stages."
            )


# ----------------------------------------------------------------------------------------------------------
# units and blocks
# ----------------------------------------------------------------------------------------------------------

class _UnitFactory:
    """Builds the conv units and the shortcut of one block for a given dimension and layer options."""

    def __init__(self, order: int, normalizer: str, activator: str, layer_order: str) -> None:
        self.order = _check_order(order)
        self.normalizer = check_one_of("normalizer", normalizer, NORMALIZERS)
        self.activator = check_one_of("activator", activator, ACTIVATORS)
        self.layer_order = check_one_of("layer_order", layer_order, LAYER_ORDERS)

    def norm(self, channels: int) -> nn.Module:
        if self.normalizer == "batch":
            return _BATCH_NORM[self.order](channels)
        return _INSTANCE_NORM[self.order](channels, affine=self.normalizer == "pinst")

    def act(self, channels: int) -> list[nn.Module]:
        if self.activator == "prelu":
            return [nn.PReLU(num_parameters=channels)]
        if self.activator == "relu":
            return [nn.ReLU()]
        return []

    def upsample(self, stride: tuple[int, ...], output_size) -> nn.Upsample:
        if output_size is not None:
            return nn.Upsample(size=output_size, mode=_INTERP[self.order], align_corners=True)
        return nn.Upsample(scale_factor=tuple(stride), mode=_INTERP[self.order], align_corners=True)

    def unit(self, cin: int, cout: int, kernel, stride, padding, output_size=None, scaler="down") -> nn.Sequential:
        """``IN -> PReLU -> [Upsample] -> Conv`` ('new' order) or ``[Upsample] -> Conv -> IN -> PReLU`` ('old')."""
        conv_cls = _CONV[self.order]
        up = scaler == "up" and _is_resampling(stride, output_size, scaler)
        bias = self.normalizer == "null"
        layers: list[nn.Module] = []
        if self.normalizer != "null" and self.layer_order == "new":
            layers += [self.norm(cin), *self.act(cin)]
        if up:
            layers += [self.upsample(stride, output_size),
                       conv_cls(cin, cout, kernel, stride=1, padding=padding, bias=bias)]
        else:
            layers.append(conv_cls(cin, cout, kernel, stride=stride, padding=padding, bias=bias))
        if self.normalizer == "null":
            layers += self.act(cout)
        elif self.layer_order == "old":
            layers += [self.norm(cout), *self.act(cout)]
        return nn.Sequential(*layers)

    def shortcut(self, cin: int, cout: int, stride, output_size=None, scaler="down") -> nn.Sequential | None:
        """``Conv 1x1 (stride) -> IN`` (down) or ``Upsample -> Conv 1x1 -> IN`` (up); None means identity."""
        if not (_is_resampling(stride, output_size, scaler) or cin != cout):
            return None
        conv_cls = _CONV[self.order]
        bias = self.normalizer == "null"
        ones = (1,) * self.order
        if scaler == "up":  # upstream quirk: an Upsample even at stride 1 (scale_factor=1)
            layers = [self.upsample(stride, output_size), conv_cls(cin, cout, ones, stride=1, padding=0, bias=bias)]
        else:
            layers = [conv_cls(cin, cout, ones, stride=stride, padding=0, bias=bias)]
        if self.normalizer != "null":
            layers.append(self.norm(cout))
        return nn.Sequential(*layers)


class _ResidualBlock(nn.Module):
    """What the plain and the bottleneck block share: argument checks, the shortcut and the forward.

    Subclasses build ``conv1, conv2[, conv3]`` and ``in_node`` (in that order) and define ``branch``.
    """

    def _setup(self, order, in_planes, out_planes, kernel_size, stride, padding, output_size, normalizer,
               activator, layer_order, scaler) -> tuple[_UnitFactory, dict]:
        order = _check_order(order)
        check_int("in_planes", in_planes, min_value=1)
        check_int("out_planes", out_planes, min_value=1)
        kernel = _check_odd_kernel(kernel_size, order)
        stride = check_int_tuple("stride", stride, order, min_value=1)
        padding = check_int_tuple("padding", padding, order, min_value=0)
        if padding != tuple(k // 2 for k in kernel):
            raise ValueError(
                f"padding must be kernel_size // 2 on every axis ({tuple(k // 2 for k in kernel)} for kernel_size "
                f"{kernel_size!r}), got {padding!r}: otherwise the branch and the shortcut differ in size"
            )
        if output_size is not None:
            output_size = check_int_tuple("output_size", output_size, order, min_value=1)
        check_one_of("scaler", scaler, SCALERS)
        factory = _UnitFactory(order, normalizer, activator, layer_order)
        self.order = order
        self.in_planes = in_planes
        self.out_planes = out_planes
        return factory, dict(kernel=kernel, stride=stride, padding=padding, output_size=output_size, scaler=scaler)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=self.order + 2, layout=_LAYOUT[self.order])
        check_channels("x", x, self.in_planes)
        res = self.branch(x)
        skip = x if self.in_node is None else self.in_node(x)
        return res + skip


class _BlockPlainNd(_ResidualBlock):
    """Plain residual block (depth 2): ``conv2(conv1(x)) + in_node(x)``.

    ``conv1`` = unit(in -> in, kernel, stride 1), ``conv2`` = unit(in -> out, kernel, **stride**; the up-scaling
    variant when ``scaler='up'``), ``in_node`` = the projection shortcut (only when the block resamples or
    changes the width). Parameters: ``6 in + in^2 K + in out K [+ in out + 2 out]`` with ``K = prod(kernel)``.
    """

    depth = 2

    def __init__(self, order, in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None,
                 normalizer="pinst", activator="prelu", layer_order="new", scaler="down"):
        super().__init__()
        f, a = self._setup(order, in_planes, out_planes, kernel_size, stride, padding, output_size, normalizer,
                           activator, layer_order, scaler)
        ones = (1,) * self.order
        self.conv1 = f.unit(in_planes, in_planes, a["kernel"], ones, a["padding"])
        self.conv2 = f.unit(in_planes, out_planes, a["kernel"], a["stride"], a["padding"], a["output_size"],
                            a["scaler"])
        self.in_node = f.shortcut(in_planes, out_planes, a["stride"], a["output_size"], a["scaler"])

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class _BlockBottleneckNd(_ResidualBlock):
    """Bottleneck residual block (depth 3) WITHOUT channel reduction: the inner width stays ``in_planes``.

    ``conv1`` = unit(in -> in, 1x1), ``conv2`` = unit(in -> in, kernel, **stride**; up-scaling when
    ``scaler='up'``), ``conv3`` = unit(in -> out, 1x1), plus the projection shortcut ``in_node``.
    Parameters: ``9 in + in^2 (1 + K) + in out [+ in out + 2 out]`` with ``K = prod(kernel)``.
    """

    depth = 3

    def __init__(self, order, in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None,
                 normalizer="pinst", activator="prelu", layer_order="new", scaler="down"):
        super().__init__()
        f, a = self._setup(order, in_planes, out_planes, kernel_size, stride, padding, output_size, normalizer,
                           activator, layer_order, scaler)
        ones, zeros = (1,) * self.order, (0,) * self.order
        self.conv1 = f.unit(in_planes, in_planes, ones, ones, zeros)
        self.conv2 = f.unit(in_planes, in_planes, a["kernel"], a["stride"], a["padding"], a["output_size"],
                            a["scaler"])
        self.conv3 = f.unit(in_planes, out_planes, ones, ones, zeros)
        self.in_node = f.shortcut(in_planes, out_planes, a["stride"], a["output_size"], a["scaler"])

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv2(self.conv1(x)))


def _block_doc(kind: str, order: int) -> str:
    return (f"{order}-D {kind} residual block, input ``{_LAYOUT[order]}``.\n\n"
            f"Args: ``in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None, "
            f"normalizer='pinst', activator='prelu', layer_order='new', scaler='down'`` (see ``_Block{kind}Nd``).")


class BlockPlain1d(_BlockPlainNd):
    __doc__ = _block_doc("Plain", 1)

    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None,
                 normalizer="pinst", activator="prelu", layer_order="new", scaler="down"):
        super().__init__(1, in_planes, out_planes, kernel_size, stride, padding, output_size, normalizer,
                         activator, layer_order, scaler)


class BlockPlain2d(_BlockPlainNd):
    __doc__ = _block_doc("Plain", 2)

    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None,
                 normalizer="pinst", activator="prelu", layer_order="new", scaler="down"):
        super().__init__(2, in_planes, out_planes, kernel_size, stride, padding, output_size, normalizer,
                         activator, layer_order, scaler)


class BlockPlain3d(_BlockPlainNd):
    __doc__ = _block_doc("Plain", 3)

    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None,
                 normalizer="pinst", activator="prelu", layer_order="new", scaler="down"):
        super().__init__(3, in_planes, out_planes, kernel_size, stride, padding, output_size, normalizer,
                         activator, layer_order, scaler)


class BlockBottleneck1d(_BlockBottleneckNd):
    __doc__ = _block_doc("Bottleneck", 1)

    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None,
                 normalizer="pinst", activator="prelu", layer_order="new", scaler="down"):
        super().__init__(1, in_planes, out_planes, kernel_size, stride, padding, output_size, normalizer,
                         activator, layer_order, scaler)


class BlockBottleneck2d(_BlockBottleneckNd):
    __doc__ = _block_doc("Bottleneck", 2)

    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None,
                 normalizer="pinst", activator="prelu", layer_order="new", scaler="down"):
        super().__init__(2, in_planes, out_planes, kernel_size, stride, padding, output_size, normalizer,
                         activator, layer_order, scaler)


class BlockBottleneck3d(_BlockBottleneckNd):
    __doc__ = _block_doc("Bottleneck", 3)

    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None,
                 normalizer="pinst", activator="prelu", layer_order="new", scaler="down"):
        super().__init__(3, in_planes, out_planes, kernel_size, stride, padding, output_size, normalizer,
                         activator, layer_order, scaler)


# ----------------------------------------------------------------------------------------------------------
# stage
# ----------------------------------------------------------------------------------------------------------

class _BlockResStkNd(nn.Module):
    """A stage: ``stack_level`` residual blocks. The FIRST block changes the width (in -> hidden), the LAST
    block (``conv_scale``, hidden -> out) carries the stride and the scaler, i.e. does the resampling.

    ``conv_list`` (an ``nn.ModuleList``) holds the ``stack_level - 1`` stride-1 blocks.
    """

    def __init__(self, order, in_planes, out_planes, block="bottleneck", hidden_planes=None, kernel_size=3,
                 padding=1, stride=1, stack_level=3, scaler="down"):
        super().__init__()
        block_cls = _BlockBottleneckNd if _check_block(block) == "bottleneck" else _BlockPlainNd
        check_int("stack_level", stack_level)
        if stack_level < 1:
            raise ValueError(f"stack_level (blocks in a stage) must be >= 1, got {stack_level}")
        hidden = hidden_planes if (isinstance(hidden_planes, int) and hidden_planes > 0) else out_planes
        self.conv_list = nn.ModuleList(
            block_cls(order, in_planes if i == 0 else hidden, hidden, kernel_size=kernel_size, stride=1,
                      padding=padding, scaler="down")
            for i in range(stack_level - 1)
        )
        self.conv_scale = block_cls(order, hidden if stack_level > 1 else in_planes, out_planes,
                                    kernel_size=kernel_size, stride=stride, padding=padding, scaler=scaler)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.conv_list:
            x = block(x)
        return self.conv_scale(x)


def _center_crop(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Crop the trailing axes of ``x`` to ``min(current, size)``, centred (offset ``(cur - ref) // 2``)."""
    index = [Ellipsis]
    for cur, ref in zip(x.shape[2:], size, strict=True):
        keep = min(cur, ref)
        start = (cur - keep) // 2
        index.append(slice(start, start + keep))
    return x[tuple(index)]


# ----------------------------------------------------------------------------------------------------------
# encoder
# ----------------------------------------------------------------------------------------------------------

class _EncoderNetNd(nn.Module):
    """N-D residual encoder: first conv (kernel k+2, no bias) -> n stages -> final conv (kernel k, bias)
    -> [AdaptiveAvgPool(1) -> flatten -> Linear] when ``out_length > 0``.

    Stage ``i`` maps ``C * 2**(i-1) -> C * 2**i`` (stage 0: ``C -> C``) and halves every axis whose kernel is
    > 1 (``L -> ceil(L / 2)``) in its last block.
    """

    def __init__(self, order, channel, layers, block="bottleneck", kernel_size=3, in_planes=1, out_length=2):
        super().__init__()
        order = _check_order(order)
        check_int("channel", channel, min_value=1)
        layers = _check_layers(layers)
        block = _check_block(block)
        check_int("in_planes", in_planes, min_value=1)
        out_length = _check_optional_length("out_length", out_length)
        k_outer, p_outer, _ = kernel_rule(kernel_size, order, plus=2)
        kernel, padding, stride = kernel_rule(kernel_size, order)
        conv = _CONV[order]

        self.order = order
        self.in_planes = in_planes
        self.layers = layers
        self.block = block
        self.kernel_size = kernel
        self.stride = stride
        self.out_length = out_length
        self.is_out_vector = out_length > 0
        body: list[nn.Module] = [conv(in_planes, channel, k_outer, stride=1, padding=p_outer, bias=False)]
        width = channel
        for i, n_blocks in enumerate(layers):
            out = channel if i == 0 else width * 2
            body.append(_BlockResStkNd(order, width, out, block=block, kernel_size=kernel, padding=padding,
                                       stride=stride, stack_level=n_blocks, scaler="down"))
            width = out
        body.append(conv(width, width, kernel, stride=1, padding=padding, bias=True))
        if self.is_out_vector:
            body.append(_POOL[order](1))
        self.netbody = nn.ModuleList(body)
        self.out_channels = width
        if self.is_out_vector:
            self.fc = nn.Linear(width, out_length, bias=True)

    @property
    def nlayers(self) -> int:
        """Convolutions along the depth: ``depth * sum(layers) + 2`` (the first and the final conv; no FC)."""
        return block_depth(self.block) * sum(self.layers) + 2

    def stage_sizes(self, size) -> list[tuple[int, ...]]:
        """Spatial sizes ``[L_0, L_1, ..., L_n]``: the input of stage 0, then every stage's output."""
        sizes = [check_int_tuple("size", size, self.order, min_value=1)]
        for _ in self.layers:
            sizes.append(tuple((s - 1) // st + 1 for s, st in zip(sizes[-1], self.stride, strict=True)))
        return sizes

    def output_shape(self, size) -> tuple[int, ...]:
        """The shape of one sample's output for an input of spatial ``size`` (without the batch axis)."""
        if self.is_out_vector:
            self.stage_sizes(size)  # validates size
            return (self.out_length,)
        return (self.out_channels, *self.stage_sizes(size)[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=self.order + 2, layout=_LAYOUT[self.order])
        check_channels("x", x, self.in_planes)
        sizes = self.stage_sizes(tuple(x.shape[2:]))
        where = ["at the input"] + [f"after stage {i}" for i in range(len(self.layers))]
        _check_spatial("x", sizes, where, x.shape)
        for layer in self.netbody:
            x = layer(x)
        if self.is_out_vector:
            return self.fc(torch.flatten(x, 1))
        return x


_ENC_DOC = """{order}-D residual encoder network (MDNC ``EncoderNet{order}d``).

    Args:
        channel: width of the first stage; it doubles at every later stage.
        layers: blocks per stage (``len(layers) >= 2`` stages, every entry >= 1).
        block: ``'bottleneck'`` (default, depth 3) or ``'plain'`` (depth 2), any case.
        kernel_size: odd int or per-axis tuple; axes with kernel 1 are never resampled.
        in_planes: input channels.
        out_length: length of the output vector (default **2**); ``None`` or ``<= 0`` removes the head.

    Shape: ``{layout}`` -> ``(B, out_length)``, or ``(B, channel * 2**(n-1), *ceil(L / 2**n))`` without the head.
    """


class EncoderNet1d(_EncoderNetNd):
    __doc__ = _ENC_DOC.format(order=1, layout=_LAYOUT[1])

    def __init__(self, channel, layers, block="bottleneck", kernel_size=3, in_planes=1, out_length=2):
        super().__init__(1, channel, layers, block, kernel_size, in_planes, out_length)


class EncoderNet2d(_EncoderNetNd):
    __doc__ = _ENC_DOC.format(order=2, layout=_LAYOUT[2])

    def __init__(self, channel, layers, block="bottleneck", kernel_size=3, in_planes=1, out_length=2):
        super().__init__(2, channel, layers, block, kernel_size, in_planes, out_length)


class EncoderNet3d(_EncoderNetNd):
    __doc__ = _ENC_DOC.format(order=3, layout=_LAYOUT[3])

    def __init__(self, channel, layers, block="bottleneck", kernel_size=3, in_planes=1, out_length=2):
        super().__init__(3, channel, layers, block, kernel_size, in_planes, out_length)


# ----------------------------------------------------------------------------------------------------------
# decoder
# ----------------------------------------------------------------------------------------------------------

class _DecoderNetNd(nn.Module):
    """N-D residual decoder, the encoder's counterpart.

    ``[conv_in: vector -> C0 x shapes[-1]] -> conv_first -> n up-sampling stages, each centre-cropped to the
    next size of the ceil pyramid of out_size -> conv_last (kernel k+2, bias)``, with ``C0 = C * 2**(n-1)``
    halving down to ``C``.
    """

    def __init__(self, order, channel, layers, out_size, block="bottleneck", kernel_size=3, in_length=2,
                 out_planes=1):
        super().__init__()
        order = _check_order(order)
        check_int("channel", channel, min_value=1)
        layers = _check_layers(layers)
        block = _check_block(block)
        out_size = check_int_tuple("out_size", out_size, order, min_value=1)
        in_length = _check_optional_length("in_length", in_length)
        check_int("out_planes", out_planes, min_value=1)
        k_outer, p_outer, _ = kernel_rule(kernel_size, order, plus=2)
        kernel, padding, stride = kernel_rule(kernel_size, order)
        conv = _CONV[order]

        self.order = order
        self.layers = layers
        self.block = block
        self.in_length = in_length
        self.out_planes = out_planes
        self.is_in_vector = in_length > 0
        self.shapes = scaled_shapes(out_size, len(layers), stride)
        channels = [channel * 2 ** i for i in range(len(layers) - 1, -1, -1)]
        self.in_channels = channels[0]
        if self.is_in_vector:
            first = self.shapes[-1]
            self.conv_in = conv(in_length, channels[0], first, padding=tuple(s - 1 for s in first), bias=True)
        self.conv_first = conv(channels[0], channels[0], kernel, stride=1, padding=padding, bias=False)
        body = [
            _BlockResStkNd(order, channels[i], channels[i + 1], block=block, kernel_size=kernel, padding=padding,
                           stride=stride, stack_level=n_blocks, scaler="up")
            for i, n_blocks in enumerate(layers[:-1])
        ]
        body.append(_BlockResStkNd(order, channels[-1], channels[-1], block=block, kernel_size=kernel,
                                   padding=padding, stride=stride, stack_level=layers[-1], scaler="up"))
        self.netbody = nn.ModuleList(body)
        self.conv_last = conv(channels[-1], out_planes, k_outer, stride=1, padding=p_outer, bias=True)

    @property
    def input_size(self) -> tuple[int, ...]:
        """The shape of one input sample: ``(in_length,)`` or ``(C0, *shapes[-1])``."""
        return (self.in_length,) if self.is_in_vector else (self.in_channels, *self.shapes[-1])

    @property
    def nlayers(self) -> int:
        """Convolutions along the depth: ``depth * sum(layers) + 2`` (+1 for ``conv_in``)."""
        return block_depth(self.block) * sum(self.layers) + (3 if self.is_in_vector else 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_in_vector:
            check_tensor("x", x, ndim=2, layout="(B, in_length)")
            check_channels("x", x, self.in_length)
        else:
            check_tensor("x", x, ndim=self.order + 2, layout=_LAYOUT[self.order])
            if tuple(x.shape[1:]) != self.input_size:
                raise ValueError(f"x must have shape (B, {', '.join(map(str, self.input_size))}), "
                                 f"got {tuple(x.shape)}")
        where = [f"(level {j} of the size pyramid {self.shapes})" for j in range(len(self.shapes))]
        _check_spatial("out_size", self.shapes, where, self.shapes[0])
        if self.is_in_vector:
            x = x[(Ellipsis, *((None,) * self.order))]
            x = _center_crop(self.conv_in(x), self.shapes[-1])
        x = self.conv_first(x)
        for stage, size in zip(self.netbody, self.shapes[-2::-1], strict=True):
            x = _center_crop(stage(x), size)
        return self.conv_last(x)


_DEC_DOC = """{order}-D residual decoder network (MDNC ``DecoderNet{order}d``).

    Args:
        channel: width of the LAST stage; the first stage has ``channel * 2**(n-1)`` channels.
        layers: blocks per stage (``len(layers) >= 2``, every entry >= 1).
        out_size: spatial size of the output (int or per-axis tuple).
        block, kernel_size: as for the encoder.
        in_length: length of the input vector (default 2); ``None`` or ``<= 0``: the input is a map of shape
            ``input_size``.
        out_planes: output channels.

    Shape: ``(B, in_length)`` or ``(B, *input_size)`` -> ``(B, out_planes, *out_size)``.
    """


class DecoderNet1d(_DecoderNetNd):
    __doc__ = _DEC_DOC.format(order=1)

    def __init__(self, channel, layers, out_size, block="bottleneck", kernel_size=3, in_length=2,
                 out_planes=1):
        super().__init__(1, channel, layers, out_size, block, kernel_size, in_length, out_planes)


class DecoderNet2d(_DecoderNetNd):
    __doc__ = _DEC_DOC.format(order=2)

    def __init__(self, channel, layers, out_size, block="bottleneck", kernel_size=3, in_length=2,
                 out_planes=1):
        super().__init__(2, channel, layers, out_size, block, kernel_size, in_length, out_planes)


class DecoderNet3d(_DecoderNetNd):
    __doc__ = _DEC_DOC.format(order=3)

    def __init__(self, channel, layers, out_size, block="bottleneck", kernel_size=3, in_length=2,
                 out_planes=1):
        super().__init__(3, channel, layers, out_size, block, kernel_size, in_length, out_planes)
