"""Shape arithmetic of convolutional networks, in one place.

The lectures, the book, the assignments, the reference ops (:mod:`cnnlab.ref`)
and the PyTorch ops (:mod:`cnnlab.gpu`) all take their output sizes and
parameter counts from here.

The central formula: a filter of size ``F`` sliding with stride ``S`` over an
input of size ``N`` padded by ``P`` on each side gives

.. math:: \\frac{N - F + 2P}{S} + 1

outputs (with dilation ``D`` the filter covers ``D(F-1)+1`` inputs).  When the
division leaves a remainder the filter does not fit: PyTorch floors the result
and silently ignores the last rows/columns.  :func:`conv_output_size` raises a
:class:`~cnnlab.ShapeError` that shows the arithmetic instead, unless
``allow_remainder=True``.

This module imports no torch.
"""

from __future__ import annotations

import math
from typing import Iterable

from ._args import _is_int, check_int, ntuple, resolve_padding
from ._errors import ShapeError

__all__ = [
    "ShapeError",
    "conv_output_size",
    "pool_output_size",
    "conv_params",
    "linear_params",
    "receptive_field",
]


def _fmt(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}"


def _one_output_size(n, k, s, lo, hi, d, *, ceil_mode=False, allow_remainder=True,
                     what="filter", axis_name="input") -> int:
    eff = d * (k - 1) + 1
    span = n + lo + hi - eff
    if span < 0:
        pad_txt = f" padded by {lo}+{hi}" if (lo or hi) else ""
        dil_txt = f" (kernel_size {k} with dilation {d})" if d != 1 else ""
        raise ShapeError(
            f"the {what} of size {eff}{dil_txt} is larger than the {axis_name} of size {n}{pad_txt} "
            f"= {n + lo + hi}; use a smaller kernel_size, more padding, or a larger input")
    if ceil_mode:
        out = -(-span // s) + 1
        # torch: the last window must start inside the input or the left padding
        if (out - 1) * s >= n + lo:
            out -= 1
        return out
    rem = span % s
    if rem and not allow_remainder:
        pad_term = f" + {lo}+{hi}" if lo != hi else f" + 2*{lo}"
        exact = span / s + 1
        raise ShapeError(
            f"the {what} does not fit: (N - F + 2P)/S + 1 = ({n} - {eff}{pad_term})/{s} + 1 = {_fmt(exact)} "
            f"is not a whole number. PyTorch would floor it to {span // s + 1} and ignore the last "
            f"{rem} row(s)/column(s) of the {axis_name}. Change the padding or stride so that "
            f"N - F + 2P is divisible by S, or pass allow_remainder=True to accept the floor")
    return span // s + 1


def _broadcast(args: dict) -> tuple[int, dict]:
    n = 1
    for v in args.values():
        if isinstance(v, (tuple, list)):
            n = max(n, len(v))
    return n, args


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------

def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1, allow_remainder=False):
    """Output size of a convolution along one (or each) spatial dimension.

    ``(n - dilation*(kernel_size-1) - 1 + 2*padding) // stride + 1``, which for
    ``dilation=1`` is the lecture's ``(N - F + 2P)/S + 1``.

    Parameters
    ----------
    n : int or tuple of int
        Input size (e.g. ``7`` or ``(H, W)``).
    kernel_size, stride, padding, dilation : int or tuple
        As in ``torch.nn.Conv2d``; ``padding`` may also be ``'valid'`` or ``'same'``.
    allow_remainder : bool
        If False (default) a filter that does not fit exactly raises
        :class:`ShapeError` showing the arithmetic; if True the result is
        floored as PyTorch does.

    Returns
    -------
    int, or a tuple of ints when any argument is a tuple.

    Examples
    --------
    >>> conv_output_size(7, 3, stride=2)
    3
    >>> conv_output_size(32, 5, padding=2)
    32
    """
    dims, _ = _broadcast(dict(n=n, kernel_size=kernel_size, stride=stride,
                              padding=padding if not isinstance(padding, str) else 0, dilation=dilation))
    scalar = not any(isinstance(v, (tuple, list)) for v in (n, kernel_size, stride, padding, dilation))
    ns = ntuple(n, dims, "n", minimum=1)
    ks = ntuple(kernel_size, dims, "kernel_size", minimum=1)
    ss = ntuple(stride, dims, "stride", minimum=1)
    ds = ntuple(dilation, dims, "dilation", minimum=1)
    pads = resolve_padding(padding, ks, ss, ds)
    out = tuple(_one_output_size(a, k, s, lo, hi, d, allow_remainder=allow_remainder)
                for a, k, s, (lo, hi), d in zip(ns, ks, ss, pads, ds))
    return out[0] if scalar else out


