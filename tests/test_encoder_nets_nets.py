"""Chapter 10, *Stages* and *The network* (``encoderlab.encoder_nets.nets``): parameter totals against the
reference's verified totals (``mdnc.md`` sections 9/10; the seed tables themselves are tested in
``test_encoder_nets_seeds.py``), the state-dict layout, the shape formulas (property tests), the per-dimension
classes, and the argument and input checks."""

from __future__ import annotations

import inspect
import math
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import encoderlab as el
from encoderlab import count_parameters
from encoderlab.encoder_nets import nets as nets_module
from encoderlab.encoder_nets.nets import _BlockResStkNd, _DecoderNetNd, _EncoderNetNd
from encoderlab.encoder_nets.shapes import scaled_shapes

ENCODERS = {n: getattr(el, f"EncoderNet{n}d") for n in (1, 2, 3)}
DECODERS = {n: getattr(el, f"DecoderNet{n}d") for n in (1, 2, 3)}


def meta(cls, *args, **kwargs):
    with torch.device("meta"):
        return cls(*args, **kwargs)


@pytest.mark.parametrize("order,vector,total", [
    (1, 32, 14_401_568), (1, None, 14_368_768), (2, 32, 31_190_816), (2, None, 31_158_016),
    (3, 32, 81_566_240), (3, None, 81_533_440),
])
def test_encoder_totals(order, vector, total):
    net = meta(ENCODERS[order], 64, [2, 2, 2, 2, 2], in_planes=3, out_length=vector)
    assert count_parameters(net) == total
    assert net.nlayers == 32


@pytest.mark.parametrize("order,totals", [(1, (16_837_856, 16_805_056)), (2, (46_210_016, 46_177_216))])
def test_plain_encoder_totals(order, totals):
    nets = [meta(ENCODERS[order], 64, [2] * 5, "plain", in_planes=3, out_length=v) for v in (32, None)]
    assert tuple(count_parameters(n) for n in nets) == totals
    assert nets[0].nlayers == 22


def test_per_module_parameters_of_the_seed_nets():
    one = meta(el.EncoderNet1d, 64, [2] * 5, in_planes=3, out_length=32)
    two = meta(el.EncoderNet2d, 64, [2] * 5, in_planes=3, out_length=32)
    assert [count_parameters(m) for m in one.netbody] == [
        960, 46_336, 133_312, 528_768, 2_106_112, 8_406_528, 3_146_752, 0]
    assert [count_parameters(m) for m in two.netbody] == [
        4_800, 95_488, 256_192, 1_020_288, 4_072_192, 16_270_848, 9_438_208, 0]
    assert count_parameters(one.fc) == count_parameters(two.fc) == 32_800


def test_state_dict_layout_of_the_seed_net():
    sd = meta(el.EncoderNet1d, 64, [2] * 5, in_planes=3, out_length=32).state_dict()
    assert len(sd) == 152
    keys = list(sd)
    assert keys[:4] == ["netbody.0.weight", "netbody.1.conv_list.0.conv1.0.weight",
                        "netbody.1.conv_list.0.conv1.0.bias", "netbody.1.conv_list.0.conv1.1.weight"]
    assert "netbody.1.conv_scale.in_node.0.weight" in sd and "netbody.1.conv_scale.in_node.1.bias" in sd
    assert "netbody.1.conv_list.0.in_node.0.weight" not in sd  # 64 -> 64 at stride 1: identity shortcut
    assert "netbody.2.conv_list.0.in_node.0.weight" in sd  # 64 -> 128: projection
    assert keys[-4:] == ["netbody.6.weight", "netbody.6.bias", "fc.weight", "fc.bias"]


@pytest.mark.parametrize("order,size,totals", [
    (1, 128, (12_407_043, 12_274_947)), (2, (64, 63), (29_196_291, 29_064_195)),
    (3, (31, 32, 30), (79_473_411, 79_439_619)),
])
def test_decoder_totals(order, size, totals):
    nets = [meta(DECODERS[order], 64, [2] * 5, size, in_length=v, out_planes=3) for v in (32, None)]
    assert tuple(count_parameters(n) for n in nets) == totals
    assert [n.nlayers for n in nets] == [33, 32]


