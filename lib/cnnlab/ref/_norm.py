"""Normalisation layers: local response normalisation (AlexNet) and batch
normalisation (Ioffe and Szegedy), as ``torch.nn.functional.local_response_norm``
and ``torch.nn.functional.batch_norm``."""

from __future__ import annotations

import numpy as np

from .._args import as_array, batch_norm_arguments, check_grad_shape, compute_dtype, contiguous, lrn_arguments
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


# --------------------------------------------------------------------------
# batch normalisation
# --------------------------------------------------------------------------

def _bn_vector(v, name: str, C: int, default: float) -> np.ndarray:
    """A per-channel vector as float64 (``default`` everywhere when v is None)."""
    if v is None:
        return np.full(C, default)
    return as_array(v, name).astype(np.float64)


def _bn_prepare(x, running_mean, running_var, weight, bias, training, momentum, eps, dy=None):
    x = as_array(x, "x")
    vectors = {name: None if v is None else as_array(v, name)
               for name, v in (("running_mean", running_mean), ("running_var", running_var),
                               ("weight", weight), ("bias", bias))}
    a = batch_norm_arguments(x.shape, *vectors.values(), training, momentum, eps)
    arrays = [x] + [v for v in vectors.values() if v is not None]
    if dy is not None:
        dy = as_array(dy, "dy")
        check_grad_shape(dy, x.shape)
        arrays.append(dy)
    dt = compute_dtype(*arrays)
    x3 = contiguous(x, dt).reshape(x.shape[0], a.channels, -1)
    if a.training:
        mean, var = np.empty(a.channels), np.empty(a.channels)
        kern.bn_stats(x3, mean, var)
    else:
        mean = _bn_vector(vectors["running_mean"], "running_mean", a.channels, 0.0)
        var = _bn_vector(vectors["running_var"], "running_var", a.channels, 1.0)
    inv_std = 1.0 / np.sqrt(var + a.eps)
    gamma = _bn_vector(vectors["weight"], "weight", a.channels, 1.0)
    beta = _bn_vector(vectors["bias"], "bias", a.channels, 0.0)
    return x, x3, a, dt, mean, var, inv_std, gamma, beta, dy


def _writable(stat, name: str) -> np.ndarray:
    """The running statistic ``stat`` as an array to update in place (torch CPU tensors share memory)."""
    if not isinstance(stat, np.ndarray) and not (hasattr(stat, "detach") and hasattr(stat, "cpu")):
        raise TypeError(f"{name} must be a NumPy array: in training mode batch_norm2d updates the running "
                        f"statistics in place, as torch does, so a {type(stat).__name__} cannot hold the result; "
                        f"pass np.asarray({name}, dtype=np.float64)")
    arr = as_array(stat, name)
    if arr.dtype.kind != "f" or not arr.flags.writeable:
        raise TypeError(f"{name} must be a writable float array (it is updated in place in training mode), "
                        f"got dtype {arr.dtype}{'' if arr.flags.writeable else ', read-only'}")
    return arr


def batch_norm2d(x, running_mean=None, running_var=None, weight=None, bias=None, training=False,
                 momentum=0.1, eps=1e-5):
    """Batch normalisation, as ``torch.nn.functional.batch_norm``.

    .. math:: y = \\frac{x - \\mu_c}{\\sqrt{\\sigma_c^2 + \\epsilon}}\\,\\gamma_c + \\beta_c

    Parameters
    ----------
    x : array (N, C, H, W) -- or (N, C) / (N, C, L): the statistics are per
        channel, over the batch and every position (N * H * W values each)
    running_mean, running_var : arrays (C,) or None
        The statistics of evaluation mode. In training mode, when given, they
        are **updated in place**, as torch does: ``running = (1 - momentum) *
        running + momentum * batch``, with the *unbiased* batch variance
        (divided by N*H*W - 1) in ``running_var``.
    weight, bias : arrays (C,) or None -- gamma and beta (None: 1 and 0)
    training : bool
        True: normalise with the mean and the biased variance of this batch;
        False: with ``running_mean`` and ``running_var``.
    momentum : float in [0, 1]; eps : float > 0

    Returns
    -------
    y : array with the shape of x
    """
    x, x3, a, dt, mean, var, inv_std, gamma, beta, _ = _bn_prepare(
        x, running_mean, running_var, weight, bias, training, momentum, eps)
    if a.training and running_mean is not None:
        # checked both before changing either; running = (1 - momentum) running + momentum batch
        stats = (_writable(running_mean, "running_mean"), _writable(running_var, "running_var"))
        for arr, new in zip(stats, (mean, var * a.count / (a.count - 1))):
            arr[...] = (1.0 - a.momentum) * arr.astype(np.float64) + a.momentum * new
    scale = gamma * inv_std
    out = np.empty_like(x3)
    kern.bn_forward(x3, mean, scale, beta, out)
    return out.reshape(x.shape)


def batch_norm2d_backward(dy, x, running_mean=None, running_var=None, weight=None, bias=None, training=False,
                          momentum=0.1, eps=1e-5):
    """Gradients of :func:`batch_norm2d` (same arguments, with the output gradient ``dy`` first).

    With :math:`\\hat x = (x - \\mu) / \\sqrt{\\sigma^2 + \\epsilon}` and ``n`` = N*H*W values per channel:

    * ``dbias = sum(dy)`` and ``dweight = sum(dy * xhat)`` over the batch and the positions;
    * training mode (the statistics depend on x):
      ``dx = weight / sqrt(var + eps) * (dy - dbias / n - xhat * dweight / n)``;
    * evaluation mode (the statistics are constants): ``dx = weight / sqrt(var + eps) * dy``.

    The running statistics are read (evaluation mode) but never changed.
    Returns ``(dx, dweight, dbias)``: dx with the shape of x, the others (C,).
    """
    x, x3, a, dt, mean, var, inv_std, gamma, beta, dy = _bn_prepare(
        x, running_mean, running_var, weight, bias, training, momentum, eps, dy=dy)
    dy3 = contiguous(dy, dt).reshape(x3.shape)
    sum_dy, sum_dy_xhat = np.empty(a.channels), np.empty(a.channels)
    kern.bn_grad_sums(dy3, x3, mean, inv_std, sum_dy, sum_dy_xhat)
    if a.training:
        ma, mb = sum_dy / a.count, sum_dy_xhat / a.count
    else:
        ma = mb = np.zeros(a.channels)
    dx = np.empty_like(x3)
    kern.bn_backward_input(dy3, x3, mean, inv_std, gamma * inv_std, ma, mb, dx)
    return dx.reshape(x.shape), sum_dy_xhat.astype(dt), sum_dy.astype(dt)
