"""Referee: the verdicts of the referee on the test cells its spec names.

The student's code cells run again in a fresh sandboxed worker, and the
referee re-runs the checks there with its own inputs (:mod:`cnnlab_grade.referee`).
Its verdicts are used by the score stage.
"""

from __future__ import annotations

from nbgrader import utils as nbutils

from ..records import Bundle
from ..referee import Referee
from ..warm import sandbox_for
from . import Stage

_REFEREES: dict = {}


def referee_for(bundle: Bundle) -> Referee | None:
    """This worker's referee for the bundle (made once per process), or None without a spec."""
    if not bundle.spec:
        return None
    key = (bundle.name, bundle.secret, repr(bundle.spec), repr(bundle.limits), bundle.unsafe,
           tuple(bundle.hidden_paths))
    if key not in _REFEREES:
        _REFEREES[key] = Referee(bundle.spec, bundle.secret, sandbox_for(bundle))
    return _REFEREES[key]


class AskReferee(Stage):
    name = "referee"

    def run(self, sub, ctx) -> None:
        if ctx.referee is None:
            return
        for w in sub.gradable():
            ids = {c.metadata.nbgrader.grade_id for c in w.nb.cells if nbutils.is_grade(c)}
            ids &= set(sub.bundle.spec.checks)
            if ids:
                w.verdicts = ctx.referee.judge(w.nb, ctx.tmp / f"{w.name}-referee", ctx.uid, files=sub.home_files,
                                               warm=ctx.warm, grade_ids=ids,
                                               draw=f"{sub.job.student}:{sub.job.run}")
