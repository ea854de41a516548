"""The loop every array check runs: for each case, draw the inputs from the
seed, compute the reference result, call the student's function under guard,
compare, and on a mismatch raise a diagnosis.

All cases run even after a failure, and the failure reported is the first
one a fingerprint explains (else the first one): a mistake that raises an
error on one case may be recognised on another."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ._core import GradingFailure, close, to_array
from .diagnose import diagnose
from .guard import Guard, call


def run_cases(fn, fname: str, cases: Sequence, seed: int, *,
              inputs: Callable, expected: Callable, args: Callable,
              mistakes: Callable | Sequence = (), layout: str = "NCHW",
              outputs: Sequence[str] | None = None, pick: Sequence[int] | None = None,
              output_mistakes: dict | None = None, own_work: bool = True, guard: Guard | None = None,
              hypotheses: Callable | None = None, output_hypotheses: dict | None = None,
              output_layouts: dict | None = None):
    """Check ``fn`` on every case.

    inputs(case, seed, i)  -> dict of the case's arrays and options
    expected(inp)          -> the reference result (an array, or a tuple when ``outputs`` names several)
    args(inp)              -> (positional args, keyword args) for the student's function
    mistakes               -> fingerprints for a single output (a list, or a function returning one)
    outputs, output_mistakes -> names and fingerprints of each output when the function returns a tuple
    pick                   -> indices of the outputs to check (``expected`` returns only those)
    guard                  -> how the student's function is called (:class:`~.guard.Guard`; default: ps1/ps2's policy)
    hypotheses             -> ``hypotheses(inp) -> [Hypothesis]``: systematic variants tried when no
                              fingerprint matches (:mod:`.locate`); ``output_hypotheses`` per output
    output_layouts         -> the layout of each output (default ``layout``; 1-D outputs are "K")
    """
    guard = guard or Guard()
    if own_work:
        guard.own_work(fn, fname)
    if callable(mistakes):
        mistakes = mistakes()
    failures = []
    for i, case in enumerate(cases):
        try:
            _one_case(fn, fname, case, seed, i, inputs, expected, args, mistakes, layout, outputs, pick, guard,
                      output_mistakes, hypotheses, output_hypotheses or {}, output_layouts or {})
        except GradingFailure as exc:
            if exc.fatal:
                raise
            failures.append(exc)
    if failures:
        best = _best(failures)
        text = str(best)
        if len(cases) > 1:
            head, _, rest = text.partition("\n")
            text = f"{head} (wrong on {len(failures)} of {len(cases)} test cases)" + ("\n" + rest if rest else "")
        raise GradingFailure(text, best.key)


def _best(failures):
    """The failure to report: the explanation that holds on the most failing
    cases (a catalogued mistake before a located one, then the earliest), and
    the first failure that gives it; the first failure when none has one."""
    count, order = {}, []
    for f in failures:
        for k in [f.key] + sorted(getattr(f, "explained_by", set()) - {f.key}):
            if k:
                count[k] = count.get(k, 0) + 1
                if k not in order:
                    order.append(k)
    if not order:
        return failures[0]
    key = max(order, key=lambda k: (count[k], not k.startswith("located:"), -order.index(k)))
    for f in failures:
        if f.key == key:
            return f
    return next(f for f in failures if key in getattr(f, "explained_by", set()))


def _one_case(fn, fname, case, seed, i, inputs, expected, args, mistakes, layout, outputs, pick, guard,
              output_mistakes, hypotheses, output_hypotheses, output_layouts):
    inp = inputs(case, seed, i)
    want = expected(inp)
    pos, kw = args(inp)
    got = call(fn, pos, kw, fname=fname, case=case.text(), guard=guard)
    dtype = np.dtype(getattr(case, "dtype", "float64"))
    if outputs is None:
        _compare(to_array(got, fname), np.asarray(want), fname, "the result", case, dtype, mistakes, inp, layout,
                 hypotheses)
        return
    if not isinstance(got, (tuple, list)) or len(got) != len(outputs):
        n = len(got) if isinstance(got, (tuple, list)) else 1
        raise GradingFailure(f"{fname} must return {len(outputs)} arrays ({', '.join(outputs)}); "
                             f"it returned {n} value(s).", fatal=True)
    idx = list(pick) if pick is not None else list(range(len(outputs)))
    for i_out, w in zip(idx, want):
        name, g = outputs[i_out], got[i_out]
        _compare(to_array(g, fname, name), np.asarray(w), fname, name, case, dtype,
                 (output_mistakes or {}).get(name, ()), inp,
                 "K" if np.ndim(w) == 1 else output_layouts.get(name, layout), output_hypotheses.get(name))


def _compare(actual, expected, fname, what, case, dtype, mistakes, inp, layout, hypotheses=None):
    if not close(actual, expected, dtype):
        head = (f"{fname} gives a wrong {'result' if what == 'the result' else what} on the test case "
                f"{case.text()}.")
        also = set()
        text, key = diagnose(actual, expected, mistakes, inp, dtype, layout, hypotheses, also)
        failure = GradingFailure(head + "\n" + text, key)
        failure.explained_by = also
        raise failure
    if actual.dtype != expected.dtype and expected.dtype.kind == "f":
        raise GradingFailure(
            f"{fname} returns {'its result' if what == 'the result' else what} as {actual.dtype} for "
            f"{expected.dtype} input on the test case {case.text()}. The values are right; create the output "
            f"with the input's dtype, e.g. np.zeros(shape, dtype=x.dtype).", "dtype")
