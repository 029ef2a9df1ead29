"""Chapter 10, *The unit: normalise, activate, convolve* and *Two residual blocks* (``encoderlab.encoder_nets``
``.units`` / ``.blocks``): the parameter formulas of the reference (``mdnc.md`` section 4), every block recomputed
by hand from its weights with ``torch.nn.functional``, the layer options, the per-dimension classes (names,
``repr``, pickling, signatures) and the argument checks, made once at the public entry."""

from __future__ import annotations

import inspect
import math
import pickle

import pytest
import torch
import torch.nn.functional as F

import encoderlab as el
from encoderlab import count_parameters
from encoderlab.encoder_nets import blocks as blocks_module
from encoderlab.encoder_nets.blocks import _BlockBottleneckNd, _BlockPlainNd

BOTTLENECK = {n: getattr(el, f"BlockBottleneck{n}d") for n in (1, 2, 3)}
PLAIN = {n: getattr(el, f"BlockPlain{n}d") for n in (1, 2, 3)}
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def meta(cls, *args, **kwargs):
    with torch.device("meta"):
        return cls(*args, **kwargs)


@pytest.mark.parametrize("cin,cout,k,order,stride", [(8, 8, 3, 1, 1), (8, 16, 3, 2, 2), (4, 6, 5, 3, 2),
                                                      (6, 6, 3, 2, 2)])
