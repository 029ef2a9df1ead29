"""The 1-D, 2-D and 3-D classes of Chapter 10 (``BlockPlain2d``, ``EncoderNet3d``, ...), made from one
N-D class each instead of twelve hand-written one-line subclasses.

A generated class is an ordinary class: its ``__name__`` / ``__qualname__`` / ``__module__`` are those of a
class written in its module (so ``repr()``, the summary tables of *The seed tables, row for row*, pickling and
``isinstance`` behave as before), and its ``__init__`` is a real function with the per-dimension signature
(``inspect.signature(EncoderNet1d)`` prints ``(channel, layers, ...)``).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["per_dimension_class"]


def per_dimension_class(base: type, name: str, *, module: str, doc: str, **methods: Callable) -> type:
    """The subclass ``name`` of ``base`` with the docstring ``doc`` and the given ``methods``, defined as if
    written in ``module`` (assign it there to a global of the same name, so that pickle finds it).

    Makes the per-dimension classes of Chapter 10, *Two residual blocks* and *The network*."""
    for method_name, method in methods.items():
        method.__module__ = module
        method.__qualname__ = f"{name}.{method_name}"
    return type(name, (base,), {"__module__": module, "__qualname__": name, "__doc__": doc, **methods})
