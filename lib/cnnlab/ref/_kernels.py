"""numba kernels behind :mod:`cnnlab.ref` (no Python objects inside).

Conventions
-----------
* Arrays are C-contiguous float32 or float64; the Python layer makes sure.
* Bounds are precomputed by the caller: for kernel tap ``s`` the valid output
  columns are ``ow_lo[s] <= ow < ow_hi[s]`` (input column ``ow*sw + s*dw - pl``
  inside the image), and likewise ``oh_lo[r] <= oh < oh_hi[r]`` for rows, so
  the inner loops have no branches and run over contiguous memory.
* The "chunk" layout used with BLAS: a chunk of ``nb`` images starting at
  image ``n0`` is stored as ``cols[g, (c*KH + r)*KW + s, i*P + p]`` with
  ``P = OH*OW``: one ``(Cg*KH*KW, nb*P)`` matrix per group.
"""

from __future__ import annotations

import numpy as np

from ._numba import inline, kernel, prange, serial


# --------------------------------------------------------------------------
# row primitives.  Each takes the stride of its strided side as ``step``; the
# dispatchers call the loop with a literal 1 or 2 so that LLVM sees a constant
# stride and vectorises (a run-time stride leaves a scalar loop, ~3x slower).
# They are inlined at numba's IR level (``inline``): left to LLVM, a large
# caller such as max_pool_plane did not inline them, the literal never reached
# the loop, and max pooling with indices ran 2x slower.
# --------------------------------------------------------------------------

@inline
def _gather_axpy(dst, src, n, step, a):
    for j in range(n):
        dst[j] += a * src[j * step]


@inline
def gather_axpy(dst, src, n, step, a):
    """dst[j] += a * src[j*step] for j < n."""
    if step == 1:
        _gather_axpy(dst, src, n, 1, a)
    elif step == 2:
        _gather_axpy(dst, src, n, 2, a)
    else:
        _gather_axpy(dst, src, n, step, a)


@inline
def _scatter_axpy(dst, src, n, step, a):
    for j in range(n):
        dst[j * step] += a * src[j]


@inline
def scatter_axpy(dst, src, n, step, a):
    """dst[j*step] += a * src[j] for j < n."""
    if step == 1:
        _scatter_axpy(dst, src, n, 1, a)
    elif step == 2:
        _scatter_axpy(dst, src, n, 2, a)
    else:
        _scatter_axpy(dst, src, n, step, a)


@inline
def _gather(dst, src, n, step):
    for j in range(n):
        dst[j] = src[j * step]


@inline
def gather(dst, src, n, step):
    """dst[j] = src[j*step] for j < n (also a literal 4: AlexNet's first layer)."""
    if step == 1:
        _gather(dst, src, n, 1)
    elif step == 2:
        _gather(dst, src, n, 2)
    elif step == 4:
        _gather(dst, src, n, 4)
    else:
        _gather(dst, src, n, step)


@inline
def _scatter_add(dst, src, n, step):
    for j in range(n):
        dst[j * step] += src[j]


@inline
def scatter_add(dst, src, n, step):
    """dst[j*step] += src[j] for j < n."""
    if step == 1:
        _scatter_add(dst, src, n, 1)
    elif step == 2:
        _scatter_add(dst, src, n, 2)
    else:
        _scatter_add(dst, src, n, step)


@inline
def _gather_add(dst, src, n, step):
    for j in range(n):
        dst[j] += src[j * step]


@inline
def gather_add(dst, src, n, step):
    """dst[j] += src[j*step] for j < n."""
    if step == 1:
        _gather_add(dst, src, n, 1)
    elif step == 2:
        _gather_add(dst, src, n, 2)
    else:
        _gather_add(dst, src, n, step)


@inline
def _max_update(dst, src, n, step):
    for j in range(n):
        v = src[j * step]
        cur = dst[j]
        dst[j] = v if (v > cur) | (v != v) else cur


