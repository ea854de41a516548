"""The hypothesis families of :mod:`.locate`: systematic variants of the
convolution, forward and backward (the backward pass's are in :mod:`.variants_backward`, the pooling's in
:mod:`.variants_pool`),
and the general ops both build on.

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
    """The output with a first or last row or column never written (left at 0)."""
    def zero(*regions):
        def go():
            y = np.array(make_y(), copy=True)
            for region in regions:
                y[region] = 0
            return y
        return go
    E, A = Ellipsis, slice(None)
    return [H("last_row_unwritten", "with the last output row never written (left at 0)",
              "is the loop over the output rows one short (range(OH - 1))?", zero((E, -1, A))),
            H("last_column_unwritten", "with the last output column never written (left at 0)",
              "is the loop over the output columns one short (range(OW - 1))?", zero((E, A, -1))),
            H("last_row_column_unwritten", "with the last output row and column never written (left at 0)",
              "are the loops over the output rows and columns one short?", zero((E, -1, A), (E, A, -1))),
            H("first_row_unwritten", "with the first output row never written (left at 0)",
              "does the loop over the output rows start at 1 instead of 0?", zero((E, 0, A))),
            H("first_column_unwritten", "with the first output column never written (left at 0)",
              "does the loop over the output columns start at 1 instead of 0?", zero((E, A, 0)))]


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
            hs.append(H("stride_axis", f"with the window moving by {sh} along the rows and {sw} along the columns "
                        "(it should move by "
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
        for step in (1, -1):
            hs.append(H("channels_shifted", f"with input channel (c {'+' if step > 0 else '-'} 1) % C against the "
                        "filters' channel c", "do x[n, c] and w[k, c] use the same channel index c?",
                        conv(x=np.roll(x, -step, axis=1))))
        hs.append(H("channels_reversed", "with the input channels in reverse order against the filters' channels",
                    "do x[n, c] and w[k, c] use the same channel index c?", conv(x=x[:, ::-1])))
    if K > 1:
        hs.append(H("filters_reversed", "with the filters in reverse order (filter k uses w[K - 1 - k], "
                    "with bias b[k])", "does output channel k use filter w[k]?", conv(w=w[::-1])))
        hs.append(H("filters_reversed", "with the output channels in reverse order (y[:, K - 1 - k] holds "
                    "filter k)", "is the result of filter k written to y[n, k]?", lambda: ref()[:, ::-1]))
        for step in (1, -1):
            sign = "+" if step > 0 else "-"
            hs.append(H("filters_shifted", f"with filter k using the weights of filter (k {sign} 1) % K",
                        "does output channel k use filter w[k]? An index one off wraps around.",
                        conv(w=np.roll(w, -step, axis=0))))
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
    hs += _unwritten(ref)
    return hs


def _shifts(make_y):
    """The output written one row or column off (a negative index wraps around)."""
    out = []
    for axis, what, var in ((-2, "row", "i"), (-1, "column", "j")):
        for step, how in ((-1, f"{var} - 1"), (1, f"{var} + 1")):
            way = ("up" if step < 0 else "down") if what == "row" else ("left" if step < 0 else "right")
            out.append(H("output_shifted", f"with each output {what} stored one {what} {way} (wrapping around)",
                         f"is the result of output (i, j) written to index {how}?",
                         lambda axis=axis, step=step: np.roll(make_y(), step, axis=axis)))
    return out


def _sym_axes(ph, pw):
    return ((ph, ph), (pw, pw))


__all__ = ["gconv", "gconv_backward", "gpool", "gpool_backward", "conv_hypotheses"]
