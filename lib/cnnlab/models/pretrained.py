"""Weights that ship with the package, trained here on data made here.

No download can supply ImageNet weights on an offline machine, so the course's
transfer-learning chapter uses a small residual network pretrained by
:mod:`cnnlab.pretrain` on a source task the package generates. The
weights live in ``cnnlab/weights/<name>.safetensors``; the file's metadata
says how they were made (architecture, source task, classes, seed, epochs,
test accuracy, time), so the test suite can regenerate the source test set
and check the stated accuracy.

>>> from cnnlab.models import pretrained, pretrained_info
>>> model = pretrained("resnet20-letters")                 # doctest: +SKIP
>>> pretrained_info("resnet20-letters")["test_accuracy"]   # doctest: +SKIP
>>> digits_model = pretrained("resnet20-letters", num_classes=10)   # new head, for fine-tuning  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

__all__ = ["pretrained", "pretrained_info", "list_pretrained", "weights_path", "WEIGHTS_DIR", "build"]

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
_META_KEY = "cnnlab"


def _builders() -> dict:
    from . import cifar, lenet, resnet
    return {"resnet_cifar": cifar.resnet_cifar, "plain_cifar": cifar.plain_cifar, "lenet5": lenet.lenet5,
            "resnet18": resnet.resnet18}


def build(architecture: str, arch_kwargs: dict) -> nn.Module:
    """A model from an architecture name and its keyword arguments (as stored in the metadata)."""
    builders = _builders()
    if architecture not in builders:
        raise ValueError(f"unknown architecture {architecture!r}; known: {sorted(builders)}")
    return builders[architecture](**arch_kwargs)


def list_pretrained() -> list[str]:
    """Names of the weights that ship with this installation."""
    return sorted(p.name[:-len(".safetensors")] for p in WEIGHTS_DIR.glob("*.safetensors"))


def weights_path(name: str) -> Path:
    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.exists():
        available = list_pretrained()
        raise ValueError(f"no pretrained weights named {name!r}; available: {available or 'none'} "
                         f"(in {WEIGHTS_DIR}; `python -m cnnlab.pretrain` makes them)")
    return path


def pretrained_info(name: str) -> dict:
    """The metadata of the weights ``name``: architecture, source task, classes, accuracy, seed..."""
    from safetensors import safe_open

    with safe_open(weights_path(name), framework="pt") as f:
        meta = f.metadata() or {}
    if _META_KEY not in meta:
        raise ValueError(f"{weights_path(name)} has no '{_META_KEY}' metadata; it was not made by cnnlab")
    return json.loads(meta[_META_KEY])


def pretrained(name: str = "resnet20-letters", num_classes: int | None = None) -> nn.Module:
    """The model ``name`` with its shipped weights, in eval mode.

    ``num_classes``: if it differs from the source task's, the final linear
    layer ``fc`` is replaced by a freshly initialised one with that many
    outputs (the rest keeps the pretrained weights), ready for fine-tuning.
    The metadata is attached as ``model.pretrained_info``.
    """
    from safetensors.torch import load_file

    info = pretrained_info(name)
    model = build(info["architecture"], info["arch_kwargs"])
    state = load_file(str(weights_path(name)))
    model.load_state_dict(state)
    if num_classes is not None and num_classes != info["arch_kwargs"].get("num_classes"):
        from .._args import check_int
        num_classes = check_int(num_classes, "num_classes", minimum=1)
        if not isinstance(getattr(model, "fc", None), nn.Linear):
            raise ValueError(f"{info['architecture']} has no final linear layer 'fc' to replace")
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    model.pretrained_info = info
    return model.eval()
