"""GoogLeNet / Inception v1 (Szegedy et al., 2014) and the inception module.

Two inception modules:

* :class:`InceptionNaive` -- the module of the lecture's first sketch: 1×1,
  3×3 and 5×5 convolutions and a 3×3 max pool side by side, concatenated
  along channels. The pool branch passes all input channels through, so the
  output only grows (28×28×256 with 128/192/96 filters -> 28×28×672) and the
  5×5 branch dominates the cost.
* :class:`Inception` -- with 1×1 "bottleneck" convolutions that reduce the
  channels before the 3×3 and 5×5 convolutions and after the pool: the module
  GoogLeNet stacks nine times.

:func:`googlenet` follows torchvision's ``GoogLeNet`` layer for layer
(``BasicConv2d`` = conv without bias + BatchNorm(eps=0.001) + ReLU, the same
``state_dict`` keys): 6,624,904 parameters, 13,004,888 with the two auxiliary
classifiers. Like torchvision (and the TensorFlow port its weights come from)
the "5×5" branch uses a 3×3 convolution; pass ``paper_5x5=True`` for the
paper's 5×5 filters (more parameters).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .._args import check_classes_channels

__all__ = ["BasicConv2d", "InceptionNaive", "Inception", "InceptionAux", "GoogLeNet", "GoogLeNetOutputs",
           "googlenet"]


class GoogLeNetOutputs(NamedTuple):
    """What GoogLeNet returns in training mode with auxiliary classifiers."""
    logits: torch.Tensor
    aux_logits2: Optional[torch.Tensor]
    aux_logits1: Optional[torch.Tensor]


class BasicConv2d(nn.Module):
    """Convolution (no bias) -> BatchNorm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class InceptionNaive(nn.Module):
    """The naive inception module: 1×1, 3×3, 5×5 convolutions and a 3×3 max pool, concatenated.

    x: (N, C, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + C, H, W).
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int) -> None:
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, ch1x1, kernel_size=1), nn.ReLU(inplace=True))
        self.branch2 = nn.Sequential(nn.Conv2d(in_channels, ch3x3, kernel_size=3, padding=1), nn.ReLU(inplace=True))
        self.branch3 = nn.Sequential(nn.Conv2d(in_channels, ch5x5, kernel_size=5, padding=2), nn.ReLU(inplace=True))
        self.branch4 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class Inception(nn.Module):
    """Inception module with 1×1 bottlenecks (the paper's figure 2b).

    Branches: 1×1 (``ch1x1``); 1×1 (``ch3x3red``) then 3×3 (``ch3x3``);
    1×1 (``ch5x5red``) then 5×5 (``ch5x5``, a 3×3 unless ``kernel_5x5=5``);
    3×3 max pool then 1×1 (``pool_proj``). x: (N, C, H, W) -> (N, sum of the
    four branch widths, H, W).
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int, kernel_5x5: int = 3) -> None:
        super().__init__()
        if kernel_5x5 not in (3, 5):
            raise ValueError(f"kernel_5x5 must be 3 (torchvision) or 5 (the paper), got {kernel_5x5!r}")
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=kernel_5x5, padding=kernel_5x5 // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on an intermediate 14×14 map: pool to 4×4, 1×1 conv 128, FC 1024, FC classes."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, (4, 4))
        x = self.conv(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x), inplace=True)
        x = self.dropout(x)
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """GoogLeNet (22 layers with weights), torchvision's layout and names.

    In training mode with ``aux_logits=True`` the forward pass returns
    :class:`GoogLeNetOutputs` ``(logits, aux_logits2, aux_logits1)``; the
    paper adds the auxiliary losses with weight 0.3. Otherwise it returns the
    logits.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False,
                 dropout: float = 0.2, dropout_aux: float = 0.7, paper_5x5: bool = False) -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        k5 = 5 if paper_5x5 else 3
        self.aux_logits = bool(aux_logits)
        self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32, kernel_5x5=k5)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64, kernel_5x5=k5)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64, kernel_5x5=k5)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64, kernel_5x5=k5)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64, kernel_5x5=k5)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64, kernel_5x5=k5)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128, kernel_5x5=k5)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128, kernel_5x5=k5)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128, kernel_5x5=k5)

        if self.aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout=dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor):
        x = self.conv1(x)          # 64 x 112 x 112
        x = self.maxpool1(x)       # 64 x 56 x 56
        x = self.conv2(x)          # 64 x 56 x 56
        x = self.conv3(x)          # 192 x 56 x 56
        x = self.maxpool2(x)       # 192 x 28 x 28
        x = self.inception3a(x)    # 256 x 28 x 28
        x = self.inception3b(x)    # 480 x 28 x 28
        x = self.maxpool3(x)       # 480 x 14 x 14
        x = self.inception4a(x)    # 512 x 14 x 14
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4b(x)    # 512 x 14 x 14
        x = self.inception4c(x)    # 512 x 14 x 14
        x = self.inception4d(x)    # 528 x 14 x 14
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.inception4e(x)    # 832 x 14 x 14
        x = self.maxpool4(x)       # 832 x 7 x 7
        x = self.inception5a(x)    # 832 x 7 x 7
        x = self.inception5b(x)    # 1024 x 7 x 7
        x = self.avgpool(x)        # 1024 x 1 x 1
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)             # num_classes
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def googlenet(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False, **kwargs) -> GoogLeNet:
    """GoogLeNet: 6,624,904 parameters (13,004,888 with ``aux_logits=True``), as torchvision's."""
    return GoogLeNet(num_classes=num_classes, in_channels=in_channels, aux_logits=aux_logits, **kwargs)