def test_block_parameter_formulas(cin, cout, k, order, stride):
    """Reference section 4: bottleneck 9 in + in^2 (1 + K) + in out, plain 6 in + in^2 K + in out K,
    plus in out + 2 out for a projection shortcut."""
    kk = k**order
    shortcut = (cin * cout + 2 * cout) if (stride > 1 or cin != cout) else 0
    bottleneck = BOTTLENECK[order]
    plain = PLAIN[order]
    assert count_parameters(meta(bottleneck, cin, cout, k, stride, k // 2)) == \
        9 * cin + cin * cin * (1 + kk) + cin * cout + shortcut
    assert count_parameters(meta(plain, cin, cout, k, stride, k // 2)) == \
        6 * cin + cin * cin * kk + cin * cout * kk + shortcut


def _unit(x, seq, stride, padding, order):
    """IN(affine) -> PReLU -> Conv(no bias), from the module's own weights, with torch.nn.functional."""
    norm, act, conv = seq
    h = F.instance_norm(x, weight=norm.weight, bias=norm.bias, eps=norm.eps)
    h = F.prelu(h, act.weight)
    return CONV[order](h, conv.weight, None, stride=stride, padding=padding)


def _randomise(module, gen):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3 + (0.5 if p.dim() == 1 else 0.0))


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("cin,cout,stride", [(4, 4, 1), (4, 6, 1), (4, 6, 2), (3, 3, 2)])
def test_bottleneck_block_equals_functional(order, cin, cout, stride):
    gen = torch.Generator().manual_seed(order * 10 + stride)
    block = BOTTLENECK[order](cin, cout, 3, stride, 1)
    _randomise(block, gen)
    x = torch.randn(2, cin, *([7] * order), generator=gen, dtype=torch.float64)
    block = block.double()
    h = _unit(x, block.conv1, 1, 0, order)
    h = _unit(h, block.conv2, stride, 1, order)
    h = _unit(h, block.conv3, 1, 0, order)
    if block.in_node is None:
        assert stride == 1 and cin == cout
        skip = x
    else:
        conv, norm = block.in_node
        skip = CONV[order](x, conv.weight, None, stride=stride)
        skip = F.instance_norm(skip, weight=norm.weight, bias=norm.bias, eps=norm.eps)
    torch.testing.assert_close(block(x), h + skip, atol=1e-10, rtol=0)
    assert block(x).shape[2:] == torch.Size([math.ceil(7 / stride)] * order)


@pytest.mark.parametrize("order", [1, 2])
def test_plain_block_up_scaling_equals_functional(order):
    """The 'up' variant: IN -> PReLU -> Upsample(align_corners=True) -> Conv, and an up-sampled shortcut."""
    gen = torch.Generator().manual_seed(5)
    block = PLAIN[order](4, 3, 3, 2, 1, scaler="up").double()
    _randomise(block, gen)
    x = torch.randn(2, 4, *([5] * order), generator=gen, dtype=torch.float64)
    mode = {1: "linear", 2: "bilinear"}[order]
    h = _unit(x, block.conv1, 1, 1, order)
    norm, act, up, conv = block.conv2
    h = F.prelu(F.instance_norm(h, weight=norm.weight, bias=norm.bias, eps=norm.eps), act.weight)
    h = CONV[order](F.interpolate(h, scale_factor=2, mode=mode, align_corners=True), conv.weight, padding=1)
    up2, conv2, norm2 = block.in_node
    skip = CONV[order](F.interpolate(x, scale_factor=2, mode=mode, align_corners=True), conv2.weight)
    skip = F.instance_norm(skip, weight=norm2.weight, bias=norm2.bias, eps=norm2.eps)
    y = block(x)
    assert y.shape == (2, 3, *([10] * order))
    torch.testing.assert_close(y, h + skip, atol=1e-10, rtol=0)


def test_block_options_build_the_documented_units():
    old = el.BlockPlain2d(4, 4, normalizer="batch", activator="relu", layer_order="old")
    assert [type(m).__name__ for m in old.conv1] == ["Conv2d", "BatchNorm2d", "ReLU"]
    null = el.BlockBottleneck1d(4, 8, normalizer="null", activator="null")
    assert [type(m).__name__ for m in null.conv2] == ["Conv1d"] and null.conv2[0].bias is not None
    assert [type(m).__name__ for m in null.in_node] == ["Conv1d"]
    inst = el.BlockBottleneck1d(4, 4, normalizer="inst")
    assert inst.conv1[0].weight is None and inst.in_node is None
    sized = el.BlockPlain2d(4, 4, stride=1, output_size=(9, 7), scaler="up")
    assert sized(torch.randn(1, 4, 5, 5)).shape == (1, 4, 9, 7)
    # upstream quirk: an up-scaling shortcut at stride 1 still holds an Upsample(scale_factor=1)
    quirk = el.BlockBottleneck1d(4, 8, kernel_size=1, stride=1, padding=0, scaler="up")
    assert type(quirk.in_node[0]).__name__ == "Upsample"


def test_blocks_reject_bad_arguments():
    with pytest.raises(ValueError, match="padding must be kernel_size // 2"):
        el.BlockPlain1d(4, 4, kernel_size=3, padding=0)
    with pytest.raises(ValueError, match="odd"):
        el.BlockBottleneck2d(4, 4, kernel_size=2, padding=1)
    with pytest.raises(ValueError, match="normalizer"):
        el.BlockPlain2d(4, 4, normalizer="group")
    with pytest.raises(ValueError, match="scaler"):
        el.BlockPlain2d(4, 4, scaler="sideways")
    with pytest.raises(ValueError, match="has 3 channels"):
        el.BlockPlain2d(4, 4)(torch.randn(1, 3, 5, 5))


@pytest.mark.parametrize("kind,base", [("Plain", _BlockPlainNd), ("Bottleneck", _BlockBottleneckNd)])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_per_dimension_blocks_are_ordinary_classes(kind, base, order):
    """Generated from the N-D class, each reads as a class written by hand in encoderlab.encoder_nets.blocks."""
    cls = getattr(el, f"Block{kind}{order}d")
    name = f"Block{kind}{order}d"
    assert (cls.__name__, cls.__qualname__, cls.__module__) == (name, name, "encoderlab.encoder_nets.blocks")
    assert cls is getattr(el.encoder_nets, name) is getattr(blocks_module, name)
    assert issubclass(cls, base) and cls.__init__.__qualname__ == f"{name}.__init__"
    assert str(inspect.signature(cls)) == ("(in_planes, out_planes, kernel_size=3, stride=1, padding=1, "
                                           "output_size=None, normalizer='pinst', activator='prelu', "
                                           "layer_order='new', scaler='down')")
    assert "Chapter 10, *Two residual blocks*" in cls.__doc__
    block = cls(4, 6, stride=2)
    assert repr(block).startswith(f"{name}(\n  (conv1): Sequential(\n")
    again = pickle.loads(pickle.dumps(block))
    assert type(again) is cls and isinstance(again, base)
    x = torch.randn(2, 4, *([6] * order))
    with torch.no_grad():
        torch.testing.assert_close(again(x), block(x), atol=0, rtol=0)


def test_the_public_block_checks_its_input_once(monkeypatch):
    """A public block checks its input; the N-D blocks inside a network (checked by the network) do not."""
    calls = []
    real = blocks_module.check_block_input
    monkeypatch.setattr(blocks_module, "check_block_input", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    el.BlockPlain2d(4, 4)(torch.randn(1, 4, 5, 5))
    assert calls == ["x"]
    calls.clear()
    el.EncoderNet2d(4, [2, 2], in_planes=1)(torch.randn(2, 1, 8, 8))  # four blocks, checked by the net only
    assert calls == []
    with pytest.raises(ValueError, match="to match num_features"):  # an N-D block alone: torch's own error
        _BlockPlainNd(2, 4, 4)(torch.randn(1, 3, 5, 5))
