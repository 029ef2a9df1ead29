"""Helpers the assignment tests call: is an answer the student's own work, and is it right?

Not a chapter of the book: the graders of ``assignments/`` (see ``book/teaching.md``, *Graders that test the
student's own work*) import this module. An answer that **is**, subclasses, wraps or calls ``encoderlab``'s
implementation (or a ``torch`` function the question forbids) fails every test of its question with a
:class:`NotOwnWork` message that says why; the values are compared with ``torch`` oracles or frozen numbers.

    with own_work(my_group_norm, forbid=[F.group_norm]):   # static checks now, call tracing inside
        close(my_group_norm(x, 4), want, "my_group_norm(x, 4)")
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch

PACKAGE = "encoderlab"
_PACKAGE_DIR = str(Path(__file__).resolve().parent)
_THIS_FILE = str(Path(__file__).resolve())

__all__ = ["NotOwnWork", "close", "fingerprint", "matches_fingerprint", "own_work", "raises"]


class NotOwnWork(AssertionError):
    """The answer is, or uses, the implementation the question asks the student to write."""


def _refuse(name: str, why: str) -> NotOwnWork:
    return NotOwnWork(f"`{name}` {why}: this question grades your own code, so it scores 0 until you write it "
                      f"yourself (the book's package `{PACKAGE}` and the functions the question names are off limits)")


def _origin(obj) -> str | None:
    """``module.qualname`` when ``obj`` (a function, class or module) comes from the package, else None."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__ if obj.__name__.split(".")[0] == PACKAGE else None
    module = getattr(obj, "__module__", None)
    if isinstance(module, str) and module.split(".")[0] == PACKAGE:
        return f"{module}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"
    return None


def _unwrap(obj):
    """The functions behind partials, bound methods and ``functools.wraps`` decorators."""
    seen = []
    while obj is not None and len(seen) < 20:
        seen.append(obj)
        if isinstance(obj, functools.partial):
            obj = obj.func
        elif inspect.ismethod(obj):
            obj = obj.__func__
        elif hasattr(obj, "__wrapped__"):
            obj = obj.__wrapped__
        else:
            break
    return seen


def _codes(fn) -> Iterator[types.CodeType]:
    stack = [fn.__code__]
    while stack:
        code = stack.pop()
        yield code
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))


def _forbidden_codes(forbid: Iterable) -> dict[types.CodeType, str]:
    codes = {}
    for item in forbid:
        target = item.forward if isinstance(item, type) else item
        target = inspect.unwrap(target)
        if hasattr(target, "__code__"):
            codes[target.__code__] = getattr(item, "__qualname__", repr(item))
    return codes


def _functions_of(answer) -> list[Callable]:
    """The Python functions written for an answer: the function itself, or a class's (and instance's) methods."""
    cls = answer if isinstance(answer, type) else None
    if cls is None and isinstance(answer, torch.nn.Module):
        cls = type(answer)
    if cls is not None:
        return [f for klass in cls.__mro__ if klass.__module__ not in ("builtins",) and not
                klass.__module__.startswith("torch") for f in vars(klass).values() if inspect.isfunction(f)]
    return [f for f in _unwrap(answer) if inspect.isfunction(f)]


def _static_check(answer, name: str, forbid: Iterable) -> None:
    forbidden = {id(f): getattr(f, "__qualname__", repr(f)) for f in forbid}
    for obj in _unwrap(answer):
        if (origin := _origin(obj)) is not None:
            raise _refuse(name, f"is {origin}, the book's implementation")
        if id(obj) in forbidden:
            raise _refuse(name, f"is {forbidden[id(obj)]}, which the question asks you to write yourself")
    classes = [answer] if isinstance(answer, type) else []
    if isinstance(answer, torch.nn.Module):
        classes = [type(m) for m in answer.modules()]
    for cls in classes:
        for base in cls.__mro__:
            if (origin := _origin(base)) is not None:
                raise _refuse(name, f"builds on {origin}, the book's implementation")
            if id(base) in forbidden:
                raise _refuse(name, f"builds on {forbidden[id(base)]}, which the question asks you to write yourself")
    for fn in _functions_of(answer):
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            source = ""
        if PACKAGE in source:
            raise _refuse(name, f"mentions `{PACKAGE}` in its code ({fn.__qualname__})")
        cells = [c.cell_contents for c in (fn.__closure__ or ()) if c.cell_contents is not None]
        cells += list(fn.__defaults__ or ()) + list((fn.__kwdefaults__ or {}).values())
        names = {n for code in _codes(fn) for n in code.co_names}
        used = [fn.__globals__[n] for n in names if n in fn.__globals__] + cells
        for value in used:
            if (origin := _origin(value)) is not None:
                raise _refuse(name, f"uses {origin} ({fn.__qualname__})")
            if isinstance(value, types.ModuleType):
                hits = [f"{value.__name__}.{n}" for n in names if id(getattr(value, n, None)) in forbidden]
                if hits:
                    raise _refuse(name, f"calls {hits[0]}, which the question asks you to write yourself")
            elif id(value) in forbidden:
                raise _refuse(name, f"calls {forbidden[id(value)]}, which the question asks you to write yourself")


