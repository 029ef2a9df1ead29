"""Measuring what a call costs: multiply-adds, wall-clock time and peak memory (Chapter 4, *What attention
costs*; the memory probe also serves Chapter 9, *Memory: flat in the length of the clip*, and the benchmarks).

- :func:`count_macs` (any call) and :func:`count_multiply_adds` (a model's forward, optionally per submodule)
  count multiply-accumulates with ``torch.utils.flop_counter`` (deterministic; works on ``meta`` tensors).
- :func:`time_call` is the wall-clock time of the fastest of several calls (synchronising CUDA).
- :func:`peak_memory` is the one peak-memory probe, with two methods: ``"tensors"`` follows the tensors the
  operators return (what the computation must store, the same on every machine), ``"allocator"`` reads what
  PyTorch's allocator hands out (scratch buffers included: what a process really needs).
- :func:`one_conv_algorithm` pins the CPU convolution algorithm, so that allocator peaks of small and large
  inputs can be compared.
"""

from __future__ import annotations

import contextlib
import gc
import time
import warnings
import weakref
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from ._validation import (
    check_bool,
    check_device,
    check_dtype_matches,
    check_int,
    check_one_of,
    check_tensor,
)
from .utils import _available_device

__all__ = ["PEAK_MEMORY_METHODS", "count_macs", "count_multiply_adds", "one_conv_algorithm", "peak_memory",
           "time_call"]

PEAK_MEMORY_METHODS = ("tensors", "allocator")


def _check_call(fn, args: tuple) -> None:
    """``fn`` must be callable; when it is a module, its tensor arguments follow the one dtype rule."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if isinstance(fn, nn.Module):
        for i, arg in enumerate(args):
            if isinstance(arg, torch.Tensor) and arg.is_floating_point():
                check_dtype_matches(f"args[{i}]", arg, fn)


def count_macs(fn: Callable, *args, **kwargs) -> int:
    """Multiply-accumulates of ``fn(*args, **kwargs)`` (half the FLOPs ``torch.utils.flop_counter`` reports).

    Chapter 4, *What attention costs*. Counts matrix products and convolutions. PyTorch's fused CPU attention
    kernel is not counted by the flop counter: count attention with ``backend="explicit"`` (the arithmetic is
    the same).
    """
    _check_call(fn, args)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return counter.get_total_flops() // 2


def count_multiply_adds(model: nn.Module, *inputs: torch.Tensor, by_module: bool = False) -> int | dict[str, int]:
    """Multiply-adds of one forward pass ``model(*inputs)``, measured with ``torch.utils.flop_counter``.

    Chapter 6 (the ConvNeXt roadmap's GFLOPs) and Chapter 4, *What attention costs*.

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
        check_dtype_matches(f"inputs[{i}]", x, model)
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
    under ``torch.no_grad()``; CUDA work is synchronised before each clock reading (Chapter 4, *Explicit
    softmax or fused kernel?* and *What attention costs*).

    The minimum, as ``timeit`` recommends: other processes can only make a run slower, never faster, so the
    fastest run is the least disturbed estimate of what the code itself costs. ``num_threads`` runs the CPU
    work with that many threads (restored afterwards); one thread gives steady timings on a busy machine, where
    waiting for a second thread can cost more than the work itself.
    """
    _check_call(fn, args)
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
    """Follows every tensor an operator returns on ``device_type``; ``peak`` is the most bytes alive at once."""

    def __init__(self, device_type: str) -> None:
        super().__init__()
        self.device_type = device_type
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
            if isinstance(t, torch.Tensor) and t.device.type == self.device_type:
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


def _cpu_allocator_peak(run: Callable[[], None]) -> int:
    """Peak of the running total of the CPU allocator's allocations and frees during ``run()``, from the
    memory events of ``torch.profiler`` (``profile_memory=True``), above the level before it."""
    import os

    from torch.profiler import ProfilerActivity, profile

    os.environ.setdefault("KINETO_LOG_LEVEL", "6")  # keep the profiler's start/stop lines off stderr
    gc.collect()  # garbage of earlier work must not be freed (and subtracted) during the measurement
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type().name == "CPU"]
    total = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        total += event.nbytes()  # > 0 for an allocation, < 0 for a free
        peak = max(peak, total)
    return peak


def peak_memory(fn: Callable, *args, device: torch.device | str | None = None, method: str = "tensors",
                **kwargs) -> int:
    """Peak bytes allocated on ``device`` while running ``fn(*args, **kwargs)`` once under ``no_grad``, above
    what was allocated before the call (inputs and parameters made before it are not counted).

    ``method`` chooses what is counted (two different quantities, both used by the book):

    * ``"tensors"`` (Chapter 4, *Explicit softmax or fused kernel?* and *What attention costs*): the largest
      total size of the tensors that the call's operators return and that are alive at the same time,
      followed by a dispatch mode. It is what the computation has to store, whatever kernels PyTorch picks,
      however many threads run and on any machine; a kernel's private scratch space (the im2col buffer of a
      CPU convolution, the per-thread blocks of fused attention) is not seen.
    * ``"allocator"`` (Chapter 9, *Memory: flat in the length of the clip*; ``benchmarks/``, which compare
      encoderlab with diffusers): every byte PyTorch's allocator hands out, scratch buffers and in-place caches
      included: on CUDA the allocator's own counter (``torch.cuda.max_memory_allocated`` after a reset), on
      the CPU the running total of the allocation and free events that ``torch.profiler`` records with
      ``profile_memory=True``. (``tracemalloc`` sees none of it: tensors are not Python objects; memory that
      oneDNN allocates outside PyTorch's allocator is not counted.) It depends on the kernels PyTorch picks:
      see :func:`one_conv_algorithm`.

    ``device``: CPU or CUDA; by default the device of the first tensor argument (CPU when there is none).
    ``fn``'s result is freed inside the measurement. Returns a number of bytes.
    """
    _check_call(fn, args)
    check_one_of("method", method, PEAK_MEMORY_METHODS)
    if device is None:
        tensors = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        device = tensors[0].device if tensors else torch.device("cpu")
    device = check_device("device", device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"peak_memory measures CPU or CUDA memory, got device {device}")
    _available_device("device", device)  # a CUDA device this machine has

    def run() -> None:
        with torch.no_grad():
            fn(*args, **kwargs)  # the result is dropped here, inside the measurement

    if method == "tensors":
        with _LiveTensors(device.type) as tracker:
            run()
        return tracker.peak
    if device.type == "cpu":
        return _cpu_allocator_peak(run)
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    run()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device) - before)


@contextlib.contextmanager
def one_conv_algorithm() -> Iterator[None]:
    """Pin PyTorch's CPU convolutions to one algorithm (im2col + matrix multiply) while the block runs.

    Chapter 9, *Memory: flat in the length of the clip*. PyTorch picks a CPU convolution algorithm by input
    size: small inputs go to im2col, whose scratch buffer grows with the input, large ones to oneDNN, which
    needs far less scratch. Comparing the allocator peaks (:func:`peak_memory` with ``method="allocator"``) of
    small chunks with those of whole clips is only fair when both use the same algorithm. (No effect on CUDA.)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about Intel-GPU TF32 when the oneDNN flags are set
        with torch.backends.mkldnn.flags(enabled=False):
            yield
