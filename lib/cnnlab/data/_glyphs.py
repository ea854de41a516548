"""``glyphs()``: an MNIST-like dataset drawn here from the fonts matplotlib ships.

Each character is rendered once per font with FreeType (matplotlib's
``FT2Font``), cropped, scaled so that its longer side fills 3/4 of a 64×64
master (MNIST fits digits in 20 of 28 pixels) and made thinner and bolder by
grey-level erosion/dilation. Every sample then picks a font and a stroke width
and gets a random affine warp (rotation, shear, scale, aspect, shift), a blur,
an ink intensity and noise, all vectorised with ``affine_grid``/``grid_sample``:
70,000 images take seconds. The same arguments (``seed`` included) give the
same images; the ``train`` and ``test`` splits use different random streams
(same fonts).
"""

from __future__ import annotations

import functools
import math
import os
import string
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .._args import check_int
from ._dataset import ImageDataset

__all__ = ["glyphs", "FONTS", "KINDS", "render_masters"]

MASTER = 64          # side of the rendered master images
BOX = 48             # the longer side of a glyph in its master

FONTS = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
    "cmr10", "cmb10", "cmss10", "cmti10", "cmtt10",
)

KINDS = {
    "digits": string.digits,
    "letters": string.ascii_uppercase,
    "lowercase": string.ascii_lowercase,
    "alphanumeric": string.digits + string.ascii_uppercase,
}

_SPLITS = {"train": 0, "test": 1}
_DEFAULT_N = {"train": 60_000, "test": 10_000}


def _font_path(name: str) -> str:
    import matplotlib
    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name + ".ttf")
    if not os.path.exists(path):
        raise FileNotFoundError(f"font {name!r} is not among matplotlib's fonts ({path} missing); "
                                f"choose fonts from cnnlab.data.FONTS")
    return path


def _render(font, ch: str) -> np.ndarray:
    """One character as a float array in [0, 1], cropped to its ink."""
    try:
        from matplotlib.ft2font import LoadFlags
        flags = LoadFlags.NO_HINTING
    except ImportError:  # matplotlib < 3.10
        from matplotlib.ft2font import LOAD_NO_HINTING as flags
    font.set_size(96, 72)
    font.set_text(ch, 0.0, flags=flags)
    font.draw_glyphs_to_bitmap(antialiased=True)
    im = np.asarray(font.get_image(), dtype=np.float32) / 255.0
    rows, cols = np.nonzero(im > 0.05)
    if len(rows) == 0:
        raise ValueError(f"the font {font.fname} has no glyph for {ch!r}")
    return im[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


@functools.lru_cache(maxsize=8)
def render_masters(chars: str, fonts: tuple[str, ...] = FONTS) -> torch.Tensor:
    """Masters of ``chars`` in ``fonts``: float tensor ``(fonts, chars, 4 stroke levels, 64, 64)``.

    Stroke levels: eroded by one pixel, as drawn, dilated by one and by two
    pixels (grey-level min/max filters at the master's resolution).
    """
    from matplotlib.ft2font import FT2Font
    out = torch.zeros(len(fonts), len(chars), 1, MASTER, MASTER)
    for i, name in enumerate(fonts):
        font = FT2Font(_font_path(name))
        for j, ch in enumerate(chars):
            g = torch.from_numpy(_render(font, ch))[None, None]
            h, w = g.shape[-2:]
            f = BOX / max(h, w)
            nh, nw = max(1, round(h * f)), max(1, round(w * f))
            g = F.interpolate(g, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)[0, 0]
            top, left = (MASTER - nh) // 2, (MASTER - nw) // 2
            out[i, j, 0, top:top + nh, left:left + nw] = g.clamp(0, 1)
    x = out.reshape(-1, 1, MASTER, MASTER)
    dil1 = F.max_pool2d(x, 3, 1, 1)
    levels = [-F.max_pool2d(-x, 3, 1, 1), x, dil1, F.max_pool2d(dil1, 3, 1, 1)]
    return torch.stack(levels, 1).reshape(len(fonts), len(chars), 4, MASTER, MASTER)


def _gaussian_kernels(sigma: torch.Tensor, radius: int = 2) -> torch.Tensor:
    """One normalised 1-D Gaussian per sample: (B, 2*radius+1)."""
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x[None] / sigma[:, None].clamp_min(0.05)) ** 2)
    return k / k.sum(1, keepdim=True)


