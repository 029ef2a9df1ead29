"""A small hook-based layer summary that prints tables in the format of the seed documents (Chapter 10, *The
seed tables, row for row*).

The seeds' tables come from MDNC's ``contribs.torchsummary``, a revision of the classic Keras-style
``torchsummary``. Its conventions, all reproduced here:

- a forward hook on every module **except** ``nn.Sequential`` and ``nn.ModuleList`` containers, the root model
  included (its row comes last, with 0 parameters);
- one row per hook call, in the order the calls *complete*, labelled ``ClassName-idx`` (idx from 1); a label
  longer than 20 characters prints as its first 8 characters, ``...`` and its last 9;
- the parameters of a row are the module's own (``parameters(recurse=False)``);
- the batch axis prints as ``-1``; a tuple output prints one shape per line;
- the size lines assume 4 bytes per number and keep the ``-1`` batch in the products (``abs`` at the end).

:func:`layer_summary` runs one forward pass on ``torch.rand(2, *input_size)`` and returns a
:class:`LayerSummary`; ``str()`` of it is the table. :func:`parse_summary` reads such a table back, so a
published table can be compared row by row with a model's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ._validation import check_device, check_dtype_matches, check_int, check_int_sequence

__all__ = ["LayerSummary", "ParsedTable", "SummaryRow", "layer_summary", "parse_summary", "short_label"]

RULE = "-" * 64
DOUBLE_RULE = "=" * 64
_LINE = "{:>20}  {:>25} {:>15}"


def short_label(label: str, width: int = 20) -> str:
    """The label as the table prints it (Chapter 10, *The seed tables, row for row*): unchanged up to ``width``
    characters, otherwise the first 8 characters, ``...`` and the last 9 (``_BlockBottleneckNd-11`` ->
    ``_BlockBo...neckNd-11``)."""
    if not isinstance(label, str):
        raise TypeError(f"label must be a str, got {type(label).__name__}")
    check_int("width", width, min_value=1)
    return label if len(label) <= width else f"{label[:8]}...{label[-9:]}"


@dataclass(frozen=True)
class SummaryRow:
    """One row of a summary table (Chapter 10, *The seed tables, row for row*): one hook call -- the module's
    class name, its 1-based call index, its output shape(s) with the batch axis as ``-1`` (one tuple per output
    tensor), and its own parameter counts."""

    name: str
    index: int
    output_shapes: tuple[tuple[int, ...], ...]
    params: int
    trainable: int = 0
    multi: bool = False  # the module returned a tuple / list / dict (each shape on its own line)

    @property
    def label(self) -> str:
        """``ClassName-idx``, untruncated."""
        return f"{self.name}-{self.index}"

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The first (usually the only) output shape."""
        return self.output_shapes[0]

    def lines(self) -> list[str]:
        """The row as printed (several lines for several outputs)."""
        first = _LINE.format(short_label(self.label), str(list(self.output_shapes[0])), f"{self.params:,}")
        rest = [_LINE.format("", str(list(shape)), "") for shape in self.output_shapes[1:]]
        return [first, *rest]


