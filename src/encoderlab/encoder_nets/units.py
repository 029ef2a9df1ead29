"""Chapter 10, *The unit: normalise, activate, convolve*: the layers of one residual block of the family
documented by MDNC's ``modules.resnet``,

    InstanceNorm(affine) -> PReLU(per channel) -> Conv(bias=False)

every unit an ``nn.Sequential`` (the summary tables skip containers, so this decides their rows), plus the
projection shortcut ``Conv 1x1 -> InstanceNorm``. The tables below give the layer class of each dimension.
"""

from __future__ import annotations

from torch import nn

__all__ = ["ACTIVATORS", "LAYER_ORDERS", "NORMALIZERS", "SCALERS"]

NORMALIZERS = ("pinst", "inst", "batch", "null")
ACTIVATORS = ("prelu", "relu", "null")
LAYER_ORDERS = ("new", "old")
SCALERS = ("down", "up")

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_INSTANCE_NORM = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
_INTERP = {1: "linear", 2: "bilinear", 3: "trilinear"}
_LAYOUT = {1: "(B, C, L)", 2: "(B, C, H, W)", 3: "(B, C, D, H, W)"}


def _per_axis(value, order: int) -> tuple[int, ...]:
    """An int or a sequence, as a per-axis tuple (already checked by the public entry)."""
    return (value,) * order if isinstance(value, int) else tuple(value)


def _is_resampling(stride: tuple[int, ...], output_size, scaler: str) -> bool:
    return (output_size is not None and scaler == "up") or any(s > 1 for s in stride)


class _UnitFactory:
    """Builds the conv units and the shortcut of one block for a given dimension and layer options
    (checked by the public blocks; the networks use the defaults)."""

    def __init__(self, order: int, normalizer: str, activator: str, layer_order: str) -> None:
        self.order, self.normalizer, self.activator, self.layer_order = order, normalizer, activator, layer_order

    def norm(self, channels: int) -> nn.Module:
        if self.normalizer == "batch":
            return _BATCH_NORM[self.order](channels)
        return _INSTANCE_NORM[self.order](channels, affine=self.normalizer == "pinst")

    def act(self, channels: int) -> list[nn.Module]:
        if self.activator == "prelu":
            return [nn.PReLU(num_parameters=channels)]
        if self.activator == "relu":
            return [nn.ReLU()]
        return []

    def upsample(self, stride: tuple[int, ...], output_size) -> nn.Upsample:
        if output_size is not None:
            return nn.Upsample(size=output_size, mode=_INTERP[self.order], align_corners=True)
        return nn.Upsample(scale_factor=tuple(stride), mode=_INTERP[self.order], align_corners=True)

    def unit(self, cin: int, cout: int, kernel, stride, padding, output_size=None, scaler="down") -> nn.Sequential:
        """``IN -> PReLU -> [Upsample] -> Conv`` ('new' order) or ``[Upsample] -> Conv -> IN -> PReLU`` ('old')."""
        conv_cls = _CONV[self.order]
        up = scaler == "up" and _is_resampling(stride, output_size, scaler)
        bias = self.normalizer == "null"
        layers: list[nn.Module] = []
        if self.normalizer != "null" and self.layer_order == "new":
            layers += [self.norm(cin), *self.act(cin)]
        if up:
            layers += [self.upsample(stride, output_size),
                       conv_cls(cin, cout, kernel, stride=1, padding=padding, bias=bias)]
        else:
            layers.append(conv_cls(cin, cout, kernel, stride=stride, padding=padding, bias=bias))
        if self.normalizer == "null":
            layers += self.act(cout)
        elif self.layer_order == "old":
            layers += [self.norm(cout), *self.act(cout)]
        return nn.Sequential(*layers)

    def shortcut(self, cin: int, cout: int, stride, output_size=None, scaler="down") -> nn.Sequential | None:
        """``Conv 1x1 (stride) -> IN`` (down) or ``Upsample -> Conv 1x1 -> IN`` (up); None means identity."""
        if not (_is_resampling(stride, output_size, scaler) or cin != cout):
            return None
        conv_cls = _CONV[self.order]
        bias = self.normalizer == "null"
        ones = (1,) * self.order
        if scaler == "up":  # upstream quirk: an Upsample even at stride 1 (scale_factor=1)
            layers = [self.upsample(stride, output_size), conv_cls(cin, cout, ones, stride=1, padding=0, bias=bias)]
        else:
            layers = [conv_cls(cin, cout, ones, stride=stride, padding=0, bias=bias)]
        if self.normalizer != "null":
            layers.append(self.norm(cout))
        return nn.Sequential(*layers)
