"""cnnlab.models -- the networks of the lectures, as PyTorch modules.

Every builder takes ``num_classes`` and ``in_channels``; the defaults give the
published networks with their published sizes (parameters counted by
:func:`count_parameters`):

======================  ===========  ==================================
builder                 parameters   input
======================  ===========  ==================================
lenet5()                    61,706   1×32×32
alexnet()               62,378,344   3×227×227 (60,965,224 with groups=2)
zfnet()                 62,357,608   3×224×224
vgg11/13/16/19()       132.9-143.7M  3×224×224 (vgg16: 138,357,544)
googlenet()              6,624,904   3×224×224 (13,004,888 with aux_logits)
resnet18..152()        11.7-60.2M    3×224×224, torchvision's state_dict keys
resnext50_32x4d()       25,028,904   3×224×224
densenet121()            7,978,856   3×224×224
mobilenet_v1()           4,231,976   3×224×224
se_resnet(50)           28,088,024   3×224×224
resnet_cifar(20)           269,722   3×32×32 (option-A shortcuts; 853,018 at 56)
plain_cifar(20)            269,722   the same without shortcuts
======================  ===========  ==================================

:mod:`cnnlab.models.small` scales AlexNet, VGG, Network in Network,
GoogLeNet, DenseNet and MobileNet to 28-32-pixel images
(``alexnet_cifar``, ``vgg_cifar``, ``nin_cifar``, ``googlenet_cifar``,
``densenet_cifar``, ``mobilenet_cifar``), to train them side by side.

:func:`pretrained` loads the weights that ship with the package (trained
here, on data made here; see :mod:`cnnlab.pretrain`).
"""

from ._utils import count_parameters
from .alexnet import AlexNet, ZFNet, alexnet, zfnet
from .cifar import CifarResNet, ZeroPadShortcut, plain_cifar, resnet_cifar
from .densenet import DenseNet, densenet121
from .googlenet import GoogLeNet, Inception, InceptionAux, InceptionNaive, googlenet
from .lenet import LeNet5, lenet5
from .mobilenet import MobileNetV1, mobilenet_v1
from .pretrained import list_pretrained, pretrained, pretrained_info
from .resnet import (BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet101, resnet152,
                     resnext50_32x4d)
from .senet import SEBlock, se_resnet
from .small import (AlexNetCifar, DenseNetCifar, GoogLeNetCifar, MobileNetCifar, NiNCifar, VGGCifar, alexnet_cifar,
                    densenet_cifar, googlenet_cifar, mobilenet_cifar, nin_cifar, vgg_cifar)
from .vgg import VGG, vgg11, vgg13, vgg16, vgg19

__all__ = [
    "count_parameters",
    "lenet5", "alexnet", "zfnet", "vgg11", "vgg13", "vgg16", "vgg19", "googlenet",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
    "densenet121", "mobilenet_v1", "se_resnet", "resnet_cifar", "plain_cifar",
    "alexnet_cifar", "vgg_cifar", "nin_cifar", "googlenet_cifar", "densenet_cifar", "mobilenet_cifar",
    "pretrained", "pretrained_info", "list_pretrained",
    "LeNet5", "AlexNet", "ZFNet", "VGG", "GoogLeNet", "Inception", "InceptionNaive", "InceptionAux",
    "ResNet", "BasicBlock", "Bottleneck", "SEBlock", "DenseNet", "MobileNetV1", "CifarResNet",
    "ZeroPadShortcut", "AlexNetCifar", "VGGCifar", "NiNCifar", "GoogLeNetCifar", "DenseNetCifar", "MobileNetCifar",
]
