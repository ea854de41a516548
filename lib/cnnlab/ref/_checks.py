"""Argument checking for :mod:`cnnlab.ref`: turn user input into the
contiguous float arrays the kernels expect, or raise an error that names the
argument, what was wrong, and how to fix it."""

from __future__ import annotations

import numpy as np

from .._errors import ShapeError, fmt_shape

_LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)"}


def compute_dtype(*arrays) -> np.dtype:
    """float32 if every float input is float32, float64 otherwise; integers compute in float64."""
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


def batched(arr: np.ndarray, name: str, spatial: int) -> tuple[np.ndarray, bool]:
    """Accept (N, C, *spatial) or unbatched (C, *spatial) like torch; return 4-D/3-D array and a flag."""
    want = spatial + 2
    if arr.ndim == want:
        return arr, False
    if arr.ndim == want - 1:
        return arr[None], True
    layout = _LAYOUTS[spatial]
    hint = ""
    if arr.ndim == want - 2:
        hint = f"; for a single-channel image add the batch and channel axes: {name}[None, None]"
    raise ShapeError(f"{name} must have {want} dimensions {layout} (or {want - 1} without the batch), "
                     f"got {arr.ndim} dimensions with shape {fmt_shape(arr.shape)}{hint}")


def contiguous(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A C-contiguous copy in ``dtype`` when needed (the user's array is never modified)."""
    return np.ascontiguousarray(arr, dtype=dtype)


def check_grad_shape(dy: np.ndarray, expected: tuple, name: str = "dy", what: str = "output") -> None:
    if tuple(dy.shape) != tuple(expected):
        raise ShapeError(f"{name} has shape {fmt_shape(dy.shape)} but the {what} of the forward pass "
                         f"has shape {fmt_shape(expected)}; pass the gradient of the loss with respect "
                         f"to that {what} (same shape), with the same x, w and arguments as the forward call")
