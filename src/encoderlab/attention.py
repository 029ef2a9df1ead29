"""Chapter 4: spatial self-attention and the attention mid-blocks of the seeds.

An activation ``(B, C, H, W)`` becomes a sequence of ``H*W`` tokens of dimension ``C``
(:func:`to_tokens`); every token attends to every other (:func:`attention`), and the result is folded back
to ``(B, C, H, W)`` (:func:`from_tokens`).

The blocks:

- :class:`AttnBlock` -- LDM's ``"vanilla"`` attention: GroupNorm, 1x1 q/k/v, one head, residual.
- :class:`LinAttnBlock` -- LDM's ``"linear"`` attention: cost linear in ``H*W``, no norm and no residual.
- :func:`make_attn` -- LDM's factory for ``"vanilla"``, ``"linear"`` and ``"none"`` (identity).
- :class:`MultiHeadSelfAttention` -- multi-head attention written from scratch, with the parameters and
  state-dict keys of ``nn.MultiheadAttention`` (``in_proj_weight``, ``in_proj_bias``, ``out_proj``).
- :class:`MidBlock` -- the seed-003 bottleneck: residual block, then ``num_layers`` x [GroupNorm -> multi-head
  attention -> add, residual block].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_bool, check_channels, check_divisible, check_int, check_one_of, check_tensor
from .norm import GroupNorm
from .resnet import check_seed003_args, seed003_skips, seed003_unit, seed003_units

__all__ = [
    "ATTENTION_BACKENDS",
    "ATTN_TYPES",
    "AttnBlock",
    "LinAttnBlock",
    "MidBlock",
    "MultiHeadSelfAttention",
    "attention",
    "attention_weights",
    "from_tokens",
    "make_attn",
    "merge_heads",
    "split_heads",
    "to_tokens",
]

ATTN_TYPES = ("vanilla", "linear", "none")
"""The ``attn_type`` values of LDM's ``make_attn``."""

ATTENTION_BACKENDS = ("sdpa", "explicit")
"""How :func:`attention` computes: PyTorch's fused ``scaled_dot_product_attention``, or the explicit
``softmax(q k^T / sqrt(d)) v``. ``"sdpa"`` is the default: it is as accurate (float32 max |diff| ~1e-6 against
the explicit float64 result) and faster, and it never stores the ``N x N`` score matrix (measured in
Chapter 4 and by ``benchmarks/bench_attention.py``)."""


# --------------------------------------------------------------------------------------------------------
# tokens


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    """Flatten a feature map into a sequence of tokens: ``(B, C, H, W) -> (B, H*W, C)`` (Chapter 4, *From
    feature maps to tokens*).

    Token ``i = row * W + col`` is the ``C``-vector of channels at that position (row-major order).
    """
    check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
    b, c, h, w = x.shape
    return x.reshape(b, c, h * w).transpose(1, 2)


