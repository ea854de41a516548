"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012) and ZFNet (Zeiler and Fergus, 2013).

AlexNet as in the paper, on 227×227×3 inputs (the paper's "224" does not fit
the 11×11 stride-4 filter: (224 - 11)/4 + 1 is not whole)::

    conv1  96 @ 11×11 s4, ReLU, LRN, max pool 3×3 s2    -> 27×27×96
    conv2 256 @  5×5 p2, ReLU, LRN, max pool 3×3 s2     -> 13×13×256
    conv3 384 @  3×3 p1, ReLU                           -> 13×13×384
    conv4 384 @  3×3 p1, ReLU                           -> 13×13×384
    conv5 256 @  3×3 p1, ReLU, max pool 3×3 s2          ->  6×6×256
    fc6 4096, ReLU, dropout; fc7 4096, ReLU, dropout; fc8 1000

62,378,344 parameters and 1,135,256,096 multiply-accumulates per image.
With ``groups=2`` conv2, conv4 and conv5 see only the maps computed on their
own GPU, as in the paper's two-tower figure: 60,965,224 parameters.

The pooling windows overlap (3×3 with stride 2) and the normalisation is the
paper's local response normalisation (n = 5, k = 2, α = 1e-4, β = 0.75),
placed as in the paper after the ReLU and before the pooling (CS231n's table
and CaffeNet put it after the pooling; that changes no size or count).
PyTorch's :class:`~torch.nn.LocalResponseNorm` divides α by n, so the paper's
α is passed as ``n * α``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .. import shapes
from .._args import check_classes_channels, check_int

__all__ = ["AlexNet", "ZFNet", "alexnet", "zfnet"]

LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0


def _lrn() -> nn.LocalResponseNorm:
    return nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_SIZE * LRN_ALPHA, beta=LRN_BETA, k=LRN_K)


def _classifier(in_features: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("fc6", nn.Linear(in_features, 4096)), ("relu6", nn.ReLU(inplace=True)), ("drop6", nn.Dropout(dropout)),
        ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU(inplace=True)), ("drop7", nn.Dropout(dropout)),
        ("fc8", nn.Linear(4096, num_classes)),
    ]))


class AlexNet(nn.Module):
    """AlexNet; ``features`` (conv1..pool5) and ``classifier`` (fc6..fc8) with the paper's layer names.

    Parameters
    ----------
    num_classes, in_channels : int
    groups : 1 or 2
        2 splits conv2, conv4 and conv5 into two towers (the paper's two GPUs).
    dropout : float
        Dropout probability before fc7 and fc8 (0.5 in the paper).
    input_size : int
        Height = width of the input; 227 in the paper.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, groups: int = 1,
                 dropout: float = 0.5, input_size: int = 227) -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        if groups not in (1, 2):
            raise ValueError(f"groups must be 1 (one tower) or 2 (the paper's two GPUs), got {groups!r}")
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 96, kernel_size=11, stride=4)),
            ("relu1", nn.ReLU(inplace=True)),
            ("norm1", _lrn()),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("conv2", nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=groups)),
            ("relu2", nn.ReLU(inplace=True)),
            ("norm2", _lrn()),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("conv3", nn.Conv2d(256, 384, kernel_size=3, padding=1)),
            ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=groups)),
            ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=groups)),
            ("relu5", nn.ReLU(inplace=True)),
            ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),
        ]))
        n = feature_size(self.features, input_size)
        self.classifier = _classifier(256 * n * n, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class ZFNet(nn.Module):
    """ZFNet: AlexNet with a 7×7 stride-2 first layer and a 5×5 stride-2 second layer.

    Sizes on a 224×224 input, as in the paper's figure 3: 110, 55, 26, 13, 13,
    13, 6 (the pools keep the last partial window, ``ceil_mode=True``). Single
    tower; 62,357,608 parameters for 1000 classes.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                 input_size: int = 224) -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 96, kernel_size=7, stride=2, padding=1)),
            ("relu1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)),
            ("norm1", _lrn()),
            ("conv2", nn.Conv2d(96, 256, kernel_size=5, stride=2)),
            ("relu2", nn.ReLU(inplace=True)),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)),
            ("norm2", _lrn()),
            ("conv3", nn.Conv2d(256, 384, kernel_size=3, padding=1)),
            ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(384, 384, kernel_size=3, padding=1)),
            ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(384, 256, kernel_size=3, padding=1)),
            ("relu5", nn.ReLU(inplace=True)),
            ("pool5", nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)),
        ]))
        n = feature_size(self.features, input_size)
        self.classifier = _classifier(256 * n * n, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def feature_size(layers: nn.Sequential, input_size: int) -> int:
    """Spatial size after a stack of conv/pool layers, by :mod:`cnnlab.shapes` (no forward pass).

    Floors like PyTorch: a filter that does not fit exactly loses the last rows.
    """
    n = check_int(input_size, "input_size", minimum=1)
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            n = shapes.conv_output_size(n, layer.kernel_size[0], layer.stride[0], layer.padding[0],
                                        layer.dilation[0], allow_remainder=True)
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            k, s, p = (v if isinstance(v, int) else v[0] for v in (layer.kernel_size, layer.stride, layer.padding))
            n = shapes.pool_output_size(n, k, s, p, ceil_mode=layer.ceil_mode, allow_remainder=True)
    return n


def alexnet(num_classes: int = 1000, in_channels: int = 3, groups: int = 1, **kwargs) -> AlexNet:
    """AlexNet on 227×227 inputs: 62,378,344 parameters (60,965,224 with ``groups=2``)."""
    return AlexNet(num_classes=num_classes, in_channels=in_channels, groups=groups, **kwargs)


def zfnet(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ZFNet:
    """ZFNet on 224×224 inputs: 62,357,608 parameters."""
    return ZFNet(num_classes=num_classes, in_channels=in_channels, **kwargs)
