"""Chapter 4: tokens, scaled dot-product attention, LDM's attention blocks, multi-head attention and the seed-003
MidBlock, against torch.nn, F.scaled_dot_product_attention, a float64 reference, the seed's code and diffusers."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from encoderlab import GroupNorm, count_parameters
from encoderlab.attention import (
    ATTN_TYPES,
    AttnBlock,
    LinAttnBlock,
    attention,
    attention_weights,
    from_tokens,
    make_attn,
    merge_heads,
    split_heads,
    to_tokens,
)

# --------------------------------------------------------------------------------------------------------
# tokens and heads


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 3), c=st.integers(1, 6), h=st.integers(1, 6), w=st.integers(1, 6))
def test_tokens_are_row_major_channel_vectors_and_round_trip(b, c, h, w):
    x = torch.randn(b, c, h, w)
    t = to_tokens(x)
    assert t.shape == (b, h * w, c)
    for row in range(h):
        for col in range(w):
            assert torch.equal(t[:, row * w + col], x[:, :, row, col])
    assert torch.equal(from_tokens(t, h, w), x)


def test_token_validation():
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor \(B, C, H, W\)"):
        to_tokens(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="expected height\\*width = 3\\*5 = 15"):
        from_tokens(torch.randn(1, 16, 4), 3, 5)
    with pytest.raises(TypeError, match="height must be an int"):
        from_tokens(torch.randn(1, 16, 4), 4.0, 4)


def test_split_and_merge_heads_follow_nn_multiheadattention_layout():
    x = torch.randn(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    assert torch.equal(heads[:, 1], x[:, :, 4:8])  # head h holds channels h*d:(h+1)*d
    assert torch.equal(merge_heads(heads), x)
    with pytest.raises(ValueError, match="channels=12 must be divisible by num_heads=5"):
        split_heads(x, 5)


# --------------------------------------------------------------------------------------------------------
# scaled dot-product attention


def _reference(q, k, v):
    q, k, v = q.double(), k.double(), v.double()
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 70), m=st.integers(1, 70), d=st.sampled_from([1, 3, 16, 64]), e=st.sampled_from([1, 8, 32]),
       seed=st.integers(0, 2**16))
def test_both_backends_equal_a_float64_reference(n, m, d, e, seed):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 3, s, dim, generator=gen) for s, dim in ((n, d), (m, d), (m, e)))
    ref = _reference(q, k, v)
    for backend in ("sdpa", "explicit"):
        out = attention(q, k, v, backend=backend)
        assert out.shape == (2, 3, n, e) and out.dtype == torch.float32
        # the bound stated in Chapter 4: float32 attention agrees with float64 to 1e-5
        assert (out.double() - ref).abs().max() < 1e-5


def test_explicit_backend_keeps_float64_and_upcasts_half_precision():
    q = torch.randn(1, 40, 16, dtype=torch.float64)
    torch.testing.assert_close(attention(q, q, q, backend="explicit"), _reference(q, q, q), atol=1e-12, rtol=0)
    h = (torch.randn(1, 40, 16) * 8).to(torch.bfloat16)
    out = attention(h, h, h, backend="explicit")
    assert out.dtype == torch.bfloat16
    # computed in float32, so the only error left is the final rounding to bfloat16 (relative 2**-8)
    torch.testing.assert_close(out.double(), _reference(h, h, h), rtol=2**-8, atol=1e-3)


def test_attention_weights_are_the_softmax_rows():
    q, k = torch.randn(2, 7, 8), torch.randn(2, 9, 8)
    w = attention_weights(q, k)
    assert w.shape == (2, 7, 9)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 7))
    torch.testing.assert_close(w, F.softmax(q @ k.transpose(1, 2) / math.sqrt(8), dim=-1))


def test_attention_validation():
    q = torch.randn(1, 4, 8)
    with pytest.raises(ValueError, match="same last dimension, got 8 and 6"):
        attention(q, torch.randn(1, 4, 6), q)
    with pytest.raises(ValueError, match="same number of tokens, got 4 and 5"):
        attention(q, q, torch.randn(1, 5, 8))
    with pytest.raises(ValueError, match="backend must be one of"):
        attention(q, q, q, backend="flash")
    with pytest.raises(TypeError, match="q must be a torch.Tensor"):
        attention(q.tolist(), q, q)


# --------------------------------------------------------------------------------------------------------
# LDM's vanilla attention against diffusers' VAE mid-block Attention


def _randomise(module, seed=0, scale=0.2):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return module


def _diffusers_vae_mid_attention(c):
    diffusers = pytest.importorskip("diffusers")
    vae = diffusers.AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",),
                                  up_block_types=("UpDecoderBlock2D",), block_out_channels=(c,), latent_channels=4,
                                  norm_num_groups=32, layers_per_block=1)
    return _randomise(vae.encoder.mid_block.attentions[0]).eval()


def _ldm_state_from_diffusers(sd):
    """diffusers -> LDM names (the inverse of diffusers' converter): Linear [C, C] -> 1x1 conv [C, C, 1, 1]."""
    pairs = (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0"))
    return {"norm.weight": sd["group_norm.weight"], "norm.bias": sd["group_norm.bias"],
            **{f"{a}.weight": sd[f"{b}.weight"][:, :, None, None] for a, b in pairs},
            **{f"{a}.bias": sd[f"{b}.bias"] for a, b in pairs}}


@pytest.mark.parametrize("backend", ["sdpa", "explicit"])
def test_attn_block_equals_the_diffusers_vae_mid_block_attention_outputs_and_gradients(backend):
    c = 64
    ref = _diffusers_vae_mid_attention(c)
    ours = AttnBlock(c, backend=backend).eval()
    ours.load_state_dict(_ldm_state_from_diffusers(ref.state_dict()), strict=True)
    x1 = torch.randn(2, c, 7, 5, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    y1, y2 = ours(x1), ref(x2)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=0)
    y1.pow(2).sum().backward()
    y2.pow(2).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours.q.weight.grad[:, :, 0, 0], ref.to_q.weight.grad, atol=1e-4, rtol=1e-4)


def test_attn_block_attention_map_is_what_the_block_mixes_with():
    blk = _randomise(AttnBlock(32)).eval()
    x = torch.randn(2, 32, 4, 6)
    with torch.no_grad():
        amap = blk.attention_map(x)
        assert amap.shape == (2, 24, 24)
        torch.testing.assert_close(amap.sum(-1), torch.ones(2, 24))
        v = to_tokens(blk.v(blk.norm(x)))
        rebuilt = x + blk.proj_out(from_tokens(amap @ v, 4, 6))
        torch.testing.assert_close(rebuilt, blk(x), atol=1e-5, rtol=0)


def test_attn_block_parameter_count_and_validation():
    # reference §1.3: AttnBlock(C) = 4C^2 + 6C, so the seed's two 16x16 attentions at 128 channels add 132,608
    assert count_parameters(AttnBlock(128)) == 4 * 128**2 + 6 * 128
    assert 2 * count_parameters(AttnBlock(128)) == 132_608
    with pytest.raises(ValueError, match="in_channels=48 must be divisible by num_groups=32"):
        AttnBlock(48)
    with pytest.raises(ValueError, match="x has 16 channels"):
        AttnBlock(32)(torch.randn(1, 16, 4, 4))
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor"):
        AttnBlock(32)(torch.randn(1, 32, 16))


# --------------------------------------------------------------------------------------------------------
# LDM's linear attention


def _ldm_linear_attention(block, x):
    """LDM's LinearAttention.forward (heads=1, dim_head=C) transcribed with einsum."""
    b, c, h, w = x.shape
    qkv = block.to_qkv(x)
    q, k, v = qkv.reshape(b, 3, 1, c, h * w).unbind(1)  # 'b (qkv heads c) h w -> qkv b heads c (h w)'
    k = k.softmax(dim=-1)
    context = torch.einsum("bhdn,bhen->bhde", k, v)
    out = torch.einsum("bhde,bhdn->bhen", context, q)
    return block.to_out(out.reshape(b, c, h, w))


def test_linear_attention_equals_ldm_and_the_quadratic_order_of_the_same_product():
    blk = _randomise(LinAttnBlock(16)).eval()
    x = torch.randn(2, 16, 5, 7)
    with torch.no_grad():
        torch.testing.assert_close(blk(x), _ldm_linear_attention(blk, x), atol=1e-5, rtol=1e-5)
        # the same numbers through an (HW x HW) matrix: (k^T q) first -- what "linear" avoids
        q, k, v = blk.to_qkv(x).reshape(2, 3, 16, 35).unbind(1)
        quadratic = v @ (k.softmax(-1).transpose(1, 2) @ q)  # (C, HW) @ (HW, HW)
        torch.testing.assert_close(blk(x), blk.to_out(quadratic.reshape(2, 16, 5, 7)), atol=1e-4, rtol=1e-4)


def test_linear_attention_has_no_norm_and_no_residual_but_vanilla_has_both():
    c = 32
    vanilla, linear = AttnBlock(c), LinAttnBlock(c)
    norms = (nn.GroupNorm, GroupNorm)
    assert any(isinstance(m, norms) for m in vanilla.modules())
    assert not any(isinstance(m, norms) for m in linear.modules())
    with torch.no_grad():
        vanilla.proj_out.weight.zero_()
        vanilla.proj_out.bias.zero_()
        linear.to_out.weight.zero_()
        linear.to_out.bias.zero_()
    x = torch.randn(1, c, 4, 4)
    assert torch.equal(vanilla(x), x)  # the residual carries x through
    assert torch.equal(linear(x), torch.zeros_like(x))  # nothing carries x: the output replaces the input
    assert count_parameters(linear) == 4 * c**2 + c


def test_make_attn_builds_the_three_types():
    assert ATTN_TYPES == ("vanilla", "linear", "none")
    assert isinstance(make_attn(32, "vanilla"), AttnBlock)
    assert isinstance(make_attn(32, "linear"), LinAttnBlock)
    ident = make_attn(32, "none")
    x = torch.randn(1, 32, 3, 3)
    assert isinstance(ident, nn.Identity) and torch.equal(ident(x), x)
    with pytest.raises(ValueError, match="attn_type must be one of"):
        make_attn(32, "flash")
