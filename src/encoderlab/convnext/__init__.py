"""Chapter 6: ConvNeXt ("A ConvNet for the 2020s", Liu et al., CVPR 2022, arXiv 2201.03545), and a
ConvNeXt-style block inside one of our encoders. One module per section of the chapter:

- :mod:`.roadmap` (*The roadmap, in numbers*): :data:`ROADMAP`, :class:`RoadmapBlock`, :class:`RoadmapNet`,
  :func:`roadmap_config`, :func:`roadmap_network` -- the paper's ResNet-50 -> ConvNeXt-T steps, measured.
- :mod:`.layer_norm` (*A LayerNorm over channels*): :func:`layer_norm_2d`, :class:`LayerNorm2d`.
- :mod:`.stochastic_depth` (*Layer scale and stochastic depth*): :func:`drop_path`, :class:`StochasticDepth`.
- :mod:`.networks` (*The block and the four networks*): :class:`ConvNeXtBlock`, :class:`ConvNeXt`,
  :func:`convnext` and :func:`convnext_tiny` ... :func:`convnext_large` (torchvision's parameter counts).
- :mod:`.bridge` (*A ConvNeXt block inside our encoder*): :class:`ConvNeXtResnetBlock`, :class:`SmallEncoder`,
  :class:`SmallDecoder`.

:func:`count_multiply_adds` (multiply-adds of one forward pass, also on ``torch.device("meta")``) lives in
:mod:`encoderlab.cost` and is re-exported here, where the chapter first uses it.
"""

from ..cost import count_multiply_adds
from .bridge import BLOCK_TYPES, ConvNeXtResnetBlock, SmallDecoder, SmallEncoder
from .layer_norm import LayerNorm2d, layer_norm_2d
from .networks import (
    CONVNEXT_CONFIGS,
    ConvNeXt,
    ConvNeXtBlock,
    convnext,
    convnext_base,
    convnext_large,
    convnext_small,
    convnext_tiny,
)
from .roadmap import ROADMAP, ROADMAP_CHANGES, RoadmapBlock, RoadmapNet, roadmap_config, roadmap_network
from .stochastic_depth import StochasticDepth, drop_path

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
