"""Checks for the exercises of Chapter 4 (the attention mid-block)."""

from __future__ import annotations

import math

import torch

from ._common import ExerciseError, call_answer, close, expect_shape, passed

__all__ = ["check_attention", "check_split_heads", "check_to_tokens"]


def check_to_tokens(fn) -> None:
    """Check ``fn(x) -> tokens`` that turns a feature map ``(B, C, H, W)`` into tokens ``(B, H*W, C)``.

    Token ``row * W + col`` must be the channel vector ``x[b, :, row, col]``.
    """
    gen = torch.Generator().manual_seed(4)
    b, c, h, w = 2, 5, 3, 4
    x = torch.randn(b, c, h, w, generator=gen)
    out = call_answer(fn, x, what="your function")
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (b, c, h * w):
        raise ExerciseError(f"tokens has shape {(b, c, h * w)} = (B, C, H*W): the positions are flattened but "
                            "the channels still come first. Transpose the last two axes to get (B, H*W, C).")
    expect_shape("tokens", out, (b, h * w, c), "One token per position, each a vector of C channels.")
    want = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
    if close(out, want):
        passed(f"{tuple(x.shape)} -> {tuple(out.shape)}; token row*W + col holds the channels of that pixel.")
        return
    if close(out, x.reshape(b, h * w, c)):
        raise ExerciseError("you reshaped (B, C, H, W) straight to (B, H*W, C): the shape is right but every "
                            "token now mixes values of different channels and positions. Reshape to "
                            "(B, C, H*W) first, then transpose(1, 2).")
    if close(out, x.permute(0, 3, 2, 1).reshape(b, h * w, c)):
        raise ExerciseError("the tokens are in column-major order (col * H + row). Use row-major order, "
                            "row * W + col, so that from_tokens and the rest of the book agree.")
    raise ExerciseError("tokens has the right shape but wrong values: token i must equal x[b, :, i // W, i % W].")


def check_attention(fn) -> None:
    """Check ``fn(q, k, v) -> out``: explicit scaled dot-product attention ``softmax(q k^T / sqrt(d)) v``.

    q ``(B, N, d)``, k ``(B, M, d)``, v ``(B, M, e)`` -> ``(B, N, e)``.
    """
    gen = torch.Generator().manual_seed(5)
    b, n, m, d, e = 2, 6, 7, 16, 3
    q = torch.randn(b, n, d, generator=gen)
    k = torch.randn(b, m, d, generator=gen)
    v = torch.randn(b, m, e, generator=gen)
    out = call_answer(fn, q, k, v, what="your function")
    expect_shape("out", out, (b, n, e), "Each of the N queries gets a weighted sum of the M values.")
    scores = q @ k.transpose(-1, -2)
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    if close(out, want, atol=1e-5):
        passed("out equals F.scaled_dot_product_attention(q, k, v).")
        return
    if close(out, scores.softmax(-1) @ v, atol=1e-5):
        raise ExerciseError("you forgot the scale: divide the scores by sqrt(d) before the softmax, or large "
                            "dot products saturate it.")
    if close(out, (scores / d).softmax(-1) @ v, atol=1e-5):
        raise ExerciseError(f"you divided the scores by d = {d}; the scale is 1 / sqrt(d) = {1 / math.sqrt(d):.3f}.")
    if close(out, (scores / math.sqrt(d)).softmax(-2) @ v, atol=1e-5):
        raise ExerciseError("the softmax runs over the queries (dim=-2). Each query's weights over the keys must "
                            "sum to 1: use softmax(dim=-1).")
    if close(out, (scores / math.sqrt(d)) @ v, atol=1e-5):
        raise ExerciseError("there is no softmax: the weights must be positive and sum to 1 over the keys.")
    raise ExerciseError("out has the right shape but wrong values: compute scores = q @ k.transpose(-1, -2) / "
                        "sqrt(d), weights = scores.softmax(dim=-1), out = weights @ v.")


def check_split_heads(fn) -> None:
    """Check ``fn(x, num_heads) -> heads``: ``(B, N, C) -> (B, num_heads, N, C // num_heads)``.

    Head ``h`` must hold the consecutive channels ``h*d : (h+1)*d`` of every token (``nn.MultiheadAttention``'s
    convention).
    """
    gen = torch.Generator().manual_seed(6)
    b, n, c, heads = 2, 5, 12, 3
    d = c // heads
    x = torch.randn(b, n, c, generator=gen)
    out = call_answer(fn, x, heads, what="your function")
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (b, n, heads, d):
        raise ExerciseError(f"the result has shape {(b, n, heads, d)} = (B, N, heads, d): the channels are split "
                            "but the head axis must come before the tokens. Add .transpose(1, 2).")
    expect_shape("heads", out, (b, heads, n, d), "(B, num_heads, N, C // num_heads).")
    want = x.reshape(b, n, heads, d).transpose(1, 2)
    if close(out, want):
        passed(f"{tuple(x.shape)} -> {tuple(out.shape)}; head h holds channels h*d:(h+1)*d.")
        return
    if close(out, x.reshape(b, heads, n, d)):
        raise ExerciseError("you reshaped (B, N, C) straight to (B, heads, N, d): that cuts the token axis, not the "
                            "channels. Reshape to (B, N, heads, d) first, then transpose(1, 2).")
    if close(out, x.reshape(b, n, d, heads).permute(0, 3, 1, 2)):
        raise ExerciseError("your heads take every num_heads-th channel (interleaved). nn.MultiheadAttention gives "
                            "head h the consecutive channels h*d:(h+1)*d: reshape to (B, N, heads, d).")
    raise ExerciseError("heads has the right shape but wrong values: head h of token i must equal "
                        "x[:, i, h*d:(h+1)*d].")
