"""Chapter 4, *Many heads: multi-head attention from scratch* and *The seed-003 mid-block*.

- :class:`MultiHeadSelfAttention` -- multi-head attention written from scratch, with the parameters and
  state-dict keys of ``nn.MultiheadAttention`` (``in_proj_weight``, ``in_proj_bias``, ``out_proj``).
- :class:`MidBlock` -- the seed-003 bottleneck: residual block, then ``num_layers`` x [GroupNorm -> multi-head
  attention -> add, residual block], its residual blocks the seed-003 unit of :mod:`encoderlab.resnet`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import (
    check_block_input,
    check_bool,
    check_channels,
    check_divisible,
    check_dtype_matches,
    check_int,
    check_one_of,
    check_tensor,
)
from .attention import ATTENTION_BACKENDS, attention, attention_weights, from_tokens, merge_heads, split_heads
from .norm import GroupNorm
from .resnet import check_seed003_args, seed003_skips, seed003_unit, seed003_units

__all__ = ["MIDBLOCK_ATTENTIONS", "MidBlock", "MultiHeadSelfAttention"]


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

    def _check_inputs(self, query, key, value, need_weights, average_attn_weights) -> None:
        key = query if key is None else key
        value = key if value is None else value
        for name, t in (("query", query), ("key", key), ("value", value)):
            check_tensor(name, t, ndim=3, layout="(B, tokens, embed_dim)")
            check_channels(name, t, self.embed_dim, dim=2)
            check_dtype_matches(name, t, self)
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(f"query {tuple(query.shape)}, key {tuple(key.shape)} and value {tuple(value.shape)} "
                             "must share the batch size, and key and value the number of tokens")
        if key.shape[1] == 0:
            raise ValueError(f"key has no tokens (shape {tuple(key.shape)}): a softmax over no keys is undefined")
        check_bool("need_weights", need_weights)
        check_bool("average_attn_weights", average_attn_weights)

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                *, need_weights: bool = False, average_attn_weights: bool = True):
        self._check_inputs(query, key, value, need_weights, average_attn_weights)
        key = query if key is None else key
        value = key if value is None else value
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
        check_block_input("x", x, self, channels=self.in_channels)
        out = self._resnet(0, x)
        for i in range(self.num_layers):
            b, c, h, w = out.shape
            tokens = self.attention_norms[i](out.reshape(b, c, h * w)).transpose(1, 2)  # (B, HW, C)
            attended, _ = self.attentions[i](tokens, tokens, tokens, need_weights=False)
            out = out + from_tokens(attended, h, w)
            out = self._resnet(i + 1, out)
        return out
