"""Numerical gradients, to check a backward pass by finite differences
(CS231n's ``eval_numerical_gradient_array``)."""

from __future__ import annotations

import numpy as np


def numerical_gradient(f, x: np.ndarray, dout: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of ``sum(f(x) * dout)`` with respect to ``x``, by centred differences.

    f    : function of one array returning an array (the forward pass with all
           other arguments fixed, e.g. ``lambda x: conv2d(x, w, b, 1, 1)``)
    x    : the point, any shape, float64 for accuracy (it is changed and restored)
    dout : array of the shape of ``f(x)``: the upstream gradient
    Returns an array of the shape of ``x``: entry i is
    ``(sum(f(x + h e_i) * dout) - sum(f(x - h e_i) * dout)) / (2h)``.
    """
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise TypeError(f"x has dtype {x.dtype}; numerical gradients need float64: pass x.astype(np.float64)")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.asarray(f(x)).copy()
        x[i] = old - h
        minus = np.asarray(f(x)).copy()
        x[i] = old
        grad[i] = np.sum((plus - minus) * dout) / (2 * h)
        it.iternext()
    return grad


def rel_error(a, b) -> float:
    """max |a - b| / max(|a| + |b|) entry by entry: about 1e-8 or less when two float64 gradients agree."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"the arrays have different shapes {a.shape} and {b.shape}")
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)), initial=0.0))
