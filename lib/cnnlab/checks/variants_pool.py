"""The hypothesis families of :mod:`.locate` for max and average pooling,
forward and backward: the stride and the window per axis, one position of
each window, another reduction, a channel or image repeated, the output's
order, windows left out (see :mod:`.variants` for the general ops)."""

from __future__ import annotations

from itertools import product

import numpy as np

from .locate import Hypothesis as H
from .variants import _orders, _unwritten, gpool, gpool_backward


# ---------------------------------------------------------------- pooling


def pool_hypotheses(inp, op="max"):
    """Variants of max (``op="max"``) or average (``op="mean"``) pooling."""
    x, k, s = inp["x"], inp["k"], inp["s"]
    N, C = x.shape[:2]

    def pool(size=(k, k), stride=(s, s), how=op):
        return lambda: gpool(x, size, stride, how)
    ref = pool()
    name = "maximum" if op == "max" else "average"
    hs = []
    for sh, sw in ((s, 1), (1, s), (1, 1), (k, k)):
        if (sh, sw) != (s, s):
            hs.append(H("pool_stride_axis", f"with the window moving by {sh} along the rows and {sw} along the "
                        f"columns (it should move by stride = {s} along both)",
                        "does window (i, j) start at row i*stride and column j*stride?", pool(stride=(sh, sw))))
    for r, c in product(range(k), range(k)):
        if k > 1:
            hs.append(H("pool_one_position", f"with the value at row {r}, column {c} of each window instead of its "
                        f"{name}", f"is the window reduced with np.{op} over both of its axes?",
                        pool(how=(r, c))))
    for kh, kw in ((k - 1, k - 1), (k, k - 1), (k - 1, k), (k + 1, k + 1), (k, 1), (1, k)):
        if kh >= 1 and kw >= 1 and (kh, kw) != (k, k):
            hs.append(H("pool_window_axis", f"with {kh} x {kw} windows (rows x columns) instead of {k} x {k}",
                        f"does each window span pool_size = {k} rows and columns: x[..., i*stride:i*stride + "
                        "pool_size, j*stride:j*stride + pool_size]?", pool(size=(kh, kw))))
    others = {"max": ("min", "mean", "sum"), "mean": ("min", "sum")}[op]
    for o in others:
        if o == "sum" and op == "mean":
            continue  # catalogued
        hs.append(H("pool_wrong_reduction", f"with the {o} of each window instead of its {name}",
                    f"reduce each window with np.{op}.", pool(how=o)))
    if C > 1:
        hs.append(H("pool_channel_zero", "with channel 0's result for every channel",
                    "is x indexed with the channel loop variable (x[n, c])?",
                    lambda: np.repeat(ref()[:, :1], C, axis=1)))
    if N > 1:
        hs.append(H("pool_image_zero", "with image 0's result for every image",
                    "is x indexed with the image loop variable (x[n])?", lambda: np.repeat(ref()[:1], N, axis=0)))
    hs += _orders(ref)
    hs += _unwritten(ref)
    return hs


def max_pool_hypotheses(inp):
    return pool_hypotheses(inp, "max")


def avg_pool_hypotheses(inp):
    return pool_hypotheses(inp, "mean")


def pool_backward_hypotheses(inp, rule="max"):
    """Variants of the max (``rule="max"``) or average (``"mean"``) pooling backward pass."""
    x, dout, k, s = inp["x"], inp["dout"], inp["k"], inp["s"]
    OH, OW = dout.shape[2:]

    def bwd(size=(k, k), stride=(s, s), how=rule, d=dout, windows=None):
        return lambda: gpool_backward(d, x, size, stride, how, windows)
    hs = []
    for sh, sw in ((s, 1), (1, s), (1, 1), (k, k)):
        if (sh, sw) != (s, s):
            hs.append(H("pool_grad_stride_axis", f"with the windows placed {sh} apart along the rows and {sw} "
                        f"along the columns (they are stride = {s} apart)",
                        "does the gradient of window (i, j) go to rows i*stride ... and columns j*stride ...?",
                        bwd(stride=(sh, sw))))
    if rule == "max":
        for r, c in product(range(k), range(k)):
            if k > 1:
                hs.append(H("pool_grad_fixed_position", f"with each window's gradient sent to its row {r}, "
                            f"column {c} instead of to its maximum",
                            "is the position of the maximum found in each window (np.argmax of the window) and "
                            "used to place the gradient?", bwd(how=(r, c))))
        hs.append(H("pool_grad_min", "with each window's gradient sent to its minimum",
                    "use the maximum of the window (np.argmax), not the minimum.", bwd(how="min")))
    else:
        for kh, kw in ((k, 1), (1, k)):
            if k > 1:
                hs.append(H("pool_grad_window_axis", f"with the gradient spread over {kh} x {kw} instead of "
                            f"{k} x {k} values", "spread dout / pool_size**2 over the whole window.",
                            bwd(size=(kh, kw))))
    if OH > 1:
        hs.append(H("pool_grad_last_row", "without the gradient of the last row of windows",
                    "does the loop over the windows' rows cover range(OH)?", bwd(windows=(OH - 1, OW))))
    if OW > 1:
        hs.append(H("pool_grad_last_column", "without the gradient of the last column of windows",
                    "does the loop over the windows' columns cover range(OW)?", bwd(windows=(OH, OW - 1))))
    if OH == OW and OH > 1:
        hs.append(H("pool_grad_dout_transposed", "with dout read at (j, i) instead of (i, j)",
                    "window (i, j) passes back dout[n, c, i, j].", bwd(d=dout.transpose(0, 1, 3, 2))))
    return hs


def max_pool_backward_hypotheses(inp):
    return pool_backward_hypotheses(inp, "max")


def avg_pool_backward_hypotheses(inp):
    return pool_backward_hypotheses(inp, "mean")


__all__ = ["pool_hypotheses", "max_pool_hypotheses", "avg_pool_hypotheses", "pool_backward_hypotheses",
           "max_pool_backward_hypotheses", "avg_pool_backward_hypotheses"]
