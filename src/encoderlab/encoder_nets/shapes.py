"""Chapter 10, *The kernel rule* and the sizes along a network (*Stages*, *The network*): which axes a block
resamples, the padding that keeps a stride-1 map, the ceil pyramid of the decoder, and the check that no
stage reaches a single-element map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._validation import check_int, check_int_sequence, check_int_tuple, check_one_of

__all__ = ["kernel_rule", "scaled_shapes"]


def _check_order(order) -> int:
    check_int("order", order)
    return check_one_of("order", order, (1, 2, 3))


def _check_odd_kernel(kernel_size, order: int) -> tuple[int, ...]:
    kernel = check_int_tuple("kernel_size", kernel_size, order, min_value=1)
    if any(k % 2 == 0 for k in kernel):
        raise ValueError(
            f"kernel_size must be odd on every axis, got {kernel_size!r}: an even kernel with padding k // 2 "
            "grows every stride-1 map by one, so the residual add cannot match the shortcut"
        )
    return kernel


def kernel_rule(kernel_size, order: int, *, plus: int = 0) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """The per-axis kernel / padding / stride rule of the family (Chapter 10, *The kernel rule*):
    ``(kernel, padding, stride)`` tuples.

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
    """The decoder's ceil pyramid (Chapter 10, *The network*): ``shapes[0] = size``,
    ``shapes[j+1] = ceil(shapes[j] / stride)``, ``levels + 1`` entries.

    Raises ``ValueError`` when some level would need ``size // stride == 0`` (the size is too small for that
    many levels).
    """
    size = check_int_sequence("size", size, min_value=1, min_len=1, example="(64, 64)")
    stride = check_int_sequence("stride", stride, min_value=1, min_len=len(size), max_len=len(size),
                                example=f"one stride per axis of size {size}")
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


def _check_spatial(name: str, sizes: Sequence[tuple[int, ...]], where: Sequence[str], shape) -> None:
    """InstanceNorm (PyTorch >= 2) refuses maps with a single element: say so before running anything.

    Not ``check_spatial_multiple``: the rule here is "more than one element", at every stage."""
    for size, label in zip(sizes, where, strict=True):
        if math.prod(size) <= 1:
            raise ValueError(
                f"{name} of shape {tuple(shape)} reaches a single-element map {size} {label}; InstanceNorm needs "
                "more than one spatial element per channel. Use a larger input or fewer stages."
            )


def _center_crop(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Crop the trailing axes of ``x`` to ``min(current, size)``, centred (offset ``(cur - ref) // 2``)."""
    index = [Ellipsis]
    for cur, ref in zip(x.shape[2:], size, strict=True):
        keep = min(cur, ref)
        start = (cur - keep) // 2
        index.append(slice(start, start + keep))
    return x[tuple(index)]
