"""The hypothesis families of :mod:`.locate`: systematic variants of the
convolution and the pooling, forward and backward.

Each family function takes a case's inputs (the dict the checks build) and
returns a list of :class:`~.locate.Hypothesis`; the outputs are computed
lazily, only when the student's result is wrong.  The general ops below take
the stride, the padding and the dilation per axis, so that one variant can
change one axis only.  They are plain NumPy on the small arrays of the test
cases (a few milliseconds for a whole family).
"""

from __future__ import annotations

from itertools import product

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .locate import Hypothesis as H

# ---------------------------------------------------------------- general ops


def gconv(x, w, b=None, stride=(1, 1), pad=((0, 0), (0, 0)), dil=(1, 1), groups=1, at_least=None):
    """Cross-correlation with the stride, padding ((top, bottom), (left, right))
    and dilation given per axis; None when the filter does not fit.

    ``at_least``: (OH, OW): windows that run past the bottom or right edge
    read zeros, so that the output has at least this size (what a loop sized
    for the right output computes when it skips reads outside the input)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    K, Cg, R, S = w.shape
    eh, ew = dil[0] * (R - 1) + 1, dil[1] * (S - 1) + 1
    (pt, pb), (pl, pr) = pad
    if at_least is not None:
        pb += max(0, (at_least[0] - 1) * stride[0] + eh - (x.shape[2] + pt + pb))
        pr += max(0, (at_least[1] - 1) * stride[1] + ew - (x.shape[3] + pl + pr))
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    if xp.shape[2] < eh or xp.shape[3] < ew or xp.shape[1] != Cg * groups:
        return None
    win = sliding_window_view(xp, (eh, ew), axis=(2, 3))[:, :, ::stride[0], ::stride[1], ::dil[0], ::dil[1]]
    Kg = K // groups
    y = np.concatenate([np.einsum("nchwrs,kcrs->nkhw", win[:, g * Cg:(g + 1) * Cg], w[g * Kg:(g + 1) * Kg])
                        for g in range(groups)], axis=1)
    return y if b is None else y + np.asarray(b, np.float64)[None, :, None, None]


def gconv_backward(dout, x, w, stride=(1, 1), pad=((0, 0), (0, 0)), dil=(1, 1)):
    """(dx, dw, db) of :func:`gconv` (groups 1) for an upstream gradient ``dout``."""
    dout = np.asarray(dout, np.float64)
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    (pt, pb), (pl, pr) = pad
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    N, K, OH, OW = dout.shape
    _, C, R, S = w.shape
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for r, s in product(range(R), range(S)):
        rows = slice(r * dil[0], r * dil[0] + stride[0] * (OH - 1) + 1, stride[0])
        cols = slice(s * dil[1], s * dil[1] + stride[1] * (OW - 1) + 1, stride[1])
        xs = xp[:, :, rows, cols]
        if xs.shape[2:] != (OH, OW):
            return None
        dxp[:, :, rows, cols] += np.einsum("nkhw,kc->nchw", dout, w[:, :, r, s])
        dw[:, :, r, s] = np.einsum("nkhw,nchw->kc", dout, xs)
    dx = dxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def gpool(x, size=(2, 2), stride=(2, 2), op="max"):
    """Pooling with the window and stride per axis; ``op``: max, min, mean, sum,
    or (r, c) for the value at that position of each window."""
    x = np.asarray(x, np.float64)
    if x.shape[2] < size[0] or x.shape[3] < size[1]:
        return None
    win = sliding_window_view(x, size, axis=(2, 3))[:, :, ::stride[0], ::stride[1]]
    if isinstance(op, tuple):
        return win[..., op[0], op[1]]
    return getattr(np, op)(win, axis=(4, 5))


def gpool_backward(dout, x, size=(2, 2), stride=(2, 2), rule="max", windows=None):
    """dx of a pooling for ``dout``: each window's gradient goes to its first
    maximum (``"max"``), its first minimum (``"min"``), a fixed position
    ``(r, c)``, or is spread evenly (``"mean"``).  ``windows``: (OH, OW) to
    scatter (default: all of dout)."""
    dout = np.asarray(dout, np.float64)
    x = np.asarray(x, np.float64)
    N, C = x.shape[:2]
    dx = np.zeros_like(x)
    oh, ow = windows or dout.shape[2:]
    kh, kw = size
    n, c = np.indices((N, C))
    for i, j in product(range(oh), range(ow)):
        r0, c0 = i * stride[0], j * stride[1]
        win = x[:, :, r0:r0 + kh, c0:c0 + kw]
        if win.shape[2:] != (kh, kw):
            return None
        g = dout[:, :, i, j]
        if rule == "mean":
            dx[:, :, r0:r0 + kh, c0:c0 + kw] += g[:, :, None, None] / (kh * kw)
            continue
        if isinstance(rule, tuple):
            rr, cc = np.full((N, C), rule[0]), np.full((N, C), rule[1])
        else:
            flat = win.reshape(N, C, -1)
            idx = flat.argmax(axis=2) if rule == "max" else flat.argmin(axis=2)
            rr, cc = np.unravel_index(idx, (kh, kw))
        np.add.at(dx, (n, c, r0 + rr, c0 + cc), g)
    return dx


# ------------------------------------------------------------------ shared


def _sym(p):
    return ((p, p), (p, p))


def _axes(a, b, what):
    """Words for a pair of per-axis values."""
    return f"{what} {a} along the rows and {b} along the columns"


def _orders(make_y, plane_shape_ok=True):
    """The output written in another order, same shape."""
    def whole_f():
        y = make_y()
        return y.ravel(order="F").reshape(y.shape)

    def whole_c_to_f():
        y = make_y()
        return y.ravel().reshape(y.shape, order="F")

    def plane_f():
        y = make_y()
        return np.stack([p.ravel(order="F").reshape(p.shape) for p in y.reshape((-1,) + y.shape[-2:])]
                        ).reshape(y.shape)

    def plane_c_to_f():
        y = make_y()
        return np.stack([p.ravel().reshape(p.shape, order="F") for p in y.reshape((-1,) + y.shape[-2:])]
                        ).reshape(y.shape)
    ask = ("the values are right but stored in the wrong places: do the loops or the reshape use the same "
           "order as the array, rows (i) outer and columns (j) inner?")
    return [H("output_column_major", "with each output map filled column by column (column-major order) "
              "instead of row by row", ask, plane_f),
            H("output_column_major", "with each output map filled column by column (column-major order) "
              "instead of row by row", ask, plane_c_to_f),
            H("output_column_major", "with the whole output filled in column-major (Fortran) order",
              ask, whole_f),
            H("output_column_major", "with the whole output filled in column-major (Fortran) order",
              ask, whole_c_to_f)]


def _unwritten(make_y):
    def zero(sl):
        def go():
            y = np.array(make_y(), copy=True)
            y[sl] = 0
            return y
        return go
    E = Ellipsis
    return [H("last_row_unwritten", "with the last output row never written (left at 0)",
              "is the loop over the output rows one short (range(OH - 1))?", zero((E, -1, slice(None)))),
            H("last_column_unwritten", "with the last output column never written (left at 0)",
              "is the loop over the output columns one short (range(OW - 1))?", zero((E, slice(None), -1))),
            H("last_row_column_unwritten", "with the last output row and column never written (left at 0)",
              "are the loops over the output rows and columns one short?",
              zero((E, slice(-1, None), slice(None)))),
            H("first_row_unwritten", "with the first output row never written (left at 0)",
              "does the loop over the output rows start at 1 instead of 0?", zero((E, 0, slice(None)))),
            H("first_column_unwritten", "with the first output column never written (left at 0)",
              "does the loop over the output columns start at 1 instead of 0?", zero((E, slice(None), 0)))]


def _first_last_fix(hs):
    """The row-and-column variant zeroes both the last row and the last column."""
    out = []
    for h in hs:
        if h.key == "last_row_column_unwritten":
            def go(h=h):
                y = h.make()
                y[..., :, -1] = 0
                return y
            h = H(h.key, h.says, h.ask, go)
        out.append(h)
    return out


# ------------------------------------------------------------ convolution


def conv_hypotheses(inp):
    """Variants of the convolution forward pass (loop or im2col)."""
    x, w, b, S, P, G = inp["x"], inp["w"], inp["b"], inp["stride"], inp["padding"], inp["groups"]
    N, C = x.shape[:2]
    K, _, R, Sw = w.shape

    at_least = inp["case"].out_hw if "case" in inp else None

    def conv(**o):
        a = dict(x=x, w=w, b=b, stride=(S, S), pad=_sym(P), dil=(1, 1), groups=G, at_least=at_least)
        a.update(o)
        return lambda: gconv(**a)
    ref = conv()
    hs = []
    for sh, sw in ((S, 1), (1, S), (1, 1), (S + 1, S + 1)):
        if (sh, sw) != (S, S):
            ask = ("is the stride applied to the columns too (the window of output (i, j) starts at column "
                   "j*stride)?" if (sh, sw) == (S, 1) else
                   "is the stride applied to the rows too (the window of output (i, j) starts at row i*stride)?"
                   if (sh, sw) == (1, S) else "does the window start at row i*stride and column j*stride?")
            hs.append(H("stride_axis", f"with the window moving by {_axes(sh, sw, '')[1:]} (it should move by "
                        f"{S} along both)", ask, conv(stride=(sh, sw))))
    for ph, pw in product(sorted({0, P, 2 * P, P + 1}), repeat=2):
        if (ph, pw) == (P, P):
            continue
        if ph == pw == 2 * P:
            says = f"with the input padded twice (by {2 * P} on each side instead of {P})"
            ask = "is x padded twice, e.g. by np.pad and again by the loop's indices?"
        elif ph == pw:
            says = f"with the input padded by {ph} on each side instead of {P}"
            ask = f"is the padding P = {P} applied once, on each side of the rows and of the columns?"
        else:
            says = f"with the input padded by {ph} along the rows and {pw} along the columns (it should be {P} on both)"
            ask = ("is the padding applied to the rows and to the columns alike? np.pad(x, ((0, 0), (0, 0), "
                   "(P, P), (P, P)))")
        hs.append(H("padding_axis", says, ask, conv(pad=_sym_axes(ph, pw))))
    if P > 0:
        hs.append(H("padding_one_side", "with the padding added at the bottom and right only",
                    "pad both sides: np.pad(x, ((0, 0), (0, 0), (P, P), (P, P))).", conv(pad=((0, P), (0, P)))))
    for dh, dw in sorted({(S, S), (S, 1), (1, S), (2, 2)} - {(1, 1)}):
        hs.append(H("dilation", f"with the filter's taps spread {dh} apart along the rows and {dw} along the "
                    "columns (a dilation)",
                    "is the tap offset multiplied by something? Output (i, j) reads x[..., i*stride + r, "
                    "j*stride + s]: the window moves by the stride, the taps r, s do not.",
                    conv(dil=(dh, dw))))
    hs.append(H("flip_rows", "with each filter flipped upside down (w[..., ::-1, :])",
                "are the filter's rows read in reverse order? Use w[k, c, r, s] with the same r as "
                "x[..., i*stride + r, ...].", conv(w=w[:, :, ::-1, :])))
    hs.append(H("flip_columns", "with each filter flipped left-right (w[..., :, ::-1])",
                "are the filter's columns read in reverse order? Use w[k, c, r, s] with the same s as "
                "x[..., j*stride + s].", conv(w=w[:, :, :, ::-1])))
    if G == 1 and C > 1:
        for c in range(C):
            keep = [i for i in range(C) if i != c]
            loop = (" (a loop range(C - 1) stops one short)" if c == C - 1 else
                    " (a loop range(1, C) starts one late)" if c == 0 else "")
            hs.append(H("channel_skipped", f"without input channel {c}",
                        f"is channel {c} left out of the sum over channels{loop}?",
                        conv(x=x[:, keep], w=w[:, keep])))
            hs.append(H("channel_only", f"from input channel {c} alone",
                        "are the channels summed? y[n, k, i, j] adds x[n, c, ...] * w[k, c, ...] over every "
                        f"channel c, not only channel {c}.", conv(x=x[:, c:c + 1], w=w[:, c:c + 1])))
        hs.append(H("filter_channel_zero", "with the filters' channel 0 for every input channel (w[k, 0])",
                    "does x[n, c] meet w[k, c], the same channel c?",
                    conv(w=np.repeat(w[:, :1], C, axis=1))))
        hs.append(H("input_channel_zero", "with input channel 0 for every channel of the filters (x[n, 0])",
                    "does w[k, c] meet x[n, c], the same channel c?", conv(x=np.repeat(x[:, :1], C, axis=1))))
        hs.append(H("channels_reversed", "with the input channels in reverse order against the filters' channels",
                    "do x[n, c] and w[k, c] use the same channel index c?", conv(x=x[:, ::-1])))
    if K > 1:
        hs.append(H("filters_reversed", "with the filters in reverse order (filter k uses w[K - 1 - k], "
                    "with bias b[k])", "does output channel k use filter w[k]?", conv(w=w[::-1])))
        hs.append(H("filters_reversed", "with the output channels in reverse order (y[:, K - 1 - k] holds "
                    "filter k)", "is the result of filter k written to y[n, k]?", lambda: ref()[:, ::-1]))
        hs.append(H("filter_zero_only", "with the weights of filter 0 for every output channel",
                    "does output channel k use filter w[k] (the loop variable k, not 0)?",
                    conv(w=np.repeat(w[:1], K, axis=0))))
    if N > 1:
        hs.append(H("images_reversed", "with the images in reverse order",
                    "is image n written to y[n]?", lambda: ref()[::-1]))
        hs.append(H("image_last_only", "with the last image's result for every image",
                    "is the input indexed with the loop variable n (x[n]), and is y[n] written for every n?",
                    lambda: np.repeat(ref()[-1:], N, axis=0)))
    if b is not None:
        hs.append(H("bias_sign", "with the bias subtracted instead of added", "is b[k] added (+ b[k])?",
                    conv(b=-b)))
        hs.append(H("bias_twice", "with the bias added twice", "is b[k] added once per output?", conv(b=2 * b)))
        if K > 1:
            hs.append(H("bias_reversed", "with the biases in reverse order (b[K - 1 - k])",
                        "does filter k get bias b[k]?", conv(b=b[::-1])))
            hs.append(H("bias_first_only", "with bias b[0] for every filter",
                        "does filter k get bias b[k] (the loop variable k, not 0)?", conv(b=np.repeat(b[:1], K))))
    if b is not None and 1 < N <= K:
        hs.append(H("bias_by_image", "with bias b[n] (indexed by the image) instead of b[k]",
                    "is the bias indexed by the filter k?",
                    lambda: conv(b=None)() + b[None, :N, None, None].transpose(1, 0, 2, 3)))
    hs += _orders(ref)
    hs += _shifts(ref)
    hs += _first_last_fix(_unwritten(ref))
    return hs


def _shifts(make_y):
    """The output written one row or column off (a negative index wraps around)."""
    out = []
    for axis, what, var in ((-2, "row", "i"), (-1, "column", "j")):
        for step, how in ((-1, f"{var} - 1"), (1, f"{var} + 1")):
            out.append(H("output_shifted", f"with each output {what} stored one {what} "
                         f"{'up' if step < 0 and what == 'row' else 'down' if what == 'row' else 'left' if step < 0 else 'right'} "
                         f"(wrapping around)", f"is the result of output ({'i, j'}) written to index {how}?",
                         lambda axis=axis, step=step: np.roll(make_y(), step, axis=axis)))
    return out


def _sym_axes(ph, pw):
    return ((ph, ph), (pw, pw))


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
    hs += _first_last_fix(_unwritten(ref))
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


# ------------------------------------------------------ convolution backward


def conv_backward_hypotheses():
    """Variants of (dx, dw, db), one family per output."""
    def base(inp, **o):
        a = dict(stride=(inp["stride"],) * 2, pad=_sym(inp["padding"]), dil=(1, 1))
        a.update(o)
        d = dict(dout=inp["dout"], x=inp["x"], w=inp["w"])
        d.update({k: a.pop(k) for k in ("dout", "x", "w") if k in a})
        return lambda: gconv_backward(d["dout"], d["x"], d["w"], **a)

    def part(i, thunk):
        def go():
            r = thunk()
            return None if r is None else r[i]
        return go

    def axes_variants(inp, i):
        S, P = inp["stride"], inp["padding"]
        hs = []
        for sh, sw in ((S, 1), (1, S), (1, 1)):
            if (sh, sw) != (S, S):
                hs.append(H("stride_axis", f"with the windows {sh} apart along the rows and {sw} along the columns "
                            f"(they are stride = {S} apart)",
                            "does window (i, j) start at row i*stride and column j*stride in the backward pass too?",
                            part(i, base(inp, stride=(sh, sw)))))
        for ph, pw in product(sorted({0, P, 2 * P}), repeat=2):
            if (ph, pw) != (P, P):
                hs.append(H("padding_axis", f"with the input padded by {ph} along the rows and {pw} along the "
                            f"columns (it should be {P} on both)",
                            "is x padded by P on each side before the windows are read, and dx cut back by P?",
                            part(i, base(inp, pad=_sym_axes(ph, pw)))))
        return hs

    def dx_family(inp):
        x, w, dout, S, P = inp["x"], inp["w"], inp["dout"], inp["stride"], inp["padding"]
        K, C, R, Sw = w.shape
        hs = []
        hs.append(H("dx_flip_rows", "with the filters flipped upside down", "scatter w[k, :, r, s] to the same "
                    "(r, s) of each window, without flipping.", part(0, base(inp, w=w[:, :, ::-1, :]))))
        hs.append(H("dx_flip_columns", "with the filters flipped left-right", "scatter w[k, :, r, s] to the same "
                    "(r, s) of each window, without flipping.", part(0, base(inp, w=w[:, :, :, ::-1]))))
        if R == Sw:
            hs.append(H("dx_kernel_transposed", "with each filter transposed (w[k, c, s, r])",
                        "index the filter as w[k, c, r, s], rows first.",
                        part(0, base(inp, w=w.transpose(0, 1, 3, 2)))))
        wt = np.ascontiguousarray(w.transpose(1, 0, 2, 3))

        def full_conv(flip):
            def go():
                k = wt[:, :, ::-1, ::-1] if flip else wt
                y = gconv(dout, k, None, pad=((R - 1 - P, R - 1 - P), (Sw - 1 - P, Sw - 1 - P))) \
                    if R - 1 - P >= 0 and Sw - 1 - P >= 0 else None
                return y
            return go
        if S > 1:
            hs.append(H("dx_full_conv_no_dilation", "as a forward convolution of dout with the flipped filters, "
                        "without spreading dout by the stride",
                        f"with stride {S}, dout's entries are {S} apart in dx: put {S - 1} zero(s) between them "
                        "before the convolution, or scatter w[k] * dout[n, k, i, j] window by window.",
                        full_conv(True)))
        hs.append(H("dx_full_conv_not_flipped", "as a forward convolution of dout with the filters not flipped",
                    "dx is dout convolved with the filters rotated by 180 degrees (or scatter each window's "
                    "w[k] * dout[n, k, i, j] back to its place).", full_conv(False)))
        if K > 1:
            hs.append(H("dx_filter_zero_only", "from filter 0 alone", "sum the contributions of every filter k "
                        "(dx_pad[n, :, ...] += w[k] * dout[n, k, i, j] for all k).",
                        part(0, base(inp, w=w[:1], dout=dout[:, :1]))))
            hs.append(H("dx_last_filter_skipped", f"without filter {K - 1}", "does the loop over filters cover "
                        "range(K)?", part(0, base(inp, w=w[:-1], dout=dout[:, :-1]))))

        def cut_corner():
            p = P
            r = gconv_backward(dout, np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))), w, (S, S))
            return None if r is None else r[0][:, :, :x.shape[2], :x.shape[3]]
        if P > 0:
            hs.append(H("dx_cut_corner", "with dx cut from the top-left corner of the padded gradient",
                        "cut the padding off both sides: dx_pad[:, :, P:P+H, P:P+W].", cut_corner))
        return hs + axes_variants(inp, 0) + _first_last_fix(_unwritten(part(0, base(inp))))

    def dw_family(inp):
        x, w, dout = inp["x"], inp["w"], inp["dout"]
        K, C, R, Sw = w.shape
        N = x.shape[0]
        full = part(1, base(inp))
        hs = axes_variants(inp, 1)
        if R == Sw and R > 1:
            hs.append(H("dw_transposed", "transposed in each filter (dw[k, c, s, r])",
                        "dw[k, c, r, s] pairs filter row r with the window's row r: check the order of r and s.",
                        lambda: full().transpose(0, 1, 3, 2)))
        if K == C and K > 1:
            hs.append(H("dw_filters_channels_swapped", "with filters and channels swapped (dw[c, k])",
                        "dw has the shape of w, (K, C, R, S): filters first.", lambda: full().transpose(1, 0, 2, 3)))
        if K > 1 and C > 1 and K != C:
            hs.append(H("dw_reshaped", "as a (C, K, R, S) array reshaped to (K, C, R, S)",
                        "transpose the axes (np.transpose) instead of reshaping: a reshape keeps the memory order.",
                        lambda: np.ascontiguousarray(full().transpose(1, 0, 2, 3)).reshape(K, C, R, Sw)))
        if R > 1:
            hs.append(H("dw_flip_rows", "flipped upside down", "dw[k, c, r, s] uses the window's row r, the "
                        "same as the forward pass.", lambda: full()[:, :, ::-1, :]))
        if Sw > 1:
            hs.append(H("dw_flip_columns", "flipped left-right", "dw[k, c, r, s] uses the window's column s, the "
                        "same as the forward pass.", lambda: full()[:, :, :, ::-1]))
        if N > 1:
            hs.append(H("dw_first_image_only", "from image 0 alone", "sum over every image n of the batch.",
                        part(1, base(inp, x=x[:1], dout=dout[:1]))))
        return hs

    def db_family(inp):
        dout = inp["dout"]
        hs = []
        for axes in [(0,), (2, 3), (0, 2), (0, 3), (1, 2, 3), (2,), (3,), (0, 1, 2, 3)]:
            names = {0: "images", 1: "filters", 2: "rows", 3: "columns"}
            over = ", ".join(names[a] for a in axes)
            hs.append(H("db_axes", f"as dout summed over the {over} only (axis={axes})",
                        "db[k] sums dout[n, k, i, j] over the images, rows and columns: "
                        "dout.sum(axis=(0, 2, 3)).", lambda a=axes: dout.astype(np.float64).sum(axis=a)))
            if len(axes) > 1:
                hs.append(H("db_axes", f"as dout averaged over the {over} (axis={axes})",
                            "db[k] is a sum, not a mean: dout.sum(axis=(0, 2, 3)).",
                            lambda a=axes: dout.astype(np.float64).mean(axis=a)))
        hs.append(H("db_last_image", "from the last image alone", "sum over the images too.",
                    lambda: dout[-1].astype(np.float64).sum(axis=(1, 2))))
        return hs

    return {"dx": dx_family, "dw": dw_family, "db": db_family}


__all__ = ["gconv", "gconv_backward", "gpool", "gpool_backward", "conv_hypotheses", "pool_hypotheses",
           "max_pool_hypotheses", "avg_pool_hypotheses", "pool_backward_hypotheses",
           "max_pool_backward_hypotheses", "avg_pool_backward_hypotheses", "conv_backward_hypotheses"]
