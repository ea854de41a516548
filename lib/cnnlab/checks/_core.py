"""What every check shares: the failure type, tolerances and safe case
descriptions (calling a student's function under guard is :mod:`.guard`)."""

from __future__ import annotations

import functools
import numbers
import re

import numpy as np

#: Largest error allowed, relative to the largest magnitude of the expected
#: result.  A student's loops add in a different order than the reference, so
#: float32 gets some room; float64 must agree to many digits.
RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}


class GradingFailure(AssertionError):
    """A check failed.  The message says what is most likely wrong and how to
    fix it; it never contains hidden inputs or expected values (only shapes,
    sizes and options of the test case).

    ``key`` names the fingerprint of the diagnosed mistake (None when none
    matched); ``fatal`` marks failures that end a check at once (a function
    not written yet, a forbidden call)."""

    def __init__(self, message: str = "", key: str | None = None, fatal: bool = False):
        super().__init__(message)
        self.key = key
        self.fatal = fatal


class NotWritten(GradingFailure):
    """The function still raises NotImplementedError."""


def public(check):
    """Decorator for the checks the notebooks call: a failure is re-raised from
    the check itself, so the student sees one short traceback, not our internals."""

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except GradingFailure as exc:
            raise type(exc)(str(exc), exc.key, exc.fatal) from None

    return wrapper


def tolerance(dtype) -> float:
    return RTOL.get(np.dtype(dtype), 1e-9)


def max_rel_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual - expected| / max(|expected|), inf when shapes differ or values are not finite."""
    if actual.shape != expected.shape:
        return float("inf")
    if actual.size == 0:
        return 0.0
    a = actual.astype(np.float64, copy=False)
    e = expected.astype(np.float64, copy=False)
    if not np.all(np.isfinite(a)):
        return float("inf")
    scale = max(float(np.max(np.abs(e))), 1e-12)
    return float(np.max(np.abs(a - e))) / scale


def close(actual, expected, dtype) -> bool:
    """Same shape and equal within the tolerance of ``dtype``."""
    if actual is None or expected is None:
        return False
    return max_rel_error(np.asarray(actual), np.asarray(expected)) <= tolerance(dtype)


def shape_text(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + (",)" if len(shape) == 1 else ")")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def to_array(value, fname: str, what: str = "the result") -> np.ndarray:
    """A student's return value as an ndarray, or a GradingFailure that says why not."""
    if value is None:
        raise GradingFailure(f"{fname} returned None. Did you forget the `return` statement at the end?")
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, (bool, numbers.Number)) and not isinstance(value, np.ndarray):
        raise GradingFailure(f"{fname} returned a single number as {what}; it should return an array "
                             "(build the output with np.zeros(...) and fill it)")
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001
        raise GradingFailure(f"{fname} returned {type(value).__name__} as {what}, which is not an array") from None
    if arr.dtype == object:
        raise GradingFailure(f"{fname} returned {what} that is not a rectangular numeric array "
                             f"(got {type(value).__name__}); return a NumPy array")
    return arr


_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+")


def safe_text(text: str) -> str:
    """The first line of an error message, without any decimal number in it
    (a student's own error message could otherwise print hidden values)."""
    text = text.strip().splitlines()[0][:300] if text.strip() else ""
    return _FLOAT.sub("…", text)
