"""Find the error in a wrong result when no catalogued mistake explains it.

Two steps, both safe to show a student (positions, shapes and options only,
never an input value, an expected value or a seed):

1. **Hypotheses.**  A *hypothesis* is a systematic variant of the reference:
   the same op with one thing changed (the stride or the padding along one
   axis, a filter flipped along one axis, an input channel left out, the
   filters in another order, the output written in another order, ...).
   The families are built per op (:mod:`.variants`).  Every hypothesis is
   computed on the case's own inputs; one that reproduces the student's
   result entry for entry is reported in plain words, and one that comes
   close (it explains most of the wrong entries and keeps the right ones) is
   reported as the nearest explanation.
2. **Location.**  Otherwise the message says where the wrong entries are:
   which images, filters, output rows and columns, and whether they lie on
   the border or in the interior.

A hypothesis that cannot show on a case (it gives the right answer there,
or does not apply) is skipped, so a message never names a change that the
case cannot tell apart from the right answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ._core import tolerance


@dataclass(frozen=True)
class Hypothesis:
    """One systematic variant of the reference.

    key  : identifier (the failure's key becomes ``"located:" + key``)
    says : completes "Every entry matches what the reference computes ...",
           e.g. ``"without input channel 2"``
    ask  : the question that sends the student to the line, e.g.
           ``"is channel 2 left out of the sum over channels?"``
    make : ``make() -> array or None``, the variant's output on this case
    """
    key: str
    says: str
    ask: str
    make: Callable[[], np.ndarray | None]


#: How much of the wrong entries a hypothesis must explain to be named as
#: the nearest one (and how much of the right entries it must keep).
NEAR = 0.9


def fit(h, actual: np.ndarray, crop: bool) -> np.ndarray | None:
    """The hypothesis' output in the shape of ``actual``: as it is, or (for
    spatial layouts, ``crop``) cut to the student's output size: a loop that
    sizes its output right but reads the wrong windows computes exactly that."""
    if h is None:
        return None
    h = np.asarray(h)
    if h.shape == actual.shape:
        return h
    if (crop and h.ndim == actual.ndim and h.ndim >= 2 and h.shape[:-2] == actual.shape[:-2]
            and h.shape[-2] >= actual.shape[-2] and h.shape[-1] >= actual.shape[-1]):
        return h[..., :actual.shape[-2], :actual.shape[-1]]
    return None


def _agree(a: np.ndarray, b: np.ndarray, tol: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.abs(a.astype(np.float64) - b.astype(np.float64)) <= tol


def try_hypotheses(actual: np.ndarray, expected: np.ndarray, hypotheses: Iterable[Hypothesis], dtype,
                    crop: bool = True, also: set | None = None):
    """``(hypothesis, exact)``: the first hypothesis that reproduces ``actual``
    (exact True), else the nearest one that explains at least ``NEAR`` of the
    wrong entries (exact False), else ``(None, False)``.  ``also`` (a set)
    receives the keys of every hypothesis that reproduces ``actual``: on a
    small case two variants can coincide (a 1 x 1 window is the window's
    first value), and the checks pick the key that holds on most cases."""
    scale = max(float(np.max(np.abs(expected))) if expected.size else 0.0, 1e-12)
    tol = tolerance(dtype) * scale
    same_shape = actual.shape == expected.shape
    right = _agree(actual, expected, tol) if same_shape else None
    best, best_score, first = None, NEAR, None
    for h in hypotheses:
        try:
            with np.errstate(all="ignore"):
                out = fit(h.make(), actual, crop)
        except Exception:  # noqa: BLE001 - a variant that does not apply to this case
            continue
        if out is None or not np.all(np.isfinite(out)):
            continue
        if out.shape == expected.shape and bool(np.all(_agree(out, expected, tol))):
            continue  # this case cannot tell the variant from the right answer
        ok = _agree(actual, out, tol)
        if bool(np.all(ok)):
            if first is None:
                first = h
            if also is None:
                break
            also.add(h.key)
            continue
        if first is not None:
            continue
        if right is None or bool(np.all(right)):
            continue
        explained = float(ok[~right].mean())
        kept = float(ok[right].mean()) if np.any(right) else 1.0
        if explained >= best_score and kept >= NEAR:
            best, best_score = h, explained + 1e-9
    return (first, True) if first is not None else (best, False)


def say(h: Hypothesis, exact: bool) -> str:
    if exact:
        return f"Every entry matches what the reference computes {h.says}: {h.ask}"
    return (f"Nearest explanation: most of the wrong entries match what the reference computes {h.says}. "
            f"{h.ask[:1].upper()}{h.ask[1:]}")


# ------------------------------------------------------------------ location

#: axis names per layout: (plural, singular)
AXES = {"NCHW": (("images", "image"), ("channels", "channel"), ("output rows", "output row"),
                 ("output columns", "output column")),
        "NCHW_in": (("images", "image"), ("channels", "channel"), ("x's rows", "x's row"),
                    ("x's columns", "x's column")),
        "HW": (("output rows", "output row"), ("output columns", "output column")),
        "KCRS": (("filters", "filter"), ("channels", "channel"), ("filter rows", "filter row"),
                 ("filter columns", "filter column")),
        "K": (("entries", "entry"),)}


def spans(idx: Iterable[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2 and 5"`` (positions, counted from 0)."""
    idx = sorted(int(i) for i in idx)
    parts, start = [], None
    for a, b in zip(idx, idx[1:] + [None]):
        if start is None:
            start = a
        if b != a + 1:
            parts.append(str(start) if start == a else f"{start}\u2013{a}")
            start = None
    if len(parts) > 6:
        parts = parts[:6] + ["\u2026"]
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _axis_text(wrong: np.ndarray, axis: int, names) -> str | None:
    """``None`` when every index of the axis has wrong entries, else which ones do."""
    n = wrong.shape[axis]
    other = tuple(i for i in range(wrong.ndim) if i != axis)
    hit = np.flatnonzero(np.any(wrong, axis=other))
    plural, single = names
    if len(hit) == n:
        return None
    word = single if len(hit) == 1 else plural
    return f"only in {word} {spans(hit)} (of {n}, counted from 0)"


