"""Data augmentation with few labels: the same network trained on the same few handwritten digits
with and without random transformations of each training image, for the same number of steps."""

from __future__ import annotations

from typing import Callable, Sequence

from .._args import check_int
from ._common import train_and_test

__all__ = ["augmentations", "augmentation_effect"]


def augmentations(size: int = 28) -> dict[str, Callable | None]:
    """The variants compared: ``"none"``, and ``"crop + affine"``: a random crop after padding by 2
    pixels, then a small rotation (±12°), scaling (0.85-1.15) and shear (±10°). No flips: a mirrored
    digit is another symbol (or none)."""
    from ..data import transforms as T

    return {"none": None,
            "crop + affine": T.Compose([T.RandomCrop(size, padding=2),
                                        T.RandomAffine(degrees=12, translate=0.0, scale=(0.85, 1.15), shear=10)])}


def augmentation_effect(labels_per_class: Sequence[int] = (5, 20), steps: int = 400, batch_size: int = 16,
                        lr: float = 1e-3, seed: int = 0, variants: Sequence[str] | None = None) -> list[dict]:
    """LeNet-5 (28×28 input) on ``labels_per_class`` training digits of each class of scikit-learn's
    digits, for ``steps`` Adam steps of ``batch_size`` images (fewer images: more epochs), with each
    variant of :func:`augmentations`; tested on the 360 test digits.

    Returns rows ``{"labels_per_class", "augmentation", "accuracy", "train_accuracy" (last epoch,
    on the augmented images), "seconds"}``.
    """
    from .. import data, models

    table = augmentations(28)
    variants = list(table) if variants is None else list(variants)
    unknown = [v for v in variants if v not in table]
    if unknown:
        raise ValueError(f"unknown augmentations {unknown}; choose from {list(table)}")
    steps = check_int(steps, "steps", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    test_set = data.digits("test", size=28)
    rows = []
    for k in labels_per_class:
        for name in variants:
            train_set = data.digits("train", size=28).take_per_class(check_int(k, "labels_per_class", minimum=1),
                                                                     seed=seed)
            train_set.transform = table[name]
            batch = min(batch_size, len(train_set))
            epochs = max(1, round(steps * batch / len(train_set)))
            run = train_and_test(lambda: models.lenet5(input_size=28), train_set, test_set, epochs=epochs, lr=lr,
                                 batch_size=batch, seed=seed)
            rows.append(dict(labels_per_class=k, augmentation=name, accuracy=run["accuracy"],
                             train_accuracy=run["history"]["train_acc"][-1], seconds=run["seconds"]))
    return rows
