"""The dataset class every loader of :mod:`cnnlab.data` returns."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from .._args import check_int


class ImageDataset(Dataset):
    """Images and integer labels held in memory, as a :class:`torch.utils.data.Dataset`.

    ``dataset[i]`` is ``(image, label)``: ``image`` a float32 tensor
    ``(C, H, W)`` with values in [0, 1] (after ``transform``, if given),
    ``label`` an int (after ``target_transform``). The raw data stay
    available as ``data`` (uint8, ``(N, C, H, W)``) and ``targets`` (int64,
    ``(N,)``); ``classes`` names the labels.

    Parameters
    ----------
    data : uint8 tensor (N, C, H, W)
    targets : int64 tensor (N,)
    classes : names of the labels; ``targets`` index into it
    transform, target_transform : callables applied per item (e.g.
        :class:`cnnlab.data.transforms.Normalize`, or torchvision's transforms)
    name : a short description shown by ``repr``
    """

    def __init__(self, data: torch.Tensor, targets: torch.Tensor, classes: Sequence[str],
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 name: str = "ImageDataset", info: dict | None = None) -> None:
        if data.dtype != torch.uint8 or data.ndim != 4:
            raise ValueError(f"data must be a uint8 tensor (N, C, H, W), got {data.dtype} {tuple(data.shape)}")
        if targets.ndim != 1 or len(targets) != len(data):
            raise ValueError(f"targets must be a vector with one label per image ({len(data)}), "
                             f"got shape {tuple(targets.shape)}")
        for name_, fn in (("transform", transform), ("target_transform", target_transform)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name_} must be callable (a function or a transform object), got {fn!r}")
        self.data = data
        self.targets = targets.long()
        self.classes = list(classes)
        self.transform = transform
        self.target_transform = target_transform
        self.name = name
        self.info = dict(info or {})

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        x = self.data[index].float().div_(255.0)
        y = int(self.targets[index])
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.data.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as one float tensor ``(N, C, H, W)`` in [0, 1] (no transform) and the labels."""
        return self.data.float().div_(255.0), self.targets.clone()

    def subset(self, indices) -> "ImageDataset":
        """A new dataset with the images at ``indices`` (same classes and transforms)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return ImageDataset(self.data[idx], self.targets[idx], self.classes, self.transform,
                            self.target_transform, name=f"{self.name} (subset of {len(idx)})", info=self.info)

    def take_per_class(self, k: int, seed: int = 0) -> "ImageDataset":
        """``k`` images of each class, drawn at random with ``seed``: a small labelled set."""
        k = check_int(k, "k", minimum=1)
        g = torch.Generator().manual_seed(int(seed))
        chosen = []
        for c in range(len(self.classes)):
            idx = torch.nonzero(self.targets == c).flatten()
            if len(idx) < k:
                raise ValueError(f"class {self.classes[c]!r} has only {len(idx)} images, fewer than k={k}")
            chosen.append(idx[torch.randperm(len(idx), generator=g)[:k]])
        return self.subset(torch.cat(chosen).sort().values)

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        return (f"<{self.name}: {len(self)} images {c}×{h}×{w}, {len(self.classes)} classes "
                f"{self.classes[:10]}{'...' if len(self.classes) > 10 else ''}>")
