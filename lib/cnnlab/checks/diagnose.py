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
from .locate import Hypothesis, locate, say, try_hypotheses


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


def match(actual: np.ndarray, expected: np.ndarray, mistakes, inputs: dict, dtype,
          also: set | None = None) -> Mistake | None:
    """The first mistake whose output equals ``actual`` (and differs from
    ``expected``); ``also`` (a set) receives the key of every one that does."""
    first = None
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
        first = first or m
        if also is None:
            break
        also.add(m.key)
    return first


def explain(m: Mistake) -> str:
    return f"Most likely: {m.title}.\n{m.hint}"


def diagnose(actual: np.ndarray, expected: np.ndarray, mistakes, inputs: dict, dtype,
             layout: str = "NCHW", hypotheses=None, also: set | None = None) -> tuple[str, str | None]:
    """A safe explanation of why ``actual`` is not ``expected``, and the key of
    the matched fingerprint (``"located:<key>"`` for a hypothesis of
    :mod:`.locate`; None when nothing matched).

    ``hypotheses(inputs) -> [Hypothesis]``: the systematic variants tried when
    no catalogued mistake matches.  ``also`` (a set) receives the key of every
    fingerprint and hypothesis that reproduces ``actual``: on a small case two
    can coincide, and the checks report the one that holds on most cases."""
    m = match(actual, expected, mistakes, inputs, dtype, also)
    if m is not None:
        return explain(m), m.key
    hs = []
    if hypotheses is not None:
        try:
            hs = hypotheses(inputs)
        except Exception:  # noqa: BLE001 - a family that does not apply to this case
            hs = []
    located = None if also is None else set()
    found, exact = try_hypotheses(actual, expected, hs, dtype, crop=layout in ("NCHW", "HW"),
                                  also=located) if hs else (None, False)
    if located:
        also.update("located:" + k for k in located)
    if actual.shape != expected.shape:
        text = shape_difference(actual.shape, expected.shape, layout)
        if found is not None and exact:
            return text + "\n" + say(found, True), "located:" + found.key
        return text, None
    options = ({"stride": inputs.get("stride", inputs.get("s", 1)), "window": inputs.get("k")}
               if isinstance(inputs, dict) else {})
    return value_difference(actual, expected, dtype, layout, found, exact, options)


_AXES = {"NCHW": ("images (N)", "channels", "rows (height)", "columns (width)"),
         "NCHW_in": ("images (N)", "channels", "rows (height)", "columns (width)"),
         "KCRS": ("filters (K)", "channels (C)", "filter rows (R)", "filter columns (S)"),
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


def value_difference(actual: np.ndarray, expected: np.ndarray, dtype, layout: str = "NCHW",
                     found: Hypothesis | None = None, exact: bool = False,
                     options: dict | None = None) -> tuple[str, str | None]:
    """Explain a result of the right shape: a pattern that holds everywhere (NaN,
    all zeros, a constant factor), else the hypothesis found, else where the
    wrong entries are (:func:`.locate.locate`)."""
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    if not np.all(np.isfinite(a)):
        return ("The result contains NaN or inf: part of the output is never written (np.empty leaves "
                "garbage; use np.zeros) or something is divided by zero."), None
    scale = max(float(np.max(np.abs(e))), 1e-12)
    tol = tolerance(dtype) * scale
    wrong = np.abs(a - e) > tol
    if not np.any(np.abs(a) > tol) and np.any(np.abs(e) > tol):
        return "The result is all zeros: are the values ever written into the output array?", None
    out = [f"The shape is right but {float(wrong.mean()):.0%} of the entries are wrong."]
    denom = float(np.sum(e * e))
    if denom > 0:
        c = float(np.sum(a * e)) / denom
        if abs(c - 1) > 1e-6 and np.max(np.abs(a - c * e)) <= tol * max(1.0, abs(c)):
            out.append(f"Every entry is {_factor(c)} the right value: a missing or extra factor "
                       "(a division by the window size? a sum where a mean is wanted, or the reverse?).")
            return "\n".join(out), None
    if found is not None and exact:
        out.append(say(found, True))
        return "\n".join(out), "located:" + found.key
    if layout == "NCHW" and a.ndim == 4:
        d = a - e
        per_ch = d.reshape(d.shape[0], d.shape[1], -1)
        spread = np.max(np.abs(per_ch - per_ch.mean(axis=(0, 2), keepdims=True)))
        if spread <= tol and d.shape[2] * d.shape[3] * d.shape[0] > 1:
            out.append("The error is the same at every position and image for a given output channel: "
                       "the bias is added wrongly (added never, more than once, or the wrong entry).")
            return "\n".join(out), None
    if found is not None:
        out.append(say(found, False))
    out += locate(actual, expected, dtype, layout, options)
    return "\n".join(out), None


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
