"""Chapter 4: spatial self-attention and the attention mid-blocks of the seeds.

An activation ``(B, C, H, W)`` becomes a sequence of ``H*W`` tokens of dimension ``C``; every token attends
to every other, and the result is folded back to ``(B, C, H, W)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_channels, check_divisible, check_int, check_one_of, check_tensor
from .norm import GroupNorm

__all__ = ["ATTN_TYPES", "AttnBlock", "LinAttnBlock", "MidBlock", "attention", "make_attn"]

ATTN_TYPES = ("vanilla", "linear", "none")


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, backend: str = "sdpa") -> torch.Tensor:
    """Scaled dot-product attention ``softmax(q k^T / sqrt(d)) v``.

    q: ``(..., N, d)``, k: ``(..., M, d)``, v: ``(..., M, e)`` -> ``(..., N, e)``.
    ``backend="sdpa"`` calls ``F.scaled_dot_product_attention`` (fused, memory-efficient); ``"explicit"``
    materialises the ``N x M`` score matrix and applies the softmax in float32.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, t)
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., tokens, dim), got {tuple(t.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same last dimension, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of tokens, got {k.shape[-2]} and {v.shape[-2]}")
    check_one_of("backend", backend, ("sdpa", "explicit"))
    if backend == "sdpa":
        return F.scaled_dot_product_attention(q, k, v)
    scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return (scores.softmax(dim=-1) @ v.float()).to(v.dtype)


class AttnBlock(nn.Module):
    """LDM's ``AttnBlock`` ("vanilla"): single-head self-attention over the H*W positions, with a residual.

    ``y = x + proj_out(attention(q(n), k(n), v(n)))`` with ``n = GroupNorm(x)`` and 1x1-conv projections
    ``q, k, v, proj_out`` (LDM's names). Shape: ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, in_channels: int, *, num_groups: int = 32, eps: float = 1e-6, backend: str = "sdpa") -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        check_int("num_groups", num_groups, min_value=1)
        check_divisible("in_channels", in_channels, "num_groups", num_groups)
        self.in_channels = in_channels
        self.backend = check_one_of("backend", backend, ("sdpa", "explicit"))
        self.norm = GroupNorm(num_groups, in_channels, eps=eps)
        self.q = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.k = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.v = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.proj_out = nn.Conv2d(in_channels, in_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_channels)
        b, c, h, w = x.shape
        n = self.norm(x)

        def tokens(t: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 1, H*W, C): one head
            return t.reshape(b, 1, c, h * w).transpose(-1, -2)

        out = attention(tokens(self.q(n)), tokens(self.k(n)), tokens(self.v(n)), backend=self.backend)
        out = out.transpose(-1, -2).reshape(b, c, h, w)
        return x + self.proj_out(out)


class LinAttnBlock(nn.Module):
    """LDM's ``LinAttnBlock`` ("linear"): linear attention with one head of dimension C.

    Keys are soft-maxed over positions, ``context = k v^T`` is ``C x C``, and ``out = context^T q``, so the cost
    grows linearly with H*W. As in LDM there is **no GroupNorm and no residual**: the output replaces the input.
    Layers: ``to_qkv`` (1x1, no bias, C -> 3C) and ``to_out`` (1x1, C -> C).
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
        k = k.softmax(dim=-1)
        context = k @ v.transpose(-1, -2)  # (B, C, C): sum over positions of k_d * v_e
        out = context.transpose(-1, -2) @ q  # (B, C, HW)
        return self.to_out(out.reshape(b, c, h, w))


def make_attn(in_channels: int, attn_type: str = "vanilla") -> nn.Module:
    """LDM's factory: ``"vanilla"`` -> :class:`AttnBlock`, ``"linear"`` -> :class:`LinAttnBlock`,
    ``"none"`` -> ``nn.Identity``."""
    check_one_of("attn_type", attn_type, ATTN_TYPES)
    if attn_type == "vanilla":
        return AttnBlock(in_channels)
    if attn_type == "linear":
        return LinAttnBlock(in_channels)
    return nn.Identity()


def _res_path(cin: int, cout: int, norm_channels: int) -> nn.Sequential:
    return nn.Sequential(GroupNorm(norm_channels, cin), nn.SiLU(), nn.Conv2d(cin, cout, kernel_size=3, padding=1))


class MidBlock(nn.Module):
    """The seed-003 bottleneck: a residual block, then ``num_layers`` x [GroupNorm -> multi-head self-attention
    -> add, residual block].

    Argument and attribute names follow the seed (``resnet_conv_first``, ``resnet_conv_second``,
    ``attention_norms``, ``attentions``, ``residual_input_conv``). Every residual block has a 1x1 conv on its
    skip path, even when the channel count does not change; GroupNorm uses PyTorch's default eps (1e-5).
    Shape: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, num_heads: int, num_layers: int,
                 norm_channels: int) -> None:
        super().__init__()
        check_int("in_channels", in_channels, min_value=1)
        check_int("out_channels", out_channels, min_value=1)
        check_int("num_heads", num_heads, min_value=1)
        check_int("num_layers", num_layers, min_value=1)
        check_int("norm_channels", norm_channels, min_value=1)
        check_divisible("in_channels", in_channels, "norm_channels", norm_channels)
        check_divisible("out_channels", out_channels, "norm_channels", norm_channels)
        check_divisible("out_channels", out_channels, "num_heads", num_heads)
        self.in_channels = in_channels
        self.num_layers = num_layers
        cins = [in_channels] + [out_channels] * num_layers
        self.resnet_conv_first = nn.ModuleList([_res_path(c, out_channels, norm_channels) for c in cins])
        self.resnet_conv_second = nn.ModuleList(
            [_res_path(out_channels, out_channels, norm_channels) for _ in cins]
        )
        self.attention_norms = nn.ModuleList([GroupNorm(norm_channels, out_channels) for _ in range(num_layers)])
        self.attentions = nn.ModuleList(
            [nn.MultiheadAttention(out_channels, num_heads, batch_first=True) for _ in range(num_layers)]
        )
        self.residual_input_conv = nn.ModuleList([nn.Conv2d(c, out_channels, kernel_size=1) for c in cins])

    def _resnet(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self.resnet_conv_second[i](self.resnet_conv_first[i](x)) + self.residual_input_conv[i](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4, layout="(B, C, H, W)")
        check_channels("x", x, self.in_channels)
        out = self._resnet(0, x)
        for i in range(self.num_layers):
            b, c, h, w = out.shape
            tokens = self.attention_norms[i](out.reshape(b, c, h * w)).transpose(1, 2)  # (B, HW, C)
            attended, _ = self.attentions[i](tokens, tokens, tokens, need_weights=False)
            out = out + attended.transpose(1, 2).reshape(b, c, h, w)
            out = self._resnet(i + 1, out)
        return out
