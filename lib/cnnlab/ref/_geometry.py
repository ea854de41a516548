"""Sliding-window geometry shared by the reference convolution ops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._args import conv_arguments


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
    K, _, KH, KW = w_shape
    args = conv_arguments(x_shape, w_shape, stride, padding, dilation, groups, spatial=spatial,
                          x_name=x_name, w_name=w_name)
    st, di, pads, g = args.stride, args.dilation, args.pads, args.groups
    OH, OW = args.out
    rows = [valid_range(OH, H, st[0], r * di[0] - pads[0][0]) for r in range(KH)]
    cols = [valid_range(OW, W, st[1], s * di[1] - pads[1][0]) for s in range(KW)]
    as_idx = lambda v: np.array(v, dtype=np.int64)  # noqa: E731
    return ConvGeometry(N, C, H, W, K, KH, KW, g, st[0], st[1], pads[0][0], pads[0][1],
                        pads[1][0], pads[1][1], di[0], di[1], OH, OW,
                        as_idx([a for a, _ in rows]), as_idx([b for _, b in rows]),
                        as_idx([a for a, _ in cols]), as_idx([b for _, b in cols]))
