"""Local response normalisation (AlexNet), as ``torch.nn.functional.local_response_norm``."""

from __future__ import annotations

import numpy as np

from .._args import as_array, check_grad_shape, compute_dtype, contiguous, lrn_arguments
from . import _kernels as kern


def _prepare(x, size, alpha, beta, k, dy=None):
    x = as_array(x, "x")
    size, alpha, beta, k = lrn_arguments(x.shape, size, alpha, beta, k)
    arrays = [x] if dy is None else [x, as_array(dy, "dy")]
    dt = compute_dtype(*arrays)
    x3 = contiguous(x, dt).reshape(x.shape[0], x.shape[1], -1)
    return x3, size, alpha, beta, k, dt, (arrays[1] if dy is not None else None)


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Normalise each activation by the energy of its neighbours across channels.

    .. math:: y_c = x_c \\Big/ \\Big(k + \\frac{\\alpha}{n} \\sum_{j=c-\\lfloor n/2\\rfloor}^{c+\\lfloor (n-1)/2\\rfloor} x_j^2\\Big)^{\\beta}

    x : (N, C, ...) ; size n : number of neighbouring channels (AlexNet: 5,
    alpha 1e-4, beta 0.75, k 2). Note that torch divides alpha by ``size``.
    Returns y with the shape of x.
    """
    x3, size, alpha, beta, k, dt, _ = _prepare(x, size, alpha, beta, k)
    out = np.empty_like(x3)
    den = np.empty_like(x3)
    kern.lrn_fwd(x3, size, float(alpha), float(beta), float(k), out, den)
    return out.reshape(np.shape(x))


def local_response_norm_backward(dy, x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Gradient of :func:`local_response_norm`; dy and the returned dx have the shape of x."""
    x3, size, alpha, beta, k, dt, dy = _prepare(x, size, alpha, beta, k, dy=dy)
    check_grad_shape(dy, np.shape(x))
    dy3 = contiguous(dy, dt).reshape(x3.shape)
    out = np.empty_like(x3)
    den = np.empty_like(x3)
    kern.lrn_fwd(x3, size, float(alpha), float(beta), float(k), out, den)
    dx = np.empty_like(x3)
    kern.lrn_bwd(dy3, x3, den, size, float(alpha), float(beta), dx)
    return dx.reshape(np.shape(x))
