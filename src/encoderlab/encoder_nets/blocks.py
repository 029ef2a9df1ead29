"""Chapter 10, *Two residual blocks*: the plain (depth 2) and the bottleneck (depth 3) pre-activation
residual blocks, in N-D form (``_BlockPlainNd``, ``_BlockBottleneckNd``: the names the seed tables print for
the blocks inside a network) and as the public per-dimension classes ``BlockPlain1d`` ... ``BlockBottleneck3d``.

The public classes check their arguments and inputs; the N-D blocks do not (a network that builds them has
checked its own arguments, and its forward its input).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_block_input, check_int, check_int_tuple, check_one_of
from .per_dimension import per_dimension_class
from .shapes import _check_odd_kernel, _check_spatial
from .units import _LAYOUT, ACTIVATORS, LAYER_ORDERS, NORMALIZERS, SCALERS, _per_axis, _UnitFactory

__all__ = ["BLOCKS", "block_depth", "BlockPlain1d", "BlockPlain2d", "BlockPlain3d",
           "BlockBottleneck1d", "BlockBottleneck2d", "BlockBottleneck3d"]

BLOCKS = ("bottleneck", "plain")


def _check_block(block) -> str:
    if not isinstance(block, str):
        raise TypeError(f"block must be a str ('bottleneck' or 'plain'), got {type(block).__name__} {block!r}")
    name = block.casefold()
    if name not in BLOCKS:
        raise ValueError(f"block must be 'bottleneck' or 'plain' (any case), got {block!r}")
    return name


def block_depth(block: str) -> int:
    """Convolutions along the depth of one block (Chapter 10, *Two residual blocks*): 3 for ``'bottleneck'``,
    2 for ``'plain'``."""
    return 3 if _check_block(block) == "bottleneck" else 2


class _ResidualBlock(nn.Module):
    """What the plain and the bottleneck block share: the units, the shortcut and the forward
    ``branch(x) + in_node(x)`` (Chapter 10, *Two residual blocks*).

    Subclasses build ``conv1, conv2[, conv3]`` in ``_build_branch`` (before ``in_node``: that order is the
    order of the table rows and of the random initialisation) and define ``branch``.
    """

    depth: int

    def __init__(self, order, in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None,
                 normalizer="pinst", activator="prelu", layer_order="new", scaler="down"):
        super().__init__()
        self.order, self.in_planes, self.out_planes = order, in_planes, out_planes
        kernel, stride, padding = (_per_axis(v, order) for v in (kernel_size, stride, padding))
        output_size = None if output_size is None else _per_axis(output_size, order)
        self.normalizer, self.scaler, self.stride, self.output_size = normalizer, scaler, stride, output_size
        units = _UnitFactory(order, normalizer, activator, layer_order)
        self._build_branch(units, kernel, stride, padding, output_size, scaler)
        self.in_node = units.shortcut(in_planes, out_planes, stride, output_size, scaler)

    def output_size_for(self, size: tuple[int, ...]) -> tuple[int, ...]:
        """The spatial size of the output for an input of spatial ``size``."""
        if self.scaler == "up":
            return self.output_size or tuple(s * st for s, st in zip(size, self.stride, strict=True))
        return tuple(-(-s // st) for s, st in zip(size, self.stride, strict=True))

    def _build_branch(self, units: _UnitFactory, kernel, stride, padding, output_size, scaler) -> None:
        raise NotImplementedError

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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

    def _build_branch(self, units, kernel, stride, padding, output_size, scaler) -> None:
        ones = (1,) * self.order
        self.conv1 = units.unit(self.in_planes, self.in_planes, kernel, ones, padding)
        self.conv2 = units.unit(self.in_planes, self.out_planes, kernel, stride, padding, output_size, scaler)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class _BlockBottleneckNd(_ResidualBlock):
    """Bottleneck residual block (depth 3) WITHOUT channel reduction: the inner width stays ``in_planes``.

    ``conv1`` = unit(in -> in, 1x1), ``conv2`` = unit(in -> in, kernel, **stride**; up-scaling when
    ``scaler='up'``), ``conv3`` = unit(in -> out, 1x1), plus the projection shortcut ``in_node``.
    Parameters: ``9 in + in^2 (1 + K) + in out [+ in out + 2 out]`` with ``K = prod(kernel)``.
    """

    depth = 3

    def _build_branch(self, units, kernel, stride, padding, output_size, scaler) -> None:
        ones, zeros = (1,) * self.order, (0,) * self.order
        self.conv1 = units.unit(self.in_planes, self.in_planes, ones, ones, zeros)
        self.conv2 = units.unit(self.in_planes, self.in_planes, kernel, stride, padding, output_size, scaler)
        self.conv3 = units.unit(self.in_planes, self.out_planes, ones, ones, zeros)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv2(self.conv1(x)))


def _check_block_args(order, in_planes, out_planes, kernel_size, stride, padding, output_size, normalizer,
                      activator, layer_order, scaler) -> dict:
    """Check the arguments of a public block; returns the per-axis geometry."""
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
    for name, value, choices in (("normalizer", normalizer, NORMALIZERS), ("activator", activator, ACTIVATORS),
                                 ("layer_order", layer_order, LAYER_ORDERS), ("scaler", scaler, SCALERS)):
        check_one_of(name, value, choices)
    return dict(kernel_size=kernel, stride=stride, padding=padding, output_size=output_size)


_BLOCK_DOC = """{order}-D {kind} residual block (MDNC ``Block{kind}{order}d``; Chapter 10, *Two residual blocks*).

    Args: ``in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None, normalizer='pinst',
    activator='prelu', layer_order='new', scaler='down'`` (see ``_Block{kind}Nd``): odd kernel (int or
    per-axis tuple), ``padding = kernel_size // 2``, ``output_size`` (up-scaling only) replaces the stride's
    scale factor; normalizer one of {normalizers}, activator one of {activators}, layer_order ``'new'``
    (norm, act, conv) or ``'old'`` (conv, norm, act), scaler ``'down'`` or ``'up'``.

    Shape: ``{layout}`` with ``C = in_planes`` -> ``out_planes`` channels, each axis divided (``'down'``) or
    multiplied (``'up'``) by its stride.
    """


def _public_block(base: type[_ResidualBlock], kind: str, order: int) -> type:
    """``Block{kind}{order}d``: ``base`` for one dimension, with checked arguments and inputs."""

    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, padding=1, output_size=None,
                 normalizer="pinst", activator="prelu", layer_order="new", scaler="down"):
        geometry = _check_block_args(order, in_planes, out_planes, kernel_size, stride, padding, output_size,
                                     normalizer, activator, layer_order, scaler)
        base.__init__(self, order, in_planes, out_planes, **geometry, normalizer=normalizer, activator=activator,
                      layer_order=layer_order, scaler=scaler)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_block_input("x", x, self, channels=self.in_planes, ndim=order + 2, layout=_LAYOUT[order])
        if self.normalizer in ("pinst", "inst"):
            size = tuple(x.shape[2:])
            _check_spatial("x", [size, self.output_size_for(size)], ["at the input", "at the output"], x.shape)
        return base.forward(self, x)

    doc = _BLOCK_DOC.format(order=order, kind=kind, layout=_LAYOUT[order], normalizers=NORMALIZERS,
                            activators=ACTIVATORS)
    return per_dimension_class(base, f"Block{kind}{order}d", module=__name__, doc=doc,
                               __init__=__init__, forward=forward)


BlockPlain1d, BlockPlain2d, BlockPlain3d = (_public_block(_BlockPlainNd, "Plain", n) for n in (1, 2, 3))
BlockBottleneck1d, BlockBottleneck2d, BlockBottleneck3d = (
    _public_block(_BlockBottleneckNd, "Bottleneck", n) for n in (1, 2, 3))
