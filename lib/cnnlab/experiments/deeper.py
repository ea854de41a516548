"""The ResNet chapter's experiments: the degradation problem (plain against residual networks of
two depths) and what batch normalisation changes in training.
"""

from __future__ import annotations

import time
from typing import Sequence

from .._args import check_int
from ._common import fast_layout, smooth, train_and_test

__all__ = ["degradation", "batch_norm_effect"]


def degradation(depths: Sequence[int] = (20, 56), n: int = 2000, epochs: int = 4, width: int = 4,
                size: int = 16, lr: float = 0.05, batch_size: int = 64, seed: int = 0,
                progress: bool = False) -> list[dict]:
    """Train plain and residual CIFAR-style networks of each depth on glyph digits.

    Every network sees the same ``n`` images of :func:`cnnlab.data.glyphs`
    (``size`` × ``size``, 10 classes) in the same order, with SGD (momentum
    0.9, constant ``lr``) for ``epochs`` epochs.

    Returns one dict per network, plain first, in the order of ``depths``:
    ``{"kind": "plain" | "residual", "depth", "params", "train_error":
    [error of each epoch], "final_train_error", "seconds"}``. The training
    error of an epoch is the share of its training batches misclassified
    while it was trained (as in the paper's thin curves).
    """
    from .. import data, models, train

    depths = [check_int(d, "depths", minimum=8) for d in depths]
    n = check_int(n, "n", minimum=10)
    data_set = data.glyphs("train", n=n, kind="digits", size=size, seed=seed)
    runs = []
    for kind, builder in (("plain", models.plain_cifar), ("residual", models.resnet_cifar)):
        for depth in depths:
            train.seed_everything(seed)
            model = fast_layout(builder(depth, num_classes=10, in_channels=1, width=width))
            t0 = time.perf_counter()
            history = train.fit(model, data_set, None, epochs=epochs, batch_size=batch_size, optimizer="sgd",
                                lr=lr, momentum=0.9, seed=seed, device="cpu", progress=progress)
            errors = [1.0 - a for a in history["train_acc"]]
            runs.append(dict(kind=kind, depth=depth, params=models.count_parameters(model), train_error=errors,
                             final_train_error=errors[-1], seconds=time.perf_counter() - t0))
    return runs



def batch_norm_effect(n: int = 2000, epochs: int = 3, width: int = 8, lr: float = 0.02, batch_size: int = 64,
                      size: int = 28, test_n: int = 1000, seed: int = 0, window: int = 10) -> dict:
    """The same VGG-style network of nine 3×3 convolutions (:func:`~cnnlab.models.vgg_cifar`, ``cfg="D"``)
    trained without and with batch normalisation after each convolution, on the same ``n`` glyph
    digits in the same order, with SGD (momentum 0.9, ``lr``) for ``epochs`` epochs.

    Returns ``{False: run, True: run}`` (keyed by ``batch_norm``), each run ``{"params", "macs",
    "step_loss" (training loss of every step), "smooth_loss" (its running mean over ``window``
    steps), "step_accuracy", "accuracy" (on ``test_n`` test digits), "seconds"}``.
    """
    from .. import data, models

    train_set = data.glyphs("train", n=check_int(n, "n", minimum=10), kind="digits", size=size, seed=seed)
    test_set = data.glyphs("test", n=check_int(test_n, "test_n", minimum=1), kind="digits", size=size, seed=seed)
    out = {}
    for bn in (False, True):
        def build(bn=bn):
            return models.vgg_cifar(10, 1, width=width, cfg="D", batch_norm=bn, input_size=size)

        run = train_and_test(build, train_set, test_set, epochs=epochs, lr=lr, optimizer="sgd",
                             batch_size=batch_size, seed=seed, steps=True)
        out[bn] = dict(params=run["params"], macs=run["macs"], step_loss=run["step_loss"],
                       smooth_loss=smooth(run["step_loss"], window), step_accuracy=run["step_accuracy"],
                       accuracy=run["accuracy"], seconds=run["seconds"])
    return out
