"""The CIFAR-10 networks of He et al. (2015), section 4.2: ResNet-20/32/44/56/110 and their plain twins.

On a 32×32 input: a 3×3 convolution with 16 filters, then three stages of
``n`` basic blocks (two 3×3 convolutions each) on 32×32, 16×16 and 8×8 maps
with 16, 32 and 64 filters, global average pooling and a 10-way FC layer:
``6n + 2`` weighted layers. The shortcuts are the paper's option A: identity,
and where the size halves and the channels double, a stride-2 subsampling
padded with zero channels -- no parameters. ResNet-20 has 269,722
parameters (the paper's 0.27 M), ResNet-56 853,018 (0.85 M).

:func:`plain_cifar` is the same network without shortcuts, for the
degradation experiment (deeper plain nets train *worse*); ``width`` scales
the number of filters (16 in the paper) to make the networks CPU-sized.
Option B (1×1 projection shortcuts where the shape changes) is available
with ``shortcut="B"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._args import check_int
from .._args import check_classes_channels

__all__ = ["ZeroPadShortcut", "CifarBlock", "CifarResNet", "resnet_cifar", "plain_cifar",
           "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]


class ZeroPadShortcut(nn.Module):
    """Option A shortcut: take every ``stride``-th pixel and pad the channels with zeros (no parameters).

    x: (N, C_in, H, W) -> (N, C_out, ceil(H/stride), ceil(W/stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"a zero-padding shortcut cannot reduce channels ({in_channels} -> {out_channels})")
        self.stride = stride
        self.pad_front = (out_channels - in_channels) // 2
        self.pad_back = out_channels - in_channels - self.pad_front

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_front, self.pad_back))


class CifarBlock(nn.Module):
    """Two 3×3 conv-BN layers with a shortcut (``shortcut`` ``"A"``, ``"B"``) or without (``None``: plain)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str | None = "A") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.residual = shortcut is not None
        self.downsample: nn.Module | None = None
        if self.residual and (stride != 1 or in_planes != planes):
            if shortcut == "A":
                self.downsample = ZeroPadShortcut(in_planes, planes, stride)
            else:
                self.downsample = nn.Sequential(
                    nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes),
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class CifarResNet(nn.Module):
    """``conv1``/``bn1`` stem, ``layer1``..``layer3`` of ``n`` blocks each, global average pool, ``fc``."""

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3, width: int = 16,
                 shortcut: str | None = "A") -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        depth = check_int(depth, "depth", minimum=8)
        width = check_int(width, "width", minimum=1)
        if (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 (20, 32, 44, 56, 110, ...), got {depth}; "
                             f"the nearest are {depth - 2 - (depth - 2) % 6 + 2} and {depth - (depth - 2) % 6 + 6}")
        if shortcut not in ("A", "B", None):
            raise ValueError(f"shortcut must be 'A' (zero padding), 'B' (projection) or None (plain), got {shortcut!r}")
        n = (depth - 2) // 6
        self.depth, self.width, self.shortcut = depth, width, shortcut
        self.in_planes = width
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(width, n, 1, shortcut)
        self.layer2 = self._make_layer(2 * width, n, 2, shortcut)
        self.layer3 = self._make_layer(4 * width, n, 2, shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(4 * width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int, shortcut: str | None) -> nn.Sequential:
        layers = [CifarBlock(self.in_planes, planes, stride, shortcut)]
        self.in_planes = planes
        layers += [CifarBlock(planes, planes, 1, shortcut) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Everything but the classifier: x (N, C, H, W) -> (N, 4 * width) features."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


def resnet_cifar(depth: int = 20, num_classes: int = 10, in_channels: int = 3, width: int = 16,
                 shortcut: str = "A") -> CifarResNet:
    """CIFAR ResNet of depth 6n+2 with option-A shortcuts: 269,722 parameters at depth 20, 853,018 at 56."""
    return CifarResNet(depth, num_classes, in_channels, width, shortcut)


def plain_cifar(depth: int = 20, num_classes: int = 10, in_channels: int = 3, width: int = 16) -> CifarResNet:
    """The plain counterpart of :func:`resnet_cifar`: the same layers, no shortcuts (same parameter count)."""
    return CifarResNet(depth, num_classes, in_channels, width, shortcut=None)


def resnet20(**kwargs) -> CifarResNet:
    return resnet_cifar(20, **kwargs)


def resnet32(**kwargs) -> CifarResNet:
    return resnet_cifar(32, **kwargs)


def resnet44(**kwargs) -> CifarResNet:
    return resnet_cifar(44, **kwargs)


def resnet56(**kwargs) -> CifarResNet:
    return resnet_cifar(56, **kwargs)


def resnet110(**kwargs) -> CifarResNet:
    return resnet_cifar(110, **kwargs)
