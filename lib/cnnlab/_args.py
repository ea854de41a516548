"""Argument checking shared by :mod:`cnnlab.ref` (NumPy) and :mod:`cnnlab.gpu` (torch).

Everything here is plain Python on shapes and numbers: it works on any array
with ``.ndim`` and ``.shape`` and imports neither NumPy nor torch, so both
implementations give the same clear errors (naming the argument, what was
wrong and how to fix it) and take their sizes from :mod:`cnnlab.shapes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import shapes
from ._errors import ShapeError, fmt_shape

LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)"}


def batched(arr, name: str, spatial: int):
    """Accept (N, C, *spatial) or unbatched (C, *spatial) like torch; return the batched array and a flag."""
    want = spatial + 2
    if arr.ndim == want:
        return arr, False
    if arr.ndim == want - 1:
        return arr[None], True
    layout = LAYOUTS[spatial]
    hint = ""
    if arr.ndim == want - 2:
        hint = f"; for a single-channel image add the batch and channel axes: {name}[None, None]"
    raise ShapeError(f"{name} must have {want} dimensions {layout} (or {want - 1} without the batch), "
                     f"got {arr.ndim} dimensions with shape {fmt_shape(arr.shape)}{hint}")


def check_grad_shape(dy, expected: tuple, name: str = "dy", what: str = "output") -> None:
    if tuple(dy.shape) != tuple(expected):
        raise ShapeError(f"{name} has shape {fmt_shape(dy.shape)} but the {what} of the forward pass "
                         f"has shape {fmt_shape(expected)}; pass the gradient of the loss with respect "
                         f"to that {what} (same shape), with the same x, w and arguments as the forward call")


# --------------------------------------------------------------------------
# convolution
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvArgs:
    """A convolution's arguments, checked and resolved to pairs (height, width).

    For a 1-D convolution the height entries are the trivial ones
    (stride 1, no padding, dilation 1, one output row).
    """
    stride: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))
    dilation: tuple[int, int]
    groups: int
    out: tuple[int, int]  # (OH, OW)


def conv_arguments(x_shape, w_shape, stride, padding, dilation, groups, *, spatial: int = 2,
                   x_name: str = "x", w_name: str = "w") -> ConvArgs:
    """Validate a convolution's arguments against the shapes (N, C, H, W) of x and (K, C/groups, R, S) of w."""
    _, C, H, W = x_shape
    K, Cw, KH, KW = w_shape
    g = shapes.check_int(groups, "groups", minimum=1)
    if spatial == 1:
        st = (1,) + shapes.ntuple(stride, 1, "stride", minimum=1)
        di = (1,) + shapes.ntuple(dilation, 1, "dilation", minimum=1)
        pads = ((0, 0),) + shapes.resolve_padding(padding, (KW,), st[1:], di[1:])
    else:
        st = shapes.ntuple(stride, 2, "stride", minimum=1)
        di = shapes.ntuple(dilation, 2, "dilation", minimum=1)
        pads = shapes.resolve_padding(padding, (KH, KW), st, di)
    if C % g:
        raise ValueError(f"groups={g} must divide the input channels of {x_name} ({C}); "
                         f"use a divisor of {C}")
    if K % g:
        raise ValueError(f"groups={g} must divide the number of filters in {w_name} ({K}); "
                         f"use a divisor of {K}")
    if Cw * g != C:
        raise ShapeError(f"channel mismatch: {x_name} has {C} channels, so with groups={g} each filter "
                         f"in {w_name} must have {C // g} channels, but {w_name} has shape "
                         f"({K}, {Cw}, ...) with {Cw}; give {w_name} shape ({K}, {C // g}, ...) "
                         f"or change groups")
    axes = ("height", "width") if spatial == 2 else (None, "length")
    outs = []
    for n, k, s, (lo, hi), d, ax in zip((H, W), (KH, KW), st, pads, di, axes):
        if ax is None:
            outs.append(1)
            continue
        outs.append(shapes._one_output_size(n, k, s, lo, hi, d, axis_name=f"input {ax}",
                                            what=f"kernel ({ax} {k})"))
    return ConvArgs(st, pads, di, g, (outs[0], outs[1]))


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class PoolArgs:
    """A pooling's arguments as pairs (height, width); 1-D pooling has a trivial height."""
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    out: tuple[int, int]  # (OH, OW)