def _draw(masters: torch.Tensor, font: torch.Tensor, label: torch.Tensor, size: int,
          g: torch.Generator) -> torch.Tensor:
    """Render one batch of samples; returns uint8 (B, 1, size, size)."""
    b = len(label)

    def u(lo, hi):
        return torch.empty(b).uniform_(lo, hi, generator=g)

    stroke = u(-0.5, 2.0) + 1.0                        # position among the 4 levels
    lo = stroke.floor().clamp(0, 2).long()
    w = (stroke - lo).view(b, 1, 1, 1)
    flat = masters.reshape(-1, 1, MASTER, MASTER)       # (fonts * chars * 4, 1, 64, 64)
    i = (font * masters.shape[1] + label) * 4 + lo
    img = flat[i] * (1 - w) + flat[i + 1] * w           # (B, 1, 64, 64)

    angle = torch.deg2rad(u(-12.0, 12.0))
    shear = u(-0.25, 0.25)
    scale = u(0.8, 1.1)
    aspect = u(0.85, 1.15)
    sx, sy = scale * aspect, scale / aspect
    cos, sin = torch.cos(angle), torch.sin(angle)
    # forward map glyph -> image: rotation @ shear @ diag(sx, sy); theta is its inverse (image -> glyph)
    fwd = torch.zeros(b, 2, 2)
    fwd[:, 0, 0] = cos * sx
    fwd[:, 0, 1] = (cos * shear - sin) * sy
    fwd[:, 1, 0] = sin * sx
    fwd[:, 1, 1] = (sin * shear + cos) * sy
    inv = torch.linalg.inv(fwd)
    shift = torch.stack([u(-0.12, 0.12), u(-0.12, 0.12)], 1)
    theta = torch.cat([inv, -(inv @ shift[:, :, None])], 2)
    grid = F.affine_grid(theta, (b, 1, size, size), align_corners=False)
    out = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    k = _gaussian_kernels(u(0.0, 0.9))                  # per-sample blur, separable, as grouped convs
    r = k.shape[1] // 2
    o = out.reshape(1, b, size, size)
    o = F.conv2d(F.pad(o, (r, r, 0, 0)), k.view(b, 1, 1, -1), groups=b)
    o = F.conv2d(F.pad(o, (0, 0, r, r)), k.view(b, 1, -1, 1), groups=b)
    out = o.reshape(b, 1, size, size)

    ink = u(0.75, 1.0).view(b, 1, 1, 1)
    peak = out.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    out = out / peak * ink
    noise = torch.randn(out.shape, generator=g) * u(0.0, 0.06).view(b, 1, 1, 1)
    return (out + noise).clamp(0, 1).mul(255).round().to(torch.uint8)


def glyphs(split: str = "train", n: int | None = None, kind: str = "digits", size: int = 28, seed: int = 0,
           fonts: Sequence[str] | None = None, transform=None, target_transform=None) -> ImageDataset:
    """An MNIST-like set of characters drawn from matplotlib's fonts, made in seconds.

    Parameters
    ----------
    split : ``'train'`` or ``'test'``
        Different random streams of the same generator (same fonts).
    n : int, optional
        Number of images; 60,000 for ``train`` and 10,000 for ``test`` by
        default. Classes are balanced (``n // classes`` each, the first
        ``n % classes`` classes one more).
    kind : ``'digits'`` (10 classes), ``'letters'`` (26 capitals), ``'lowercase'`` or ``'alphanumeric'`` (36)
    size : int
        Side of the square images (28 as MNIST, 32 for LeNet-5).
    seed : int
        Same arguments and seed, same images (a different ``n`` draws a different set).
    fonts : names from :data:`FONTS` (default: all 21)
    transform, target_transform : see :class:`~cnnlab.data.ImageDataset`

    Returns
    -------
    ImageDataset
        White characters on black, ``(1, size, size)``; ``classes`` are the characters.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    n = _DEFAULT_N[split] if n is None else check_int(n, "n", minimum=1)
    size = check_int(size, "size", minimum=8)
    seed = check_int(seed, "seed", minimum=0)
    fonts = FONTS if fonts is None else tuple(fonts)
    if not fonts:
        raise ValueError("fonts is empty; give at least one name from cnnlab.data.FONTS")
    chars = KINDS[kind]
    masters = render_masters(chars, fonts)
    if MASTER / size > 1.5:   # shrinking a lot: blur the masters a little first, against aliasing
        masters = F.avg_pool2d(masters.reshape(-1, 1, MASTER, MASTER), 3, 1, 1).reshape(masters.shape)

    # one independent stream per (seed, split, kind): numpy's SeedSequence mixes them well
    ss = np.random.SeedSequence([seed, _SPLITS[split], list(KINDS).index(kind), size])
    g = torch.Generator().manual_seed(int(ss.generate_state(1, dtype=np.uint64)[0] >> 1))
    labels = torch.arange(n) % len(chars)
    labels = labels[torch.randperm(n, generator=g)]
    font_idx = torch.randint(0, len(fonts), (n,), generator=g)
    out = torch.empty(n, 1, size, size, dtype=torch.uint8)
    batch = 4096
    for s in range(0, n, batch):
        out[s:s + batch] = _draw(masters, font_idx[s:s + batch], labels[s:s + batch], size, g)
    info = dict(split=split, kind=kind, size=size, seed=seed, fonts=list(fonts))
    return ImageDataset(out, labels, list(chars), transform, target_transform,
                        name=f"glyphs({split!r}, kind={kind!r}, size={size}, seed={seed})", info=info)
