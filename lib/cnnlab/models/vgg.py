"""VGG (Simonyan and Zisserman, 2014): stacks of 3×3 convolutions.

Configurations A (VGG-11), B (VGG-13), D (VGG-16) and E (VGG-19) of the
paper's table 1; numbers are output channels of 3×3 stride-1 pad-1
convolutions, ``"M"`` a 2×2 stride-2 max pool. The layout and the
``state_dict`` keys are those of torchvision (``features.N``, ``avgpool``,
``classifier.N``), so torchvision's ImageNet weights load into these models.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .._args import check_classes_channels

__all__ = ["VGG", "CONFIGS", "make_layers", "vgg11", "vgg13", "vgg16", "vgg19"]

CONFIGS: dict[str, list] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_layers(cfg: Sequence, in_channels: int = 3, batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part of a VGG: ``conv3x3 [-> BN] -> ReLU`` per number, a max pool per ``"M"``."""
    layers: list[nn.Module] = []
    c = in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(c, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            c = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG network: ``features`` (conv stacks), ``avgpool`` (to 7×7) and ``classifier`` (3 FC layers).

    ``avgpool`` is an adaptive average pool to 7×7: on the paper's 224×224
    input the features are already 7×7 and it does nothing; it lets other
    input sizes through (as in torchvision).
    """

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5,
                 init_weights: bool = True) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def _vgg(cfg: str, num_classes: int, in_channels: int, batch_norm: bool, **kwargs) -> VGG:
    num_classes, in_channels = check_classes_channels(num_classes, in_channels)
    return VGG(make_layers(CONFIGS[cfg], in_channels, batch_norm=batch_norm), num_classes=num_classes, **kwargs)


def vgg11(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False, **kwargs) -> VGG:
    """VGG-11 (configuration A): 132,863,336 parameters."""
    return _vgg("A", num_classes, in_channels, batch_norm, **kwargs)


def vgg13(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False, **kwargs) -> VGG:
    """VGG-13 (configuration B): 133,047,848 parameters."""
    return _vgg("B", num_classes, in_channels, batch_norm, **kwargs)


def vgg16(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False, **kwargs) -> VGG:
    """VGG-16 (configuration D): 138,357,544 parameters (138,365,992 with batch norm)."""
    return _vgg("D", num_classes, in_channels, batch_norm, **kwargs)


def vgg19(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False, **kwargs) -> VGG:
    """VGG-19 (configuration E): 143,667,240 parameters."""
    return _vgg("E", num_classes, in_channels, batch_norm, **kwargs)
