"""The architectures of the lectures scaled down to 28-32-pixel images, for training side by side.

Each network keeps the idea of its paper and shrinks its widths (``width``:
the number of filters of the first stage) so that all of them train on a
CPU in seconds; the names are the papers', with ``_cifar`` as for
:func:`~cnnlab.models.resnet_cifar` (the CIFAR-10 size, 32×32; 28×28 works
too). They take ``num_classes`` and ``in_channels`` like every builder:

=====================  ====================================================
builder                what is kept
=====================  ====================================================
``alexnet_cifar``      5 conv + 3 FC layers, ReLU, LRN, overlapping 3×3/2
                       max pooling, dropout; no batch norm
``vgg_cifar``          stacks of 3×3 convolutions between 2×2 max pools, an
                       FC head with dropout; ``batch_norm=True`` adds BN
                       after every convolution (torchvision's ``vgg*_bn``)
``nin_cifar``          three mlpconv blocks (a convolution and two 1×1
                       convolutions), global average pooling of one map per
                       class, no FC layer (Lin et al.'s CIFAR-10 network)
``googlenet_cifar``    a stem and four Inception modules with 1×1
                       bottlenecks, global average pooling, one FC layer
``densenet_cifar``     DenseNet-BC: three dense blocks of bottleneck layers,
                       compressing transitions, global average pooling
``mobilenet_cifar``    depthwise separable blocks with a width multiplier
=====================  ====================================================

LeNet-5 (:func:`~cnnlab.models.lenet5`) and the CIFAR ResNets
(:func:`~cnnlab.models.resnet_cifar`) already have this size.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from .._args import check_classes_channels, check_int
from .alexnet import _lrn, feature_size
from .densenet import DenseBlock, Transition
from .googlenet import BasicConv2d, Inception
from .mobilenet import ConvBNReLU, DepthwiseSeparable
from .vgg import make_layers

__all__ = ["AlexNetCifar", "VGGCifar", "NiNCifar", "GoogLeNetCifar", "DenseNetCifar", "MobileNetCifar",
           "alexnet_cifar", "vgg_cifar", "nin_cifar", "googlenet_cifar", "densenet_cifar", "mobilenet_cifar",
           "VGG_CIFAR_CONFIGS"]


def _init(model: nn.Module) -> None:
    """He initialisation of the convolutions (as torchvision), BN at (1, 0), zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


def _width(width, minimum: int = 2) -> int:
    return check_int(width, "width", minimum=minimum)


