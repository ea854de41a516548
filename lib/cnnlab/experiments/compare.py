"""Every architecture of the lectures, scaled to 28×28 images, trained side by side on the same data
with the same budget: test accuracy, parameters, multiply-accumulates and training time."""

from __future__ import annotations

from typing import Callable, Sequence

from .._args import check_int
from ._common import train_and_test

__all__ = ["ARCHITECTURES", "side_by_side"]


def _registry() -> dict[str, tuple[int, Callable]]:
    from .. import models

    return {  # name: (year, builder(num_classes) for 1×28×28 inputs)
        "LeNet-5": (1998, lambda k: models.lenet5(k, input_size=28)),
        "AlexNet": (2012, lambda k: models.alexnet_cifar(k, width=8)),
        "VGG": (2014, lambda k: models.vgg_cifar(k, width=8)),
        "NiN": (2014, lambda k: models.nin_cifar(k, width=16)),
        "GoogLeNet": (2014, lambda k: models.googlenet_cifar(k, width=8)),
        "ResNet-20": (2016, lambda k: models.resnet_cifar(20, k, in_channels=1, width=8)),
        "DenseNet": (2017, lambda k: models.densenet_cifar(k, growth_rate=6, layers=3)),
        "MobileNet": (2017, lambda k: models.mobilenet_cifar(k, width=8)),
    }


#: name -> (year of the paper, builder ``f(num_classes)`` of the network scaled to 1×28×28 images)
ARCHITECTURES = _registry()


def side_by_side(names: Sequence[str] | None = None, n: int = 1500, epochs: int = 3, lr: float = 2e-3,
                 batch_size: int = 32, kind: str = "digits", test_n: int = 1000, seed: int = 0) -> list[dict]:
    """Train each architecture of :data:`ARCHITECTURES` on the same ``n`` glyph images (28×28, ``kind``)
    for the same ``epochs`` with Adam at ``lr``, and test each on the same ``test_n`` images.

    Returns one row per network, in the order of ``names``: ``{"name", "year", "params", "macs"
    (per image), "accuracy", "seconds" (training time on this machine, one thread or what torch
    uses), "final_loss" (mean training loss of the last epoch)}``.
    """
    from .. import data

    names = list(ARCHITECTURES) if names is None else list(names)
    unknown = [k for k in names if k not in ARCHITECTURES]
    if unknown:
        raise ValueError(f"unknown architectures {unknown}; choose from {list(ARCHITECTURES)}")
    n = check_int(n, "n", minimum=10)
    train_set = data.glyphs("train", n=n, kind=kind, size=28, seed=seed)
    test_set = data.glyphs("test", n=check_int(test_n, "test_n", minimum=10), kind=kind, size=28, seed=seed)
    rows = []
    for name in names:
        year, build = ARCHITECTURES[name]
        run = train_and_test(lambda: build(len(train_set.classes)), train_set, test_set, epochs=epochs, lr=lr,
                             batch_size=batch_size, seed=seed)
        rows.append(dict(name=name, year=year, params=run["params"], macs=run["macs"], accuracy=run["accuracy"],
                         seconds=run["seconds"], final_loss=run["history"]["train_loss"][-1]))
    return rows