@inline
def max_update(dst, src, n, step):
    """Running max dst[j] = max(dst[j], src[j*step]) for j < n, PyTorch's rule:
    a larger value or a NaN replaces."""
    if step == 1:
        _max_update(dst, src, n, 1)
    elif step == 2:
        _max_update(dst, src, n, 2)
    else:
        _max_update(dst, src, n, step)


@inline
def _argmax_update(dst, idx, src, n, step, base, istep):
    for j in range(n):
        v = src[j * step]
        cur = dst[j]
        take = (v > cur) | (v != v)
        dst[j] = v if take else cur
        idx[j] = base + j * istep if take else idx[j]


@inline
def argmax_update(dst, idx, src, n, step, base, istep):
    """max_update that also keeps the arg-max: where src[j*step] wins,
    idx[j] = base + j*istep."""
    if step == 1:
        _argmax_update(dst, idx, src, n, 1, base, istep)
    elif step == 2:
        _argmax_update(dst, idx, src, n, 2, base, istep)
    else:
        _argmax_update(dst, idx, src, n, step, base, istep)


@serial
def _split_phases(src, sw, phases):
    W = src.shape[0]
    for p in range(sw):
        dst = phases[p]
        for j in range((W - p + sw - 1) // sw):
            dst[j] = src[j * sw + p]


@serial
def split_phases(src, sw, phases):
    """phases[p, j] = src[j*sw + p]: a strided row becomes sw contiguous rows, so
    that the taps of a strided window read contiguous memory (and vectorise)."""
    if sw == 2:
        _split_phases(src, 2, phases)
    else:
        _split_phases(src, sw, phases)


@serial
def split_plane(img, sw, planes):
    """split_phases for every row of a plane: planes (H, sw, L)."""
    for ih in range(img.shape[0]):
        split_phases(img[ih], sw, planes[ih])


@serial
def tap_segment(src, phases, sw, off, lo, hi):
    """The input values under one kernel tap for outputs lo..hi-1: src[j*sw + off]
    as a contiguous slice (of the row itself, or of its phase split)."""
    if sw == 1:
        return src[lo + off:hi + off]
    q = off // sw
    return phases[off - q * sw, lo + q:hi + q]


# --------------------------------------------------------------------------
# convolution: im2col / col2im in chunk layout (the BLAS path)
# --------------------------------------------------------------------------

@kernel
def im2col_chunk(x, n0, nb, G, KH, KW, sh, sw, pt, pl, dh, dw,
                 oh_lo, oh_hi, ow_lo, ow_hi, OH, OW, cols):
    """x (N, C, H, W) -> cols (G, Cg*KH*KW, nb*OH*OW) for images n0..n0+nb-1."""
    C = x.shape[1]
    Cg = C // G
    P = OH * OW
    ntask = nb * C * KH
    for t in prange(ntask):
        i = t // (C * KH)
        rem = t % (C * KH)
        cglob = rem // KH
        r = rem % KH
        g = cglob // Cg
        c = cglob % Cg
        img = x[n0 + i, cglob]
        for s in range(KW):
            row = cols[g, (c * KH + r) * KW + s]
            lo = ow_lo[s]
            hi = ow_hi[s]
            off = s * dw - pl
            for oh in range(OH):
                base = i * P + oh * OW
                dst = row[base:base + OW]
                if oh < oh_lo[r] or oh >= oh_hi[r]:
                    dst[:] = 0
                    continue
                src = img[oh * sh - pt + r * dh]
                dst[:lo] = 0
                dst[hi:] = 0
                gather(dst[lo:hi], src[lo * sw + off:], hi - lo, sw)


@kernel
def col2im_chunk(cols, n0, nb, G, KH, KW, sh, sw, pt, pl, dh, dw,
                 oh_lo, oh_hi, ow_lo, ow_hi, OH, OW, dx):
    """Adjoint of :func:`im2col_chunk`: scatter-add cols into dx (N, C, H, W).

    Each task owns one (image, channel) plane of dx, so there are no races.
    """
    C = dx.shape[1]
    Cg = C // G
    P = OH * OW
    for t in prange(nb * C):
        i = t // C
        cglob = t % C
        g = cglob // Cg
        c = cglob % Cg
        img = dx[n0 + i, cglob]
        for r in range(KH):
            for s in range(KW):
                row = cols[g, (c * KH + r) * KW + s]
                lo = ow_lo[s]
                hi = ow_hi[s]
                off = s * dw - pl
                for oh in range(oh_lo[r], oh_hi[r]):
                    base = i * P + oh * OW
                    dst = img[oh * sh - pt + r * dh]
                    scatter_axpy(dst[lo * sw + off:], row[base + lo:base + hi], hi - lo, sw, 1.0)


@kernel
def chunk_to_nkp(tmp, n0, nb, bias, out):
    """out[n0+i, g*Kg+k, p] = tmp[g, k, i*P+p] + bias[g*Kg+k]  (out: (N, K, P))."""
    G, Kg = tmp.shape[0], tmp.shape[1]
    P = out.shape[2]
    for t in prange(nb * G * Kg):
        i = t // (G * Kg)
        gk = t % (G * Kg)
        g = gk // Kg
        k = gk % Kg
        src = tmp[g, k, i * P:(i + 1) * P]
        dst = out[n0 + i, gk]
        bv = bias[gk]
        for p in range(P):
            dst[p] = src[p] + bv


@kernel
def nkp_to_chunk(dy, n0, nb, tmp):
    """tmp[g, k, i*P+p] = dy[n0+i, g*Kg+k, p]  (dy: (N, K, P)); inverse of chunk_to_nkp."""
    G, Kg = tmp.shape[0], tmp.shape[1]
    P = dy.shape[2]
    for t in prange(nb * G * Kg):
        i = t // (G * Kg)
        gk = t % (G * Kg)
        g = gk // Kg
        k = gk % Kg
        tmp[g, k, i * P:(i + 1) * P] = dy[n0 + i, gk]


# --------------------------------------------------------------------------
# convolution: direct loops (depthwise and few-channel convolutions)
# --------------------------------------------------------------------------

@kernel
def conv_direct_fwd(x, w, bias, G, sh, sw, pt, pl, dh, dw,
                    oh_lo, oh_hi, ow_lo, ow_hi, out):
    """out (N, K, OH, OW) = conv(x, w) + bias, one task per output plane."""
    N = x.shape[0]
    K, Cg, KH, KW = w.shape
    Kg = K // G
    for t in prange(N * K):
        n = t // K
        k = t % K
        g = k // Kg
        o = out[n, k]
        o[:, :] = bias[k]
        for c in range(Cg):
            img = x[n, g * Cg + c]
            for r in range(KH):
                for oh in range(oh_lo[r], oh_hi[r]):
                    src_row = img[oh * sh - pt + r * dh]
                    dst_row = o[oh]
                    for s in range(KW):
                        wv = w[k, c, r, s]
                        lo = ow_lo[s]
                        hi = ow_hi[s]
                        off = s * dw - pl
                        d0 = dst_row[lo:hi]
                        if sw == 1:  # inline: a call per row costs more than the row on small images
                            s0 = src_row[lo + off:hi + off]
                            for j in range(hi - lo):
                                d0[j] += wv * s0[j]
                        else:
                            gather_axpy(d0, src_row[lo * sw + off:], hi - lo, sw, wv)


@kernel
def conv_direct_bwd_input(dy, w, G, sh, sw, pt, pl, dh, dw,
                          oh_lo, oh_hi, ow_lo, ow_hi, dx):
    """dx (N, C, H, W) = transposed convolution of dy with w; one task per dx plane."""
    N, C = dx.shape[0], dx.shape[1]
    K, Cg, KH, KW = w.shape
    Kg = K // G
    for t in prange(N * C):
        n = t // C
        cglob = t % C
        g = cglob // Cg
        c = cglob % Cg
        img = dx[n, cglob]
        img[:, :] = 0
        for k in range(g * Kg, (g + 1) * Kg):
            grad = dy[n, k]
            for r in range(KH):
                for oh in range(oh_lo[r], oh_hi[r]):
                    dst_row = img[oh * sh - pt + r * dh]
                    src_row = grad[oh]
                    for s in range(KW):
                        wv = w[k, c, r, s]
                        lo = ow_lo[s]
                        hi = ow_hi[s]
                        off = s * dw - pl
                        s0 = src_row[lo:hi]
                        if sw == 1:  # inline, as in conv_direct_fwd
                            d0 = dst_row[lo + off:hi + off]
                            for j in range(hi - lo):
                                d0[j] += wv * s0[j]
                        else:
                            scatter_axpy(dst_row[lo * sw + off:], s0, hi - lo, sw, wv)


@kernel
def conv_direct_bwd_weight(dy, x, G, sh, sw, pt, pl, dh, dw,
                           oh_lo, oh_hi, ow_lo, ow_hi, dwt):
    """dwt (K, Cg, KH, KW) = correlation of x with dy, one task per (k, c).

    Products are accumulated element-wise into a row buffer (which vectorises
    without reassociating the sum) and the buffer is summed once at the end.
    """
    N = dy.shape[0]
    OW = dy.shape[3]
    K, Cg, KH, KW = dwt.shape
    Kg = K // G
    for t in prange(K * Cg):
        k = t // Cg
        c = t % Cg
        g = k // Kg
        acc = np.zeros(OW, dtype=np.float64)
        for r in range(KH):
            for s in range(KW):
                acc[:] = 0.0
                lo = ow_lo[s]
                hi = ow_hi[s]
                off = s * dw - pl
                a0 = acc[lo:hi]
                for n in range(N):
                    img = x[n, g * Cg + c]
                    grad = dy[n, k]
                    for oh in range(oh_lo[r], oh_hi[r]):
                        src_row = img[oh * sh - pt + r * dh]
                        g0 = grad[oh, lo:hi]
                        if sw == 1:
                            s0 = src_row[lo + off:hi + off]
                            for j in range(hi - lo):
                                a0[j] += g0[j] * s0[j]
                        else:
                            s0 = src_row[lo * sw + off:]
                            for j in range(hi - lo):
                                a0[j] += g0[j] * s0[j * sw]
                dwt[k, c, r, s] = acc.sum()


# --------------------------------------------------------------------------
# pooling (one task per (image, channel) plane).  Windows are processed a row
# of outputs at a time: for each tap (r, s) the valid outputs ow_lo[s] <= ow <
# ow_hi[s] are updated together, which keeps the inner loops branch-light and
# in the same order (r outer, s inner) as PyTorch's per-window loops, so ties
# and NaNs resolve the same way.
# --------------------------------------------------------------------------

@serial
def max_pool_plane(img, KH, KW, sh, sw, ph, pw, dh, dw, ow_lo, ow_hi, o, ix, with_idx):
    """Max of each window of one plane into o (OH, OW), -inf outside the image,
    NaN propagating; if with_idx, ix (OH, OW, int64) gets the flat arg-max
    ih*W + iw as PyTorch picks it: the first maximum in row-major window order,
    the last NaN, and for an all -inf window its first position past the padding.
    The arg-max is tracked in an int32 row (twice the lanes per vector of int64)."""
    H, W = img.shape
    OH, OW = o.shape
    irow = np.empty(OW if with_idx else 1, dtype=np.int32)
    for oh in range(OH):
        orow = o[oh]
        orow[:] = -np.inf
        if with_idx:
            irow[:] = -1
        h0 = oh * sh - ph
        for r in range(KH):
            ih = h0 + r * dh
            if ih < 0 or ih >= H:
                continue
            src = img[ih]
            for s in range(KW):
                lo = ow_lo[s]
                hi = ow_hi[s]
                if hi <= lo:
                    continue
                off = s * dw - pw
                seg = src[lo * sw + off:]  # read with stride sw (a literal 1 or 2 vectorises)
                if with_idx:
                    argmax_update(orow[lo:hi], irow[lo:hi], seg, hi - lo, sw, ih * W + lo * sw + off, sw)
                else:
                    max_update(orow[lo:hi], seg, hi - lo, sw)
        if not with_idx:
            continue
        fh = h0
        while fh < 0:
            fh += dh
        dst = ix[oh]
        for j in range(OW):
            i = irow[j]
            if i < 0:
                fw = j * sw - pw
                while fw < 0:
                    fw += dw
                i = fh * W + fw
            dst[j] = i


@inline
def _max_into(dst, src, n):
    for q in range(n):
        dst[q] = np.maximum(dst[q], src[q])


@inline
def _mark_equal(code, m, src, n, tap):
    for q in range(n):
        code[q] = tap if src[q] == m[q] else code[q]


@serial
def _window_argmax(img, oh, ow, KH, KW, sh, sw):
    """(max, flat arg-max) of one window inside the image by PyTorch's rule,
    scalar: the first maximum in row-major order, a NaN replaces (the last NaN wins)."""
    W = img.shape[1]
    best = -np.inf
    bi = (oh * sh) * W + ow * sw
    for r in range(KH):
        row = img[oh * sh + r]
        for s in range(KW):
            v = row[ow * sw + s]
            if v > best or v != v:
                best = v
                bi = (oh * sh + r) * W + ow * sw + s
    return best, bi


@serial
def max_pool_plane_inside(img, KH, KW, sh, sw, o, ix):
    """max_pool_plane with indices for windows that all lie inside the image
    (no padding, no dilation, no ceil_mode overhang), with long vector loops.

    The plane is split into its sh*sw phases ``sub[a, b, i, j] = img[i*sh + a,
    j*sw + b]`` (rows of Ws = ceil(W/sw)); tap (r, s) of every window of the
    plane is then one contiguous run of a phase, so each tap is a single loop
    over all OH*Ws outputs (the Ws - OW extra columns per row are scratch) --
    instead of OH loops too short (OW ~ 28) to leave LLVM's scalar remainder.
    The maxima come from np.maximum; the taps in reverse order then mark where
    the input equals the maximum (the last mark is PyTorch's first maximum in
    window order; an all -inf window marks tap 0, torch's initial index), and
    the value is read back at the marked position (torch's sign of a zero).
    A window without a mark has a NaN maximum: redone by the scalar rule."""
    H, W = img.shape
    OH, OW = o.shape
    Hs = (H + sh - 1) // sh
    Ws = (W + sw - 1) // sw
    n = OH * Ws
    sub = np.empty((sh, sw, Hs + 1, Ws), dtype=img.dtype)  # one spare row: runs may overhang
    for a in range(sh):
        for b in range(sw):
            d = sub[a, b]
            d[:, :] = -np.inf
            nw = (W - b + sw - 1) // sw
            for i in range((H - a + sh - 1) // sh):
                gather(d[i, :nw], img[i * sh + a, b:], nw, sw)
    m = np.empty(n, dtype=img.dtype)
    m[:] = -np.inf
    for r in range(KH):
        for s in range(KW):
            flat_sub = sub[r % sh, s % sw].reshape((Hs + 1) * Ws)
            st = (r // sh) * Ws + s // sw
            _max_into(m, flat_sub[st:st + n], n)
    code = np.empty(n, dtype=np.int32)
    code[:] = -1
    for t in range(KH * KW - 1, -1, -1):
        r = t // KW
        s = t - r * KW
        flat_sub = sub[r % sh, s % sw].reshape((Hs + 1) * Ws)
        st = (r // sh) * Ws + s // sw
        _mark_equal(code, m, flat_sub[st:st + n], n, np.int32(t))
    flat = img.reshape(H * W)
    for oh in range(OH):
        orow = o[oh]
        dst = ix[oh]
        crow = code[oh * Ws:oh * Ws + OW]
        for ow in range(OW):
            t = crow[ow]
            if t >= 0:
                r = t // KW
                i = (oh * sh + r) * W + ow * sw + (t - r * KW)
                orow[ow] = flat[i]
                dst[ow] = i
            else:
                v, i = _window_argmax(img, oh, ow, KH, KW, sh, sw)
                orow[ow] = v
                dst[ow] = i


@kernel
def max_pool_fwd(x, KH, KW, sh, sw, ph, pw, dh, dw, ow_lo, ow_hi, out, idx, with_idx, inside):
    """out (N, C, OH, OW) maxima and, if with_idx, idx (N, C, OH, OW, int64) the
    flat arg-max (ih*W + iw) of each window (else idx may be any (1, 1, 1, 1) array).
    inside: every window lies inside the image (see max_pool_plane_inside)."""
    N, C = x.shape[0], x.shape[1]
    for t in prange(N * C):
        n = t // C
        c = t % C
        ix = idx[n, c] if with_idx else idx[0, 0]
        if with_idx and inside:
            max_pool_plane_inside(x[n, c], KH, KW, sh, sw, out[n, c], ix)
        else:
            max_pool_plane(x[n, c], KH, KW, sh, sw, ph, pw, dh, dw, ow_lo, ow_hi, out[n, c], ix, with_idx)


@kernel
def max_pool_bwd(dy, x, KH, KW, sh, sw, ph, pw, dh, dw, ow_lo, ow_hi, dx, inside):
    """dx = dy routed to the arg-max of each window (accumulated where windows overlap)."""
    N, C, H, W = x.shape
    OH, OW = dy.shape[2], dy.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t % C
        vals = np.empty((OH, OW), dtype=x.dtype)
        ix = np.empty((OH, OW), dtype=np.int64)
        if inside:
            max_pool_plane_inside(x[n, c], KH, KW, sh, sw, vals, ix)
        else:
            max_pool_plane(x[n, c], KH, KW, sh, sw, ph, pw, dh, dw, ow_lo, ow_hi, vals, ix, True)
        g = dy[n, c]
        d = dx[n, c].reshape(H * W)
        d[:] = 0
        for oh in range(OH):
            for ow in range(OW):
                i = ix[oh, ow]
                if 0 <= i < H * W:  # a window entirely in the padding has no arg-max
                    d[i] += g[oh, ow]


@kernel
def max_pool_scatter(dy, idx, dx):
    """dx[n, c].flat[idx[n, c, oh, ow]] += dy[n, c, oh, ow] (indices from the forward pass).
    Returns how many indices fell outside [0, H*W) (those are skipped; the caller raises)."""
    N, C, H, W = dx.shape
    OH, OW = dy.shape[2], dy.shape[3]
    bad = 0
    for t in prange(N * C):
        n = t // C
        c = t % C
        g = dy[n, c]
        ix = idx[n, c]
        d = dx[n, c].reshape(H * W)
        d[:] = 0
        for oh in range(OH):
            for ow in range(OW):
                i = ix[oh, ow]
                if 0 <= i < H * W:
                    d[i] += g[oh, ow]
                else:
                    bad += 1
    return bad


@kernel
def avg_pool_fwd(x, KH, KW, sh, sw, ph, pw, ow_lo, ow_hi, den, out):
    """Average pooling: window sums divided by den (OH, OW), the divisor torch uses."""
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t % C
        img = x[n, c]
        o = out[n, c]
        acc = np.empty(OW, dtype=np.float64)
        # windows that overlap along a row (KW > sw) read each column several
        # times: then a phase split of the plane (contiguous taps) pays off;
        # otherwise the taps read the row with a literal stride 1 or 2
        split = KW > sw > 1
        planes = np.empty((H if split else 1, sw, (W + sw - 1) // sw), dtype=x.dtype)
        if split:
            split_plane(img, sw, planes)
        for oh in range(OH):
            acc[:] = 0.0
            h0 = oh * sh - ph
            for r in range(KH):
                ih = h0 + r
                if ih < 0 or ih >= H:
                    continue
                src = img[ih]
                phases = planes[ih if split else 0]
                for s in range(KW):
                    lo = ow_lo[s]
                    hi = ow_hi[s]
                    if hi <= lo:
                        continue
                    if split:
                        seg = tap_segment(src, phases, sw, s - pw, lo, hi)
                        a0 = acc[lo:hi]
                        for j in range(hi - lo):
                            a0[j] += seg[j]
                    else:
                        gather_add(acc[lo:hi], src[lo * sw + s - pw:], hi - lo, sw)
            orow = o[oh]
            drow = den[oh]
            for j in range(OW):
                orow[j] = acc[j] / drow[j]


@kernel
def avg_pool_bwd(dy, KH, KW, sh, sw, ph, pw, ow_lo, ow_hi, den, dx):
    """dx: each window's gradient dy/den spread evenly over the window (adjoint of avg_pool_fwd).

    Per plane, each output row's gradient is first spread along the columns
    once (``U[oh, iw]``: the sum over the windows of that row covering column
    iw); every input row is then the sum of the rows U[oh] of the windows that
    cover it -- contiguous adds, no read-modify-write of scattered elements."""
    N, C, H, W = dx.shape
    OH, OW = dy.shape[2], dy.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t % C
        g = dy[n, c]
        d = dx[n, c]
        U = np.empty((OH, W), dtype=dx.dtype)
        v = np.empty(OW, dtype=dx.dtype)
        for oh in range(OH):
            grow = g[oh]
            drow = den[oh]
            for j in range(OW):
                v[j] = grow[j] / drow[j]
            u = U[oh]
            u[:] = 0
            for s in range(KW):
                lo = ow_lo[s]
                hi = ow_hi[s]
                if hi > lo:
                    scatter_add(u[lo * sw + s - pw:], v[lo:hi], hi - lo, sw)
        for ih in range(H):
            row = d[ih]
            row[:] = 0
            for r in range(KH):
                q = ih + ph - r
                if q < 0:
                    break
                if q % sh != 0 or q // sh >= OH:
                    continue
                u = U[q // sh]
                for j in range(W):
                    row[j] += u[j]


@kernel
def adaptive_avg_fwd(x, out):
    """PyTorch's adaptive windows: start = floor(o*I/O), end = ceil((o+1)*I/O)."""
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t % C
        img = x[n, c]
        o = out[n, c]
        for oh in range(OH):
            h0 = (oh * H) // OH
            h1 = -((-(oh + 1) * H) // OH)
            for ow in range(OW):
                w0 = (ow * W) // OW
                w1 = -((-(ow + 1) * W) // OW)
                acc = 0.0
                for ih in range(h0, h1):
                    row = img[ih]
                    for iw in range(w0, w1):
                        acc += row[iw]
                o[oh, ow] = acc / ((h1 - h0) * (w1 - w0))


@kernel
def adaptive_avg_bwd(dy, dx):
    N, C, H, W = dx.shape
    OH, OW = dy.shape[2], dy.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t % C
        g = dy[n, c]
        d = dx[n, c]
        d[:, :] = 0
        for oh in range(OH):
            h0 = (oh * H) // OH
            h1 = -((-(oh + 1) * H) // OH)
            for ow in range(OW):
                w0 = (ow * W) // OW
                w1 = -((-(ow + 1) * W) // OW)
                v = g[oh, ow] / ((h1 - h0) * (w1 - w0))
                for ih in range(h0, h1):
                    row = d[ih]
                    for iw in range(w0, w1):
                        row[iw] += v


# --------------------------------------------------------------------------
# local response normalisation (across channels, as torch computes it)
# --------------------------------------------------------------------------

@kernel
def lrn_fwd(x, size, alpha, beta, k, out, den):
    """den[n,c] = k + alpha/size * sum_{j in win(c)} x[n,j]^2;  out = x * den^-beta.

    win(c) = c - size//2 ... c + (size-1)//2, clipped to the channels.
    x, out, den: (N, C, M) with M the flattened spatial size.
    """
    N, C, M = x.shape
    for t in prange(N * C):
        n = t // C
        c = t % C
        d = den[n, c]
        d[:] = 0.0
        for j in range(max(0, c - size // 2), min(C, c + (size - 1) // 2 + 1)):
            xj = x[n, j]
            for m in range(M):
                d[m] += xj[m] * xj[m]
        xc = x[n, c]
        o = out[n, c]
        for m in range(M):
            d[m] = k + alpha / size * d[m]
            o[m] = xc[m] / d[m] ** beta


@kernel
def lrn_bwd(dy, x, den, size, alpha, beta, dx):
    """dx_i = dy_i den_i^-b - 2 a b / size * x_i * sum_{c: i in win(c)} dy_c x_c den_c^(-b-1)."""
    N, C, M = x.shape
    for t in prange(N * C):
        n = t // C
        i = t % C
        acc = np.zeros(M, dtype=np.float64)
        for c in range(max(0, i - (size - 1) // 2), min(C, i + size // 2 + 1)):
            g = dy[n, c]
            xc = x[n, c]
            dc = den[n, c]
            for m in range(M):
                acc[m] += g[m] * xc[m] * dc[m] ** (-beta - 1.0)
        xi = x[n, i]
        gi = dy[n, i]
        di = den[n, i]
        o = dx[n, i]
        for m in range(M):
            o[m] = gi[m] * di[m] ** (-beta) - 2.0 * alpha * beta / size * xi[m] * acc[m]


# --------------------------------------------------------------------------
# batch normalisation (statistics per channel over the batch and all positions)
# --------------------------------------------------------------------------

@kernel
def bn_stats(x, mean, var):
    """Mean and biased variance of each channel of x (N, C, M), two passes in float64."""
    N, C, M = x.shape
    for c in prange(C):
        s = 0.0
        for n in range(N):
            row = x[n, c]
            for m in range(M):
                s += row[m]
        mu = s / (N * M)
        q = 0.0
        for n in range(N):
            row = x[n, c]
            for m in range(M):
                d = row[m] - mu
                q += d * d
        mean[c] = mu
        var[c] = q / (N * M)


@kernel
def bn_forward(x, mean, scale, shift, out):
    """out[n, c] = (x[n, c] - mean[c]) * scale[c] + shift[c]  (scale = weight / sqrt(var + eps))."""
    N, C, M = x.shape
    for t in prange(N * C):
        n = t // C
        c = t % C
        mu = mean[c]
        a = scale[c]
        b = shift[c]
        xi = x[n, c]
        o = out[n, c]
        for m in range(M):
            o[m] = (xi[m] - mu) * a + b


@kernel
def bn_grad_sums(dy, x, mean, inv_std, sum_dy, sum_dy_xhat):
    """Per channel: sum of dy (the bias gradient) and of dy * xhat (the weight gradient),
    xhat = (x - mean) * inv_std."""
    N, C, M = x.shape
    for c in prange(C):
        mu = mean[c]
        s = 0.0
        q = 0.0
        for n in range(N):
            g = dy[n, c]
            row = x[n, c]
            for m in range(M):
                s += g[m]
                q += g[m] * (row[m] - mu)
        sum_dy[c] = s
        sum_dy_xhat[c] = q * inv_std[c]


@kernel
def bn_backward_input(dy, x, mean, inv_std, scale, a, b, dx):
    """dx[n, c] = scale[c] * (dy - a[c] - xhat * b[c]) with xhat = (x - mean) * inv_std:
    a = mean of dy and b = mean of dy * xhat in training mode, a = b = 0 in evaluation mode."""
    N, C, M = x.shape
    for t in prange(N * C):
        n = t // C
        c = t % C
        mu = mean[c]
        k = inv_std[c]
        s = scale[c]
        ac = a[c]
        bc = b[c]
        g = dy[n, c]
        row = x[n, c]
        o = dx[n, c]
        for m in range(M):
            o[m] = s * (g[m] - ac - (row[m] - mu) * k * bc)