def test_seed_shapes_and_odd_sizes():
    net = el.EncoderNet2d(4, [1, 1, 1, 1, 1], in_planes=3, out_length=None)
    assert net.stage_sizes((64, 63)) == [(64, 63), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    assert net(torch.randn(1, 3, 64, 63)).shape == (1, 64, 2, 2)
    assert el.EncoderNet1d(4, [1] * 5, out_length=None).stage_sizes(128) == [(128,), (64,), (32,), (16,), (8,), (4,)]
    assert el.EncoderNet1d(4, [1, 1])(torch.randn(3, 1, 9)).shape == (3, 2)  # default out_length=2


@settings(max_examples=25, deadline=None)
@given(order=st.sampled_from([1, 2, 3]), data=st.data())
def test_encoder_output_shape_property(order, data):
    n = data.draw(st.integers(2, 3), label="stages")
    kernel = tuple(data.draw(st.sampled_from([1, 3, 5]), label=f"k{i}") for i in range(order))
    size = tuple(data.draw(st.integers(5 if order < 3 else 5, 13 if order < 3 else 7), label=f"L{i}")
                 for i in range(order))
    vector = data.draw(st.sampled_from([None, 0, 3]), label="out_length")
    block = data.draw(st.sampled_from(["bottleneck", "Plain"]), label="block")
    net = ENCODERS[order](2, [1] * n, block=block, kernel_size=kernel, in_planes=2, out_length=vector)
    want_spatial = tuple(math.ceil(s / 2**n) if k > 1 else s for s, k in zip(size, kernel, strict=True))
    if math.prod(want_spatial) <= 1:
        with pytest.raises(ValueError, match="single-element"):
            net(torch.randn(2, 2, *size))
        return
    with torch.no_grad():
        y = net(torch.randn(2, 2, *size))
    want = (2, 3) if vector else (2, 2 * 2 ** (n - 1), *want_spatial)
    assert tuple(y.shape) == want
    assert tuple(y.shape[1:]) == net.output_shape(size)


@settings(max_examples=20, deadline=None)
@given(order=st.sampled_from([1, 2]), data=st.data())
def test_decoder_output_shape_property(order, data):
    n = data.draw(st.integers(2, 3), label="stages")
    size = tuple(data.draw(st.integers(2 ** n + 1, 20), label=f"L{i}") for i in range(order))
    vector = data.draw(st.sampled_from([None, 3]), label="in_length")
    net = DECODERS[order](2, [1] * n, size, kernel_size=3, in_length=vector, out_planes=2)
    x = torch.randn(2, 3) if vector else torch.randn(2, *net.input_size)
    with torch.no_grad():
        y = net(x)
    assert tuple(y.shape) == (2, 2, *size)
    assert net.shapes == scaled_shapes(size, n, (2,) * order)
    assert net.shapes[-1] == tuple(math.ceil(s / 2**n) for s in size)


def test_scale_invariance_needs_projection_shortcuts():
    """With one block per stage every block has a projection shortcut, every path ends in an InstanceNorm and
    the first conv has no bias, so f(a x) == f(x) for a > 0 (exactly with eps = 0). An identity shortcut
    (two blocks per stage) carries the unnormalised signal forward and breaks the invariance."""
    torch.manual_seed(0)
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    one = el.EncoderNet2d(4, [1, 1], in_planes=1, out_length=3).double()
    two = el.EncoderNet2d(4, [2, 2], in_planes=1, out_length=3).double()
    with torch.no_grad():
        torch.testing.assert_close(one(5.0 * x), one(x), atol=1e-4, rtol=0)
        for net in (one, two):
            for m in net.modules():
                if isinstance(m, torch.nn.InstanceNorm2d):
                    m.eps = 0.0
        torch.testing.assert_close(one(5.0 * x), one(x), atol=1e-10, rtol=0)
        assert (one(x + 0.5) - one(x)).abs().max() > 1e-2  # not blind to everything
        assert (two(5.0 * x) - two(x)).abs().max() > 1e-2


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(block="basic"), ValueError, "'bottleneck' or 'plain'"),
    (dict(block=3), TypeError, "block must be a str"),
    (dict(layers=[2]), ValueError, "at least 2 stages"),
    (dict(layers=[2, 0, 2]), ValueError, "at least one block"),
    (dict(layers=[2, -1]), ValueError, "at least one block"),
    (dict(layers=3), TypeError, "sequence of ints"),
    (dict(layers=[2, 2.0]), TypeError, "contain ints"),
    (dict(kernel_size=4), ValueError, "odd"),
    (dict(kernel_size=(3, 2)), ValueError, "odd"),
    (dict(kernel_size=(3, 3, 3)), ValueError, "2 entries"),
    (dict(kernel_size=0), ValueError, ">= 1"),
    (dict(channel=0), ValueError, "channel"),
    (dict(in_planes=0), ValueError, "in_planes"),
    (dict(out_length=2.5), TypeError, "out_length"),
])
def test_encoder_rejects_bad_arguments(kwargs, error, match):
    args = dict(channel=4, layers=[1, 1])
    args.update(kwargs)
    with pytest.raises(error, match=match):
        el.EncoderNet2d(**args)


