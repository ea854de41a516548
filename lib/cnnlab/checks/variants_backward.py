"""The hypothesis families of :mod:`.locate` for the convolution's backward
pass, one per output: ``dx`` (stride and padding per axis, flipped or
transposed filters, dout convolved without spreading it by the stride, one
filter alone or left out, cut at the wrong offset), ``dw`` (transposed,
flipped, filters and channels swapped, one image alone) and ``db`` (summed
or averaged over the wrong axes)."""

from __future__ import annotations

from itertools import product

import numpy as np

from .locate import Hypothesis as H
from .variants import _sym, _sym_axes, _unwritten, gconv, gconv_backward


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
        return hs + axes_variants(inp, 0) + _unwritten(part(0, base(inp)))

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


__all__ = ["conv_backward_hypotheses"]
