"""Chapter 4: spatial self-attention and the attention mid-blocks of the seeds.

An activation ``(B, C, H, W)`` becomes a sequence of ``H*W`` tokens of dimension ``C``
(:func:`to_tokens`); every token attends to every other (:func:`attention`), and the result is folded back
to ``(B, C, H, W)`` (:func:`from_tokens`).

The blocks:

- :class:`AttnBlock` -- LDM's ``"vanilla"`` attention: GroupNorm, 1x1 q/k/v, one head, residual.
- :class:`LinAttnBlock` -- LDM's ``"linear"`` attention: cost linear in ``H*W``, no norm and no residual.
- :func:`make_attn` -- LDM's factory for ``"vanilla"``, ``"linear"`` and ``"none"`` (identity).
- :func:`split_heads` / :func:`merge_heads` -- the head layout of multi-head attention; the multi-head module
  and the seed-003 mid-block built on it are in :mod:`encoderlab.mid_block`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_block_input, check_divisible, check_int, check_one_of, check_tensor
from .norm import GroupNorm

__all__ = [
    "ATTENTION_BACKENDS",
    "ATTN_TYPES",
    "AttnBlock",
    "LinAttnBlock",
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


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor | None, *, with_v: bool = True) -> None:
    """q ``(..., N, d)``, k ``(..., M, d)`` and (``with_v``) v ``(..., M, e)``: real floating tensors of one dtype,
    at least one key, leading (batch, head) dimensions that broadcast."""
    given = (("q", q), ("k", k), ("v", v)) if with_v else (("q", q), ("k", k))
    names = "q, k and v" if with_v else "q and k"
    for name, t in given:
        check_tensor(name, t, min_ndim=2, layout="(..., tokens, dim)")
    tensors = [t for _, t in given]
    if len({t.dtype for t in tensors}) > 1:
        dtypes = ", ".join(f"{name} {t.dtype}" for name, t in given)
        raise TypeError(f"{names} must have one dtype, got {dtypes}; convert them with .to()")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same last dimension, got {q.shape[-1]} and {k.shape[-1]}")
    if with_v and k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of tokens, got {k.shape[-2]} and {v.shape[-2]}")
    if k.shape[-2] == 0:
        raise ValueError(f"k has no tokens (shape {tuple(k.shape)}): a softmax over no keys is undefined")
    try:
        torch.broadcast_shapes(*(t.shape[:-2] for t in tensors))
    except RuntimeError:
        shapes = ", ".join(f"{name} {tuple(t.shape)}" for name, t in given)
        raise ValueError(f"the leading (batch, head) dimensions of {names} must match or be 1, got {shapes}") from None


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half precision (softmax and sums are unsafe in float16/bfloat16), else unchanged."""
    return torch.promote_types(dtype, torch.float32)


def attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The attention matrix ``softmax(q k^T / sqrt(d))``: q ``(..., N, d)``, k ``(..., M, d)`` -> ``(..., N, M)``
    (Chapter 4, *Scaled dot-product attention, step by step*).

    Row ``i`` holds how much query ``i`` takes from every key; every row sums to 1. Computed in (at least)
    float32 and returned in that precision.
    """
    _check_qkv(q, k, None, with_v=False)
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
        check_block_input("x", x, self, channels=self.in_channels)

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
        check_block_input("x", x, self, channels=self.in_channels)
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


def make_attn(in_channels: int, attn_type: str = "vanilla", *, num_groups: int = 32) -> nn.Module:
    """LDM's factory: ``"vanilla"`` -> :class:`AttnBlock` (its GroupNorm in ``num_groups`` groups, LDM's 32),
    ``"linear"`` -> :class:`LinAttnBlock`, ``"none"`` -> ``nn.Identity`` (Chapter 4, *The third type: none*).
    (LDM also prints a line; we do not.)"""
    check_one_of("attn_type", attn_type, ATTN_TYPES)
    check_int("in_channels", in_channels, min_value=1)
    if attn_type == "vanilla":
        return AttnBlock(in_channels, num_groups=num_groups)
    if attn_type == "linear":
        return LinAttnBlock(in_channels)
    return nn.Identity()
