"""Datasets that ship with the environment: scikit-learn's digits, scikit-image's textures and photos."""

from __future__ import annotations

import numpy as np
import torch

from .._args import check_int
from ._dataset import ImageDataset
from .transforms import resize

__all__ = ["digits", "textures", "image", "IMAGES", "TEXTURES"]

# sample photos of scikit-image that load offline (they ship inside the package)
IMAGES = ("astronaut", "camera", "cat", "chelsea", "coffee", "coins", "rocket", "moon", "page", "text",
          "checkerboard", "horse", "brick", "grass", "gravel", "immunohistochemistry", "hubble_deep_field",
          "retina", "logo", "clock", "microaneurysms")

TEXTURES = ("brick", "grass", "gravel", "moon", "immunohistochemistry")


def digits(split: str = "train", size: int = 32, test_fraction: float = 0.2, seed: int = 0,
           transform=None, target_transform=None) -> ImageDataset:
    """scikit-learn's 1,797 real handwritten digits (8×8, 16 grey levels), resized to ``size``.

    Parameters
    ----------
    split : ``'train'``, ``'test'`` or ``'all'``
        A stratified split: ``test_fraction`` of each class goes to ``test``
        (360 of the 1,797 images by default), chosen with ``seed``.
    size : int
        Side of the images: 8 keeps the originals, 28 or 32 upsamples
        (bilinear) for LeNet-style networks.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    size = check_int(size, "size", minimum=8)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]    # (1797, 1, 8, 8), 0..1
    y = torch.from_numpy(d.target.astype(np.int64))
    if split != "all":
        idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=test_fraction,
                                               stratify=d.target, random_state=seed)
        idx = np.sort(idx_train if split == "train" else idx_test)
        x, y = x[idx], y[idx]
    x = resize(x, (size, size)).clamp(0, 1).mul(255).round().to(torch.uint8)
    return ImageDataset(x, y, [str(i) for i in range(10)], transform, target_transform,
                        name=f"digits({split!r}, size={size})",
                        info=dict(split=split, size=size, seed=seed, test_fraction=test_fraction))


def image(name: str, size: int | tuple[int, int] | None = None, gray: bool = False) -> torch.Tensor:
    """A sample photo of scikit-image as a float tensor ``(C, H, W)`` in [0, 1].

    ``name`` is one of :data:`IMAGES` (``'astronaut'``, ``'camera'``,
    ``'cat'``...); ``size`` resizes (an int: the shorter side, keeping the
    aspect ratio; a pair: exactly ``(H, W)``); ``gray`` converts colour to one
    channel.
    """
    import skimage.data

    if name not in IMAGES:
        raise ValueError(f"unknown image {name!r}; choose one of {', '.join(IMAGES)}")
    a = np.asarray(getattr(skimage.data, name)())
    if a.dtype == bool:
        a = a.astype(np.float32)
    elif a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    else:
        a = a.astype(np.float32) / float(a.max() or 1)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 4:           # RGBA -> RGB
        a = a[:, :, :3]
    x = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
    if gray and x.shape[0] == 3:
        x = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
    if size is not None:
        h, w = x.shape[1:]
        if isinstance(size, int):
            s = check_int(size, "size", minimum=1)
            size = (s, max(1, round(w * s / h))) if h <= w else (max(1, round(h * s / w)), s)
        x = resize(x[None], tuple(size))[0].clamp(0, 1)
    return x


def textures(split: str = "train", n: int | None = None, size: int = 32, names=TEXTURES, seed: int = 0,
             transform=None, target_transform=None) -> ImageDataset:
    """Texture patches cut from scikit-image's images: a texture classification task.

    Each class is one image (by default brick, grass, gravel, the moon's
    surface and an immunohistochemistry slide), in grey. A patch is a random
    square of 1 to 2 times ``size`` resized to ``size``, flipped and rotated
    by multiples of 90° at random, with random brightness and contrast (so
    that the mean grey level alone does not tell the class). ``train``
    patches come from the left 3/4 of each image and ``test`` patches from the
    right 1/4, so no pixel is shared between the splits.

    n : number of patches, balanced over the classes (default 2,000 train, 500 test).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    names = tuple(names)
    for nm in names:
        if nm not in IMAGES:
            raise ValueError(f"unknown texture image {nm!r}; choose among {', '.join(IMAGES)}")
    if len(names) < 2:
        raise ValueError("names must list at least two images (one class each)")
    size = check_int(size, "size", minimum=4)
    n = (2000 if split == "train" else 500) if n is None else check_int(n, "n", minimum=1)
    ss = np.random.SeedSequence([check_int(seed, "seed", minimum=0), 0 if split == "train" else 1, size])
    g = torch.Generator().manual_seed(int(ss.generate_state(1, dtype=np.uint64)[0] >> 1))
    labels = (torch.arange(n) % len(names))[torch.randperm(n, generator=g)]
    out = torch.empty(n, 1, size, size, dtype=torch.uint8)
    for c, nm in enumerate(names):
        img = image(nm, gray=True)[0]
        w = img.shape[1]
        cut = (3 * w) // 4
        region = img[:, :cut] if split == "train" else img[:, cut:]
        idx = torch.nonzero(labels == c).flatten()
        rh, rw = region.shape
        max_side = min(2 * size, rh, rw)
        if max_side < size:
            raise ValueError(f"image {nm!r} is too small for {size}-pixel patches in the {split} split")
        for i in idx.tolist():
            side = int(torch.randint(size, max_side + 1, (1,), generator=g))
            top = int(torch.randint(0, rh - side + 1, (1,), generator=g))
            left = int(torch.randint(0, rw - side + 1, (1,), generator=g))
            p = resize(region[top:top + side, left:left + side][None, None], (size, size))[0, 0]
            p = torch.rot90(p, int(torch.randint(0, 4, (1,), generator=g)))
            if bool(torch.randint(0, 2, (1,), generator=g)):
                p = p.flip(1)
            contrast = float(torch.empty(()).uniform_(0.6, 1.4, generator=g))
            brightness = float(torch.empty(()).uniform_(-0.2, 0.2, generator=g))
            p = (p - p.mean()) * contrast + 0.5 + brightness
            out[i, 0] = p.clamp(0, 1).mul(255).round().to(torch.uint8)
    return ImageDataset(out, labels, list(names), transform, target_transform,
                        name=f"textures({split!r}, size={size})",
                        info=dict(split=split, size=size, seed=seed, names=list(names)))
