"""The students' self-check: visible tests registered per question, a
readable assertion, and the summary cell at the end of each notebook.

In a notebook::

    start("ps1")                  # the setup cell

    @question("q2a")              # a test cell: the test runs at once, and again in summary()
    def test_conv2d_basic():
        expect(conv2d_loop(x, w), [[...]], "conv2d_loop(x, w)")

    summary()                     # the last cell: one line per question
"""

from __future__ import annotations

import warnings

import numpy as np

from ._core import GradingFailure, NotWritten
from .questions import questions

_STATE: dict = {"assignment": None, "tests": {}}


def start(assignment: str) -> None:
    """Name the assignment of this notebook (its setup cell calls this)."""
    questions(assignment)  # validates the name
    if _STATE["assignment"] != assignment:
        _STATE["assignment"] = assignment
        _STATE["tests"] = {}


def _current() -> str:
    if _STATE["assignment"] is None:
        raise RuntimeError("run the setup cell at the top of the notebook first (it calls start(...))")
    return _STATE["assignment"]


def _run(test) -> None:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        test()


def question(qid: str):
    """Decorator of a visible test: registers it for :func:`summary` under
    question ``qid`` and runs it at once (a failure fails the cell)."""
    ids = {q.id for q in questions(_current())}
    if qid not in ids:
        raise ValueError(f"{qid!r} is not a question of {_current()}; questions: {', '.join(sorted(ids))}")

    def register(test):
        _STATE["tests"][qid] = test
        try:
            _run(test)
        except GradingFailure as exc:
            raise type(exc)(str(exc), exc.key, exc.fatal) from None
        return test

    return register


def expect(actual, expected, label: str = "the result", rtol: float = 1e-6) -> None:
    """Assert that ``actual`` equals ``expected`` (shape and values, up to
    rounding) and say how they differ when they do not.  For visible tests:
    the message prints both arrays."""
    if actual is None:
        raise GradingFailure(f"{label} returned None. Did you forget `return`?")
    a = np.asarray(actual)
    e = np.asarray(expected, dtype=np.float64)
    if a.dtype == object:
        raise GradingFailure(f"{label} is not a numeric array (got {type(actual).__name__})")
    if a.shape != e.shape:
        raise GradingFailure(f"{label} has shape {a.shape}, expected shape {e.shape}.")
    scale = max(float(np.max(np.abs(e), initial=0.0)), 1.0)
    if not np.all(np.isfinite(a)) or np.max(np.abs(a.astype(np.float64) - e), initial=0.0) > rtol * scale:
        with np.printoptions(precision=4, suppress=True, linewidth=100):
            raise GradingFailure(f"{label} is wrong.\nexpected:\n{e}\ngot:\n{a}")


def summary() -> None:
    """Print one line per question of this notebook's assignment: ✓ when its
    visible tests pass now, ✗ with the first line of the reason when they do
    not, and · when its test cell has not been run yet."""
    name = _current()
    total = passed = 0.0
    lines = []
    for q in questions(name):
        total += q.points
        pts = f"{q.points:g} point" + ("" if q.points == 1 else "s")
        test = _STATE["tests"].get(q.id)
        if q.manual:
            lines.append(f"  ✎ {q.id:4} {q.title} ({pts}): written answer, graded by hand")
            continue
        if test is None:
            lines.append(f"  · {q.id:4} {q.title} ({pts}): not run yet -- run its test cell")
            continue
        try:
            _run(test)
        except NotWritten:
            lines.append(f"  ✗ {q.id:4} {q.title} ({pts}): not written yet")
            continue
        except Exception as exc:  # noqa: BLE001 - report every failure, do not stop
            text = str(exc).strip().splitlines() or [type(exc).__name__]
            lines.append(f"  ✗ {q.id:4} {q.title} ({pts}): {text[0][:200]}")
            likely = [t for t in text[1:] if t.startswith("Most likely:")]
            if likely:
                lines.append(f"         {likely[0][:200]}")
            continue
        passed += q.points
        lines.append(f"  ✓ {q.id:4} {q.title} ({pts})")
    auto = sum(q.points for q in questions(name) if not q.manual)
    print(f"{name}: visible tests pass for {passed:g} of {auto:g} points"
          + (f" ({total - auto:g} more graded by hand)" if total > auto else ""))
    print("\n".join(lines))
    print("Hidden tests run more cases when your work is graded (other sizes, strides with padding, "
          "batch 1, float32 and float64, random inputs): passing the visible tests is necessary, not sufficient.")
