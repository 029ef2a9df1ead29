"""encoderlab: the code of *Encoders from Scratch*.

Every chapter of the book builds one module of this package and proves that it computes what the
production implementation computes. The public API is re-exported here.
"""

from .norm import GroupNorm, PerFrameGroupNorm, group_norm, per_frame_group_norm
from .utils import count_parameters, get_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "GroupNorm",
    "PerFrameGroupNorm",
    "count_parameters",
    "get_device",
    "group_norm",
    "per_frame_group_norm",
    "seed_everything",
]
