"""Pooling ops of the reference, forward and backward, 1-D and 2-D."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._args import (as_array, batched, check_grad_shape, compute_dtype, contiguous, adaptive_output_size, avg_pool_window_sizes, divisor_override_value,
                     pool_arguments)
from .._errors import ShapeError, fmt_shape
from . import _kernels as kern
from ._geometry import valid_range


@dataclass(frozen=True)
class _Pool:
    KH: int
    KW: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int
    OH: int
    OW: int
    ow_lo: np.ndarray
    ow_hi: np.ndarray

    def args(self):
        return (self.KH, self.KW, self.sh, self.sw, self.ph, self.pw)

    def inside(self, H, W) -> bool:
        """Use kern.max_pool_plane_inside for the arg-maxes: every window lies inside
        the image (no padding, no dilation, no ceil_mode overhang) and windows
        overlap (KH*KW > sh*sw: the phase split pays off; measured 3x3 s2 1.4x
        faster, 2x2 s2 slower than the row loops)."""
        return (self.ph == 0 and self.pw == 0 and self.dh == 1 and self.dw == 1
                and self.KH * self.KW > self.sh * self.sw
                and (self.OH - 1) * self.sh + self.KH <= H and (self.OW - 1) * self.sw + self.KW <= W
                and self.OH > 0 and self.OW > 0)

    def divisors(self, H, W, count_include_pad, divisor_override):
        """(OH, OW) array of what torch divides each window sum by."""
        override = divisor_override_value(divisor_override)
        if override is not None:
            return np.full((self.OH, self.OW), float(override), dtype=np.float64)
        sizes = [avg_pool_window_sizes(n_out, n_in, k, s, p, count_include_pad)
                 for n_out, n_in, k, s, p in ((self.OH, H, self.KH, self.sh, self.ph),
                                              (self.OW, W, self.KW, self.sw, self.pw))]
        den = np.outer(sizes[0], sizes[1]).astype(np.float64)
        den[den <= 0] = 1.0  # empty windows sum to 0 and stay 0
        return den


def _pool_geometry(x4, kernel_size, stride, padding, dilation, ceil_mode, spatial) -> _Pool:
    a = pool_arguments(x4.shape, kernel_size, stride, padding, dilation, ceil_mode, spatial)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = a.kernel_size, a.stride, a.padding, a.dilation
    W = x4.shape[3]
    ranges = [valid_range(a.out[1], W, sw, s * dw - pw) for s in range(kw)]
    return _Pool(kh, kw, sh, sw, ph, pw, dh, dw, a.out[0], a.out[1],
                 np.array([lo for lo, _ in ranges], dtype=np.int64),
                 np.array([hi for _, hi in ranges], dtype=np.int64))


def _prepare(x, spatial, dy=None):
    x = as_array(x, "x")
    x4, unbatched = batched(x, "x", spatial)
    arrays = [x4]
    if dy is not None:
        dy = as_array(dy, "dy")
        arrays.append(dy)
    dt = compute_dtype(*arrays)
    if spatial == 1:
        x4 = x4[:, :, None, :]
    return contiguous(x4, dt), unbatched, dy, dt


def _finish(arr, spatial, unbatched):
    if spatial == 1:
        arr = arr[:, :, 0, :]
    return arr[0] if unbatched else arr


def _grad4(dy, g: _Pool, x4, spatial, unbatched, dt):
    """dy as a contiguous (N, C, OH, OW) array, shape-checked against the forward output."""
    if unbatched:
        dy = dy[None]
    expected = (x4.shape[0], x4.shape[1], g.OH, g.OW) if spatial == 2 else (x4.shape[0], x4.shape[1], g.OW)
    check_grad_shape(dy, expected)
    if spatial == 1:
        dy = dy[:, :, None, :]
    return contiguous(dy, dt)


# ---------------------------------------------------------------- max pooling

def _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial):
    x4, unbatched, _, dt = _prepare(x, spatial)
    g = _pool_geometry(x4, kernel_size, stride, padding, dilation, ceil_mode, spatial)
    out = np.empty((x4.shape[0], x4.shape[1], g.OH, g.OW), dtype=dt)
    if x4.shape[2] * x4.shape[3] >= 2**31:
        raise ShapeError(f"x has {x4.shape[2]}x{x4.shape[3]} positions per plane; at most 2**31 are supported")
    # plane-local flat indices, int64 as torch returns them
    idx = np.empty(out.shape if return_indices else (1, 1, 1, 1), dtype=np.int64)
    kern.max_pool_fwd(x4, *g.args(), g.dh, g.dw, g.ow_lo, g.ow_hi, out, idx, bool(return_indices),
                      g.inside(x4.shape[2], x4.shape[3]))
    y = _finish(out, spatial, unbatched)
    return (y, _finish(idx, spatial, unbatched)) if return_indices else y


def _max_pool_backward(dy, x, kernel_size, stride, padding, dilation, ceil_mode, spatial, indices):
    x4, unbatched, dy, dt = _prepare(x, spatial, dy)
    g = _pool_geometry(x4, kernel_size, stride, padding, dilation, ceil_mode, spatial)
    dy4 = _grad4(dy, g, x4, spatial, unbatched, dt)
    dx = np.empty_like(x4)
    if indices is None:
        kern.max_pool_bwd(dy4, x4, *g.args(), g.dh, g.dw, g.ow_lo, g.ow_hi, dx,
                          g.inside(x4.shape[2], x4.shape[3]))
    else:
        idx = as_array(indices, "indices")
        if idx.dtype.kind not in "iu":
            raise TypeError(f"indices must be an integer array (as returned with return_indices=True), "
                            f"got dtype {idx.dtype}")
        expected = dy4.shape if spatial == 2 else dy4.shape[:2] + dy4.shape[3:]
        idx = idx[None] if unbatched else idx
        if idx.shape != expected:
            raise ShapeError(f"indices has shape {fmt_shape(idx.shape)} but dy has shape "
                             f"{fmt_shape(expected)}; pass the indices returned by the same forward call")
        idx4 = np.ascontiguousarray(idx.reshape(dy4.shape), dtype=np.int64)
        if kern.max_pool_scatter(dy4, idx4, dx):  # the kernel counts (and skips) indices out of range
            plane = x4.shape[2] * x4.shape[3]
            raise ValueError(f"indices must lie in [0, {plane}) (flat positions ih*W + iw in one plane of x); "
                             f"got values from {idx.min()} to {idx.max()}")
    return _finish(dx, spatial, unbatched)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``.

    x : (N, C, H, W) or (C, H, W); kernel_size, stride (default: kernel_size),
    padding (implicit -inf, at most kernel_size//2), dilation : int or pair.
    Returns y : (N, C, OH, OW) with ``OH = (H + 2p - d(k-1) - 1)//s + 1`` (ceil
    with ``ceil_mode``), and with ``return_indices`` also the flat index
    ``ih*W + iw`` of each maximum (int64), as torch returns it.
    """
    return _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def max_pool2d_backward(dy, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                        indices=None):
    """Gradient of :func:`max_pool2d`: each ``dy[n, c, oh, ow]`` goes to the arg-max
    of its window in x (summed where overlapping windows share it); dx : (N, C, H, W).

    ``indices`` (optional): the arg-maxes returned by the forward call with
    ``return_indices=True``; given them, the backward pass only scatters (as
    torch does with the indices it saves), otherwise it finds the arg-maxes again.
    """
    return _max_pool_backward(dy, x, kernel_size, stride, padding, dilation, ceil_mode, 2, indices)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling, as ``torch.nn.functional.max_pool1d``: x (N, C, L) -> (N, C, OL)."""
    return _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool1d_backward(dy, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                        indices=None):
    """Gradient of :func:`max_pool1d`; dx : (N, C, L); ``indices`` as in :func:`max_pool2d_backward`."""
    return _max_pool_backward(dy, x, kernel_size, stride, padding, dilation, ceil_mode, 1, indices)


# ------------------------------------------------------------ average pooling

def _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, spatial):
    x4, unbatched, _, dt = _prepare(x, spatial)
    g = _pool_geometry(x4, kernel_size, stride, padding, 1, ceil_mode, spatial)
    out = np.empty((x4.shape[0], x4.shape[1], g.OH, g.OW), dtype=dt)
    den = g.divisors(x4.shape[2], x4.shape[3], count_include_pad, divisor_override)
    kern.avg_pool_fwd(x4, *g.args(), g.ow_lo, g.ow_hi, den, out)
    return _finish(out, spatial, unbatched)


def _avg_pool_backward(dy, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                       divisor_override, spatial):
    x4, unbatched, dy, dt = _prepare(x, spatial, dy)
    g = _pool_geometry(x4, kernel_size, stride, padding, 1, ceil_mode, spatial)
    dy4 = _grad4(dy, g, x4, spatial, unbatched, dt)
    dx = np.empty_like(x4)
    den = g.divisors(x4.shape[2], x4.shape[3], count_include_pad, divisor_override)
    kern.avg_pool_bwd(dy4, *g.args(), g.ow_lo, g.ow_hi, den, dx)
    return _finish(dx, spatial, unbatched)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    x : (N, C, H, W) or (C, H, W). Zero padding counts in the average
    (``count_include_pad=True``, torch's default) unless switched off;
    ``divisor_override`` divides every window sum by a fixed number.
    Returns y : (N, C, OH, OW).
    """
    return _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2)