@dataclass
class LayerSummary:
    """The rows of a summary plus the numbers of its footer (Chapter 10, *The seed tables, row for row*).
    ``str(summary)`` is the printed table."""

    rows: list[SummaryRow]
    input_sizes: tuple[tuple[int, ...], ...]
    batch_size: int = -1
    extra: dict = field(default_factory=dict)

    @property
    def total_params(self) -> int:
        return sum(row.params for row in self.rows)

    @property
    def trainable_params(self) -> int:
        return sum(row.trainable for row in self.rows)

    @property
    def input_mb(self) -> float:
        numbers = sum(math.prod(size) for size in self.input_sizes) * self.batch_size
        return abs(numbers * 4.0 / 1024**2)

    @property
    def forward_backward_mb(self) -> float:
        """Twice (for the gradients) the size of every row's output, 4 bytes per number."""
        numbers = sum(math.prod(shape) for row in self.rows for shape in row.output_shapes)
        return abs(2.0 * numbers * 4.0 / 1024**2)

    @property
    def params_mb(self) -> float:
        return abs(self.total_params * 4.0 / 1024**2)

    @property
    def total_mb(self) -> float:
        return self.params_mb + self.forward_backward_mb + self.input_mb

    def lines(self) -> list[str]:
        out = [RULE, _LINE.format("Layer (type)", "Output Shape", "Param #"), DOUBLE_RULE]
        for row in self.rows:
            out += row.lines()
        out += [
            DOUBLE_RULE,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            RULE,
            f"Input size (MB): {self.input_mb:0.2f}",
            f"Forward/backward pass size (MB): {self.forward_backward_mb:0.2f}",
            f"Params size (MB): {self.params_mb:0.2f}",
            f"Estimated Total Size (MB): {self.total_mb:0.2f}",
            RULE,
        ]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _shapes_of(output, batch_size: int) -> tuple[tuple[tuple[int, ...], ...], bool]:
    if isinstance(output, torch.Tensor):
        return ((batch_size, *output.shape[1:]),), False
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)) and all(isinstance(o, torch.Tensor) for o in output) and output:
        return tuple((-1, *o.shape[1:]) for o in output), True
    raise TypeError(f"a module returned {type(output).__name__}; the summary handles tensors and "
                    "tuples / lists / dicts of tensors")


def _normalise_input_sizes(input_size) -> tuple[tuple[int, ...], ...]:
    if not isinstance(input_size, Sequence) or isinstance(input_size, str) or len(input_size) == 0:
        raise TypeError(f"input_size must be a tuple such as (3, 64, 64) or a sequence of such tuples, "
                        f"got {input_size!r}")
    sizes = (input_size,) if not isinstance(input_size[0], Sequence) else tuple(input_size)
    for i, size in enumerate(sizes):
        name = "input_size" if len(sizes) == 1 and sizes[0] is input_size else f"input_size[{i}]"
        check_int_sequence(name, size, min_len=1, example="(3, 64, 64)")
        for item in size:
            check_int("every entry of input_size", item, min_value=1)
    return tuple(tuple(size) for size in sizes)


def _check_dtypes(dtypes, count: int) -> list[torch.dtype]:
    if dtypes is None:
        return [torch.float32] * count
    if isinstance(dtypes, (str, bytes, torch.dtype)) or not isinstance(dtypes, Sequence):
        raise TypeError(f"dtypes must be a sequence of torch.dtype (one per input) such as [torch.float32], "
                        f"got {type(dtypes).__name__} {dtypes!r}")
    for dtype in dtypes:
        if not isinstance(dtype, torch.dtype):
            raise TypeError(f"dtypes must contain torch.dtype values such as torch.float32, got "
                            f"{type(dtype).__name__} {dtype!r}")
    if len(dtypes) != count:
        raise ValueError(f"dtypes has {len(dtypes)} entries for {count} inputs")
    return list(dtypes)


