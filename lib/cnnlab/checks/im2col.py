"""Checks of ps1 q4 and q5: im2col in the layout of torch's ``F.unfold``,
and a vectorised convolution built on it.
"""

from __future__ import annotations

from typing import Sequence

from .. import ref
from ._core import GradingFailure, public
from ._run_cases import run_cases
from .cases import ConvCase
from .conv import _TITLE, _conv_args, _conv_inputs, _when
from .diagnose import Mistake
from .guard import CounterSwitchedOff, Guard, call

def _ref_im2col(inp, **over):
    a = dict(inp)
    a.update(over)
    w = a["w"]
    return ref.im2col(a["x"], (w.shape[2], w.shape[3]), stride=a["stride"], padding=a["padding"])


def im2col_mistakes():
    def rows_rsc(inp):
        cols = _ref_im2col(inp)
        N, CRS, P = cols.shape
        _, C, R, S = inp["w"].shape
        return _when(C > 1 and R * S > 1,
                     lambda: cols.reshape(N, C, R, S, P).transpose(0, 2, 3, 1, 4).reshape(N, CRS, P))

    def rows_csr(inp):
        cols = _ref_im2col(inp)
        N, CRS, P = cols.shape
        _, C, R, S = inp["w"].shape
        return _when(R > 1 and S > 1,
                     lambda: cols.reshape(N, C, R, S, P).transpose(0, 1, 3, 2, 4).reshape(N, CRS, P))

    def cols_colmajor(inp):
        cols = _ref_im2col(inp)
        N, CRS, P = cols.shape
        oh, ow = inp["case"].out_hw
        return _when(oh > 1 and ow > 1,
                     lambda: cols.reshape(N, CRS, oh, ow).transpose(0, 1, 3, 2).reshape(N, CRS, P))

    def transposed(inp):
        return _ref_im2col(inp).transpose(0, 2, 1)

    def cs231n(inp):
        cols = _ref_im2col(inp)
        N, CRS, P = cols.shape
        return cols.transpose(1, 0, 2).reshape(CRS, N * P)

    def pad_ignored(inp):
        return _when(inp["padding"] > 0, lambda: _ref_im2col(inp, padding=0))

    def pad_twice(inp):
        return _when(inp["padding"] > 0, lambda: _ref_im2col(inp, padding=2 * inp["padding"]))

    def stride_ignored(inp):
        return _when(inp["stride"] > 1, lambda: _ref_im2col(inp, stride=1))

    layout = ("Row (c*R + r)*S + s of column i*OW + j holds x_padded[n, c, i*S + r, j*S + s]: "
              "the same (c, r, s) order as w.reshape(K, -1).")
    return [
        Mistake("im2col_rows_channels_last", "the rows of each column are in (r, s, c) order instead of "
                "(c, r, s)", layout, rows_rsc),
        Mistake("im2col_rows_transposed", "the rows of each column are in (c, s, r) order: the window is "
                "read column by column", layout, rows_csr),
        Mistake("im2col_columns_column_major", "the windows are numbered column by column (j*OH + i) instead "
                "of row by row (i*OW + j)", layout, cols_colmajor),
        Mistake("im2col_transposed", "the result is (N, OH*OW, C*R*S): windows as rows instead of columns",
                "Return (N, C*R*S, OH*OW), one column per window, as torch's F.unfold does.", transposed),
        Mistake("im2col_cs231n_layout", "the result is the (C*R*S, N*OH*OW) layout of CS231n; this assignment "
                "uses torch's (N, C*R*S, OH*OW)",
                "Keep the images apart: cols[n] is the (C*R*S, OH*OW) matrix of image n.", cs231n),
        Mistake("padding_ignored", _TITLE["padding_ignored"], "Pad x by P on each side before taking windows.",
                pad_ignored),
        Mistake("padding_twice", _TITLE["padding_twice"], "Pad x once, by P on each side.", pad_twice),
        Mistake("stride_ignored", _TITLE["stride_ignored"], "Window (i, j) starts at row i*S, column j*S.",
                stride_ignored),
    ]


def _im2col_args(inp):
    w = inp["w"]
    return (inp["x"], w.shape[2], w.shape[3]), dict(stride=inp["stride"], padding=inp["padding"])


@public
def check_im2col(fn, cases: Sequence[ConvCase], seed: int, fname: str | None = None, *, guard: Guard | None = None):
    """``fn(x, R, S, stride=S, padding=P) -> cols (N, C*R*S, OH*OW)`` agrees with cnnlab.ref.im2col
    (torch's F.unfold layout).  Only x and the filter size of each case are used."""
    fname = fname or getattr(fn, "__name__", "im2col")
    run_cases(fn, fname, cases, seed, inputs=_conv_inputs, expected=_ref_im2col, args=_im2col_args,
              mistakes=im2col_mistakes, layout="NCL", guard=guard)


@public
def check_vectorised(fn, case: ConvCase, seed: int, fname: str | None = None, per_window: int = 6, *,
                     guard: Guard | None = None):
    """``fn`` (a convolution with x, w, b, stride, padding) runs at most
    ``per_window * (OH*OW + R*S) + 60`` lines of Python on ``case``: loops over
    the output positions or the filter offsets are fine, loops over images,
    channels or filters on top of them are not.  Under a guard that cannot
    count lines (the referee's), only the call itself is checked."""
    fname = fname or getattr(fn, "__name__", "conv2d_im2col")
    guard = guard or Guard()
    guard.own_work(fn, fname)
    inp = _conv_inputs(case, seed, 0)
    pos, kw = _conv_args(inp)
    call(fn, pos, kw, fname=fname, case=case.text(), guard=guard)  # errors and forbidden calls first
    oh, ow = case.out_hw
    budget = per_window * (oh * ow + case.R * case.S) + 60
    try:
        lines = guard.count_lines(fn, pos, kw)
    except CounterSwitchedOff as off:
        raise GradingFailure(
            f"{fname} switched off the line counter of this test ({off}), so it cannot be shown to be "
            "vectorised. Remove the calls of sys.settrace/sys.setprofile from it.", "not_vectorised") from None
    if lines is not None and lines > budget:  # None: counted where the function runs, not here
        raise GradingFailure(
            f"{fname} is not vectorised: on the test case {case.text()} it ran {lines} lines of Python, "
            f"more than {budget} = {per_window} x (OH*OW + R*S) + 60.\nMost likely: it still loops over images, "
            "channels or filters (or over every element). Build cols with one loop over the R*S filter "
            "offsets (or the OH*OW windows) using slicing on all images and channels at once, then compute "
            "every output with one matrix product: w.reshape(K, -1) @ cols.", "not_vectorised")



__all__ = ["check_im2col", "check_vectorised", "im2col_mistakes"]