def pool_arguments(x_shape, kernel_size, stride, padding, dilation, ceil_mode, spatial: int = 2) -> PoolArgs:
    """Validate a pooling's arguments against the shape (N, C, H, W) of x (H = 1 for 1-D)."""
    n = spatial
    ks = shapes.ntuple(kernel_size, n, "kernel_size", minimum=1)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        st = ks
    else:
        st = shapes.ntuple(stride, n, "stride", minimum=1)
    ps = shapes.ntuple(padding, n, "padding", minimum=0)
    ds = shapes.ntuple(dilation, n, "dilation", minimum=1)
    if spatial == 1:
        ks, st, ps, ds = (1,) + ks, (1,) + st, (0,) + ps, (1,) + ds
    out = []
    for a, (size, k, s, p, d) in enumerate(zip(x_shape[2:], ks, st, ps, ds)):
        if 2 * p > k:
            raise ValueError(f"padding must be at most half of kernel_size (got padding={p} with "
                             f"kernel_size={k}); use padding <= {k // 2}")
        axis = ("height", "width")[a] if spatial == 2 else "length"
        out.append(shapes._one_output_size(size, k, s, p, p, d, ceil_mode=bool(ceil_mode),
                                           what=f"pooling window ({k})", axis_name=f"input {axis}"))
    return PoolArgs(ks, st, ps, ds, (out[0], out[1]))


def divisor_override_value(divisor_override) -> int | None:
    if divisor_override is None:
        return None
    return shapes.check_int(divisor_override, "divisor_override", minimum=1)


def avg_pool_window_sizes(n_out: int, n_in: int, k: int, s: int, p: int, count_include_pad: bool) -> list[int]:
    """What torch divides each window sum by, along one axis (the 2-D divisor is the product).

    A window starts at ``o*s - p`` and is cut at the end of the right padding;
    without ``count_include_pad`` only the input positions count. An empty
    window (possible with ``ceil_mode``) counts 1: its sum is 0 and stays 0.
    """
    sizes = []
    for o in range(n_out):
        start = o * s - p
        end = min(start + k, n_in + p)
        size = end - start if count_include_pad else min(end, n_in) - max(start, 0)
        sizes.append(size)
    return sizes


def adaptive_output_size(output_size, in_sizes, spatial: int) -> tuple[int, int]:
    """output_size of an adaptive pooling as (OH, OW); None keeps that input size (2-D)."""
    if spatial == 1:
        if isinstance(output_size, (tuple, list)):
            if len(output_size) != 1:
                raise ValueError(f"output_size must be an int or a 1-tuple for 1-D pooling, got {output_size!r}")
            output_size = output_size[0]
        return (1, shapes.check_int(output_size, "output_size", minimum=1))
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"output_size must be an int or a pair (OH, OW), got {output_size!r}")
        return tuple(int(in_sizes[i]) if v is None else shapes.check_int(v, "output_size", minimum=1)
                     for i, v in enumerate(output_size))
    s = shapes.check_int(output_size, "output_size", minimum=1)
    return (s, s)


