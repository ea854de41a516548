"""Figures the book and the assignments draw again and again.

* :func:`show_matrix` -- a small array as a grid of cells with every value
  written in its cell (worked examples: the 6x6 edge image, a 4x4 pooling
  input, an im2col matrix), optionally with windows outlined;
* :func:`show_images` -- a row (or grid) of images or feature maps with
  titles; signed feature maps are drawn on a colour scale centred at zero;
* colours that stay distinct with every common colour-vision deficiency:
  :data:`OKABE_ITO` (Okabe and Ito's eight colours) for lines, bars and
  outlines, :func:`color` / :func:`colors` to pick them, :data:`SEQUENTIAL`
  (viridis) for maps of one sign, :data:`SIGNED` (ColorBrewer's red-blue) for
  maps centred at zero, and :func:`use_style`, which makes them matplotlib's
  defaults (the book's chapters call it first).

matplotlib is imported when a function is called, so ``import cnnlab.viz``
costs nothing.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["show_matrix", "show_images", "outline", "OKABE_ITO", "LINE_COLORS", "SEQUENTIAL", "SIGNED",
           "SAFE_COLORMAPS", "color", "colors", "use_style"]

# Okabe & Ito's palette: eight colours told apart with protanopia, deuteranopia
# and tritanopia alike.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
# The order lines and bars take them in: the strongest contrasts on white first,
# yellow (faint on white) last.
LINE_COLORS = [OKABE_ITO[name] for name in
               ("blue", "vermillion", "bluish green", "orange", "reddish purple", "sky blue", "black", "yellow")]
SEQUENTIAL = "viridis"      # maps of one sign: perceptually uniform, readable with any colour vision
SIGNED = "RdBu_r"           # maps centred at zero: ColorBrewer's colour-blind-safe red (+) / blue (-)
# Colour maps safe for readers with a colour-vision deficiency: the perceptually
# uniform family of viridis, ColorBrewer's single-hue and red-blue maps, and grey.
SAFE_COLORMAPS = frozenset({
    "viridis", "cividis", "magma", "inferno", "plasma",
    "Blues", "Oranges", "Greys", "Greys_r", "gray", "gray_r", "binary",
    "RdBu", "RdBu_r", "PuOr", "PuOr_r",
})


def color(name: str) -> str:
    """The hex code of an Okabe-Ito colour by name, e.g. ``color("vermillion")`` -> ``"#D55E00"``."""
    try:
        return OKABE_ITO[name]
    except KeyError:
        raise ValueError(f"color name must be one of {sorted(OKABE_ITO)}, got {name!r}") from None


def colors(n: int) -> list[str]:
    """``n`` line colours in :data:`LINE_COLORS` order (repeating after eight)."""
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a whole number >= 0, got {n!r}")
    return [LINE_COLORS[i % len(LINE_COLORS)] for i in range(int(n))]


def use_style(rc: dict | None = None) -> None:
    """Make the colour-blind-safe colours matplotlib's defaults: lines, bars and
    markers cycle through :data:`LINE_COLORS`, images use :data:`SEQUENTIAL`.
    ``rc`` adds other settings, e.g. ``use_style({"figure.dpi": 110})``."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams["axes.prop_cycle"] = cycler(color=LINE_COLORS)
    mpl.rcParams["image.cmap"] = SEQUENTIAL
    if rc:
        mpl.rcParams.update(rc)


def _as_2d(a, name: str) -> np.ndarray:
    arr = np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a)  # torch tensors too
    arr = np.squeeze(arr) if arr.ndim > 2 and all(s == 1 for s in arr.shape[:-2]) else arr
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows, columns), got shape {arr.shape}; "
                         "pick one image and channel first, e.g. x[0, 0]")
    return arr


def outline(ax, row: int, col: int, height: int = 1, width: int = 1, *, color=OKABE_ITO["vermillion"],
            linewidth: float = 3.0, **kwargs):
    """Draw a rectangle around cells ``[row:row+height, col:col+width]`` of a
    matrix drawn by :func:`show_matrix` (or any ``imshow`` with unit cells)."""
    from matplotlib.patches import Rectangle
    rect = Rectangle((col - 0.5, row - 0.5), width, height, fill=False, edgecolor=color,
                     linewidth=linewidth, **kwargs)
    ax.add_patch(rect)
    return rect