class AlexNetCifar(nn.Module):
    """AlexNet's layout on small images: conv1 5×5 (``width``), conv2 5×5 (2×), conv3-5 3×3 (3×, 3×, 2×),
    LRN after conv1 and conv2, 3×3 max pools with stride 2 after conv1, conv2 and conv5, then FC6 and FC7
    (8 × ``width`` units, dropout) and FC8. ``features`` and ``classifier`` use the paper's layer names."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16, input_size: int = 28,
                 dropout: float = 0.5) -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        w = _width(width)
        c = (w, 2 * w, 3 * w, 3 * w, 2 * w)
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, c[0], kernel_size=5, padding=2)),
            ("relu1", nn.ReLU(inplace=True)),
            ("norm1", _lrn()),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("conv2", nn.Conv2d(c[0], c[1], kernel_size=5, padding=2)),
            ("relu2", nn.ReLU(inplace=True)),
            ("norm2", _lrn()),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("conv3", nn.Conv2d(c[1], c[2], kernel_size=3, padding=1)),
            ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(c[2], c[3], kernel_size=3, padding=1)),
            ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(c[3], c[4], kernel_size=3, padding=1)),
            ("relu5", nn.ReLU(inplace=True)),
            ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),
        ]))
        n = feature_size(self.features, input_size)
        if n < 1:
            raise ValueError(f"input_size={input_size} is too small for three 3×3/2 poolings; use 16 or more")
        hidden = 8 * w
        self.classifier = nn.Sequential(OrderedDict([
            ("fc6", nn.Linear(c[4] * n * n, hidden)), ("relu6", nn.ReLU(inplace=True)), ("drop6", nn.Dropout(dropout)),
            ("fc7", nn.Linear(hidden, hidden)), ("relu7", nn.ReLU(inplace=True)), ("drop7", nn.Dropout(dropout)),
            ("fc8", nn.Linear(hidden, num_classes)),
        ]))
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


#: VGG-style configurations in units of ``width`` ("M": 2×2 max pool): "A" has 6 convolutions
#: in three blocks, "D" 9 (three per block, as VGG-16's later blocks)
VGG_CIFAR_CONFIGS = {"A": [1, 1, "M", 2, 2, "M", 4, 4, "M"],
                     "D": [1, 1, 1, "M", 2, 2, 2, "M", 4, 4, 4, "M"]}


class VGGCifar(nn.Module):
    """VGG's 3×3 stacks (:func:`cnnlab.models.vgg.make_layers`), then FC (8 × ``width``), dropout, FC."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16, cfg: str = "A",
                 batch_norm: bool = False, input_size: int = 28, dropout: float = 0.5) -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        w = _width(width)
        if cfg not in VGG_CIFAR_CONFIGS:
            raise ValueError(f"cfg must be one of {sorted(VGG_CIFAR_CONFIGS)}, got {cfg!r}")
        layers = [v if v == "M" else v * w for v in VGG_CIFAR_CONFIGS[cfg]]
        self.features = make_layers(layers, in_channels, batch_norm=batch_norm)
        n = feature_size(self.features, input_size)
        if n < 1:
            raise ValueError(f"input_size={input_size} is too small for three 2×2 poolings; use 8 or more")
        self.classifier = nn.Sequential(
            nn.Linear(4 * w * n * n, 8 * w), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(8 * w, num_classes))
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _mlpconv(in_channels: int, channels: Sequence[int], kernel_size: int) -> nn.Sequential:
    """Network in Network's micro network: a k×k convolution, then two 1×1 convolutions (a per-pixel MLP)."""
    c0, c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(in_channels, c0, kernel_size, padding=kernel_size // 2), nn.ReLU(inplace=True),
        nn.Conv2d(c0, c1, 1), nn.ReLU(inplace=True),
        nn.Conv2d(c1, c2, 1), nn.ReLU(inplace=True))


class NiNCifar(nn.Module):
    """Network in Network (Lin, Chen and Yan, 2014), the CIFAR-10 model with its widths scaled:
    mlpconv blocks of (5×5, 1×1, 1×1), (5×5, 1×1, 1×1) and (3×3, 1×1, 1×1) convolutions with
    3×3/2 pooling and dropout between them; the last 1×1 convolution makes one map per class, and
    global average pooling turns each map into that class's score -- no fully connected layer.
    With ``width=192`` the widths are the paper's (192-160-96, 192-192-192, 192-192-classes)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 32, dropout: float = 0.5) -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        w = _width(width, minimum=4)
        self.features = nn.Sequential(OrderedDict([
            ("block1", _mlpconv(in_channels, (w, w * 5 // 6, w // 2), 5)),
            ("pool1", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
            ("drop1", nn.Dropout(dropout)),
            ("block2", _mlpconv(w // 2, (w, w, w), 5)),
            ("pool2", nn.AvgPool2d(3, stride=2, ceil_mode=True)),
            ("drop2", nn.Dropout(dropout)),
        ]))
        self.classifier = nn.Sequential(
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(w, w, 1), nn.ReLU(inplace=True),
            nn.Conv2d(w, num_classes, 1))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.classifier(self.features(x))), 1)


class GoogLeNetCifar(nn.Module):
    """A 3×3 stem (2 × ``width``), two Inception modules, a 3×3/2 max pool, two more modules, global
    average pooling, dropout and one FC layer. Each module's branches have the proportions of
    GoogLeNet's inception (3a): 1×1 a quarter of its output, 3×3 half, 5×5 and pool projection an
    eighth each, with 1×1 reductions before the 3×3 and the 5×5."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16, dropout: float = 0.2,
                 kernel_5x5: int = 5) -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        w = _width(width, minimum=4)

        def module(cin: int, out: int) -> Inception:
            return Inception(cin, out // 4, out // 4, out // 2, out // 16, out // 8, out // 8, kernel_5x5=kernel_5x5)

        self.stem = BasicConv2d(in_channels, 2 * w, kernel_size=3, padding=1)
        self.pool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = module(2 * w, 4 * w)
        self.inception3b = module(4 * w, 4 * w)
        self.pool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = module(4 * w, 8 * w)
        self.inception4b = module(8 * w, 8 * w)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(8 * w, num_classes)
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.stem(x))
        x = self.pool2(self.inception3b(self.inception3a(x)))
        x = self.inception4b(self.inception4a(x))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


