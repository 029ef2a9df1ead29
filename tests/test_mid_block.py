"""Chapter 4: multi-head attention from scratch against nn.MultiheadAttention, and the seed-003 MidBlock
against the seed's code."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from encoderlab import count_parameters
from encoderlab.mid_block import MidBlock, MultiHeadSelfAttention


def _randomise(module, seed=0, scale=0.2):
    """Fresh N(0, scale^2) weights, so that every parameter matters in a comparison."""
    count = sum(p.numel() for p in module.parameters())
    values = torch.randn(count, generator=torch.Generator().manual_seed(seed)) * scale
    nn.utils.vector_to_parameters(values, module.parameters())
    return module

# --------------------------------------------------------------------------------------------------------
# multi-head attention from scratch against nn.MultiheadAttention


def test_multi_head_attention_initialises_exactly_like_torch():
    torch.manual_seed(3)
    ref = nn.MultiheadAttention(24, 4, batch_first=True)
    torch.manual_seed(3)
    ours = MultiHeadSelfAttention(24, 4)
    assert ref.state_dict().keys() == ours.state_dict().keys()
    for key, value in ref.state_dict().items():
        assert torch.equal(value, ours.state_dict()[key]), key


@settings(max_examples=12, deadline=None)
@given(heads=st.sampled_from([1, 2, 4, 8]), head_dim=st.sampled_from([1, 4, 8]), n=st.integers(1, 20),
       m=st.integers(1, 20), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_multi_head_attention_equals_torch(heads, head_dim, n, m, bias, seed):
    e = heads * head_dim
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(e, heads, batch_first=True, bias=bias)
    _randomise(ref, seed)
    ours = MultiHeadSelfAttention(e, heads, bias=bias)
    ours.load_state_dict(ref.state_dict(), strict=True)
    q, kv = torch.randn(2, n, e), torch.randn(2, m, e)
    with torch.no_grad():
        torch.testing.assert_close(ours(q)[0], ref(q, q, q, need_weights=False)[0], atol=1e-5, rtol=1e-5)
        out, w = ours(q, kv, kv, need_weights=True)
        out_ref, w_ref = ref(q, kv, kv)  # cross-attention, weights averaged over heads
        torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(w, w_ref, atol=1e-5, rtol=1e-5)
        _, w = ours(q, need_weights=True, average_attn_weights=False)
        _, w_ref = ref(q, q, q, average_attn_weights=False)
        torch.testing.assert_close(w, w_ref, atol=1e-5, rtol=1e-5)


def test_multi_head_attention_gradients_equal_torch():
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(32, 4, batch_first=True)
    ours = MultiHeadSelfAttention(32, 4, backend="explicit")
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 10, 32)
    ours(x)[0].pow(2).sum().backward()
    ref(x, x, x, need_weights=False)[0].pow(2).sum().backward()
    for (name, p), (_, p_ref) in zip(ours.named_parameters(), ref.named_parameters(), strict=True):
        torch.testing.assert_close(p.grad, p_ref.grad, atol=1e-4, rtol=1e-4, msg=name)


def test_multi_head_attention_validation():
    with pytest.raises(ValueError, match="embed_dim=30 must be divisible by num_heads=4"):
        MultiHeadSelfAttention(30, 4)
    mha = MultiHeadSelfAttention(16, 2)
    with pytest.raises(ValueError, match="query has 12 channels"):
        mha(torch.randn(1, 5, 12))
    with pytest.raises(ValueError, match=r"query must be a 3-D tensor"):
        mha(torch.randn(1, 16, 4, 4))
    with pytest.raises(ValueError, match="must share the batch size"):
        mha(torch.randn(1, 5, 16), torch.randn(2, 5, 16), torch.randn(2, 5, 16))


# --------------------------------------------------------------------------------------------------------
# the seed-003 MidBlock


class SeedMidBlock(nn.Module):
    """The seed-003 MidBlock, transcribed from the seed text (``../shared/seeds/003_*``) line by line."""

    def __init__(self, in_channels, out_channels, num_heads, num_layers, norm_channels):
        super().__init__()
        self.num_layers = num_layers
        self.resnet_conv_first = nn.ModuleList([
            nn.Sequential(nn.GroupNorm(norm_channels, in_channels if i == 0 else out_channels), nn.SiLU(),
                          nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, kernel_size=3, stride=1,
                                    padding=1))
            for i in range(num_layers + 1)])
        self.resnet_conv_second = nn.ModuleList([
            nn.Sequential(nn.GroupNorm(norm_channels, out_channels), nn.SiLU(),
                          nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1))
            for _ in range(num_layers + 1)])
        self.attention_norms = nn.ModuleList([nn.GroupNorm(norm_channels, out_channels) for _ in range(num_layers)])
        self.attentions = nn.ModuleList([nn.MultiheadAttention(out_channels, num_heads, batch_first=True)
                                         for _ in range(num_layers)])
        self.residual_input_conv = nn.ModuleList([
            nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, kernel_size=1)
            for i in range(num_layers + 1)])

    def forward(self, x):
        out = x
        resnet_input = out
        out = self.resnet_conv_first[0](out)
        out = self.resnet_conv_second[0](out)
        out = out + self.residual_input_conv[0](resnet_input)
        for i in range(self.num_layers):
            batch_size, channels, h, w = out.shape
            in_attn = out.reshape(batch_size, channels, h * w)
            in_attn = self.attention_norms[i](in_attn)
            in_attn = in_attn.transpose(1, 2)
            out_attn, _ = self.attentions[i](in_attn, in_attn, in_attn)
            out_attn = out_attn.transpose(1, 2).reshape(batch_size, channels, h, w)
            out = out + out_attn
            resnet_input = out
            out = self.resnet_conv_first[i + 1](out)
            out = self.resnet_conv_second[i + 1](out)
            out = out + self.residual_input_conv[i + 1](resnet_input)
        return out


@pytest.mark.parametrize("cin,cout,heads,layers", [(32, 32, 4, 2), (32, 64, 2, 1), (64, 64, 8, 3)])
def test_mid_block_equals_the_seed_code_with_torch_and_with_our_attention(cin, cout, heads, layers):
    seed = SeedMidBlock(cin, cout, heads, layers, 16)
    _randomise(seed, scale=0.1).eval()
    x = torch.randn(2, cin, 5, 6)
    with torch.no_grad():
        want = seed(x)
        for impl in ("torch", "ours"):
            ours = MidBlock(cin, cout, heads, layers, 16, attention=impl).eval()
            ours.load_state_dict(seed.state_dict(), strict=True)
            torch.testing.assert_close(ours(x), want, atol=1e-5, rtol=1e-5)


def test_mid_block_parameter_count_equals_the_reference():
    # reference §2.3 (measured on the upstream code): the seed VAE's encoder MidBlock has 4,268,288 parameters
    with torch.device("meta"):
        assert count_parameters(MidBlock(256, 256, 4, 2, 32)) == 4_268_288
        assert count_parameters(MidBlock(256, 256, 4, 2, 32, attention="ours")) == 4_268_288


def test_mid_block_validation():
    with pytest.raises(ValueError, match="out_channels=96 must be divisible by num_heads=5"):
        MidBlock(96, 96, 5, 1, 32)
    with pytest.raises(ValueError, match="in_channels=48 must be divisible by norm_channels=32"):
        MidBlock(48, 64, 4, 1, 32)
    with pytest.raises(ValueError, match="attention must be one of"):
        MidBlock(32, 32, 4, 1, 32, attention="flash")
    with pytest.raises(ValueError, match="num_layers must be >= 1"):
        MidBlock(32, 32, 4, 0, 32)
    with pytest.raises(ValueError, match="x has 64 channels"):
        MidBlock(32, 32, 4, 1, 32)(torch.randn(1, 64, 4, 4))