def avg_pool2d_backward(dy, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of :func:`avg_pool2d`: each ``dy`` spread evenly over its window; dx : (N, C, H, W)."""
    return _avg_pool_backward(dy, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                              divisor_override, 2)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling, as ``torch.nn.functional.avg_pool1d``: x (N, C, L) -> (N, C, OL)."""
    return _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool1d_backward(dy, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Gradient of :func:`avg_pool1d`; dx : (N, C, L)."""
    return _avg_pool_backward(dy, x, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


# ------------------------------------------------------- adaptive / global

def _adaptive(x, output_size, spatial):
    x4, unbatched, _, dt = _prepare(x, spatial)
    OH, OW = adaptive_output_size(output_size, x4.shape[2:], spatial)
    out = np.empty((x4.shape[0], x4.shape[1], OH, OW), dtype=dt)
    kern.adaptive_avg_fwd(x4, out)
    return _finish(out, spatial, unbatched)


def _adaptive_backward(dy, x, spatial):
    x4, unbatched, dy, dt = _prepare(x, spatial, dy)
    dy = dy[None] if unbatched else dy
    if dy.ndim != spatial + 2 or dy.shape[:2] != x4.shape[:2]:
        raise ShapeError(f"dy has shape {fmt_shape(dy.shape)}; it must be the gradient of the pooled "
                         f"output, shape (N, C, ...) = ({x4.shape[0]}, {x4.shape[1]}, ...)")
    dy4 = contiguous(dy[:, :, None, :] if spatial == 1 else dy, dt)
    dx = np.empty_like(x4)
    kern.adaptive_avg_bwd(dy4, dx)
    return _finish(dx, spatial, unbatched)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size (``torch.nn.functional.adaptive_avg_pool2d``).

    x : (N, C, H, W); output_size : int or (OH, OW) (None keeps that input size).
    Window ``o`` covers ``floor(o*H/OH) <= h < ceil((o+1)*H/OH)``. Returns (N, C, OH, OW).
    """
    return _adaptive(x, output_size, 2)


def adaptive_avg_pool2d_backward(dy, x):
    """Gradient of :func:`adaptive_avg_pool2d`; dy : (N, C, OH, OW) -> dx : (N, C, H, W)."""
    return _adaptive_backward(dy, x, 2)


def adaptive_avg_pool1d(x, output_size):
    """1-D adaptive average pooling: x (N, C, L) -> (N, C, output_size)."""
    return _adaptive(x, output_size, 1)


def adaptive_avg_pool1d_backward(dy, x):
    """Gradient of :func:`adaptive_avg_pool1d`; dx : (N, C, L)."""
    return _adaptive_backward(dy, x, 1)


def global_avg_pool2d(x):
    """Global average pooling: the mean of each channel, x (N, C, H, W) -> (N, C).

    The same as ``adaptive_avg_pool2d(x, 1)[:, :, 0, 0]``; used instead of
    fully connected layers by GoogLeNet and ResNet.
    """
    y = _adaptive(x, 1, 2)
    return y[..., 0, 0]


def global_avg_pool2d_backward(dy, x):
    """Gradient of :func:`global_avg_pool2d`; dy : (N, C) -> dx : (N, C, H, W)."""
    dy = as_array(dy, "dy")
    return _adaptive_backward(dy[..., None, None], x, 2)