def test_encoder_rejects_bad_inputs():
    net = el.EncoderNet2d(4, [1, 1], in_planes=3)
    with pytest.raises(ValueError, match=r"4-D tensor \(B, C, H, W\)"):
        net(torch.randn(3, 16, 16))
    with pytest.raises(ValueError, match="has 1 channels .* expected 3"):
        net(torch.randn(2, 1, 16, 16))
    with pytest.raises(TypeError, match="floating"):
        net(torch.ones(2, 3, 16, 16, dtype=torch.long))
    with pytest.raises(ValueError, match=r"single-element map \(1, 1\) after stage 1"):
        net(torch.randn(2, 3, 3, 4))


def test_decoders_reject_bad_arguments():
    with pytest.raises(ValueError, match="too small for 5 levels"):
        el.DecoderNet1d(4, [1] * 5, out_size=8)
    dec = el.DecoderNet2d(4, [1, 1], (9, 9), in_length=None)
    with pytest.raises(ValueError, match=r"shape \(B, 8, 3, 3\)"):
        dec(torch.randn(1, 8, 4, 4))
    with pytest.raises(ValueError, match="has 2 channels"):
        el.DecoderNet1d(4, [1, 1], 12, in_length=5)(torch.randn(3, 2))
    with pytest.raises(ValueError, match="single-element"):
        el.DecoderNet3d(2, [1, 1], (4, 3, 4), in_length=2)(torch.randn(1, 2))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_per_dimension_networks_are_ordinary_classes(order):
    enc, dec = ENCODERS[order], DECODERS[order]
    for cls, base in ((enc, _EncoderNetNd), (dec, _DecoderNetNd)):
        assert cls.__qualname__ == cls.__name__ and cls.__module__ == "encoderlab.encoder_nets.nets"
        assert cls is getattr(nets_module, cls.__name__) and issubclass(cls, base)
        assert "Chapter 10, *The network*" in cls.__doc__
    assert enc.__name__ == f"EncoderNet{order}d" and dec.__name__ == f"DecoderNet{order}d"
    assert str(inspect.signature(enc)) == "(channel, layers, block='bottleneck', kernel_size=3, in_planes=1, out_length=2)"
    assert str(inspect.signature(dec)) == ("(channel, layers, out_size, block='bottleneck', kernel_size=3, "
                                           "in_length=2, out_planes=1)")
    net = enc(2, [1, 1], out_length=3)
    text = repr(net)
    assert text.startswith(f"{enc.__name__}(\n  (netbody): ModuleList(\n")
    assert "_BlockResStkNd(" in text and "_BlockBottleneckNd(" in text
    again = pickle.loads(pickle.dumps(net))
    assert type(again) is enc and repr(again) == text
    x = torch.randn(2, 1, *([8] * order))
    with torch.no_grad():
        torch.testing.assert_close(again(x), net(x), atol=0, rtol=0)


def test_stage_layout():
    """The chapter's stage: the first block widens, the last one resamples (and only it has a stride)."""
    stage = _BlockResStkNd(2, 64, 128, block="bottleneck", kernel_size=3, padding=1, stride=2, stack_level=3)
    got = [(b.in_planes, b.out_planes, b.conv2[2].stride, b.in_node is not None)
           for b in (*stage.conv_list, stage.conv_scale)]
    assert got == [(64, 128, (1, 1), True), (128, 128, (1, 1), False), (128, 128, (2, 2), True)]
    assert stage(torch.randn(1, 64, 8, 8)).shape == (1, 128, 4, 4)
