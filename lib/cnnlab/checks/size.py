"""Check of ps1 q1: the output size of a convolution, and when a filter does not fit.

The student's ``output_size(N, F, S, P)`` is compared with
:func:`cnnlab.shapes.conv_output_size` on many cases at once, and a wrong
answer is explained by the typical wrong formula whose outcomes match.
"""

from __future__ import annotations

import numbers
from typing import Sequence

from .. import shapes
from .._errors import ShapeError
from ._core import GradingFailure, public
from .guard import Guard, call

RAISES = "raises ValueError"


def _size_rule(span, plus_one=1, check_remainder=True, divide=True):
    """The outcome of an output-size formula: an int, or RAISES."""
    def outcome(n, k, s, p):
        sp = span(n, k, s, p)
        if sp < 0 or (check_remainder and sp % s):
            return RAISES
        return (sp // s if divide else sp) + plus_one
    return outcome


def _size_correct(n, k, s, p):
    try:
        return shapes.conv_output_size(n, k, s, p)
    except ShapeError:
        return RAISES


#: (key, title, hint, outcome(n, f, s, p) -> int or RAISES)
SIZE_MISTAKES = [
    ("size_off_by_one", "the +1 is missing from (N - F + 2P)/S + 1",
     "The +1 counts the first position of the filter: with N = F there is exactly one output.",
     _size_rule(lambda n, k, s, p: n - k + 2 * p, plus_one=0)),
    ("size_padding_once", "the padding is counted once instead of on both sides",
     "Padding P adds P zeros at the start and P at the end: the padded size is N + 2P.",
     _size_rule(lambda n, k, s, p: n - k + p)),
    ("size_padding_ignored", "the padding is ignored",
     "The padded input has N + 2P entries: use (N - F + 2P)/S + 1.",
     _size_rule(lambda n, k, s, p: n - k)),
    ("size_stride_ignored", "the stride is ignored",
     "The filter moves by S entries: divide (N - F + 2P) by S before adding 1.",
     _size_rule(lambda n, k, s, p: n - k + 2 * p, divide=False)),
    ("size_plus_filter", "the filter size is added instead of subtracted",
     "The last filter position starts F - 1 entries before the end: N - F, not N + F.",
     _size_rule(lambda n, k, s, p: n + k + 2 * p)),
    ("size_no_error", "a size is returned when the filter does not fit (the remainder is floored away)",
     "When (N - F + 2P) % S != 0 the last positions hang over the edge: raise ValueError "
     "(PyTorch silently floors; here we want to know).",
     _size_rule(lambda n, k, s, p: n - k + 2 * p, check_remainder=False)),
]


@public
def check_output_size(fn, cases: Sequence[tuple], fname: str = "output_size", *, guard: Guard | None = None):
    """``cases``: (N, F, S, P) tuples. ``fn(N, F, S, P)`` must return the output
    size as an int when the filter fits, and raise ValueError when it does not.

    A wrong answer is diagnosed by comparing the student's outcomes on all
    cases (a size, or an error) with those of typical wrong formulas."""
    guard = guard or Guard()
    guard.own_work(fn, fname)
    got, first_bad = [], None
    for n, k, s, p in cases:
        text = f"N={n}, F={k}, S={s}, P={p}"
        want = _size_correct(n, k, s, p)
        value, error, calls, _ = guard.run(fn, (n, k, s, p))
        if calls or isinstance(error, NotImplementedError):
            call(fn, (n, k, s, p), fname=fname, case=text, guard=guard)  # raises the right message
        if isinstance(error, ValueError):
            outcome = RAISES
        elif error is not None:
            if want == RAISES:
                raise GradingFailure(
                    f"{fname} raises {type(error).__name__} when the filter does not fit ({text}). Raise "
                    "ValueError instead, with a message that says what does not fit.", "size_wrong_error")
            call(fn, (n, k, s, p), fname=fname, case=text, guard=guard)
            # it raised once and not the second time: an answer that changes between calls is wrong
            outcome = ("raises", type(error).__name__)
        elif isinstance(value, bool) or not isinstance(value, numbers.Integral):
            if value is None:
                raise GradingFailure(f"{fname} returned None for {text}. Did you forget `return`?")
            if isinstance(value, numbers.Real) and want != RAISES and float(value) == want:
                raise GradingFailure(f"{fname} returns a {type(value).__name__} for {text}; a size must be an "
                                     "int. Use integer division // (after checking the remainder), or int(...).",
                                     "size_float")
            outcome = ("not an int", type(value).__name__)
        else:
            outcome = int(value)
        got.append(outcome)
        if outcome != want and first_bad is None:
            first_bad = (text, want, outcome)
    if first_bad is None:
        return
    text, want, outcome = first_bad
    wrong = sum(g != _size_correct(*c) for g, c in zip(got, cases))
    if want == RAISES:
        head = (f"{fname} returns a size for {text}, but the filter does not fit: (N - F + 2P)/S + 1 is not a "
                "whole number (or the filter is larger than the padded input).")
    elif outcome == RAISES:
        head = f"{fname} raises ValueError for {text}, but the filter fits there."
    else:
        head = f"{fname} gives a wrong size for {text}."
    head += f" (wrong on {wrong} of {len(cases)} test cases)"
    for key, title, hint, rule in SIZE_MISTAKES:
        pattern = [rule(*c) for c in cases]
        if pattern == got:
            raise GradingFailure(f"{head}\nMost likely: {title}.\n{hint}", key)
    if want == RAISES:
        raise GradingFailure(head + "\nRaise ValueError when (N - F + 2P) % S != 0 or F > N + 2P.",
                             "size_no_error")
    raise GradingFailure(head + "\nRecompute (N - F + 2P)/S + 1 by hand for these numbers.")



__all__ = ["check_output_size", "SIZE_MISTAKES", "RAISES"]