def pool_output_size(n, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                     allow_remainder=False):
    """Output size of a max or average pooling along one (or each) dimension.

    ``stride`` defaults to ``kernel_size`` (non-overlapping windows), as in
    PyTorch.  ``padding`` may be at most half the kernel size.  With
    ``ceil_mode=True`` the last partial window is kept (PyTorch's rule: it must
    start inside the input), and no remainder error is raised.

    >>> pool_output_size(4, 2)
    2
    >>> pool_output_size(55, 3, stride=2)
    27
    """
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        stride = kernel_size
    scalar = not any(isinstance(v, (tuple, list)) for v in (n, kernel_size, stride, padding, dilation))
    dims, _ = _broadcast(dict(n=n, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation))
    ns = ntuple(n, dims, "n", minimum=1)
    ks = ntuple(kernel_size, dims, "kernel_size", minimum=1)
    ss = ntuple(stride, dims, "stride", minimum=1)
    ps = ntuple(padding, dims, "padding", minimum=0)
    ds = ntuple(dilation, dims, "dilation", minimum=1)
    for k, p in zip(ks, ps):
        if 2 * p > k:
            raise ValueError(f"padding must be at most half of kernel_size for pooling "
                             f"(got padding={p} with kernel_size={k}); use padding <= {k // 2}")
    out = tuple(_one_output_size(a, k, s, p, p, d, ceil_mode=ceil_mode,
                                 allow_remainder=allow_remainder, what="pooling window")
                for a, k, s, p, d in zip(ns, ks, ss, ps, ds))
    return out[0] if scalar else out


def conv_params(in_channels, out_channels, kernel_size, bias=True, groups=1) -> int:
    """Number of learnable parameters of a convolution layer: ``F*F*C/groups*K + K``.

    >>> conv_params(3, 10, 5)      # ten 5x5 filters on 3 channels
    760
    >>> conv_params(3, 96, 11)     # AlexNet CONV1
    34944
    """
    c = check_int(in_channels, "in_channels", minimum=1)
    k = check_int(out_channels, "out_channels", minimum=1)
    g = check_int(groups, "groups", minimum=1)
    if isinstance(kernel_size, (tuple, list)):   # (R, S) for 2-D, (L,) for 1-D
        area = math.prod(ntuple(kernel_size, len(kernel_size), "kernel_size", minimum=1))
    else:                                       # an int means a square F x F filter
        area = check_int(kernel_size, "kernel_size", minimum=1) ** 2
    if c % g or k % g:
        raise ValueError(f"groups={g} must divide both in_channels={c} and out_channels={k}; "
                         f"choose groups among the common divisors, e.g. groups={math.gcd(c, k)}")
    return k * (c // g) * area + (k if bias else 0)


def linear_params(in_features, out_features, bias=True) -> int:
    """Number of parameters of a fully connected layer: ``in*out + out``.

    >>> linear_params(200 * 200 * 3, 1000)   # one FC layer on a 200x200 RGB image
    120001000
    """
    i = check_int(in_features, "in_features", minimum=1)
    o = check_int(out_features, "out_features", minimum=1)
    return i * o + (o if bias else 0)


def _layer_spec(layer, index):
    """(kernel, stride, dilation) pairs for one layer description."""
    if _is_int(layer):
        k, s, d = layer, 1, 1
    elif isinstance(layer, dict):
        unknown = set(layer) - {"kernel_size", "stride", "dilation", "padding"}
        if unknown or "kernel_size" not in layer:
            raise ValueError(f"layers[{index}] must have a 'kernel_size' key (and optionally 'stride', "
                             f"'dilation'); got keys {sorted(layer)}")
        k, s, d = layer["kernel_size"], layer.get("stride", 1), layer.get("dilation", 1)
    elif isinstance(layer, (tuple, list)):
        if not 1 <= len(layer) <= 3:
            raise ValueError(f"layers[{index}] must be kernel_size, (kernel_size, stride) or "
                             f"(kernel_size, stride, dilation); got {layer!r}")
        k, s, d = (tuple(layer) + (1, 1))[:3]
    elif hasattr(layer, "kernel_size"):
        k = layer.kernel_size
        s = getattr(layer, "stride", 1)
        s = k if s is None else s
        d = getattr(layer, "dilation", 1)
    else:
        raise TypeError(f"layers[{index}] must be an int, a tuple (kernel_size, stride[, dilation]), "
                        f"a dict or a conv/pool layer; got {layer!r}")
    return k, s, d


def receptive_field(layers: Iterable) -> int | tuple[int, int]:
    """Receptive field (in input pixels) of one output of a stack of layers.

    Each layer is a kernel size, a ``(kernel_size, stride[, dilation])`` tuple,
    a dict with those keys, or any object with ``kernel_size``/``stride``
    attributes (such as ``torch.nn.Conv2d``).  Returns an int when the field is
    square, else ``(height, width)``.

    >>> receptive_field([3, 3, 3])           # three stacked 3x3 stride-1 convs
    7
    >>> receptive_field([(11, 4), (3, 2)])   # AlexNet CONV1 then POOL1
    19
    """
    specs = [_layer_spec(layer, i) for i, layer in enumerate(layers)]
    if not specs:
        raise ValueError("layers is empty; give at least one layer, e.g. receptive_field([3, 3])")
    rf, jump = [1, 1], [1, 1]
    for i, (k, s, d) in enumerate(specs):
        ks = ntuple(k, 2, f"layers[{i}] kernel_size", minimum=1)
        ss = ntuple(s, 2, f"layers[{i}] stride", minimum=1)
        ds = ntuple(d, 2, f"layers[{i}] dilation", minimum=1)
        for a in range(2):
            rf[a] += ds[a] * (ks[a] - 1) * jump[a]
            jump[a] *= ss[a]
    return rf[0] if rf[0] == rf[1] else (rf[0], rf[1])
