"""The readable definitions: convolution and pooling as plain nested loops.

These are what the book shows and what the fast kernels of :mod:`cnnlab.ref`
are tested against.  They are pure Python and slow: use them on small arrays.
Same arguments and results as the fast versions (no groups/dilation here
except where shown: the point is the definition, not the options).
"""

from __future__ import annotations

import numpy as np

from .. import shapes
from .._args import ntuple


def _pad(x, p):
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, k, i, j] = b[k] + sum_{c, r, s} w[k, c, r, s] * x_pad[n, g*Cg + c, i*S + r*D, j*S + s*D]."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    sh, sw = ntuple(stride, 2, "stride", minimum=1)
    ph, pw = ntuple(padding, 2, "padding", minimum=0)
    dh, dw = ntuple(dilation, 2, "dilation", minimum=1)
    OH = shapes.conv_output_size(H, R, sh, ph, dh, allow_remainder=True)
    OW = shapes.conv_output_size(W, S, sw, pw, dw, allow_remainder=True)
    xp = _pad(x, (ph, pw))
    Kg = K // groups
    y = np.zeros((N, K, OH, OW))
    for n in range(N):
        for k in range(K):
            g = k // Kg
            for i in range(OH):
                for j in range(OW):
                    total = 0.0 if b is None else float(b[k])
                    for c in range(Cg):
                        for r in range(R):
                            for s in range(S):
                                total += w[k, c, r, s] * xp[n, g * Cg + c, i * sh + r * dh, j * sw + s * dw]
                    y[n, k, i, j] = total
    return y


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """y[n, c, i, j] = max of the kernel_size window starting at (i*S - P, j*S - P)."""
    return _pool(x, kernel_size, stride, padding, np.max, -np.inf)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """y[n, c, i, j] = mean of the window (zero padding counted, as torch's default)."""
    return _pool(x, kernel_size, stride, padding, np.mean, 0.0)


def _pool(x, kernel_size, stride, padding, reduce, fill):
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    kh, kw = ntuple(kernel_size, 2, "kernel_size", minimum=1)
    sh, sw = (kh, kw) if stride is None else ntuple(stride, 2, "stride", minimum=1)
    ph, pw = ntuple(padding, 2, "padding", minimum=0)
    OH = shapes.pool_output_size(H, kh, sh, ph, allow_remainder=True)
    OW = shapes.pool_output_size(W, kw, sw, pw, allow_remainder=True)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    y = np.empty((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    y[n, c, i, j] = reduce(xp[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw])
    return y
