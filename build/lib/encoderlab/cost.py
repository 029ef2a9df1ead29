"""Chapter 4: measuring what a layer costs -- multiply-adds, wall-clock time and peak activation memory.

Used to compare attention with convolution as the resolution grows, and the attention backends with each other.

- :func:`count_macs` (any call) and :func:`count_multiply_adds` (a model's forward, optionally per submodule)
  count multiply-accumulates with ``torch.utils.flop_counter`` (deterministic; works on ``meta`` tensors).
- :func:`time_call` is the wall-clock time of the fastest of several calls (synchronising CUDA).
- :func:`peak_memory` is the peak number of bytes held by the tensors a call creates: on CUDA from the
  allocator's statistics, on the CPU by a dispatch mode that follows every tensor the operators return.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from ._validation import check_bool, check_int, check_tensor

__all__ = ["count_macs", "count_multiply_adds", "peak_memory", "time_call"]


def _check_callable(fn) -> None:
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")


def count_macs(fn: Callable, *args, **kwargs) -> int:
    """Multiply-accumulates of ``fn(*args, **kwargs)`` (half the FLOPs ``torch.utils.flop_counter`` reports).

    Counts matrix products and convolutions. PyTorch's fused CPU attention kernel is not counted by the flop
    counter: count attention with ``backend="explicit"`` (the arithmetic is the same).
    """
    _check_callable(fn)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return counter.get_total_flops() // 2


def count_multiply_adds(model: nn.Module, *inputs: torch.Tensor, by_module: bool = False) -> int | dict[str, int]:
    """Multiply-adds of one forward pass ``model(*inputs)``, measured with ``torch.utils.flop_counter``.

    ``FlopCounterMode`` counts the matrix products and convolutions (2 FLOPs per multiply-add); we return half
    of its total, the convention of the ConvNeXt paper's "FLOPs" and torchvision's "GFLOPS". Norms,
    activations and additions are not counted. Runs on ``torch.device("meta")`` tensors, so a full-size model
    can be counted without computing anything.

    With ``by_module=True`` it returns ``{name: multiply-adds}`` for every submodule that was called, named
    as in ``model.named_modules()`` (``""`` is the whole model), instead of the total.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_bool("by_module", by_module)
    if not inputs:
        raise ValueError("give at least one input tensor, e.g. torch.empty(1, 3, 224, 224, device='meta')")
    for i, x in enumerate(inputs):
        check_tensor(f"inputs[{i}]", x)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*inputs)
    if not by_module:
        return counter.get_total_flops() // 2
    root = type(model).__name__
    out: dict[str, int] = {}
    for name, ops in counter.get_flop_counts().items():
        if name == "Global":
            continue
        key = "" if name == root else name.removeprefix(root + ".")
        out[key] = sum(ops.values()) // 2
    return out


def time_call(fn: Callable, *args, repeats: int = 5, warmup: int = 1, num_threads: int | None = None,
              **kwargs) -> float:
    """Wall-clock seconds of the fastest of ``repeats`` runs of ``fn(*args, **kwargs)`` after ``warmup`` runs,
    under ``torch.no_grad()``; CUDA work is synchronised before each clock reading.

    The minimum, as ``timeit`` recommends: other processes can only make a run slower, never faster, so the
    fastest run is the least disturbed estimate of what the code itself costs. ``num_threads`` runs the CPU
    work with that many threads (restored afterwards); one thread gives steady timings on a busy machine, where
    waiting for a second thread can cost more than the work itself.
    """
    _check_callable(fn)
    check_int("repeats", repeats, min_value=1)
    check_int("warmup", warmup, min_value=0)
    if num_threads is not None:
        check_int("num_threads", num_threads, min_value=1)
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    times = []
    previous_threads = torch.get_num_threads()
    try:
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        with torch.no_grad():
            for i in range(warmup + repeats):
                sync()
                start = time.perf_counter()
                fn(*args, **kwargs)
                sync()
                if i >= warmup:
                    times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous_threads)
    return min(times)


class _LiveTensors(TorchDispatchMode):
    """Follows every tensor an operator returns; ``peak`` is the most bytes alive at once."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, list[int]] = {}  # storage address -> [bytes, tensors alive that use it]
        self.current = 0
        self.peak = 0

    def _release(self, key: int) -> None:
        entry = self.live.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key in self.live:  # a view or an in-place result: no new memory
                    self.live[key][1] += 1
                else:
                    self.live[key] = [storage.nbytes(), 1]
                    self.current += storage.nbytes()
                    self.peak = max(self.peak, self.current)
                weakref.finalize(t, self._release, key)
        return out


def peak_memory(fn: Callable, *args, device: torch.device | str | None = None, **kwargs) -> int:
    """Peak bytes of activation memory allocated while running ``fn(*args, **kwargs)`` under ``no_grad``.

    On CUDA (``device``, or by default the device of the first tensor argument): ``torch.cuda.max_memory_allocated``
    above what was allocated before the call, which includes the kernels' workspaces. On the CPU: the largest
    total size of the tensors that the call's operators return and that are alive at the same time (inputs and
    parameters allocated before the call are not counted; a fused kernel's private scratch space is not seen).
    """
    _check_callable(fn)
    if device is None:
        tensors = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        device = tensors[0].device if tensors else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        with torch.no_grad():
            fn(*args, **kwargs)
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    if device.type != "cpu":
        raise ValueError(f"peak_memory measures CPU or CUDA memory, got device {device}")
    with torch.no_grad(), _LiveTensors() as tracker:
        fn(*args, **kwargs)
    return tracker.peak