def from_tokens(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Fold tokens back into a feature map: ``(B, H*W, C) -> (B, C, H, W)``; inverse of :func:`to_tokens`
    (Chapter 4, *From feature maps to tokens*). A channels-last view when ``tokens`` is contiguous."""
    check_tensor("tokens", tokens, ndim=3, layout="(B, H*W, C)")
    check_int("height", height, min_value=1)
    check_int("width", width, min_value=1)
    b, n, c = tokens.shape
    if n != height * width:
        raise ValueError(f"tokens has {n} tokens (shape {tuple(tokens.shape)}), expected height*width = "
                         f"{height}*{width} = {height * width}")
    return tokens.transpose(1, 2).reshape(b, c, height, width)


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Split the channels of every token into heads: ``(B, N, C) -> (B, num_heads, N, C // num_heads)``
    (Chapter 4, *Many heads: multi-head attention from scratch*).

    Head ``h`` gets the consecutive channels ``h*d : (h+1)*d`` with ``d = C // num_heads`` (as in
    ``nn.MultiheadAttention``).
    """
    check_tensor("x", x, ndim=3, layout="(B, N, C)")
    check_int("num_heads", num_heads, min_value=1)
    b, n, c = x.shape
    check_divisible("channels", c, "num_heads", num_heads)
    return x.reshape(b, n, num_heads, c // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Concatenate the heads again: ``(B, num_heads, N, d) -> (B, N, num_heads * d)``; inverse of
    :func:`split_heads` (Chapter 4, *Many heads: multi-head attention from scratch*)."""
    check_tensor("x", x, ndim=4, layout="(B, num_heads, N, d)")
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


# --------------------------------------------------------------------------------------------------------
# scaled dot-product attention


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor | None) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t is None:
            continue
        check_tensor(name, t)
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., tokens, dim), got {tuple(t.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same last dimension, got {q.shape[-1]} and {k.shape[-1]}")
    if v is not None and k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of tokens, got {k.shape[-2]} and {v.shape[-2]}")


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half precision (softmax and sums are unsafe in float16/bfloat16), else unchanged."""
    return torch.promote_types(dtype, torch.float32)


def attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The attention matrix ``softmax(q k^T / sqrt(d))``: q ``(..., N, d)``, k ``(..., M, d)`` -> ``(..., N, M)``
    (Chapter 4, *Scaled dot-product attention, step by step*).

    Row ``i`` holds how much query ``i`` takes from every key; every row sums to 1. Computed in (at least)
    float32 and returned in that precision.
    """
    _check_qkv(q, k, None)
    dtype = _compute_dtype(q.dtype)
    scores = (q.to(dtype) @ k.to(dtype).transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return scores.softmax(dim=-1)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, backend: str = "sdpa") -> torch.Tensor:
    """Scaled dot-product attention ``softmax(q k^T / sqrt(d)) v`` (Chapter 4, *Scaled dot-product attention,
    step by step* and *Explicit softmax or fused kernel?*).

    q: ``(..., N, d)``, k: ``(..., M, d)``, v: ``(..., M, e)`` -> ``(..., N, e)``.
    ``backend="sdpa"`` (default) calls ``F.scaled_dot_product_attention`` (fused; never stores the ``N x M``
    scores); ``"explicit"`` materialises the score matrix and applies the softmax in (at least) float32,
    returning the dtype of ``v``. The two agree to float32 rounding (Chapter 4 states the bound).
    """
    _check_qkv(q, k, v)
    check_one_of("backend", backend, ATTENTION_BACKENDS)
    if backend == "sdpa":
        return F.scaled_dot_product_attention(q, k, v)
    return (attention_weights(q, k) @ v.to(_compute_dtype(v.dtype))).to(v.dtype)


# --------------------------------------------------------------------------------------------------------
# LDM's attention blocks


class AttnBlock(nn.Module):
    """LDM's ``AttnBlock`` ("vanilla"): single-head self-attention over the H*W positions, with a residual
    (Chapter 4, *The vanilla block: LDM's AttnBlock*).

    ``y = x + proj_out(attention(q(n), k(n), v(n)))`` with ``n = GroupNorm(x)`` and 1x1-conv projections
    ``q, k, v, proj_out`` (LDM's names); the scale is ``1/sqrt(C)``. Equals diffusers' VAE mid-block
    ``Attention`` with the same weights. Parameters: ``4*C**2 + 6*C``.
    Shape: ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, in_channels: int, *, num_groups: int = 32, eps: float = 1e-6, backend: str = "sdpa") -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        check_int("num_groups", num_groups, min_value=1)
        check_divisible("in_channels", in_channels, "num_groups", num_groups)
        self.in_channels = in_channels
        self.backend = check_one_of("backend", backend, ATTENTION_BACKENDS)
        self.norm = GroupNorm(num_groups, in_channels, eps=eps)
        self.q = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.k = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.v = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.proj_out = nn.Conv2d(in_channels, in_channels, kernel_size=1)

    def _check(self, x: torch.Tensor) -> None:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_channels)

    def _tokens(self, x: torch.Tensor):
        """q, k, v as contiguous ``(B, H*W, C)`` tokens: a 1x1 conv on a feature map is a Linear on its tokens."""
        n = to_tokens(self.norm(x))  # (B, C, H, W) -> (B, H*W, C)
        return (F.linear(n, proj.weight.flatten(1), proj.bias) for proj in (self.q, self.k, self.v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        b, c, h, w = x.shape
        q, k, v = self._tokens(x)  # each (B, H*W, C)
        # one head holding all C channels: (B, 1, H*W, C). Contiguous tokens let SDPA use its fused kernel
        # (on a transposed view it falls back to the explicit computation and stores the H*W x H*W scores).
        out = attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), backend=self.backend).squeeze(1)
        out = F.linear(out, self.proj_out.weight.flatten(1), self.proj_out.bias)  # proj_out, still on tokens
        return x + from_tokens(out, h, w)

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The block's attention matrix for ``x``: ``(B, H*W, H*W)``; row ``i`` is where position ``i`` looks."""
        self._check(x)
        q, k, _ = self._tokens(x)
        return attention_weights(q, k)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, backend={self.backend!r}"


class LinAttnBlock(nn.Module):
    """LDM's ``LinAttnBlock`` ("linear"): linear attention with one head of dimension C (Chapter 4, *The linear
    block: LDM's LinAttnBlock*).

    Keys are soft-maxed over positions, ``context = k v^T`` is ``C x C``, and ``out = context^T q``, so the cost
    grows linearly with H*W (the ``H*W x H*W`` matrix is never formed). As in LDM there is **no GroupNorm and
    no residual**: the output replaces the input. Layers: ``to_qkv`` (1x1, no bias, C -> 3C) and ``to_out``
    (1x1, C -> C). Parameters: ``4*C**2 + C``. Shape: ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, min_value=1)
        self.to_qkv = nn.Conv2d(in_channels, 3 * in_channels, kernel_size=1, bias=False)
        self.to_out = nn.Conv2d(in_channels, in_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_channels)
        b, c, h, w = x.shape
        q, k, v = self.to_qkv(x).reshape(b, 3, c, h * w).unbind(dim=1)  # each (B, C, HW)
        k = k.softmax(dim=-1)  # over positions, not over channels
        context = k @ v.transpose(-1, -2)  # (B, C, C): sum over positions of k_d * v_e
        out = (context.transpose(-1, -2) @ q).reshape(b, c, h, w)  # (B, C, HW) -> (B, C, H, W)
        if x.is_contiguous(memory_format=torch.channels_last):  # keep the input's memory format (encoderlab.fast)
            out = out.contiguous(memory_format=torch.channels_last)
        return self.to_out(out)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}"


def make_attn(in_channels: int, attn_type: str = "vanilla") -> nn.Module:
    """LDM's factory: ``"vanilla"`` -> :class:`AttnBlock`, ``"linear"`` -> :class:`LinAttnBlock`,
    ``"none"`` -> ``nn.Identity`` (Chapter 4, *The third type: none*). (LDM also prints a line; we do not.)"""
    check_one_of("attn_type", attn_type, ATTN_TYPES)
    check_int("in_channels", in_channels, min_value=1)
    if attn_type == "vanilla":
        return AttnBlock(in_channels)
    if attn_type == "linear":
        return LinAttnBlock(in_channels)
    return nn.Identity()


# --------------------------------------------------------------------------------------------------------
# multi-head attention and the seed-003 mid-block


class MultiHeadSelfAttention(nn.Module):
    """Multi-head attention from scratch, a drop-in for ``nn.MultiheadAttention(embed_dim, num_heads,
    batch_first=True)`` (Chapter 4, *Many heads: multi-head attention from scratch*).

    Same parameters and state-dict keys: ``in_proj_weight`` ``(3E, E)`` (the q, k and v projections stacked),
    ``in_proj_bias`` ``(3E,)``, ``out_proj`` (``Linear(E, E)``), and the same initialisation. The forward
    pass: project, :func:`split_heads`, :func:`attention` per head, :func:`merge_heads`, ``out_proj``.

    ``forward(query, key=None, value=None, *, need_weights=False, average_attn_weights=True)`` takes
    ``(B, N, E)`` tensors (key/value default to query: self-attention) and returns ``(out, weights)`` like
    ``nn.MultiheadAttention``: ``out`` is ``(B, N, E)``; ``weights`` is ``None``, or ``(B, N, M)`` averaged
    over heads, or ``(B, num_heads, N, M)``.
    """

    def __init__(self, embed_dim: int, num_heads: int, *, bias: bool = True, backend: str = "sdpa") -> None:
        super().__init__()
        check_int("embed_dim", embed_dim, min_value=1)
        check_int("num_heads", num_heads, min_value=1)
        check_divisible("embed_dim", embed_dim, "num_heads", num_heads)
        check_bool("bias", bias)
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.backend = check_one_of("backend", backend, ATTENTION_BACKENDS)
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.MultiheadAttention``'s initialisation: Xavier-uniform in-projection, zero biases."""
        nn.init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    def _project(self, query, key, value):
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        q = F.linear(query, w_q, b_q)
        k = F.linear(key, w_k, b_k)
        v = F.linear(value, w_v, b_v)
        return (split_heads(t, self.num_heads) for t in (q, k, v))  # each (B, heads, tokens, head_dim)

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                *, need_weights: bool = False, average_attn_weights: bool = True):
        key = query if key is None else key
        value = key if value is None else value
        for name, t in (("query", query), ("key", key), ("value", value)):
            check_tensor(name, t, ndim=3, layout="(B, tokens, embed_dim)")
            check_channels(name, t, self.embed_dim, dim=2)
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(f"query {tuple(query.shape)}, key {tuple(key.shape)} and value {tuple(value.shape)} "
                             "must share the batch size, and key and value the number of tokens")
        q, k, v = self._project(query, key, value)
        out = self.out_proj(merge_heads(attention(q, k, v, backend=self.backend)))
        if not need_weights:
            return out, None
        weights = attention_weights(q, k).to(query.dtype)  # (B, heads, N, M)
        return out, weights.mean(dim=1) if average_attn_weights else weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, backend={self.backend!r}"


MIDBLOCK_ATTENTIONS = ("torch", "ours")


class MidBlock(nn.Module):
    """The seed-003 bottleneck: a residual block, then ``num_layers`` x [GroupNorm -> multi-head self-attention
    -> add, residual block] (Chapter 4, *The seed-003 mid-block*).

    Argument and attribute names follow the seed (``resnet_conv_first``, ``resnet_conv_second``,
    ``attention_norms``, ``attentions``, ``residual_input_conv``). Every residual block is the seed-003 unit
    (:func:`~encoderlab.resnet.seed003_unit`), a 1x1 conv on its skip path even when the channel count does not
    change; GroupNorm uses PyTorch's default eps (1e-5).
    ``attention="torch"`` (default, as in the seed) uses ``nn.MultiheadAttention(batch_first=True)``;
    ``attention="ours"`` uses :class:`MultiHeadSelfAttention`, which has the same state-dict keys, so one
    state dict loads into both. Shape: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, num_heads: int, num_layers: int,
                 norm_channels: int, *, attention: str = "torch") -> None:
        super().__init__()
        check_int("num_heads", num_heads, min_value=1)
        check_seed003_args(in_channels, out_channels, norm_channels, num_layers)
        check_divisible("out_channels", out_channels, "num_heads", num_heads)
        check_one_of("attention", attention, MIDBLOCK_ATTENTIONS)
        self.in_channels = in_channels
        self.num_layers = num_layers
        self.resnet_conv_first, self.resnet_conv_second = seed003_units(in_channels, out_channels, num_layers + 1,
                                                                        norm_channels)
        self.attention_norms = nn.ModuleList([GroupNorm(norm_channels, out_channels) for _ in range(num_layers)])
        if attention == "torch":
            attns = [nn.MultiheadAttention(out_channels, num_heads, batch_first=True) for _ in range(num_layers)]
        else:
            attns = [MultiHeadSelfAttention(out_channels, num_heads) for _ in range(num_layers)]
        self.attentions = nn.ModuleList(attns)
        self.residual_input_conv = seed003_skips(in_channels, out_channels, num_layers + 1)

    def _resnet(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Residual unit ``i`` (:func:`~encoderlab.resnet.seed003_unit`)."""
        return seed003_unit(self.resnet_conv_first[i], self.resnet_conv_second[i], self.residual_input_conv[i], x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_channels)
        out = self._resnet(0, x)
        for i in range(self.num_layers):
            b, c, h, w = out.shape
            tokens = self.attention_norms[i](out.reshape(b, c, h * w)).transpose(1, 2)  # (B, HW, C)
            attended, _ = self.attentions[i](tokens, tokens, tokens, need_weights=False)
            out = out + from_tokens(attended, h, w)
            out = self._resnet(i + 1, out)
        return out
