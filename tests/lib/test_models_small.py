"""cnnlab.models.small: the lectures' architectures scaled to 28-32-pixel images, and the
registry of the side-by-side comparison."""

import pytest
import torch

import cnnlab
from cnnlab import experiments, models


@pytest.mark.parametrize("name", list(experiments.ARCHITECTURES))
@pytest.mark.parametrize("size", [28, 32])
def test_every_side_by_side_network_takes_28_and_32_pixels(name, size):
    _, build = experiments.ARCHITECTURES[name]
    if name in ("LeNet-5", "AlexNet", "VGG"):       # flatten into FC layers: the size is an argument
        model = {"LeNet-5": lambda: models.lenet5(7, input_size=size),
                 "AlexNet": lambda: models.alexnet_cifar(7, width=8, input_size=size),
                 "VGG": lambda: models.vgg_cifar(7, width=8, input_size=size)}[name]()
    else:
        model = build(7)
    out = model.eval()(torch.zeros(2, 1, size, size))
    assert out.shape == (2, 7)


def test_nin_at_full_width_is_the_papers_cifar_network():
    nin = models.nin_cifar(10, in_channels=3, width=192)
    convs = [m for m in nin.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [192, 160, 96, 192, 192, 192, 192, 192, 10]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 1, 5, 1, 1, 3, 1, 1]
    assert not any(isinstance(m, torch.nn.Linear) for m in nin.modules())     # no FC layer
    s = cnnlab.summary(nin, (1, 3, 32, 32))
    assert s.rows[-1]["output_shape"] == (1, 10, 1, 1)


def test_vgg_batch_norm_adds_a_bn_after_every_convolution():
    plain, bn = models.vgg_cifar(width=4, cfg="D"), models.vgg_cifar(width=4, cfg="D", batch_norm=True)
    n_conv = sum(isinstance(m, torch.nn.Conv2d) for m in bn.modules())
    assert n_conv == 9 == sum(isinstance(m, torch.nn.BatchNorm2d) for m in bn.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())


def test_densenet_and_mobilenet_keep_their_papers_ideas():
    d = models.densenet_cifar(growth_rate=4, layers=2)
    block = d.features.denseblock1
    x = torch.zeros(1, 8, 6, 6)
    assert block(x).shape[1] == 8 + 2 * 4                     # each layer adds growth_rate maps
    m = models.mobilenet_cifar(width=8)
    depthwise = [c for c in m.modules() if isinstance(c, torch.nn.Conv2d) and c.groups > 1]
    assert depthwise and all(c.groups == c.in_channels == c.out_channels for c in depthwise)
    half = models.mobilenet_cifar(width=8, width_mult=0.5)
    assert models.count_parameters(half) < models.count_parameters(m) / 2


@pytest.mark.parametrize("call,error,words", [
    (lambda: models.vgg_cifar(cfg="Z"), ValueError, ["cfg must be one of"]),
    (lambda: models.alexnet_cifar(input_size=12), ValueError, ["pooling window", "larger than the input"]),
    (lambda: models.googlenet_cifar(width=2), ValueError, ["width must be at least 4"]),
    (lambda: models.mobilenet_cifar(width_mult=0), ValueError, ["width_mult must be positive"]),
    (lambda: experiments.side_by_side(["ResNet"]), ValueError, ["unknown architectures"]),
])
def test_bad_arguments_get_clear_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert all(w in str(info.value) for w in words), str(info.value)
