"""Tell a student what is most likely wrong with a result.

A *fingerprint* is a typical mistake together with the output that mistake
produces.  When a student's result is wrong, :func:`diagnose` computes the
output of every fingerprint of the op on the same (hidden) inputs and reports
the one the student's result matches.  If none matches it describes how the
result differs (shape, border, channels, images, a constant factor or offset)
without printing any value of the inputs or of the expected result.

The fingerprints themselves live beside the checks (``conv.py``, ``pool.py``),
built from :mod:`cnnlab.ref` so that they stay exact and fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._core import close, shape_text, tolerance


@dataclass(frozen=True)
class Mistake:
    """One typical mistake.

    key   : short identifier, e.g. ``"flipped_kernel"`` (used by the tests)
    title : what went wrong, completing "Most likely: ..."
    hint  : how to fix it
    make  : ``make(inputs) -> array or None``: the output a function with this
            mistake returns on ``inputs`` (a dict of the case's arrays and options);
            None when the mistake cannot show on this case (e.g. padding
            mistakes when padding is 0).
    """
    key: str
    title: str
    hint: str
    make: Callable


def match(actual: np.ndarray, expected: np.ndarray, mistakes, inputs: dict, dtype) -> Mistake | None:
    """The first mistake whose output equals ``actual`` (and differs from ``expected``)."""
    for m in mistakes:
        try:
            with np.errstate(all="ignore"):
                wrong = m.make(inputs)
        except Exception:  # noqa: BLE001 - a fingerprint that does not apply to this case
            continue
        if wrong is None:
            continue
        wrong = np.asarray(wrong)
        if wrong.shape != actual.shape or not close(actual, wrong, dtype):
            continue
        if wrong.shape == expected.shape and close(wrong, expected, dtype):
            continue  # this case cannot tell the mistake from the right answer
        return m
    return None


def explain(m: Mistake) -> str:
    return f"Most likely: {m.title}.\n{m.hint}"


def diagnose(actual: np.ndarray, expected: np.ndarray, mistakes, inputs: dict, dtype,
             layout: str = "NCHW") -> tuple[str, str | None]:
    """A safe explanation of why ``actual`` is not ``expected``, and the key of
    the matched fingerprint (None when no fingerprint matched)."""
    m = match(actual, expected, mistakes, inputs, dtype)
    if m is not None:
        return explain(m), m.key
    if actual.shape != expected.shape:
        return shape_difference(actual.shape, expected.shape, layout), None
    return value_difference(actual, expected, dtype, layout), None


_AXES = {"NCHW": ("images (N)", "channels", "rows (height)", "columns (width)"),
         "NCL": ("images (N)", "rows (C*R*S)", "columns (OH*OW)"),
         "HW": ("rows (height)", "columns (width)"),
         "K": ("entries",)}


def shape_difference(got, want, layout: str = "NCHW") -> str:
    lines = [f"The result has shape {shape_text(got)}, but for this case it should have shape "
             f"{shape_text(want)}."]
    names = _AXES.get(layout)
    if len(got) != len(want):
        lines.append(f"It has {len(got)} dimensions instead of {len(want)}"
                     + (f": {', '.join(names)}." if names and len(names) == len(want) else "."))
    elif sorted(got) == sorted(want):
        lines.append("The sizes are right but in the wrong order: some axes are transposed. "
                     "Check the order of the axes in np.zeros(...) and in reshape/transpose.")
    else:
        diffs = [(i, g - w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
        if names and len(names) == len(want):
            for i, d in diffs:
                what = names[i]
                if abs(d) == 1:
                    lines.append(f"It has one {('more' if d > 0 else 'fewer')} of the {what} than it should: "
                                 "an off-by-one in the output size (N - F + 2P)/S + 1 or in a loop range.")
                else:
                    lines.append(f"It has {abs(d)} {('more' if d > 0 else 'fewer')} {what} than it should: "
                                 "check how the output size uses the stride and the padding.")
    return "\n".join(lines)


def value_difference(actual: np.ndarray, expected: np.ndarray, dtype, layout: str = "NCHW") -> str:
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    if not np.all(np.isfinite(a)):
        return ("The result contains NaN or inf: part of the output is never written (np.empty leaves "
                "garbage; use np.zeros) or something is divided by zero.")
    scale = max(float(np.max(np.abs(e))), 1e-12)
    tol = tolerance(dtype) * scale
    wrong = np.abs(a - e) > tol
    if not np.any(np.abs(a) > tol) and np.any(np.abs(e) > tol):
        return "The result is all zeros: are the values ever written into the output array?"
    out = []
    frac = float(wrong.mean())
    out.append(f"The shape is right but {frac:.0%} of the entries are wrong.")
    # a constant factor
    denom = float(np.sum(e * e))
    if denom > 0:
        c = float(np.sum(a * e)) / denom
        if abs(c - 1) > 1e-6 and np.max(np.abs(a - c * e)) <= tol * max(1.0, abs(c)):
            out.append(f"Every entry is {_factor(c)} the right value: a missing or extra factor "
                       "(a division by the window size? a sum where a mean is wanted, or the reverse?).")
            return "\n".join(out)
    if layout == "NCHW" and a.ndim == 4:
        d = a - e
        per_ch = d.reshape(d.shape[0], d.shape[1], -1)
        spread = np.max(np.abs(per_ch - per_ch.mean(axis=(0, 2), keepdims=True)))
        if spread <= tol and d.shape[2] * d.shape[3] * d.shape[0] > 1:
            out.append("The error is the same at every position and image for a given output channel: "
                       "the bias is added wrongly (added never, more than once, or the wrong entry).")
            return "\n".join(out)
        N, C, H, W = a.shape
        if H > 2 and W > 2:
            inner = np.zeros_like(wrong)
            inner[:, :, 1:-1, 1:-1] = True
            if not np.any(wrong & inner) and np.any(wrong):
                out.append("It is right away from the border and wrong only along the border: "
                           "check the padding (zeros around the input, P on each side).")
                return "\n".join(out)
        if N > 1 and not np.any(wrong[0]) and np.any(wrong[1:]):
            out.append("The first image of the batch is right but the others are not: "
                       "check the loop over images (index n).")
        elif C > 1:
            good = [c for c in range(C) if not np.any(wrong[:, c])]
            if good and len(good) < C:
                out.append(f"Channel(s) {', '.join(map(str, good[:5]))} are right but others are not: "
                           "check how channels are indexed.")
        if np.any(wrong[..., 0, :]) and not np.any(wrong[..., 1:, :]):
            out.append("Only the first row is wrong.")
        elif np.any(wrong[..., -1, :]) and not np.any(wrong[..., :-1, :]):
            out.append("Only the last row is wrong.")
    return "\n".join(out)


def _factor(c: float) -> str:
    for den in (1, 2, 3, 4, 6, 8, 9, 16, 25):
        num = c * den
        if abs(num - round(num)) < 1e-6 and round(num) != 0:
            n = int(round(num))
            if den == 1:
                return f"{n} times"
            if n == 1:
                return f"1/{den} of"
            return f"{n}/{den} of"
    return f"about {c:.2g} times"
