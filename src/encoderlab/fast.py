"""Chapter 7, *As fast as diffusers, and no more memory*: the CPU fast path of the autoencoder, all in one place.

The models' ``forward`` methods are the plain recipes of Chapters 3 and 7. Two measured optimisations sit here,
beside them, and change no value (tested bit for bit):

- :class:`ChannelsLastOnCPU`, a mixin of :class:`~encoderlab.ldm.Encoder` and :class:`~encoderlab.ldm.Decoder`:
  while the model lives on the CPU its convolution weights are stored channels-last, which makes every
  activation channels-last too (from ``conv_in`` on: a convolution with channels-last weights returns a
  channels-last result, and GroupNorm, SiLU, attention, padding and resampling keep the layout); a forward
  hook hands the caller an ordinary contiguous output.
- :func:`lean_resnet_forward`, which :class:`~encoderlab.ResnetBlock` runs when no autograd graph is recorded:
  the same layers, with SiLU and the residual addition in place, so one activation fewer is alive at the peak.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_bool

__all__ = ["ChannelsLastOnCPU", "lean_resnet_forward"]


def _contiguous_output(module: nn.Module, args, output):
    """Forward hook: the caller gets a standard contiguous tensor, whatever layout the model computed in."""
    return output.contiguous() if isinstance(output, torch.Tensor) else output


def _contiguous_state(module: nn.Module, state_dict, prefix, local_metadata) -> None:
    """State-dict hook: ``state_dict()`` returns contiguous tensors (safetensors and friends need them)."""
    for key, value in state_dict.items():
        if key.startswith(prefix) and isinstance(value, torch.Tensor) and not value.is_contiguous():
            state_dict[key] = value.contiguous()


class ChannelsLastOnCPU(nn.Module):
    """Keeps a model's 4-D weights, and so its activations, channels-last while it lives on the CPU.

    Chapter 7, *As fast as diffusers, and no more memory*. oneDNN, PyTorch's CPU convolution library, works
    natively in channels-last layout. Given default-layout activations it computes in its own layout and copies
    the result back (time, and one extra activation per convolution); given channels-last activations with
    default-layout weights, PyTorch copies every weight into channels-last on every call. So on the CPU the 4-D
    weights are stored channels-last (re-arranged whenever the model moves: ``.to()``, ``.cpu()``, ``.double()``,
    ...; on other devices they stay in the default layout). A convolution with channels-last weights returns a
    channels-last activation even for a default-layout input, so the activations follow from ``conv_in`` on.
    The output is made contiguous by a forward hook, ``state_dict()`` returns contiguous tensors. Set
    ``cpu_channels_last = False`` on an instance to run everything in PyTorch's default layout.

    A subclass calls :meth:`_finish_init` at the end of its ``__init__``.
    """

    _cpu_channels_last = True

    @property
    def cpu_channels_last(self) -> bool:
        """Whether the weights (and so the activations) are channels-last while on the CPU (default True)."""
        return self._cpu_channels_last

    @cpu_channels_last.setter
    def cpu_channels_last(self, value: bool) -> None:
        self._cpu_channels_last = check_bool("cpu_channels_last", value)
        self._sync_weight_layout()

    def _sync_weight_layout(self) -> None:
        """Give every 4-D parameter the layout its device prefers (after a move, a load with ``assign``, ...)."""
        with torch.no_grad(), torch.inference_mode(False):
            for p in self.parameters():
                if p.dim() != 4 or p.is_meta:
                    continue
                fmt = torch.channels_last if self._cpu_channels_last and p.device.type == "cpu" else \
                    torch.contiguous_format
                if not p.is_contiguous(memory_format=fmt):
                    p.data = p.data.contiguous(memory_format=fmt)

    def _apply(self, fn, recurse=True):
        out = super()._apply(fn, recurse)
        self._sync_weight_layout()
        return out

    def _finish_init(self) -> None:
        self.register_forward_hook(_contiguous_output)
        self.register_state_dict_post_hook(_contiguous_state)
        self._sync_weight_layout()


def lean_resnet_forward(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """:class:`~encoderlab.ResnetBlock`'s forward without autograd, in less memory (Chapter 7, *As fast as
    diffusers, and no more memory*).

    The plain recipe ``shortcut(x) + conv2(dropout(SiLU(norm2(conv1(SiLU(norm1(x)))))))``, with SiLU and the
    residual addition in place; each step rebinds ``h``, so the previous activation is freed before the next
    convolution runs: at most three activations are alive at once instead of four. Same values, bit for bit;
    ``x`` is never modified. ``(B, in, H, W) -> (B, out, H, W)``.
    """
    h = F.silu(block.norm1(x), inplace=True)
    h = block.conv1(h)
    h = F.silu(block.norm2(h), inplace=True)
    h = block.conv2(block.dropout(h))
    skip = block.shortcut(x)
    return h.add_(skip) if skip.dtype == h.dtype else skip + h  # dtypes differ under autocast
