"""Argument checking for the whole package, in one place.

Every public function of :mod:`cnnlab` checks what it is given here, so the
same mistake gets the same clear error (naming the argument, what was wrong
and how to fix it) from :mod:`cnnlab.shapes`, the NumPy reference
(:mod:`cnnlab.ref`), the PyTorch ops (:mod:`cnnlab.gpu`), the model builders,
the data sets and the trainer:

* numbers and tuples: :func:`check_int`, :func:`ntuple`, :func:`resolve_padding`;
* the shape checks of convolution, pooling, folding and LRN, on anything with
  ``.ndim`` and ``.shape`` (their sizes come from :mod:`cnnlab.shapes`);
* arrays for :mod:`cnnlab.ref` (:func:`as_array`, :func:`compute_dtype`,
  :func:`contiguous`) and tensors for :mod:`cnnlab.gpu` (:func:`as_tensor`,
  :func:`like`);
* the two arguments every model builder takes (:func:`check_classes_channels`).

Importing this module imports neither NumPy nor torch (``import cnnlab`` stays
light and :mod:`cnnlab.ref` torch-free): the array and tensor checks import
them when they are called, by which time their callers have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING, Sequence

from ._errors import ShapeError, fmt_shape

if TYPE_CHECKING:
    import numpy as np

LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)"}


# --------------------------------------------------------------------------
# numbers and tuples
# --------------------------------------------------------------------------


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def check_int(value, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise a ValueError/TypeError naming ``name``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}); "
                        f"pass a whole number such as {name}=1")
    value = int(value)
    if minimum is not None and value < minimum:
        what = "positive" if minimum == 1 else f"at least {minimum}"
        raise ValueError(f"{name} must be {what}, got {value}; pass {name}={max(minimum, 1)} or larger")
    return value


def ntuple(value, n: int, name: str, *, minimum: int | None = None) -> tuple[int, ...]:
    """``value`` as an ``n``-tuple of ints: an int is repeated, a sequence must have length ``n``."""
    if _is_int(value):
        return (check_int(value, name, minimum=minimum),) * n
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{name} must be an int or a sequence of {n} ints "
                             f"(one per spatial dimension), got {value!r} of length {len(value)}")
        return tuple(check_int(v, name, minimum=minimum) for v in value)
    alt = f" or a tuple of {n} integers" if n > 1 else ""
    raise TypeError(f"{name} must be an integer{alt}, got {value!r} ({type(value).__name__})")


def resolve_padding(padding, kernel_size: Sequence[int], stride: Sequence[int],
                    dilation: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Padding as ``((lo, hi), ...)`` per spatial dimension, torch's rules.

    ``padding`` is an int, a tuple (one per dimension), ``'valid'`` (no padding)
    or ``'same'`` (output as large as the input; stride must be 1; for an even
    effective kernel the extra row/column goes at the end, as in PyTorch).
    """
    n = len(kernel_size)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * n
        if mode == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' needs stride=1 (got stride={tuple(stride)}); "
                                 "PyTorch does not support 'same' for strided convolutions: "
                                 "give the padding as a number instead")
            out = []
            for k, d in zip(kernel_size, dilation):
                total = d * (k - 1)
                out.append((total // 2, total - total // 2))
            return tuple(out)
        raise ValueError(f"padding must be an int, a tuple of {n} ints, 'valid' or 'same'; got {padding!r}")
    pads = ntuple(padding, n, "padding", minimum=0)
    return tuple((p, p) for p in pads)




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


def _output_size(*args, **kwargs) -> int:
    """:mod:`cnnlab.shapes`' output size of one axis (imported here on use:
    shapes itself takes its argument checks from this module)."""
    from .shapes import _one_output_size

    return _one_output_size(*args, **kwargs)


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
    g = check_int(groups, "groups", minimum=1)
    if spatial == 1:
        st = (1,) + ntuple(stride, 1, "stride", minimum=1)
        di = (1,) + ntuple(dilation, 1, "dilation", minimum=1)
        pads = ((0, 0),) + resolve_padding(padding, (KW,), st[1:], di[1:])
    else:
        st = ntuple(stride, 2, "stride", minimum=1)
        di = ntuple(dilation, 2, "dilation", minimum=1)
        pads = resolve_padding(padding, (KH, KW), st, di)
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
        outs.append(_output_size(n, k, s, lo, hi, d, axis_name=f"input {ax}",
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
    ks = ntuple(kernel_size, n, "kernel_size", minimum=1)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        st = ks
    else:
        st = ntuple(stride, n, "stride", minimum=1)
    ps = ntuple(padding, n, "padding", minimum=0)
    ds = ntuple(dilation, n, "dilation", minimum=1)
    if spatial == 1:
        ks, st, ps, ds = (1,) + ks, (1,) + st, (0,) + ps, (1,) + ds
    out = []
    for a, (size, k, s, p, d) in enumerate(zip(x_shape[2:], ks, st, ps, ds)):
        if 2 * p > k:
            raise ValueError(f"padding must be at most half of kernel_size (got padding={p} with "
                             f"kernel_size={k}); use padding <= {k // 2}")
        axis = ("height", "width")[a] if spatial == 2 else "length"
        out.append(_output_size(size, k, s, p, p, d, ceil_mode=bool(ceil_mode),
                                           what=f"pooling window ({k})", axis_name=f"input {axis}"))
    return PoolArgs(ks, st, ps, ds, (out[0], out[1]))


def divisor_override_value(divisor_override) -> int | None:
    if divisor_override is None:
        return None
    return check_int(divisor_override, "divisor_override", minimum=1)


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
        return (1, check_int(output_size, "output_size", minimum=1))
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"output_size must be an int or a pair (OH, OW), got {output_size!r}")
        return tuple(int(in_sizes[i]) if v is None else check_int(v, "output_size", minimum=1)
                     for i, v in enumerate(output_size))
    s = check_int(output_size, "output_size", minimum=1)
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
    size = check_int(size, "size", minimum=1)
    return size, _finite(alpha, "alpha"), _finite(beta, "beta"), _finite(k, "k")


def fold_arguments(cols_shape, output_size, kernel_size):
    """Check col2im's ``cols`` (N, C*R*S, L) against ``kernel_size``; returns (N, C, H, W, KH, KW, L)."""
    if len(cols_shape) != 3:
        raise ShapeError(f"cols must have 3 dimensions (N, C*R*S, L), got shape {fmt_shape(cols_shape)}")
    H, W = ntuple(output_size, 2, "output_size", minimum=1)
    KH, KW = ntuple(kernel_size, 2, "kernel_size", minimum=1)
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
# arrays and tensors
# --------------------------------------------------------------------------

# for cnnlab.ref: NumPy arrays

def compute_dtype(*arrays) -> np.dtype:
    """float32 if every float input is float32, float64 otherwise; integers compute in float64."""
    import numpy as np

    kinds = [a.dtype for a in arrays if a is not None]
    for k in kinds:
        if k.kind == "f" and k not in (np.float32, np.float64):
            raise TypeError(f"dtype {k} is not supported; convert the input with .astype(np.float32) "
                            "or .astype(np.float64)")
    dt = np.result_type(*kinds)
    if dt.kind in "biu":
        return np.dtype(np.float64)
    if dt == np.float32 or dt == np.float64:
        return dt
    if dt.kind == "f":  # float16, longdouble
        raise TypeError(f"dtype {dt} is not supported; convert the input with .astype(np.float32) "
                        "or .astype(np.float64)")
    raise TypeError(f"inputs of dtype {dt} are not supported: CNN Lab computes in float32 or float64; "
                    "convert the input with .astype(np.float64)")


def as_array(value, name: str) -> np.ndarray:
    if value is None:
        raise TypeError(f"{name} is None; pass a NumPy array")
    import numpy as np

    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be a numeric array and could not be converted to one ({exc}); "
                        "pass a rectangular NumPy array") from None
    if arr.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got an array of Python objects "
                        "(ragged nested lists?); pass a rectangular NumPy array")
    return arr


def contiguous(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A C-contiguous copy in ``dtype`` when needed (the user's array is never modified)."""
    import numpy as np

    return np.ascontiguousarray(arr, dtype=dtype)


# for cnnlab.gpu: tensors (the shape checks are shared with cnnlab.ref above)

def as_tensor(value, name: str):
    """``value`` if it is a floating-point tensor, else a TypeError naming ``name`` and the fix."""
    import torch

    if not isinstance(value, torch.Tensor):
        hint = (f"convert it with torch.from_numpy({name}) (or use cnnlab.ref, which takes NumPy arrays)"
                if type(value).__module__ == "numpy" else f"pass {name} as a tensor, e.g. torch.tensor({name})")
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}; {hint}")
    if not value.is_floating_point():
        raise TypeError(f"{name} has dtype {value.dtype}, but cnnlab.gpu computes in floating point; "
                        f"pass {name}.float() (float32) or {name}.double() (float64)")
    return value


def like(value, name: str, x, x_name: str = "x"):
    """A tensor argument that must share the dtype and the device of ``x``."""
    value = as_tensor(value, name)
    if value.dtype != x.dtype:
        raise TypeError(f"{name} has dtype {value.dtype} but {x_name} has dtype {x.dtype}; "
                        f"convert one of them, e.g. {name}.to({x_name}.dtype)")
    if value.device != x.device:
        raise ValueError(f"{name} is on device {value.device} but {x_name} is on {x.device}; "
                         f"move it with {name}.to({x_name}.device)")
    return value


# --------------------------------------------------------------------------
# model builders
# --------------------------------------------------------------------------

def check_classes_channels(num_classes, in_channels) -> tuple[int, int]:
    """Validate the two arguments every model builder takes."""
    return (check_int(num_classes, "num_classes", minimum=1),
            check_int(in_channels, "in_channels", minimum=1))


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
