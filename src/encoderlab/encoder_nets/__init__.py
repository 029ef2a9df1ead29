"""Chapter 10: residual encoder (and decoder) networks in 1-D, 2-D and 3-D (seeds 002 and 004).

The family documented by MDNC's ``modules.resnet``: pre-activation residual blocks built from units
``InstanceNorm(affine) -> PReLU(per channel) -> Conv(bias=False)``, stacked into stages that change the width
in their FIRST block and resample in their LAST block, behind a first convolution of kernel ``k + 2`` and in
front of a final convolution and an optional vector head (global average pooling, flatten, ``nn.Linear``).
One module per section of the chapter:

- :mod:`.units` (*The unit: normalise, activate, convolve*): the layers of a block, per dimension.
- :mod:`.blocks` (*Two residual blocks*): ``_BlockPlainNd``, ``_BlockBottleneckNd`` and the public
  ``BlockPlain1d`` ... ``BlockBottleneck3d``.
- :mod:`.shapes` (*The kernel rule*): :func:`kernel_rule`, :func:`scaled_shapes` and the size checks.
- :mod:`.nets` (*Stages*, *The network*): the stage ``_BlockResStkNd``, ``EncoderNet1d/2d/3d`` and
  ``DecoderNet1d/2d/3d``.
- :mod:`.per_dimension`: makes the 1-D/2-D/3-D classes from the N-D ones.

Everything is written from the reference description so that the hook-based layer summary of
:mod:`encoderlab.summary` prints the seed tables row for row (*The seed tables, row for row*): the class names
(``_BlockBottleneckNd``, ``_BlockPlainNd``, ``_BlockResStkNd``, ``EncoderNet2d``, ...), the containers (every
unit is an ``nn.Sequential``, every list of layers an ``nn.ModuleList``), the module order and the parameter
counts.

Shapes: ``EncoderNetNd`` maps ``(B, in_planes, *L)`` to ``(B, out_length)`` with the vector head, or to
``(B, channel * 2**(n-1), *ceil(L / 2**n))`` without it (``n = len(layers)``; axes with kernel 1 keep their
size). ``DecoderNetNd`` maps ``(B, in_length)`` (or ``(B, C0, *shapes[-1])``) to ``(B, out_planes, *out_size)``.
"""

from .blocks import (
    BLOCKS,
    BlockBottleneck1d,
    BlockBottleneck2d,
    BlockBottleneck3d,
    BlockPlain1d,
    BlockPlain2d,
    BlockPlain3d,
    _BlockBottleneckNd,
    _BlockPlainNd,
    block_depth,
)
from .nets import (
    DecoderNet1d,
    DecoderNet2d,
    DecoderNet3d,
    EncoderNet1d,
    EncoderNet2d,
    EncoderNet3d,
    _BlockResStkNd,
)
from .shapes import kernel_rule, scaled_shapes
from .units import ACTIVATORS, LAYER_ORDERS, NORMALIZERS, SCALERS

__all__ = [
    # .units: the layer options
    "ACTIVATORS", "LAYER_ORDERS", "NORMALIZERS", "SCALERS",
    # .blocks
    "BLOCKS", "block_depth", "BlockPlain1d", "BlockPlain2d", "BlockPlain3d",
    "BlockBottleneck1d", "BlockBottleneck2d", "BlockBottleneck3d",
    # .shapes
    "kernel_rule", "scaled_shapes",
    # .nets
    "EncoderNet1d", "EncoderNet2d", "EncoderNet3d", "DecoderNet1d", "DecoderNet2d", "DecoderNet3d",
    # the N-D classes whose names the seed tables print; Chapter 10 and encoderlab.exercises build them
    "_BlockBottleneckNd", "_BlockPlainNd", "_BlockResStkNd",
]
