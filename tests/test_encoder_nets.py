"""Chapter 10: the residual encoder/decoder networks.

Oracles: ``torch.nn.functional`` (a block recomputed by hand from its weights), the totals of the reference
(``mdnc.md`` section 9/10, verified there against the upstream code; the seed tables themselves are tested in
``test_encoder_nets_seeds.py``), the shape formulas, and the argument checks.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from encoderlab import (
    BlockBottleneck1d,
    BlockBottleneck2d,
    BlockBottleneck3d,
    BlockPlain1d,
    BlockPlain2d,
    BlockPlain3d,
    DecoderNet1d,
    DecoderNet2d,
    DecoderNet3d,
    EncoderNet1d,
    EncoderNet2d,
    EncoderNet3d,
    count_parameters,
)
from encoderlab.encoder_nets import kernel_rule, scaled_shapes

ENCODERS = {1: EncoderNet1d, 2: EncoderNet2d, 3: EncoderNet3d}
DECODERS = {1: DecoderNet1d, 2: DecoderNet2d, 3: DecoderNet3d}
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def meta(cls, *args, **kwargs):
    with torch.device("meta"):
        return cls(*args, **kwargs)


# --- parameter counts: the reference's verified totals --------------------------------------------------------

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
    one = meta(EncoderNet1d, 64, [2] * 5, in_planes=3, out_length=32)
    two = meta(EncoderNet2d, 64, [2] * 5, in_planes=3, out_length=32)
    assert [count_parameters(m) for m in one.netbody] == [
        960, 46_336, 133_312, 528_768, 2_106_112, 8_406_528, 3_146_752, 0]
    assert [count_parameters(m) for m in two.netbody] == [
        4_800, 95_488, 256_192, 1_020_288, 4_072_192, 16_270_848, 9_438_208, 0]
    assert count_parameters(one.fc) == count_parameters(two.fc) == 32_800


def test_state_dict_layout_of_the_seed_net():
    sd = meta(EncoderNet1d, 64, [2] * 5, in_planes=3, out_length=32).state_dict()
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


@pytest.mark.parametrize("cin,cout,k,order,stride", [(8, 8, 3, 1, 1), (8, 16, 3, 2, 2), (4, 6, 5, 3, 2),
                                                      (6, 6, 3, 2, 2)])
def test_block_parameter_formulas(cin, cout, k, order, stride):
    """Reference section 4: bottleneck 9 in + in^2 (1 + K) + in out, plain 6 in + in^2 K + in out K,
    plus in out + 2 out for a projection shortcut."""
    kk = k**order
    shortcut = (cin * cout + 2 * cout) if (stride > 1 or cin != cout) else 0
    bottleneck = {1: BlockBottleneck1d, 2: BlockBottleneck2d, 3: BlockBottleneck3d}[order]
    plain = {1: BlockPlain1d, 2: BlockPlain2d, 3: BlockPlain3d}[order]
    assert count_parameters(meta(bottleneck, cin, cout, k, stride, k // 2)) == \
        9 * cin + cin * cin * (1 + kk) + cin * cout + shortcut
    assert count_parameters(meta(plain, cin, cout, k, stride, k // 2)) == \
        6 * cin + cin * cin * kk + cin * cout * kk + shortcut


# --- the forward pass against torch.nn.functional -------------------------------------------------------------

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
    block = {1: BlockBottleneck1d, 2: BlockBottleneck2d, 3: BlockBottleneck3d}[order](cin, cout, 3, stride, 1)
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
    block = {1: BlockPlain1d, 2: BlockPlain2d}[order](4, 3, 3, 2, 1, scaler="up").double()
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
    old = BlockPlain2d(4, 4, normalizer="batch", activator="relu", layer_order="old")
    assert [type(m).__name__ for m in old.conv1] == ["Conv2d", "BatchNorm2d", "ReLU"]
    null = BlockBottleneck1d(4, 8, normalizer="null", activator="null")
    assert [type(m).__name__ for m in null.conv2] == ["Conv1d"] and null.conv2[0].bias is not None
    assert [type(m).__name__ for m in null.in_node] == ["Conv1d"]
    inst = BlockBottleneck1d(4, 4, normalizer="inst")
    assert inst.conv1[0].weight is None and inst.in_node is None
    sized = BlockPlain2d(4, 4, stride=1, output_size=(9, 7), scaler="up")
    assert sized(torch.randn(1, 4, 5, 5)).shape == (1, 4, 9, 7)
    # upstream quirk: an up-scaling shortcut at stride 1 still holds an Upsample(scale_factor=1)
    quirk = BlockBottleneck1d(4, 8, kernel_size=1, stride=1, padding=0, scaler="up")
    assert type(quirk.in_node[0]).__name__ == "Upsample"


# --- shapes --------------------------------------------------------------------------------------------------

def test_seed_shapes_and_odd_sizes():
    net = EncoderNet2d(4, [1, 1, 1, 1, 1], in_planes=3, out_length=None)
    assert net.stage_sizes((64, 63)) == [(64, 63), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    assert net(torch.randn(1, 3, 64, 63)).shape == (1, 64, 2, 2)
    assert EncoderNet1d(4, [1] * 5, out_length=None).stage_sizes(128) == [(128,), (64,), (32,), (16,), (8,), (4,)]
    assert EncoderNet1d(4, [1, 1])(torch.randn(3, 1, 9)).shape == (3, 2)  # default out_length=2


def test_kernel_rule():
    assert kernel_rule(3, 2) == ((3, 3), (1, 1), (2, 2))
    assert kernel_rule(3, 2, plus=2) == ((5, 5), (2, 2), (2, 2))
    assert kernel_rule((5, 1), 2, plus=2) == ((7, 1), (3, 0), (2, 1))
    assert kernel_rule((3,), 1) == ((3,), (1,), (2,))  # tuples work in 1d too


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
    one = EncoderNet2d(4, [1, 1], in_planes=1, out_length=3).double()
    two = EncoderNet2d(4, [2, 2], in_planes=1, out_length=3).double()
    with torch.no_grad():
        torch.testing.assert_close(one(5.0 * x), one(x), atol=1e-4, rtol=0)
        for net in (one, two):
            for m in net.modules():
                if isinstance(m, torch.nn.InstanceNorm2d):
                    m.eps = 0.0
        torch.testing.assert_close(one(5.0 * x), one(x), atol=1e-10, rtol=0)
        assert (one(x + 0.5) - one(x)).abs().max() > 1e-2  # not blind to everything
        assert (two(5.0 * x) - two(x)).abs().max() > 1e-2


# --- argument checks -------------------------------------------------------------------------------------------

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
        EncoderNet2d(**args)


def test_encoder_rejects_bad_inputs():
    net = EncoderNet2d(4, [1, 1], in_planes=3)
    with pytest.raises(ValueError, match=r"4-D tensor \(B, C, H, W\)"):
        net(torch.randn(3, 16, 16))
    with pytest.raises(ValueError, match="has 1 channels .* expected 3"):
        net(torch.randn(2, 1, 16, 16))
    with pytest.raises(TypeError, match="floating"):
        net(torch.ones(2, 3, 16, 16, dtype=torch.long))
    with pytest.raises(ValueError, match=r"single-element map \(1, 1\) after stage 1"):
        net(torch.randn(2, 3, 3, 4))


def test_blocks_and_decoders_reject_bad_arguments():
    with pytest.raises(ValueError, match="padding must be kernel_size // 2"):
        BlockPlain1d(4, 4, kernel_size=3, padding=0)
    with pytest.raises(ValueError, match="odd"):
        BlockBottleneck2d(4, 4, kernel_size=2, padding=1)
    with pytest.raises(ValueError, match="normalizer"):
        BlockPlain2d(4, 4, normalizer="group")
    with pytest.raises(ValueError, match="scaler"):
        BlockPlain2d(4, 4, scaler="sideways")
    with pytest.raises(ValueError, match="has 3 channels"):
        BlockPlain2d(4, 4)(torch.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="too small for 5 levels"):
        DecoderNet1d(4, [1] * 5, out_size=8)
    dec = DecoderNet2d(4, [1, 1], (9, 9), in_length=None)
    with pytest.raises(ValueError, match=r"shape \(B, 8, 3, 3\)"):
        dec(torch.randn(1, 8, 4, 4))
    with pytest.raises(ValueError, match="has 2 channels"):
        DecoderNet1d(4, [1, 1], 12, in_length=5)(torch.randn(3, 2))
    with pytest.raises(ValueError, match="single-element"):
        DecoderNet3d(2, [1, 1], (4, 3, 4), in_length=2)(torch.randn(1, 2))
