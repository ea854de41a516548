"""Convolution ops of the reference: forward, backward, im2col/col2im,
single-image correlation and convolution."""

from __future__ import annotations

import numpy as np

from .._errors import ShapeError, fmt_shape
from . import _kernels as kern
from .._args import (as_array, batched, check_fold_windows, check_grad_shape, compute_dtype, contiguous,
                     fold_arguments, ntuple)
from ._geometry import ConvGeometry, conv_geometry

# Images per BLAS call are chosen so that the im2col matrix of a chunk stays
# around this size: large enough for an efficient matrix product, small enough
# to stay in the last-level cache.
_CHUNK_BYTES = 4 << 20


# --------------------------------------------------------------------------
# preparation
# --------------------------------------------------------------------------

def _prepare(x, w, b, stride, padding, dilation, groups, spatial, dy=None):
    x = as_array(x, "x")
    w = as_array(w, "w")
    x4, unbatched = batched(x, "x", spatial)
    if w.ndim != spatial + 2:
        layout = "(K, C/groups, R, S)" if spatial == 2 else "(K, C/groups, L)"
        raise ShapeError(f"w must have {spatial + 2} dimensions {layout}, got shape {fmt_shape(w.shape)}")
    arrays = [x4, w]
    if b is not None:
        b = as_array(b, "b")
        if b.shape != (w.shape[0],):
            raise ShapeError(f"b must have shape ({w.shape[0]},), one bias per filter in w, "
                             f"got shape {fmt_shape(b.shape)}")
        arrays.append(b)
    if dy is not None:
        dy = as_array(dy, "dy")
        arrays.append(dy)
    dt = compute_dtype(*arrays)
    if spatial == 1:
        x4 = x4[:, :, None, :]
        w4 = w[:, :, None, :]
    else:
        w4 = w
    geo = conv_geometry(x4.shape, w4.shape, stride, padding, dilation, groups, spatial=spatial)
    x4 = contiguous(x4, dt)
    w4 = contiguous(w4, dt)
    bias = contiguous(b, dt) if b is not None else np.zeros(geo.K, dtype=dt)
    return x4, w4, bias, geo, dt, unbatched, dy


