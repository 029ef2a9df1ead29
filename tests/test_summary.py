"""The seed-format layer summary: its conventions, checked on small models against torchinfo and by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from encoderlab.summary import layer_summary, parse_summary, short_label


class TwoHeads(nn.Module):
    """A module that returns a tuple, uses a container, and calls one layer twice."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.heads = nn.ModuleList([nn.Conv2d(4, 2, 1), nn.Conv2d(4, 5, 1, bias=False)])
        self.scale = nn.Parameter(torch.ones(1))  # the root's own parameter

    def forward(self, x):
        h = self.stem(x)
        h = self.stem[1](h)  # ReLU again: a second row for the same module
        return self.heads[0](h) * self.scale, self.heads[1](h)


class Wrapper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = TwoHeads()
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        a, b = self.inner(x)
        return self.pool(a).flatten(1)  # flatten is functional: no row


def test_rows_follow_the_conventions():
    s = layer_summary(Wrapper(), (3, 6, 5))
    labels = [row.label for row in s.rows]
    # completion order; containers (Sequential, ModuleList) have no row; the root comes last
    assert labels == ["Conv2d-1", "ReLU-2", "ReLU-3", "Conv2d-4", "Conv2d-5", "TwoHeads-6",
                      "AdaptiveAvgPool2d-7", "Wrapper-8"]
    rows = {row.label: row for row in s.rows}
    assert rows["Conv2d-1"].params == 3 * 4 * 9 + 4
    assert rows["Conv2d-5"].params == 4 * 5
    assert rows["TwoHeads-6"].params == 1  # only its own parameter (recurse=False)
    assert rows["TwoHeads-6"].output_shapes == ((-1, 2, 6, 5), (-1, 5, 6, 5))
    assert rows["Wrapper-8"].output_shapes == ((-1, 2),) and rows["Wrapper-8"].params == 0
    assert s.total_params == sum(p.numel() for p in Wrapper().parameters())


def test_tuple_outputs_print_one_shape_per_line_and_labels_are_shortened():
    text = str(layer_summary(Wrapper(), (3, 6, 5)))
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines) if "TwoHeads-6" in line)
    line = "{:>20}  {:>25} {:>15}"  # the format of the reference (section 8)
    assert lines[i] == line.format("TwoHeads-6", "[-1, 2, 6, 5]", "1")
    assert lines[i + 1] == line.format("", "[-1, 5, 6, 5]", "")
    assert " AdaptiveAvgPool2d-7 " in text  # 19 characters: printed whole
    assert lines[0] == "-" * 64 and lines[2] == "=" * 64
    assert lines[1] == "        Layer (type)               Output Shape         Param #"


def test_short_label():
    assert short_label("Conv2d-1") == "Conv2d-1"
    assert short_label("InstanceNorm1d-100") == "InstanceNorm1d-100"
    assert short_label("_BlockBottleneckNd-11") == "_BlockBo...neckNd-11"
    assert short_label("_BlockBottleneckNd-111") == "_BlockBo...eckNd-111"
    assert short_label("AdaptiveAvgPool1d-126") == "Adaptive...ool1d-126"
    assert len(short_label("x" * 40)) == 20


def test_footer_numbers_by_hand():
    model = nn.Sequential(nn.Linear(10, 20), nn.Linear(20, 5))  # the root is a Sequential: no row for it
    model[1].weight.requires_grad_(False)
    s = layer_summary(model, (10,))
    assert [row.label for row in s.rows] == ["Linear-1", "Linear-2"]
    assert s.total_params == 220 + 105 and s.trainable_params == 220 + 5
    assert s.input_mb == pytest.approx(10 * 4 / 1024**2)
    assert s.forward_backward_mb == pytest.approx(2 * (20 + 5) * 4 / 1024**2)
    text = str(s)
    assert "Non-trainable params: 100" in text and "Trainable params: 225" in text


def test_batch_size_is_printed_for_single_outputs():
    s = layer_summary(nn.Conv1d(2, 3, 3), (2, 9), batch_size=5)
    assert s.rows[0].output_shapes == ((5, 3, 7),)
    assert s.input_mb == pytest.approx(5 * 18 * 4 / 1024**2)


def test_parse_round_trip():
    s = layer_summary(Wrapper(), (3, 6, 5))
    parsed = parse_summary("prefix line\n" + str(s))
    assert [(label, shapes, params) for label, shapes, params in parsed.rows] == [
        (short_label(r.label), r.output_shapes, r.params) for r in s.rows]
    assert parsed.footer["Total params"] == f"{s.total_params:,}"
    assert parsed.footer["Estimated Total Size (MB)"] == f"{s.total_mb:0.2f}"


def test_agrees_with_torchinfo():
    torchinfo = pytest.importorskip("torchinfo")
    model = Wrapper()
    info = torchinfo.summary(model, input_size=(2, 3, 6, 5), depth=10, verbose=0)
    assert info.total_params == layer_summary(model, (3, 6, 5)).total_params
    theirs = sorted((layer.class_name, tuple(layer.output_size[1:]))
                    for layer in info.summary_list
                    if layer.class_name not in ("Sequential", "ModuleList", "TwoHeads"))
    ours = sorted((row.name, row.output_shape[1:]) for row in layer_summary(model, (3, 6, 5)).rows
                  if row.name != "TwoHeads")
    assert ours == theirs


def test_meta_device_gives_the_same_table_without_computing():
    torch.manual_seed(0)
    model = Wrapper()
    with torch.device("meta"):
        on_meta = Wrapper()
    assert str(layer_summary(on_meta, (3, 6, 5), device="meta")) == str(layer_summary(model, (3, 6, 5)))


def test_bad_arguments():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        layer_summary("net", (3, 4))
    with pytest.raises(TypeError, match="input_size"):
        layer_summary(nn.ReLU(), 3)
    with pytest.raises(ValueError, match="input_size"):
        layer_summary(nn.ReLU(), (3, 0))
    with pytest.raises(ValueError, match="batch_size"):
        layer_summary(nn.ReLU(), (3,), batch_size=0)
    with pytest.raises(ValueError, match="dtypes"):
        layer_summary(nn.ReLU(), (3,), dtypes=[torch.float32, torch.float64])
    with pytest.raises(ValueError, match="no summary table"):
        parse_summary("nothing here")
