"""Argument checking for :mod:`cnnlab.ref`: turn user input into the
contiguous float arrays the kernels expect, or raise an error that names the
argument, what was wrong, and how to fix it."""

from __future__ import annotations

import numpy as np

from .._args import batched, check_grad_shape  # noqa: F401  (shared with cnnlab.gpu)


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


def contiguous(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A C-contiguous copy in ``dtype`` when needed (the user's array is never modified)."""
    return np.ascontiguousarray(arr, dtype=dtype)
