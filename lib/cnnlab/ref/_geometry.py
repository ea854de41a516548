"""Sliding-window geometry shared by the reference convolution ops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import shapes
from .._errors import ShapeError


def valid_range(n_out: int, n_in: int, stride: int, offset: int) -> tuple[int, int]:
    """Outputs ``o`` with ``0 <= o*stride + offset < n_in``, as ``lo <= o < hi``."""
    lo = max(0, -(offset // stride))
    hi = min(n_out, (n_in - 1 - offset) // stride + 1)
    return lo, max(lo, hi)


@dataclass(frozen=True)
class ConvGeometry:
    """Everything the conv kernels need about one 2-D convolution."""
    N: int
    C: int
    H: int
    W: int
    K: int
    KH: int
    KW: int
    G: int
    sh: int
    sw: int
    pt: int
    pb: int
    pl: int
    pr: int
    dh: int
    dw: int
    OH: int
    OW: int
    oh_lo: np.ndarray
    oh_hi: np.ndarray
    ow_lo: np.ndarray
    ow_hi: np.ndarray

    @property
    def Cg(self) -> int:
        return self.C // self.G

    @property
    def Kg(self) -> int:
        return self.K // self.G

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.K, self.OH, self.OW)

    def args(self):
        """The geometry arguments of the kernels, in their order."""
        return (self.sh, self.sw, self.pt, self.pl, self.dh, self.dw,
                self.oh_lo, self.oh_hi, self.ow_lo, self.ow_hi)


def conv_geometry(x_shape, w_shape, stride, padding, dilation, groups, *, spatial: int = 2,
                  x_name: str = "x", w_name: str = "w") -> ConvGeometry:
    """Validate a convolution's arguments against the shapes of x and w."""
    N, C, H, W = x_shape
    K, Cw, KH, KW = w_shape
    g = shapes.check_int(groups, "groups", minimum=1)
    if spatial == 1:
        st = (1,) + shapes.ntuple(stride, 1, "stride", minimum=1)
        di = (1,) + shapes.ntuple(dilation, 1, "dilation", minimum=1)
        pads = ((0, 0),) + shapes.resolve_padding(padding, (KW,), st[1:], di[1:])
    else:
        st = shapes.ntuple(stride, 2, "stride", minimum=1)
        di = shapes.ntuple(dilation, 2, "dilation", minimum=1)
        pads = shapes.resolve_padding(padding, (KH, KW), st, di)
    if C % g:
        raise ValueError(f"groups={g} must divide the input channels of {x_name} ({C}); "
                         f"use a divisor of {C}")
    if K % g:
        raise ValueError(f"groups={g} must divide the number of filters in {w_name} ({K}); "
                         f"use a divisor of {K}")
    if Cw * g != C:
        raise ShapeError(f"channel mismatch: {x_name} has {C} channels, so with groups={g} each filter "
                         f"in {w_name} must have {C // g} channels, but {w_name} has shape "
                         f"({K}, {Cw}, ...) with {Cw}; give {w_name} shape ({K}, {C // g}, ...) "
                         f"or change groups")
    axes = ("height", "width") if spatial == 2 else (None, "length")
    outs = []
    for n, k, s, (lo, hi), d, ax in zip((H, W), (KH, KW), st, pads, di, axes):
        if ax is None:
            outs.append(1)
            continue
        outs.append(shapes._one_output_size(n, k, s, lo, hi, d, axis_name=f"input {ax}",
                                            what=f"kernel ({ax} {k})"))
    OH, OW = outs
    rows = [valid_range(OH, H, st[0], r * di[0] - pads[0][0]) for r in range(KH)]
    cols = [valid_range(OW, W, st[1], s * di[1] - pads[1][0]) for s in range(KW)]
    as_idx = lambda v: np.array(v, dtype=np.int64)  # noqa: E731
    return ConvGeometry(N, C, H, W, K, KH, KW, g, st[0], st[1], pads[0][0], pads[0][1],
                        pads[1][0], pads[1][1], di[0], di[1], OH, OW,
                        as_idx([a for a, _ in rows]), as_idx([b for _, b in rows]),
                        as_idx([a for a, _ in cols]), as_idx([b for _, b in cols]))