@contextlib.contextmanager
def own_work(*answers, forbid: Iterable = ()) -> Iterator[None]:
    """Fail unless every answer is the student's own code; trace the calls made inside the block.

    Checks now, for each answer (a function, class or module instance): that it is not, does not subclass,
    and does not refer to anything from ``encoderlab`` or in ``forbid`` (identity, ``__module__``, its source
    and the globals, closures and defaults its code names). Inside the block, any Python call into the
    package's files, or into a function (a module class's ``forward``, a C function) in ``forbid``, fails the
    test when the block ends.
    """
    forbid = list(forbid)
    for answer in answers:
        _static_check(answer, getattr(answer, "__name__", type(answer).__name__), forbid)
    codes = _forbidden_codes(forbid)
    builtins = {id(f): getattr(f, "__qualname__", repr(f)) for f in forbid if not hasattr(f, "__code__")}
    hits: list[str] = []

    def profile(frame, event, arg):
        if hits or event not in ("call", "c_call"):
            return
        if event == "c_call":  # a C function such as F.scaled_dot_product_attention
            if id(arg) in builtins:
                hits.append(f"calls {builtins[id(arg)]}, which the question asks you to write yourself")
            return
        code = frame.f_code
        if code in codes:
            hits.append(f"calls {codes[code]}, which the question asks you to write yourself")
        elif code.co_filename.startswith(_PACKAGE_DIR) and code.co_filename != _THIS_FILE:
            module = frame.f_globals.get("__name__", PACKAGE)
            hits.append(f"calls {module}.{code.co_qualname}, the book's implementation")

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)
        if hits:
            names = ", ".join(getattr(a, "__name__", type(a).__name__) for a in answers)
            raise _refuse(names, hits[0])


def close(got, want: torch.Tensor, what: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Assert that tensor ``got`` has ``want``'s shape and values, with a message naming ``what``."""
    assert isinstance(got, torch.Tensor), f"{what} should return a tensor, got {type(got).__name__}"
    assert tuple(got.shape) == tuple(want.shape), f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    err = (got.detach().double() - want.detach().double()).abs().max().item() if want.numel() else 0.0
    assert torch.allclose(got.detach().double(), want.detach().double(), atol=atol, rtol=rtol), \
        f"{what} is wrong: largest difference {err:.3g} (tolerance {atol:g})"


def raises(error: type[Exception], words: Iterable[str], fn: Callable, *args, what: str = "") -> None:
    """Assert that ``fn(*args)`` raises ``error`` with a message containing every one of ``words``."""
    words = list(words)
    try:
        fn(*args)
    except error as err:
        missing = [w for w in words if w not in str(err)]
        assert not missing, f"the {error.__name__} for {what} should mention {missing}; it says {str(err)!r}"
    else:
        raise AssertionError(f"{what} must raise {error.__name__}")


def fingerprint(t: torch.Tensor, points: int = 6) -> list[float]:
    """A frozen summary of a tensor for hidden tests: its sum, its sum of squares, and ``points`` values."""
    flat = t.detach().double().flatten()
    idx = torch.linspace(0, flat.numel() - 1, points).round().long()
    return [round(flat.sum().item(), 6), round(flat.square().sum().item(), 6)] + \
        [round(v, 6) for v in flat[idx].tolist()]


def matches_fingerprint(got: torch.Tensor, want: list[float], shape: tuple[int, ...], what: str,
                        atol: float = 1e-4) -> None:
    """Assert that ``got`` has ``shape`` and the frozen :func:`fingerprint` ``want`` (relative tolerance on sums)."""
    assert isinstance(got, torch.Tensor), f"{what} should return a tensor, got {type(got).__name__}"
    assert tuple(got.shape) == tuple(shape), f"{what} has shape {tuple(got.shape)}, expected {tuple(shape)}"
    have = fingerprint(got, len(want) - 2)
    for h, w, label in zip(have, want, ["sum", "sum of squares"] + ["a value"] * (len(want) - 2), strict=True):
        assert abs(h - w) <= atol * max(1.0, abs(w)), f"{what} is wrong: {label} is {h:.6g}, expected {w:.6g}"
