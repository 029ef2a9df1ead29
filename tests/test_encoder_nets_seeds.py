"""Chapter 10 against its ground truth: the summary tables printed in seeds 002 and 004.

The tests read the seed files (never copied into the repository), find every example (its code and its
printed output), rebuild the network the example's code builds, and compare our summary with the printed
table: the ``nlayers`` line, every row (label, output shape, parameter count) in order, the totals, the MB
lines, and finally the whole text line by line.

Where the seeds are: ``$ENCODERLAB_SEEDS_DIR`` if set, else ``<repo root>/../shared/seeds`` (CI checks out
``shared/`` beside the clone), else ``<repo root>/../../shared/seeds`` (a worktree one folder deeper).
"""

from __future__ import annotations

import ast
import os
import re
import textwrap
from pathlib import Path

import pytest
import torch

import encoderlab
from encoderlab.summary import layer_summary, parse_summary

REPO = Path(__file__).resolve().parents[1]
SEEDS = {"002": "EncoderNet1d", "004": "EncoderNet2d"}
# The totals the issue quotes, in the order the examples appear: (out_length=32, out_length=None).
TOTALS = {"002": ("14,401,568", "14,368,768"), "004": ("31,190,816", "31,158,016")}


def seed_candidates() -> list[Path]:
    env = os.environ.get("ENCODERLAB_SEEDS_DIR")
    return [Path(env)] if env else [REPO.parent / "shared" / "seeds", REPO.parent.parent / "shared" / "seeds"]


def seed_file(number: str) -> Path:
    folder = next((path for path in seed_candidates() if path.is_dir()), None)
    if folder is None:
        looked = ", ".join(str(path) for path in seed_candidates())
        pytest.skip("seed files not found: set ENCODERLAB_SEEDS_DIR or put shared/seeds beside the repository "
                    f"(looked in {looked})")
    matches = sorted(folder.glob(f"{number}_*.txt"))
    assert len(matches) == 1, f"expected exactly one seed {number}_*.txt in {folder}, found {matches}"
    return matches[0]


def examples(number: str) -> list[dict]:
    """Every example of a seed: the constructor call, the summary call and the printed output."""
    text = seed_file(number).read_text()
    found = []
    pattern = r'=== "Codes"\s*```python[^\n]*\n(?P<code>.*?)```\s*=== "Output"\s*```\n(?P<out>.*?)\n\s*```'
    for match in re.finditer(pattern, text, re.S):
        code = textwrap.dedent(match["code"])
        calls = [node for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Call)]
        ctor = next(c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr.startswith("EncoderNet"))
        summ = next(c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "summary")
        found.append({
            "cls": ctor.func.attr,
            "args": [ast.literal_eval(a) for a in ctor.args],
            "kwargs": {k.arg: ast.literal_eval(k.value) for k in ctor.keywords},
            "input_size": ast.literal_eval(summ.args[1]),
            "output": textwrap.dedent(match["out"]),
        })
    return found


CASES = [(number, i) for number in SEEDS for i in range(2)]


def build(example: dict, device: str = "meta") -> torch.nn.Module:
    cls = getattr(encoderlab, example["cls"])
    with torch.device(device):
        return cls(*example["args"], **example["kwargs"])


@pytest.mark.parametrize("number", list(SEEDS))
def test_the_seed_files_hold_the_examples_the_issue_names(number):
    found = examples(number)
    assert [e["cls"] for e in found] == [SEEDS[number]] * 2
    assert [e["args"] for e in found] == [[64, [2, 2, 2, 2, 2]]] * 2
    assert [e["kwargs"] for e in found] == [{"in_planes": 3, "out_length": 32}, {"in_planes": 3, "out_length": None}]
    assert [e["input_size"] for e in found] == [(3, 128)] * 2 if number == "002" else [(3, 64, 63)] * 2
    totals = [parse_summary(e["output"]).footer["Total params"] for e in found]
    assert tuple(totals) == TOTALS[number]


@pytest.mark.parametrize("number,i", CASES)
def test_every_row_of_the_seed_table(number, i):
    example = examples(number)[i]
    net = build(example)
    printed = parse_summary(example["output"])
    assert len(printed.rows) == (128 if example["kwargs"]["out_length"] else 126)  # the parser read them all

    ours = layer_summary(net, example["input_size"], device="meta")
    assert len(ours.rows) == len(printed.rows)
    for row, (label, shapes, params) in zip(ours.rows, printed.rows, strict=True):
        assert row.lines()[0].split()[0] == label, f"row {row.index}: label {row.label!r} prints differently"
        assert row.output_shapes == shapes, f"row {label}: shape {row.output_shapes} != seed {shapes}"
        assert row.params == params, f"row {label}: {row.params:,} parameters, the seed says {params:,}"
    assert f"{ours.total_params:,}" == printed.footer["Total params"]
    assert f"{ours.trainable_params:,}" == printed.footer["Trainable params"]
    assert f"{ours.forward_backward_mb:0.2f}" == printed.footer["Forward/backward pass size (MB)"]
    assert f"{ours.params_mb:0.2f}" == printed.footer["Params size (MB)"]
    assert f"{ours.total_mb:0.2f}" == printed.footer["Estimated Total Size (MB)"]


@pytest.mark.parametrize("number,i", CASES)
def test_the_whole_printed_output_line_by_line(number, i):
    example = examples(number)[i]
    net = build(example)
    ours = f"The number of convolutional layers along the depth is {net.nlayers}.\n"
    ours += str(layer_summary(net, example["input_size"], device="meta"))
    want = [line.rstrip() for line in example["output"].splitlines()]
    got = [line.rstrip() for line in ours.splitlines()]
    assert net.nlayers == 32
    assert got == want


@pytest.mark.parametrize("number", list(SEEDS))
def test_a_real_forward_pass_on_cpu_gives_the_seed_output_shapes(number):
    """The meta device only propagates shapes; one real forward on the CPU must agree with the seed."""
    example = examples(number)[0]
    torch.manual_seed(0)
    net = build(example, device="cpu")
    x = torch.rand(2, *example["input_size"])
    last = parse_summary(example["output"]).rows[-1]
    stage_out = parse_summary(example["output"]).rows[-4]  # the final conv's row (before pool and fc)
    with torch.no_grad():
        y = net(x)
        body = x
        for layer in net.netbody[:-1]:
            body = layer(body)
    assert (-1, *y.shape[1:]) == last[1][0]
    assert (-1, *body.shape[1:]) == stage_out[1][0]
    assert torch.isfinite(y).all()


def test_torchinfo_agrees_layer_by_layer():
    """An independent summary tool: the same multiset of (class, output shape, own parameters)."""
    torchinfo = pytest.importorskip("torchinfo")
    example = examples("002")[0]
    net = build(example)
    info = torchinfo.summary(net, input_size=(2, *example["input_size"]), depth=20, device="meta", verbose=0)
    theirs = sorted((layer.class_name, tuple(layer.output_size[1:]), layer.leftover_params())
                    for layer in info.summary_list if layer.class_name not in ("Sequential", "ModuleList"))
    ours = sorted((row.name, row.output_shape[1:], row.params)
                  for row in layer_summary(net, example["input_size"], device="meta").rows)
    assert ours == theirs
    assert info.total_params == 14_401_568
