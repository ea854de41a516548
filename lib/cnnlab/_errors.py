"""Errors raised by CNN Lab.

Every error names the argument that was wrong, what was wrong with it and how
to fix it, so that a student never has to decode a numba typing traceback.
"""

from __future__ import annotations


class ShapeError(ValueError):
    """A size that does not work out: a filter that does not fit, mismatched
    channels, a gradient of the wrong shape.

    Subclasses :class:`ValueError`, so ``except ValueError`` catches it too.
    """


def fmt_shape(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"
