"""Squeeze-and-excitation (Hu, Shen and Sun, 2017) and SE-ResNets.

An SE block reweights the channels of a feature map by a gate computed from
the map itself: *squeeze* (global average pool to one number per channel),
*excite* (FC C -> C/r, ReLU, FC C/r -> C, sigmoid), *scale* (multiply each
channel by its gate). In an SE-ResNet the block sits on the residual branch,
just before the addition. Each SE block adds ``2*C*C/r + C/r + C``
parameters (weights and biases of its two FC layers).
"""

from __future__ import annotations

import torch
from torch import nn

from .resnet import BasicBlock, Bottleneck, ResNet

__all__ = ["SEBlock", "SEBasicBlock", "SEBottleneck", "se_resnet", "se_resnet18", "se_resnet50"]


class SEBlock(nn.Module):
    """Squeeze-and-excitation. x: (N, C, H, W) -> x * gate, gate: (N, C, 1, 1) in (0, 1)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if channels // reduction < 1:
            raise ValueError(f"reduction={reduction} leaves no hidden unit for {channels} channels; "
                             f"use reduction <= {channels}")
        hidden = channels // reduction
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        s = torch.flatten(self.squeeze(x), 1)            # (N, C)
        g = self.gate(self.fc2(self.relu(self.fc1(s))))  # (N, C)
        return x * g.view(n, c, 1, 1)


class SEBasicBlock(BasicBlock):
    """:class:`~cnnlab.models.resnet.BasicBlock` with an SE block before the addition."""

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, reduction=16):
        super().__init__(inplanes, planes, stride, downsample, groups, base_width)
        self.se = SEBlock(planes * self.expansion, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class SEBottleneck(Bottleneck):
    """:class:`~cnnlab.models.resnet.Bottleneck` with an SE block before the addition."""

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, reduction=16):
        super().__init__(inplanes, planes, stride, downsample, groups, base_width)
        self.se = SEBlock(planes * self.expansion, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


_DEPTHS = {18: (SEBasicBlock, [2, 2, 2, 2]), 34: (SEBasicBlock, [3, 4, 6, 3]),
           50: (SEBottleneck, [3, 4, 6, 3]), 101: (SEBottleneck, [3, 4, 23, 3]),
           152: (SEBottleneck, [3, 8, 36, 3])}


def se_resnet(depth: int = 50, num_classes: int = 1000, in_channels: int = 3, reduction: int = 16,
              **kwargs) -> ResNet:
    """SE-ResNet of the given depth (18, 34, 50, 101 or 152): a ResNet whose blocks carry SE blocks.

    SE-ResNet-50 has 28,088,024 parameters (ResNet-50's 25,557,032 plus 2,530,992 in its 16 SE blocks).
    """
    if depth not in _DEPTHS:
        raise ValueError(f"depth must be one of {sorted(_DEPTHS)}, got {depth!r}")
    block, layers = _DEPTHS[depth]
    return ResNet(block, layers, num_classes=num_classes, in_channels=in_channels,
                  block_kwargs={"reduction": reduction}, **kwargs)


def se_resnet18(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """SE-ResNet-18."""
    return se_resnet(18, num_classes, in_channels, **kwargs)


def se_resnet50(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """SE-ResNet-50."""
    return se_resnet(50, num_classes, in_channels, **kwargs)
