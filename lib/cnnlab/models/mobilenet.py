"""MobileNet v1 (Howard et al., 2017): depthwise separable convolutions.

The body of the paper's table 1 on a 224×224×3 input: a full 3×3 stride-2
convolution, then 13 depthwise separable blocks (a 3×3 depthwise convolution,
one filter per channel, followed by a 1×1 pointwise convolution), global
average pooling and a fully connected layer. Every convolution is followed by
BatchNorm and ReLU and has no bias. 4,231,976 parameters (the paper's
"4.2 million"); ``width_mult`` is the paper's width multiplier α.

The paper's table prints stride 2 for the second-last depthwise layer; the
sizes it lists (7×7 in and out) need stride 1, which is what every
implementation uses.
"""

from __future__ import annotations

import torch
from torch import nn

from .._args import check_classes_channels

__all__ = ["ConvBNReLU", "DepthwiseSeparable", "MobileNetV1", "mobilenet_v1"]

# (output channels of the pointwise conv, stride of the depthwise conv) for the 13 blocks
BODY = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias) -> BatchNorm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, groups=groups,
                      bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class DepthwiseSeparable(nn.Module):
    """3×3 depthwise conv (``groups = in_channels``) + BN + ReLU, then 1×1 pointwise conv + BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.depthwise = ConvBNReLU(in_channels, in_channels, 3, stride, groups=in_channels)
        self.pointwise = ConvBNReLU(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class MobileNetV1(nn.Module):
    """MobileNet v1: ``features`` (stem and 13 separable blocks), ``avgpool``, ``fc``."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        if not width_mult > 0:
            raise ValueError(f"width_mult must be positive (the paper uses 1, 0.75, 0.5, 0.25), got {width_mult!r}")

        def w(c: int) -> int:
            return max(1, int(c * width_mult))

        layers: list[nn.Module] = [ConvBNReLU(in_channels, w(32), 3, stride=2)]
        c = w(32)
        for out, stride in BODY:
            layers.append(DepthwiseSeparable(c, w(out), stride))
            c = w(out)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


def mobilenet_v1(num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0, **kwargs) -> MobileNetV1:
    """MobileNet v1 (α = 1): 4,231,976 parameters."""
    return MobileNetV1(num_classes=num_classes, in_channels=in_channels, width_mult=width_mult, **kwargs)
