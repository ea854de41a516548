"""Transforms for the float tensors ``(C, H, W)`` that :mod:`cnnlab.data` yields.

torchvision's transforms (v2) work on such tensors too; these cover the
course's needs without it. Random transforms draw from torch's global
generator, so :func:`cnnlab.train.seed_everything` makes them repeatable.

The classic data augmentations, applied to training images only:

* :class:`RandomCrop` with ``padding`` -- shift by up to ``padding`` pixels
  (CIFAR's 32, padding 4; AlexNet cut 224-pixel crops from 256-pixel images);
* :class:`RandomHorizontalFlip` / :class:`RandomVerticalFlip` -- where the
  mirrored image shows the same class (photos, textures; not digits or letters);
* :class:`RandomAffine` -- small rotations, shifts, scalings and shears;
* :class:`ColorJitter` -- brightness, contrast and saturation of colour images
  (AlexNet changed the intensity of the RGB channels);
* :class:`Cutout` -- a random square set to a constant (DeVries and Taylor, 2017).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .._args import check_int

__all__ = ["Compose", "ToTensor", "Normalize", "Resize", "Pad", "RandomCrop", "RandomHorizontalFlip",
           "RandomVerticalFlip", "RandomAffine", "ColorJitter", "Cutout", "Grayscale"]


def _check_image(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 3:
        raise TypeError(f"expected an image tensor (C, H, W), got {type(x).__name__}"
                        f"{tuple(x.shape) if isinstance(x, torch.Tensor) else ''}; use ToTensor() first")
    return x


class Compose:
    """Apply transforms one after the other."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"every transform must be callable, got {t!r}")

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class ToTensor:
    """A NumPy array ``(H, W)`` or ``(H, W, C)`` (uint8 0..255, bool, or float 0..1) or a PIL image
    -> float32 tensor ``(C, H, W)`` in [0, 1]."""

    def __call__(self, img) -> torch.Tensor:
        a = np.asarray(img)
        if a.dtype == bool:
            a = a.astype(np.float32)
        elif a.dtype == np.uint8:
            a = a.astype(np.float32) / 255.0
        else:
            a = a.astype(np.float32)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3:
            raise ValueError(f"ToTensor expects an image (H, W) or (H, W, C), got shape {a.shape}")
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``(x - mean) / std`` per channel."""

    def __init__(self, mean: Sequence[float] | float, std: Sequence[float] | float) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
        if (self.std <= 0).any():
            raise ValueError(f"std must be positive, got {std!r}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_image(x)
        return (x - self.mean) / self.std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()})"


class Resize:
    """Resize to ``size`` (an int: square; or ``(H, W)``), bilinear with antialiasing."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = (check_int(size, "size", minimum=1),) * 2 if isinstance(size, int) else \
            tuple(check_int(s, "size", minimum=1) for s in size)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_image(x)
        return resize(x[None], self.size)[0]

    def __repr__(self) -> str:
        return f"Resize({self.size})"


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a batch ``(N, C, H, W)``; antialiased when shrinking."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


class Pad:
    """Pad every side with ``padding`` pixels of value ``fill``."""

    def __init__(self, padding: int, fill: float = 0.0) -> None:
        self.padding = check_int(padding, "padding", minimum=0)
        self.fill = float(fill)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        p = self.padding
        return F.pad(_check_image(x), (p, p, p, p), value=self.fill)

    def __repr__(self) -> str:
        return f"Pad({self.padding})"


