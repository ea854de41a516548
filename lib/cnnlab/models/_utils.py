"""Helpers shared by the model builders."""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (elements, not tensors).

    Works on models built on the ``meta`` device, so the count of a large
    network costs no memory::

        with torch.device("meta"):
            n = count_parameters(vgg16())
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