def layer_summary(model: nn.Module, input_size, *, batch_size: int = -1, device=None,
                  dtypes: Sequence[torch.dtype] | None = None) -> LayerSummary:
    """Run ``model`` once on random inputs and record one :class:`SummaryRow` per module call (Chapter 10,
    *The seed tables, row for row*).

    Args:
        model: the network.
        input_size: the shape of one sample without the batch axis, e.g. ``(3, 64, 63)``, or a sequence of
            such shapes for a model with several inputs.
        batch_size: printed batch size; ``-1`` (the default) prints ``-1`` and runs a batch of 2.
        device: where the random inputs go (default: the device of the model's first parameter, else CPU).
            ``torch.device("meta")`` gives shapes and counts without computing anything.
        dtypes: the dtype of every input (default float32).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    sizes = _normalise_input_sizes(input_size)
    check_int("batch_size", batch_size)
    if batch_size == 0 or batch_size < -1:
        raise ValueError(f"batch_size must be -1 or >= 1, got {batch_size}")
    dtypes = _check_dtypes(dtypes, len(sizes))
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    device = check_device("device", device)
    run_batch = 2 if batch_size == -1 else batch_size
    inputs = [torch.rand(run_batch, *size, device=device).to(dtype) for size, dtype in zip(sizes, dtypes, strict=True)]
    for i, x in enumerate(inputs):
        if x.is_floating_point():  # an integer input (token ids, ...) is the model's own business
            check_dtype_matches(f"dtypes[{i}]", x, model)

    rows: list[SummaryRow] = []

    def hook(module: nn.Module, _inputs, output) -> None:
        shapes, multi = _shapes_of(output, batch_size)
        params = list(module.parameters(recurse=False))
        rows.append(SummaryRow(
            name=type(module).__name__,
            index=len(rows) + 1,
            output_shapes=shapes,
            params=sum(p.numel() for p in params),
            trainable=sum(p.numel() for p in params if p.requires_grad),
            multi=multi,
        ))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if not isinstance(m, (nn.Sequential, nn.ModuleList))]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return LayerSummary(rows=rows, input_sizes=sizes, batch_size=batch_size)


_ROW = re.compile(r"^\s*(?P<label>\S+)\s+(?P<shape>\[[-\d, ]*\])\s+(?P<params>[\d,]+)\s*$")
_MORE = re.compile(r"^\s*(?P<shape>\[[-\d, ]*\])\s*$")
_FOOT = re.compile(r"^\s*(?P<key>Total params|Trainable params|Non-trainable params|Input size \(MB\)|"
                   r"Forward/backward pass size \(MB\)|Params size \(MB\)|Estimated Total Size \(MB\)):\s*"
                   r"(?P<value>[\d,.]+)\s*$")


@dataclass(frozen=True)
class ParsedTable:
    """A table read back by :func:`parse_summary` (Chapter 10, *The seed tables, row for row*): rows of
    ``(printed label, shapes, params)`` and the footer."""

    rows: list[tuple[str, tuple[tuple[int, ...], ...], int]]
    footer: dict[str, str]


def parse_summary(text: str) -> ParsedTable:
    """Read the first summary table in ``text`` (indentation is ignored); Chapter 10, *The seed tables, row for
    row*, compares a published table with ours this way.

    Returns the rows as ``(printed label, output shapes, params)`` in order (labels as printed, i.e. possibly
    truncated) and the footer lines as a dict of strings (``{"Total params": "14,401,568", ...}``).
    Raises ``ValueError`` when no table is found.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    lines = [line.strip() for line in text.splitlines()]
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("Layer (type)"))
    except StopIteration:
        raise ValueError("no summary table found (no 'Layer (type)' header line)") from None
    rows: list[tuple[str, tuple[tuple[int, ...], ...], int]] = []
    footer: dict[str, str] = {}
    i = start + 2  # skip the header and the '=' rule
    while i < len(lines) and not lines[i].startswith("="):
        row, more = _ROW.match(lines[i]), _MORE.match(lines[i])
        if row:
            shape = tuple(int(v) for v in row["shape"].strip("[]").split(","))
            rows.append((row["label"], (shape,), int(row["params"].replace(",", ""))))
        elif more and rows:
            label, shapes, params = rows[-1]
            rows[-1] = (label, (*shapes, tuple(int(v) for v in more["shape"].strip("[]").split(","))), params)
        else:
            raise ValueError(f"cannot read summary line {lines[i]!r}")
        i += 1
    for line in lines[i:]:
        foot = _FOOT.match(line)
        if foot:
            footer[foot["key"]] = foot["value"]
        if line.startswith("Estimated Total Size"):
            break
    return ParsedTable(rows=rows, footer=footer)