class RandomCrop:
    """A random ``size``×``size`` crop, after padding by ``padding`` (CIFAR's augmentation: 32, padding 4)."""

    def __init__(self, size: int, padding: int = 0) -> None:
        self.size = check_int(size, "size", minimum=1)
        self.padding = check_int(padding, "padding", minimum=0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_image(x)
        if self.padding:
            p = self.padding
            x = F.pad(x, (p, p, p, p))
        h, w = x.shape[-2:]
        if h < self.size or w < self.size:
            raise ValueError(f"RandomCrop size {self.size} is larger than the (padded) image {h}×{w}")
        i = int(torch.randint(0, h - self.size + 1, (1,)))
        j = int(torch.randint(0, w - self.size + 1, (1,)))
        return x[:, i:i + self.size, j:j + self.size]

    def __repr__(self) -> str:
        return f"RandomCrop({self.size}, padding={self.padding})"


def _probability(p, name: str = "p") -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return float(p)


def _uniform(lo: float, hi: float) -> float:
    return float(torch.empty(()).uniform_(lo, hi)) if hi > lo else float(lo)


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = _probability(p)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_image(x)
        return x.flip(-1) if float(torch.rand(())) < self.p else x

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomVerticalFlip:
    """Mirror top-bottom with probability ``p`` (for images without an up, such as textures)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = _probability(p)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_image(x)
        return x.flip(-2) if float(torch.rand(())) < self.p else x

    def __repr__(self) -> str:
        return f"RandomVerticalFlip(p={self.p})"


class RandomAffine:
    """Random rotation (± ``degrees``), translation (± ``translate`` of the size), scale (in ``scale``)
    and shear (± ``shear`` degrees), bilinear, the uncovered corners filled with ``fill``."""

    def __init__(self, degrees: float = 10.0, translate: float = 0.1, scale: tuple[float, float] = (0.9, 1.1),
                 shear: float = 0.0, fill: float = 0.0):
        for name, v in (("degrees", degrees), ("translate", translate), ("shear", shear)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{name} must be a non-negative number (the largest change either way), got {v!r}")
        if translate > 1:
            raise ValueError(f"translate is a fraction of the image size, between 0 and 1; got {translate!r}")
        if len(tuple(scale)) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be a range (low, high) with 0 < low <= high, got {scale!r}")
        self.degrees, self.translate, self.scale = float(degrees), float(translate), tuple(map(float, scale))
        self.shear, self.fill = float(shear), float(fill)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_image(x)
        a = math.radians(_uniform(-self.degrees, self.degrees))
        s = _uniform(*self.scale)
        sh = math.tan(math.radians(_uniform(-self.shear, self.shear)))
        tx, ty = (_uniform(-self.translate, self.translate) * 2 for _ in range(2))
        # the inverse map (output -> input coordinates) that grid_sample takes: rotation, shear, 1/scale
        c, si = math.cos(a) / s, math.sin(a) / s
        theta = torch.tensor([[c, -si + c * sh, tx], [si, c + si * sh, ty]], dtype=x.dtype)[None]
        grid = F.affine_grid(theta, (1, *x.shape), align_corners=False)
        out = F.grid_sample(x[None] - self.fill, grid, align_corners=False)[0]
        return out + self.fill

    def __repr__(self) -> str:
        return (f"RandomAffine(degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"shear={self.shear})")


class ColorJitter:
    """Random brightness, contrast and saturation changes (torchvision's rules).

    Each factor is drawn from ``[1 - b, 1 + b]`` for ``brightness=b`` (and so
    on): brightness multiplies the image, contrast blends it with its mean
    grey level, saturation with its grey version (colour images only; a grey
    image ignores ``saturation``). The three are applied in a random order
    and the result is clipped to [0, 1].
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0) -> None:
        for name, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{name} must be a non-negative number (factor drawn from [1 - {name}, "
                                 f"1 + {name}]), got {v!r}")
        self.brightness, self.contrast, self.saturation = float(brightness), float(contrast), float(saturation)

    @staticmethod
    def _grey(x: torch.Tensor) -> torch.Tensor:
        return (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None] if x.shape[0] == 3 else x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_image(x)
        for k in torch.randperm(3).tolist():
            amount = (self.brightness, self.contrast, self.saturation)[k]
            if amount == 0 or (k == 2 and x.shape[0] != 3):
                continue
            f = _uniform(max(0.0, 1 - amount), 1 + amount)
            if k == 0:
                x = x * f
            elif k == 1:
                x = (x - self._grey(x).mean()) * f + self._grey(x).mean()
            else:
                x = (x - self._grey(x)) * f + self._grey(x)
            x = x.clamp(0, 1)
        return x

    def __repr__(self) -> str:
        return f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation})"


class Cutout:
    """Set a random ``size``×``size`` square (clipped at the border: its centre is anywhere in the
    image) to ``fill`` with probability ``p``: the network must use more than one part of the object."""

    def __init__(self, size: int, fill: float = 0.0, p: float = 1.0) -> None:
        self.size = check_int(size, "size", minimum=1)
        self.fill = float(fill)
        self.p = _probability(p)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_image(x)
        if float(torch.rand(())) >= self.p:
            return x
        h, w = x.shape[-2:]
        cy, cx = int(torch.randint(0, h, (1,))), int(torch.randint(0, w, (1,)))
        top, left = max(0, cy - self.size // 2), max(0, cx - self.size // 2)
        x = x.clone()
        x[:, top:cy - self.size // 2 + self.size, left:cx - self.size // 2 + self.size] = self.fill
        return x

    def __repr__(self) -> str:
        return f"Cutout({self.size}, fill={self.fill}, p={self.p})"


class Grayscale:
    """RGB -> one channel (ITU-R 601 luma), or ``num_output_channels`` copies of it."""

    def __init__(self, num_output_channels: int = 1) -> None:
        self.n = check_int(num_output_channels, "num_output_channels", minimum=1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_image(x)
        if x.shape[0] == 3:
            x = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
        return x.expand(self.n, -1, -1).clone() if self.n > 1 else x

    def __repr__(self) -> str:
        return f"Grayscale({self.n})"
