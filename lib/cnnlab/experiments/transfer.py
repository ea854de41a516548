"""Transfer learning (chapter "Transfer learning"): the shipped ``resnet20-letters`` weights
reused on scikit-learn's handwritten digits with a few labels per class -- feature extraction
(frozen body, new head), fine-tuning, freezing the first ``k`` stages, or training from scratch;
and :func:`transfer_glyphs`, the setting of problem set 4 (300 glyph digits, 4 epochs).
"""

from __future__ import annotations

import math
import time
from typing import Sequence

from torch import nn

from .._args import check_int
from ._common import fast_layout

__all__ = ["transfer", "transfer_curves", "freeze_stages", "transfer_glyphs", "STAGES", "TRANSFER_METHODS",
           "GLYPH_VARIANTS"]

#: the stages of a :class:`~cnnlab.models.CifarResNet`, input first
STAGES = (("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",))

#: method name -> number of frozen stages (None: no pretrained weights)
TRANSFER_METHODS = {"scratch": None, "feature extraction": len(STAGES), "fine-tuning": 0}


def freeze_stages(model: nn.Module, k: int) -> nn.Module:
    """Freeze the first ``k`` of the :data:`STAGES` of a CIFAR ResNet (0: none, 4: the whole body).

    Frozen parameters get ``requires_grad=False``, and the batch-norm layers
    of frozen stages keep their running statistics (``momentum=0``), so a
    frozen stage computes exactly what it computed before. Returns ``model``.
    """
    k = check_int(k, "k", minimum=0)
    if k > len(STAGES):
        raise ValueError(f"k must be between 0 and {len(STAGES)} (the stages {STAGES}), got {k}")
    for stage in STAGES[:k]:
        for name in stage:
            module = getattr(model, name)
            for p in module.parameters():
                p.requires_grad_(False)
            for m in module.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = 0.0
    return model


def transfer(labels_per_class: int, frozen: int | None, steps: int = 150, batch_size: int = 32,
             lr: float = 1e-3, seed: int = 0, weights: str = "resnet20-letters") -> float:
    """Test accuracy on scikit-learn's digits after training on ``labels_per_class`` images of each digit.

    ``frozen=None`` trains the same architecture from scratch (random
    weights); otherwise the shipped ``weights`` are loaded, the 26-letter head
    is replaced by a new 10-digit one and the first ``frozen`` stages are
    frozen (:func:`freeze_stages`; 4 = feature extraction, 0 = fine-tuning of
    everything). Every variant takes ``steps`` Adam steps of ``batch_size``
    images (fewer images: more epochs), so all get the same compute. The
    accuracy is measured on the 360 test digits.
    """
    from .. import data, models, train
    from ..models.pretrained import build

    labels_per_class = check_int(labels_per_class, "labels_per_class", minimum=1)
    steps = check_int(steps, "steps", minimum=1)
    info = models.pretrained_info(weights)
    size = info["input_size"][-1]
    train_set = data.digits("train", size=size).take_per_class(labels_per_class, seed=seed)
    test_set = data.digits("test", size=size)
    train.seed_everything(seed)
    if frozen is None:
        model = build(info["architecture"], {**info["arch_kwargs"], "num_classes": 10})
    else:
        model = freeze_stages(models.pretrained(weights, num_classes=10), frozen)
    batch = min(batch_size, len(train_set))
    epochs = max(1, math.ceil(steps / math.ceil(len(train_set) / batch)))
    train.fit(fast_layout(model), train_set, None, epochs=epochs, batch_size=batch, optimizer="adam", lr=lr, seed=seed,
              device="cpu", progress=False)
    return train.evaluate(model, test_set, device="cpu")["accuracy"]


def transfer_curves(labels_per_class: Sequence[int] = (5, 20, 50), methods: Sequence[str] = tuple(TRANSFER_METHODS),
                    steps: int = 150, seed: int = 0) -> list[dict]:
    """:func:`transfer` for every method of :data:`TRANSFER_METHODS` and label count.

    Returns rows ``{"labels_per_class", "method", "frozen", "accuracy", "seconds"}``.
    """
    unknown = [m for m in methods if m not in TRANSFER_METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(TRANSFER_METHODS)}")
    rows = []
    for k in labels_per_class:
        for method in methods:
            t0 = time.perf_counter()
            acc = transfer(k, TRANSFER_METHODS[method], steps=steps, seed=seed)
            rows.append(dict(labels_per_class=k, method=method, frozen=TRANSFER_METHODS[method], accuracy=acc,
                             seconds=time.perf_counter() - t0))
    return rows


#: the variants of :func:`transfer_glyphs` shown in the book: name -> (trainable modules or None for
#: all, start from the pretrained weights)
GLYPH_VARIANTS = {"fc only": (("fc",), True), "layer3 + fc": (("layer3", "fc"), True),
                  "everything": (None, True), "from scratch": (None, False)}


def transfer_glyphs(trainable: Sequence[str] | None = ("layer3", "fc"), pretrained: bool = True, n: int = 300,
                    epochs: int = 4, lr: float = 3e-3, batch_size: int = 32, test_n: int = 500, seed: int = 0,
                    weights: str = "resnet20-letters") -> float:
    """The setting of problem set 4: test accuracy on ``test_n`` glyph digits after training the shipped
    letter network (``pretrained``; else the same architecture from random weights) for ``epochs``
    epochs of Adam on ``n`` glyph digits (28×28), with only the parameters of the modules named in
    ``trainable`` (None: all) left trainable, as ps4's ``freeze`` does (``requires_grad`` only: the
    batch-norm layers of frozen modules still update their running statistics in training mode).
    """
    from .. import data, models, train
    from ..models.pretrained import build

    n = check_int(n, "n", minimum=10)
    info = models.pretrained_info(weights)
    size = info["input_size"][-1]
    train_set = data.glyphs("train", n=n, kind="digits", size=size, seed=seed)
    test_set = data.glyphs("test", n=check_int(test_n, "test_n", minimum=1), kind="digits", size=size, seed=seed)
    train.seed_everything(seed)
    if pretrained:
        model = models.pretrained(weights, num_classes=10)
    else:
        model = build(info["architecture"], {**info["arch_kwargs"], "num_classes": 10})
    if trainable is not None:
        names = tuple(trainable)
        for name, p in model.named_parameters():
            p.requires_grad_(any(name == m or name.startswith(m + ".") for m in names))
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError(f"no parameter of the model belongs to the modules {names}; use names such as "
                             "'layer3' or 'fc'")
    train.fit(fast_layout(model), train_set, None, epochs=epochs, batch_size=batch_size, optimizer="adam", lr=lr,
              seed=seed, device="cpu", progress=False)
    return train.evaluate(model, test_set, device="cpu")["accuracy"]