def _chunk(geo: ConvGeometry, itemsize: int) -> int:
    per_image = geo.C * geo.KH * geo.KW * geo.OH * geo.OW * itemsize
    return int(max(1, min(geo.N, _CHUNK_BYTES // max(per_image, 1))))


def _is_pointwise(geo: ConvGeometry) -> bool:
    return (geo.KH == 1 and geo.KW == 1 and geo.sh == 1 and geo.sw == 1
            and geo.pt == geo.pb == geo.pl == geo.pr == 0)


def _use_direct(geo: ConvGeometry) -> bool:
    """Few output channels per group or tiny filters: matrix products would be
    skinny, a direct loop over contiguous rows is faster (depthwise convs)."""
    return geo.Kg < 8 or geo.Cg * geo.KH * geo.KW < 16


# --------------------------------------------------------------------------
# forward
# --------------------------------------------------------------------------

def _forward(x, w, bias, geo: ConvGeometry):
    N, K, OH, OW = geo.out_shape
    P = OH * OW
    dt = x.dtype
    if _is_pointwise(geo):
        xs = x.reshape(N, geo.G, geo.Cg, P)
        ws = w.reshape(1, geo.G, geo.Kg, geo.Cg)
        out = np.matmul(ws, xs).reshape(N, K, OH, OW)
        out += bias[None, :, None, None]
        return out
    out = np.empty((N, K, OH, OW), dtype=dt)
    if _use_direct(geo):
        kern.conv_direct_fwd(x, w, bias, geo.G, *geo.args(), out)
        return out
    G, Kg, CgRS = geo.G, geo.Kg, geo.Cg * geo.KH * geo.KW
    nb = _chunk(geo, dt.itemsize)
    w3 = w.reshape(G, Kg, CgRS)
    cols_buf = np.empty(G * CgRS * nb * P, dtype=dt)
    tmp_buf = np.empty(G * Kg * nb * P, dtype=dt)
    out3 = out.reshape(N, K, P)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        cols = cols_buf[:G * CgRS * m * P].reshape(G, CgRS, m * P)
        tmp = tmp_buf[:G * Kg * m * P].reshape(G, Kg, m * P)
        kern.im2col_chunk(x, n0, m, G, geo.KH, geo.KW, *geo.args(), OH, OW, cols)
        if m == 1:  # one image: its (Kg, P) blocks of out are the products' layout, no copy
            for g in range(G):
                np.matmul(w3[g], cols[g], out=out3[n0, g * Kg:(g + 1) * Kg])
            out3[n0] += bias[:, None]
            continue
        for g in range(G):
            np.matmul(w3[g], cols[g], out=tmp[g])
        kern.chunk_to_nkp(tmp, n0, m, bias, out3)
    return out


def _backward(dy, x, w, geo: ConvGeometry):
    N, K, OH, OW = geo.out_shape
    P = OH * OW
    dt = x.dtype
    G, Kg, Cg = geo.G, geo.Kg, geo.Cg
    db = dy.sum(axis=(0, 2, 3), dtype=np.float64).astype(dt)
    if _is_pointwise(geo):
        dys = dy.reshape(N, G, Kg, P)
        xs = x.reshape(N, G, Cg, P)
        ws = w.reshape(1, G, Kg, Cg)
        dx = np.matmul(ws.transpose(0, 1, 3, 2), dys).reshape(x.shape)
        dw = np.matmul(dys, xs.transpose(0, 1, 3, 2)).sum(axis=0).reshape(w.shape)
        return dx, dw.astype(dt, copy=False), db
    if _use_direct(geo):
        dx = np.empty_like(x)
        dw = np.empty_like(w)
        kern.conv_direct_bwd_input(dy, w, G, *geo.args(), dx)
        kern.conv_direct_bwd_weight(dy, x, G, *geo.args(), dw)
        return dx, dw, db
    CgRS = Cg * geo.KH * geo.KW
    nb = _chunk(geo, dt.itemsize)
    w3 = w.reshape(G, Kg, CgRS)
    dw3 = np.zeros((G, Kg, CgRS), dtype=dt)
    dx = np.zeros_like(x)
    cols_buf = np.empty(G * CgRS * nb * P, dtype=dt)
    dyc_buf = np.empty(G * Kg * nb * P, dtype=dt)
    dwg = np.empty((Kg, CgRS), dtype=dt)
    dy3 = dy.reshape(N, K, P)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        cols = cols_buf[:G * CgRS * m * P].reshape(G, CgRS, m * P)
        dyc = dyc_buf[:G * Kg * m * P].reshape(G, Kg, m * P)
        kern.im2col_chunk(x, n0, m, G, geo.KH, geo.KW, *geo.args(), OH, OW, cols)
        kern.nkp_to_chunk(dy3, n0, m, dyc)
        for g in range(G):
            np.matmul(dyc[g], cols[g].T, out=dwg)
            dw3[g] += dwg
            np.matmul(w3[g].T, dyc[g], out=cols[g])  # the columns' gradient replaces them
        kern.col2im_chunk(cols, n0, m, G, geo.KH, geo.KW, *geo.args(), OH, OW, dx)
    return dx, dw3.reshape(w.shape), db


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------

def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in deep learning and ``torch.nn.functional.conv2d``).

    Parameters
    ----------
    x : array (N, C, H, W), or (C, H, W) for a single image
    w : array (K, C/groups, R, S) -- K filters of size R x S
    b : array (K,) or None
    stride, dilation : int or (int, int), positive
    padding : int, (int, int), ``'valid'`` or ``'same'`` (zero padding; 'same' needs stride 1)
    groups : int dividing C and K; ``groups=C`` is a depthwise convolution

    Returns
    -------
    y : array (N, K, OH, OW) with ``OH = (H + 2*pad_h - dilation_h*(R-1) - 1)//stride_h + 1``
        (sizes that do not fit are floored, as in PyTorch). float32 inputs give
        float32, everything else (integers included) float64.
    """
    x4, w4, bias, geo, _, unbatched, _ = _prepare(x, w, b, stride, padding, dilation, groups, 2)
    y = _forward(x4, w4, bias, geo)
    return y[0] if unbatched else y


def conv2d_backward(dy, x, w, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of :func:`conv2d` with respect to its inputs.

    Parameters
    ----------
    dy : array (N, K, OH, OW) -- gradient of the loss with respect to the output y
    x, w, stride, padding, dilation, groups : as in the forward call

    Returns
    -------
    dx : (N, C, H, W) -- full convolution of dy with the (flipped) filters
    dw : (K, C/groups, R, S) -- correlation of x with dy
    db : (K,) -- dy summed over the batch and all positions
    """
    x4, w4, _, geo, dt, unbatched, dy = _prepare(x, w, None, stride, padding, dilation, groups, 2, dy=dy)
    dy4 = dy[None] if (unbatched and dy.ndim == 3) else dy
    check_grad_shape(dy4, geo.out_shape)
    dx, dw, db = _backward(contiguous(dy4, dt), x4, w4, geo)
    return (dx[0] if unbatched else dx), dw, db


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation), as ``torch.nn.functional.conv1d``.

    x : (N, C, L) or (C, L);  w : (K, C/groups, F);  b : (K,) or None.
    Returns y : (N, K, (L + 2*padding - dilation*(F-1) - 1)//stride + 1).
    """
    x4, w4, bias, geo, _, unbatched, _ = _prepare(x, w, b, stride, padding, dilation, groups, 1)
    y = _forward(x4, w4, bias, geo)[:, :, 0, :]
    return y[0] if unbatched else y


def conv1d_backward(dy, x, w, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of :func:`conv1d`: returns ``(dx (N, C, L), dw (K, C/groups, F), db (K,))``."""
    x4, w4, _, geo, dt, unbatched, dy = _prepare(x, w, None, stride, padding, dilation, groups, 1, dy=dy)
    dy3 = dy[None] if (unbatched and dy.ndim == 2) else dy
    check_grad_shape(dy3, (geo.N, geo.K, geo.OW))
    dx, dw, db = _backward(contiguous(dy3[:, :, None, :], dt), x4, w4, geo)
    dx = dx[:, :, 0, :]
    return (dx[0] if unbatched else dx), dw[:, :, 0, :], db


def _unfold_geometry(x_shape, kernel_size, stride, padding, dilation):
    KH, KW = ntuple(kernel_size, 2, "kernel_size", minimum=1)
    return conv_geometry(x_shape, (1, x_shape[1], KH, KW), stride, padding, dilation, 1)


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Unfold sliding windows into columns (``torch.nn.functional.unfold``).

    x : (N, C, H, W)  ->  cols : (N, C*R*S, OH*OW).  Row ``(c*R + r)*S + s`` of
    column ``oh*OW + ow`` holds ``x[n, c, oh*stride + r*dilation - pad, ...]``,
    so ``w.reshape(K, -1) @ cols[n]`` is the convolution of image n.
    """
    x = as_array(x, "x")
    if x.ndim != 4:
        raise ShapeError(f"x must have 4 dimensions (N, C, H, W), got shape {fmt_shape(x.shape)}")
    x4 = x
    geo = _unfold_geometry(x4.shape, kernel_size, stride, padding, dilation)
    dt = compute_dtype(x4)
    x4 = contiguous(x4, dt)
    CRS, P = geo.C * geo.KH * geo.KW, geo.OH * geo.OW
    cols = np.empty((1, CRS, geo.N * P), dtype=dt)
    kern.im2col_chunk(x4, 0, geo.N, 1, geo.KH, geo.KW, *geo.args(), geo.OH, geo.OW, cols)
    return np.ascontiguousarray(cols.reshape(CRS, geo.N, P).transpose(1, 0, 2))


def col2im(cols, output_size, kernel_size, stride=1, padding=0, dilation=1):
    """Fold columns back into images, summing where windows overlap
    (``torch.nn.functional.fold``; the adjoint of :func:`im2col`).

    cols : (N, C*R*S, L) with L the number of windows; output_size : (H, W).
    Returns x : (N, C, H, W).
    """
    cols = as_array(cols, "cols")
    N, C, H, W, KH, KW, L = fold_arguments(cols.shape, output_size, kernel_size)
    CRS = C * KH * KW
    geo = _unfold_geometry((N, C, H, W), (KH, KW), stride, padding, dilation)
    check_fold_windows(L, (H, W), (geo.OH, geo.OW))
    dt = compute_dtype(cols)
    flat = np.ascontiguousarray(np.asarray(cols, dtype=dt).transpose(1, 0, 2)).reshape(1, CRS, N * L)
    dx = np.zeros((N, geo.C, H, W), dtype=dt)
    kern.col2im_chunk(flat, 0, N, 1, KH, KW, *geo.args(), geo.OH, geo.OW, dx)
    return dx


_MODES = ("valid", "same", "full")


def correlate2d(image, kernel, mode="valid"):
    """Cross-correlation of one 2-D image with one 2-D kernel (as ``scipy.signal.correlate2d``).

    image : (H, W);  kernel : (R, S);  mode : 'valid' (R-1 rows smaller),
    'same' (as large as the image) or 'full' (R-1 rows larger).
    Integer input computes in float64, so small integer examples are exact.
    """
    image = as_array(image, "image")
    kernel = as_array(kernel, "kernel")
    for arr, name in ((image, "image"), (kernel, "kernel")):
        if arr.ndim != 2:
            raise ShapeError(f"{name} must be 2-D (rows, columns), got shape {fmt_shape(arr.shape)}; "
                             "for batches and channels use conv2d")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    R, S = kernel.shape
    if mode == "valid":
        return conv2d(image[None, None], kernel[None, None])[0, 0]
    full = conv2d(image[None, None], kernel[None, None], padding=(R - 1, S - 1))[0, 0]
    if mode == "full":
        return full
    H, W = image.shape
    r0, s0 = R // 2, S // 2  # scipy's centring of 'same' for correlation
    return np.ascontiguousarray(full[r0:r0 + H, s0:s0 + W])


def convolve2d(image, kernel, mode="valid"):
    """True (flipped) 2-D convolution of one image with one kernel (``scipy.signal.convolve2d``).

    Equal to :func:`correlate2d` with the kernel rotated by 180 degrees.
    """
    kernel = as_array(kernel, "kernel")
    if kernel.ndim != 2:
        raise ShapeError(f"kernel must be 2-D (rows, columns), got shape {fmt_shape(kernel.shape)}")
    if mode == "same":
        image_a = as_array(image, "image")
        full = correlate2d(image_a, kernel[::-1, ::-1], "full")
        R, S = kernel.shape
        r0, s0 = (R - 1) // 2, (S - 1) // 2
        return np.ascontiguousarray(full[r0:r0 + image_a.shape[0], s0:s0 + image_a.shape[1]])
    return correlate2d(image, kernel[::-1, ::-1], mode)