class DenseNetCifar(nn.Module):
    """DenseNet-BC for small images (Huang et al., section 3): a 3×3 stem of ``2 * growth_rate``
    filters, three dense blocks of ``layers`` bottleneck layers each, transitions that halve the
    channels and the size, BN, ReLU, global average pooling and one FC layer; depth
    ``3 * 2 * layers + 4``. The blocks are :class:`~cnnlab.models.densenet.DenseBlock` (torchvision's)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, growth_rate: int = 8, layers: int = 4,
                 bn_size: int = 4) -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        k = check_int(growth_rate, "growth_rate", minimum=1)
        n = check_int(layers, "layers", minimum=1)
        c = 2 * k
        self.features = nn.Sequential(OrderedDict([("conv0", nn.Conv2d(in_channels, c, 3, padding=1, bias=False))]))
        for i in range(3):
            self.features.add_module(f"denseblock{i + 1}", DenseBlock(n, c, bn_size, k))
            c += n * k
            if i < 2:
                self.features.add_module(f"transition{i + 1}", Transition(c, c // 2))
                c //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(c))
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.features(x))
        return self.classifier(torch.flatten(self.avgpool(x), 1))


#: MobileNet-style body on small images: (output channels in units of ``width``, stride)
MOBILENET_CIFAR_BODY = [(2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (8, 1)]


class MobileNetCifar(nn.Module):
    """A 3×3 stem (``width`` filters) and six depthwise separable blocks
    (:class:`~cnnlab.models.mobilenet.DepthwiseSeparable`), twice with stride 2, then global average
    pooling and one FC layer. ``width_mult`` scales every layer, as MobileNet's α does."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16,
                 width_mult: float = 1.0) -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        if not width_mult > 0:
            raise ValueError(f"width_mult must be positive (the paper uses 1, 0.75, 0.5, 0.25), got {width_mult!r}")
        w = _width(width)

        def ch(units: int) -> int:
            return max(1, int(units * w * width_mult))

        layers: list[nn.Module] = [ConvBNReLU(in_channels, ch(1), 3)]
        c = ch(1)
        for units, stride in MOBILENET_CIFAR_BODY:
            layers.append(DepthwiseSeparable(c, ch(units), stride))
            c = ch(units)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def alexnet_cifar(num_classes: int = 10, in_channels: int = 1, **kwargs) -> AlexNetCifar:
    """AlexNet-style network for 28-32-pixel images (see :class:`AlexNetCifar`)."""
    return AlexNetCifar(num_classes, in_channels, **kwargs)


def vgg_cifar(num_classes: int = 10, in_channels: int = 1, **kwargs) -> VGGCifar:
    """VGG-style network for 28-32-pixel images (see :class:`VGGCifar`; ``batch_norm=True`` for BN)."""
    return VGGCifar(num_classes, in_channels, **kwargs)


def nin_cifar(num_classes: int = 10, in_channels: int = 1, **kwargs) -> NiNCifar:
    """Network in Network for 28-32-pixel images (see :class:`NiNCifar`)."""
    return NiNCifar(num_classes, in_channels, **kwargs)


def googlenet_cifar(num_classes: int = 10, in_channels: int = 1, **kwargs) -> GoogLeNetCifar:
    """GoogLeNet-style network for 28-32-pixel images (see :class:`GoogLeNetCifar`)."""
    return GoogLeNetCifar(num_classes, in_channels, **kwargs)


def densenet_cifar(num_classes: int = 10, in_channels: int = 1, **kwargs) -> DenseNetCifar:
    """DenseNet-BC for 28-32-pixel images (see :class:`DenseNetCifar`)."""
    return DenseNetCifar(num_classes, in_channels, **kwargs)


def mobilenet_cifar(num_classes: int = 10, in_channels: int = 1, **kwargs) -> MobileNetCifar:
    """MobileNet-style network for 28-32-pixel images (see :class:`MobileNetCifar`)."""
    return MobileNetCifar(num_classes, in_channels, **kwargs)