def show_matrix(a, ax=None, *, fmt: str = "{:g}", cmap: str = "Blues", title: str | None = None,
                vmin=None, vmax=None, fontsize: float | None = None, windows: Sequence = (),
                labels: bool = False):
    """Draw a small 2-D array as coloured cells with each value written in its cell.

    Parameters
    ----------
    a : array (H, W); a 1-D array is drawn as one row, leading axes of size 1 are dropped
    ax : matplotlib Axes to draw into (a new figure if None)
    fmt : format of each value, e.g. ``"{:.2f}"``
    cmap, vmin, vmax : colour scale of the cells
    windows : rectangles to outline, each ``(row, col, height, width)`` or
        ``(row, col, height, width, color)``
    labels : number the rows and columns (0-based)

    Returns
    -------
    The Axes.
    """
    import matplotlib.pyplot as plt

    arr = _as_2d(a, "a")
    if ax is None:
        h, w = arr.shape
        _, ax = plt.subplots(figsize=(max(1.5, 0.45 * w + 0.5), max(1.2, 0.45 * h + 0.4)))
    values = arr.astype(float)
    finite = values[np.isfinite(values)]
    lo = vmin if vmin is not None else (finite.min() if finite.size else 0.0)
    hi = vmax if vmax is not None else (finite.max() if finite.size else 1.0)
    if hi == lo:
        hi = lo + 1.0
    image = ax.imshow(values, cmap=cmap, vmin=lo, vmax=hi)
    rgba = image.cmap(image.norm(values))
    luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])   # text stays readable
    if fontsize is None:
        fontsize = 11 if max(arr.shape) <= 6 else (9 if max(arr.shape) <= 10 else 7)
    for (i, j), v in np.ndenumerate(arr):
        dark = np.isfinite(values[i, j]) and luminance[i, j] < 0.5
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize,
                color="white" if dark else "black")
    if labels:
        ax.set_xticks(range(arr.shape[1]))
        ax.set_yticks(range(arr.shape[0]))
        ax.tick_params(length=0, labelsize=max(6, fontsize - 2))
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_xticks(np.arange(-0.5, arr.shape[1]), minor=True)
    ax.set_yticks(np.arange(-0.5, arr.shape[0]), minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    for win in windows:
        if len(win) not in (4, 5):
            raise ValueError(f"each entry of windows must be (row, col, height, width[, color]), got {win!r}")
        outline(ax, *win[:4], **({"color": win[4]} if len(win) == 5 else {}))
    if title:
        ax.set_title(title)
    return ax


def show_images(images: Sequence, titles: Sequence[str] | None = None, *, cmap="gray",
                signed: bool | Sequence[bool] = False, ncols: int | None = None, size: float = 2.6,
                colorbar: bool = False, suptitle: str | None = None):
    """Show images or feature maps side by side.

    Parameters
    ----------
    images : sequence of arrays (H, W) (grey or a feature map) or (H, W, 3) (colour)
    titles : one title per image, or None
    cmap : colour map of grey images (one for all, or one per image)
    signed : draw a map on a scale symmetric around zero with the diverging colour
        map :data:`SIGNED` (positive red, negative blue), as suits filter
        responses; one flag for all images or one per image
    ncols : images per row (default: all in one row)
    size : inches per image
    colorbar : add a colour bar to each grey image

    Returns
    -------
    (fig, axes) with axes a flat array of the Axes actually used.
    """
    import matplotlib.pyplot as plt

    images = list(images)
    if not images:
        raise ValueError("images is empty; pass at least one image")
    n = len(images)
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles has {len(titles)} entries for {n} images; give one title per image")
    cmaps = list(cmap) if isinstance(cmap, (list, tuple)) else [cmap] * n
    flags = list(signed) if isinstance(signed, (list, tuple)) else [signed] * n
    if len(cmaps) != n or len(flags) != n:
        raise ValueError(f"cmap and signed must be single values or have one entry per image ({n})")
    ncols = n if ncols is None else max(1, min(int(ncols), n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.05), squeeze=False)
    axes = axes.ravel()
    for k, img in enumerate(images):
        arr = np.asarray(img.detach().cpu().numpy() if hasattr(img, "detach") else img)
        ax = axes[k]
        if arr.ndim == 3 and arr.shape[-1] in (3, 4):
            im = ax.imshow(arr)
        elif arr.ndim == 2:
            if flags[k]:
                m = float(np.abs(arr).max()) or 1.0
                im = ax.imshow(arr, cmap=SIGNED, vmin=-m, vmax=m)
            else:
                im = ax.imshow(arr, cmap=cmaps[k])
            if colorbar:
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        else:
            raise ValueError(f"images[{k}] must have shape (H, W) or (H, W, 3), got {arr.shape}")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[k], fontsize=10)
    for ax in axes[n:]:
        ax.remove()
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig, axes[:n]