def locate(actual: np.ndarray, expected: np.ndarray, dtype, layout: str, options: dict | None = None) -> list[str]:
    """Sentences that say where ``actual`` differs from ``expected`` (same shape)."""
    names = AXES.get(layout)
    if names is None or len(names) != actual.ndim or actual.size < 2:
        return []
    scale = max(float(np.max(np.abs(expected))), 1e-12)
    wrong = ~_agree(actual, expected, tolerance(dtype) * scale)
    if not np.any(wrong):
        return []
    parts = []
    for ax, nm in enumerate(names):
        t = _axis_text(wrong, ax, nm)
        if t is not None:
            parts.append(t)
    singles = [s for _, s in names]
    every = ", ".join(singles[:-1]) + " and " + singles[-1] if len(singles) > 1 else singles[0]
    if parts:
        out = ["Where: the wrong entries lie " + "; ".join(parts) + "."]
    else:
        out = [f"Where: every {every} has wrong entries, so the error is in the formula of each entry: "
               "check which entries of the input and of the weights one output multiplies."]
    if actual.ndim >= 2:
        out += _spatial(wrong, layout, options or {})
    return out


def _spatial(wrong: np.ndarray, layout: str, options: dict) -> list[str]:
    rows = np.any(wrong, axis=tuple(range(wrong.ndim - 2)) + (wrong.ndim - 1,))
    cols = np.any(wrong, axis=tuple(range(wrong.ndim - 1)))
    H, W = len(rows), len(cols)
    r_hit, c_hit = np.flatnonzero(rows), np.flatnonzero(cols)
    if layout == "NCHW_in":
        return _windows_of(r_hit, c_hit, H, W, options)
    filt = layout == "KCRS"
    row, col = ("filter row", "filter column") if filt else ("output row", "output column")
    stride = options.get("stride", 1)
    if H > 1 and list(r_hit) == [H - 1]:
        if filt:
            return [f"Only the last {row} is wrong."]
        return [f"Only the last {row} is wrong: is a loop over the rows one short (range(OH - 1)), "
                "or does it stop before the last window?"]
    if W > 1 and list(c_hit) == [W - 1]:
        if filt:
            return [f"Only the last {col} is wrong."]
        return [f"Only the last {col} is wrong: is a loop over the columns one short (range(OW - 1)), "
                "or does it stop before the last window?"]
    if H > 1 and list(r_hit) == [0]:
        return [f"Only the first {row} is wrong."]
    if W > 1 and list(c_hit) == [0]:
        return [f"Only the first {col} is wrong."]
    out = []
    if W > 1 and c_hit.size and c_hit[0] > 0 and list(c_hit) == list(range(c_hit[0], W)) and len(r_hit) == H:
        q = (" Is the stride applied to the columns (j*stride)?" if stride > 1 and c_hit[0] == 1 and not filt
             else "")
        out.append(f"Every {row} has wrong entries; columns 0\u2013{c_hit[0] - 1} are right and the "
                   f"columns from {c_hit[0]} on are wrong.{q}")
    elif H > 1 and r_hit.size and r_hit[0] > 0 and list(r_hit) == list(range(r_hit[0], H)) and len(c_hit) == W:
        q = (" Is the stride applied to the rows (i*stride)?" if stride > 1 and r_hit[0] == 1 and not filt
             else "")
        out.append(f"Every {col} has wrong entries; rows 0\u2013{r_hit[0] - 1} are right and the "
                   f"rows from {r_hit[0]} on are wrong.{q}")
    if H > 2 and W > 2 and not filt:
        inner = np.zeros_like(wrong)
        inner[..., 1:-1, 1:-1] = True
        if not np.any(wrong & inner):
            sides = [n for n, m in (("top", wrong[..., 0, :]), ("bottom", wrong[..., -1, :]),
                                    ("left", wrong[..., :, 0]), ("right", wrong[..., :, -1])) if np.any(m)]
            out.append(f"The interior is right; only the border is wrong ({', '.join(sides)}): check the padding "
                       "(zeros around the input, P on each side) and the first and last windows.")
        elif not np.any(wrong & ~inner):
            out.append("The border is right; only the interior is wrong.")
    return out


def _windows_of(r_hit, c_hit, H, W, options) -> list[str]:
    """For a gradient with respect to the input: the windows that cover the wrong entries."""
    k, s = options.get("window"), options.get("stride", 1)
    if not k or r_hit.size == 0:
        return []
    oh, ow = (H - k) // s + 1, (W - k) // s + 1

    def covering(hit, n):
        return [i for i in range(n) if any(i * s <= p < i * s + k for p in hit)]
    rows, cols = covering(r_hit, oh), covering(c_hit, ow)
    if len(rows) == oh and len(cols) == ow:
        return []
    return [f"They lie in the windows of output rows {spans(rows) if rows else 'none'} and output columns "
            f"{spans(cols) if cols else 'none'} (of {oh} x {ow} windows): check the gradient of those windows."]


__all__ = ["Hypothesis", "try_hypotheses", "say", "locate", "fit", "spans"]
