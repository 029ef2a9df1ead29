"""Chapter 10, *Stages* and *The network*: the stage ``_BlockResStkNd`` and the residual encoder and decoder
networks ``EncoderNet1d/2d/3d``, ``DecoderNet1d/2d/3d`` (seeds 002 and 004).

The networks check their arguments and their input once; the stages and blocks they build do not re-check.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import (
    check_block_input,
    check_channels,
    check_dtype_matches,
    check_int,
    check_int_sequence,
    check_int_tuple,
    check_tensor,
)
from .blocks import _BlockBottleneckNd, _BlockPlainNd, _check_block, block_depth
from .per_dimension import per_dimension_class
from .shapes import _center_crop, _check_order, _check_spatial, kernel_rule, scaled_shapes
from .units import _CONV, _LAYOUT, _POOL

__all__ = ["DecoderNet1d", "DecoderNet2d", "DecoderNet3d", "EncoderNet1d", "EncoderNet2d", "EncoderNet3d"]

_BLOCK_CLASSES = {"bottleneck": _BlockBottleneckNd, "plain": _BlockPlainNd}


class _BlockResStkNd(nn.Module):
    """A stage (Chapter 10, *Stages*): ``stack_level`` residual blocks. The FIRST block changes the width
    (in -> hidden), the LAST block (``conv_scale``, hidden -> out) carries the stride and the scaler, i.e. does
    the resampling.

    ``conv_list`` (an ``nn.ModuleList``) holds the ``stack_level - 1`` stride-1 blocks. ``block`` is
    ``'bottleneck'`` or ``'plain'``; the networks check every argument before they build their stages.
    """

    def __init__(self, order, in_planes, out_planes, block="bottleneck", hidden_planes=None, kernel_size=3,
                 padding=1, stride=1, stack_level=3, scaler="down"):
        super().__init__()
        block_cls = _BLOCK_CLASSES[block]
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


def _check_layers(layers) -> tuple[int, ...]:
    items = check_int_sequence("layers", layers, example="[2, 2, 2, 2, 2] (blocks per stage)")
    if len(items) < 2:
        raise ValueError(f"layers must list at least 2 stages, got {len(items)}: {layers!r}")
    if any(n < 1 for n in items):
        raise ValueError(f"every stage needs at least one block (stack_level >= 1), got layers={layers!r}")
    return items


def _check_optional_length(name: str, value) -> int:
    """``None`` or an int; ``None`` and values ``<= 0`` mean "no vector" (returned as 0)."""
    if value is None:
        return 0
    check_int(name, value)
    return max(value, 0)


class _EncoderNetNd(nn.Module):
    """N-D residual encoder (Chapter 10, *The network*): first conv (kernel k+2, no bias) -> n stages ->
    final conv (kernel k, bias) -> [AdaptiveAvgPool(1) -> flatten -> Linear] when ``out_length > 0``.

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

        self.order, self.in_planes, self.layers, self.block = order, in_planes, layers, block
        self.kernel_size, self.stride, self.out_length = kernel, stride, out_length
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
        check_block_input("x", x, self, channels=self.in_planes, ndim=self.order + 2, layout=_LAYOUT[self.order])
        sizes = self.stage_sizes(tuple(x.shape[2:]))
        where = ["at the input"] + [f"after stage {i}" for i in range(len(self.layers))]
        _check_spatial("x", sizes, where, x.shape)
        for layer in self.netbody:
            x = layer(x)
        if self.is_out_vector:
            return self.fc(torch.flatten(x, 1))
        return x


class _DecoderNetNd(nn.Module):
    """N-D residual decoder, the encoder's counterpart (Chapter 10, *The network*).

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

        self.order, self.layers, self.block = order, layers, block
        self.in_length, self.out_planes = in_length, out_planes
        self.is_in_vector = in_length > 0
        self.shapes = scaled_shapes(out_size, len(layers), stride)
        channels = [channel * 2 ** i for i in range(len(layers) - 1, -1, -1)]
        self.in_channels = channels[0]
        if self.is_in_vector:
            first = self.shapes[-1]
            self.conv_in = conv(in_length, channels[0], first, padding=tuple(s - 1 for s in first), bias=True)
        self.conv_first = conv(channels[0], channels[0], kernel, stride=1, padding=padding, bias=False)
        widths = [*channels, channels[-1]]  # the last stage keeps the width
        self.netbody = nn.ModuleList(
            _BlockResStkNd(order, widths[i], widths[i + 1], block=block, kernel_size=kernel, padding=padding,
                           stride=stride, stack_level=n_blocks, scaler="up")
            for i, n_blocks in enumerate(layers)
        )
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
        check_dtype_matches("x", x, self)
        where = [f"(level {j} of the size pyramid {self.shapes})" for j in range(len(self.shapes))]
        _check_spatial("out_size", self.shapes, where, self.shapes[0])
        if self.is_in_vector:
            x = x[(Ellipsis, *((None,) * self.order))]
            x = _center_crop(self.conv_in(x), self.shapes[-1])
        x = self.conv_first(x)
        for stage, size in zip(self.netbody, self.shapes[-2::-1], strict=True):
            x = _center_crop(stage(x), size)
        return self.conv_last(x)


_ENC_DOC = """{order}-D residual encoder network (MDNC ``EncoderNet{order}d``; Chapter 10, *The network*).

    Args:
        channel: width of the first stage; it doubles at every later stage.
        layers: blocks per stage (``len(layers) >= 2`` stages, every entry >= 1).
        block: ``'bottleneck'`` (default, depth 3) or ``'plain'`` (depth 2), any case.
        kernel_size: odd int or per-axis tuple; axes with kernel 1 are never resampled.
        in_planes: input channels.
        out_length: length of the output vector (default **2**); ``None`` or ``<= 0`` removes the head.

    Shape: ``{layout}`` -> ``(B, out_length)``, or ``(B, channel * 2**(n-1), *ceil(L / 2**n))`` without the head.
    """

_DEC_DOC = """{order}-D residual decoder network (MDNC ``DecoderNet{order}d``; Chapter 10, *The network*).

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


def _encoder_class(order: int) -> type:
    def __init__(self, channel, layers, block="bottleneck", kernel_size=3, in_planes=1, out_length=2):
        _EncoderNetNd.__init__(self, order, channel, layers, block, kernel_size, in_planes, out_length)

    return per_dimension_class(_EncoderNetNd, f"EncoderNet{order}d", module=__name__,
                               doc=_ENC_DOC.format(order=order, layout=_LAYOUT[order]), __init__=__init__)


def _decoder_class(order: int) -> type:
    def __init__(self, channel, layers, out_size, block="bottleneck", kernel_size=3, in_length=2, out_planes=1):
        _DecoderNetNd.__init__(self, order, channel, layers, out_size, block, kernel_size, in_length, out_planes)

    return per_dimension_class(_DecoderNetNd, f"DecoderNet{order}d", module=__name__,
                               doc=_DEC_DOC.format(order=order), __init__=__init__)


EncoderNet1d, EncoderNet2d, EncoderNet3d = (_encoder_class(n) for n in (1, 2, 3))
DecoderNet1d, DecoderNet2d, DecoderNet3d = (_decoder_class(n) for n in (1, 2, 3))