def adaptive_windows(n_in: int, n_out: int) -> list[tuple[int, int]]:
    """Window ``o`` of an adaptive pooling covers ``floor(o*n_in/n_out) <= i < ceil((o+1)*n_in/n_out)``."""
    return [((o * n_in) // n_out, -((-(o + 1) * n_in) // n_out)) for o in range(n_out)]


# --------------------------------------------------------------------------
# local response normalisation
# --------------------------------------------------------------------------

def _finite(value, name: str) -> float:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return f


def lrn_arguments(x_shape, size, alpha, beta, k) -> tuple[int, float, float, float]:
    if len(x_shape) < 3:
        raise ShapeError(f"x must have at least 3 dimensions (N, C, ...), got shape {fmt_shape(x_shape)}")
    size = shapes.check_int(size, "size", minimum=1)
    return size, _finite(alpha, "alpha"), _finite(beta, "beta"), _finite(k, "k")


def fold_arguments(cols_shape, output_size, kernel_size):
    """Check col2im's ``cols`` (N, C*R*S, L) against ``kernel_size``; returns (N, C, H, W, KH, KW, L)."""
    if len(cols_shape) != 3:
        raise ShapeError(f"cols must have 3 dimensions (N, C*R*S, L), got shape {fmt_shape(cols_shape)}")
    H, W = shapes.ntuple(output_size, 2, "output_size", minimum=1)
    KH, KW = shapes.ntuple(kernel_size, 2, "kernel_size", minimum=1)
    N, CRS, L = cols_shape
    if CRS % (KH * KW):
        raise ShapeError(f"cols.shape[1] = {CRS} must be C*{KH}*{KW} for kernel_size ({KH}, {KW}); "
                         f"it is not a multiple of {KH * KW}")
    return N, CRS // (KH * KW), H, W, KH, KW, L


def check_fold_windows(L: int, output_size, windows) -> None:
    """The number of columns L must be the number of windows (OH, OW) that output_size has."""
    if L != windows[0] * windows[1]:
        raise ShapeError(f"cols has {L} columns but output_size ({output_size[0]}, {output_size[1]}) with these "
                         f"kernel, stride, padding and dilation has {windows[0]}x{windows[1]} = "
                         f"{windows[0] * windows[1]} windows")


# --------------------------------------------------------------------------
# batch normalisation
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchNormArgs:
    """A batch normalisation's arguments, checked: ``count`` values per channel (N * H * W)."""
    channels: int
    count: int
    training: bool
    momentum: float
    eps: float


def batch_norm_arguments(x_shape, running_mean, running_var, weight, bias, training, momentum,
                         eps) -> BatchNormArgs:
    """Validate a batch normalisation's arguments against the shape (N, C, ...) of x.

    ``running_mean``, ``running_var``, ``weight`` and ``bias`` are None or
    anything with a ``.shape`` (one value per channel). The rules are torch's:
    both running statistics or neither; evaluation mode needs them; training
    needs more than one value per channel (a variance of one value is 0);
    ``eps`` positive. ``momentum`` must lie in [0, 1].
    """
    if len(x_shape) < 2:
        raise ShapeError(f"x must have at least 2 dimensions (N, C) or (N, C, H, W), got shape {fmt_shape(x_shape)}; "
                         "for a single image add the batch axis: x[None]")
    C = int(x_shape[1])
    for name, v in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if v is not None and tuple(v.shape) != (C,):
            raise ShapeError(f"{name} must have shape ({C},), one value per channel of x {fmt_shape(x_shape)}, "
                             f"got shape {fmt_shape(v.shape)}")
    if (running_mean is None) != (running_var is None):
        given, missing = ("running_mean", "running_var") if running_var is None else ("running_var", "running_mean")
        raise ValueError(f"{given} is given but {missing} is None; pass both running statistics or neither")
    if not (isinstance(training, int) or type(training).__name__ == "bool_") or training not in (0, 1):
        raise TypeError(f"training must be True or False, got {training!r}")
    training = bool(training)
    if not training and running_mean is None:
        raise ValueError("evaluation mode (training=False) normalises with running_mean and running_var, "
                         "and none were given; pass them, or training=True to use the batch's own statistics")
    count = 1
    for s in (x_shape[0], *x_shape[2:]):
        count *= int(s)
    if training and count <= 1:
        raise ValueError(f"training mode needs more than 1 value per channel to compute a variance; x has shape "
                         f"{fmt_shape(x_shape)} (N * H * W = {count}); use a batch of 2 or more, or evaluation mode")
    momentum = _finite(momentum, "momentum")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must lie between 0 and 1 (the weight of the new batch in the running "
                         f"statistics), got {momentum!r}; torch's default is 0.1")
    eps = _finite(eps, "eps")
    if eps <= 0:
        raise ValueError(f"eps must be positive (it keeps the division by sqrt(var + eps) finite), got {eps!r}; "
                         "torch's default is 1e-5")
    return BatchNormArgs(C, count, training, momentum, eps)
