"""Score: the points of each test cell, and the ``tampered`` flag.

A test cell's points come from the notebook's own run: full points unless it
raised. (nbgrader also zeroes a test cell that wrote to stderr; but there the
writer is the student's code -- a debug print, a warning -- and the course's
checks always raise to fail, so a test cell's stderr is kept as ordinary
output and costs nothing.) For a cell the referee
decided they are capped by the referee's verdict, written into the cell so
that nbgrader's gradebook agrees.  A test that passed in the student's
kernel but not with the referee is flagged ``tampered``.  The reason a test
lost points, in plain words, goes with it to the feedback.
"""

from __future__ import annotations

import nbformat
from nbgrader import utils as nbutils

from ..feedback import failure_reason
from ..referee import verdict_points
from . import Stage


def _set_score(cell, points: float, max_points: float, message: str):
    """Make nbgrader's ``determine_grade`` give ``points`` for this test cell."""
    outs = [o for o in cell.outputs if o.get("output_type") != "execute_result"]
    if points <= 0:
        outs.append(nbformat.v4.new_output("error", ename="RefereeCheckFailed", evalue=message,
                                           traceback=[f"RefereeCheckFailed: {message}"]))
    elif points < max_points:
        outs = [o for o in outs if o.get("output_type") != "error"]
        outs.insert(0, nbformat.v4.new_output("execute_result", data={"text/plain": repr(float(points))},
                                              execution_count=cell.get("execution_count")))
    cell.outputs = outs


def _stderr_counts_for_nothing(cell) -> None:
    """A test cell's stderr output, kept word for word as ordinary output (see the module doc)."""
    if cell.cell_type == "code" and not nbutils.is_solution(cell):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["name"] = "stdout"


class Score(Stage):
    name = "score"

    def run(self, sub, ctx) -> None:
        spec = sub.bundle.spec
        for w in sub.gradable():
            for cell in w.nb.cells:
                if nbutils.is_grade(cell):
                    _stderr_counts_for_nothing(cell)
                    score, max_score = nbutils.determine_grade(cell)
                    w.kernel[cell.metadata.nbgrader.grade_id] = (score, max_score, cell)
            for gid, (score, max_score, cell) in w.kernel.items():
                q = w.questions.setdefault(gid, {"score": 0.0, "max": max_score, "reason": None})
                q["kernel"] = score
                if cell.cell_type == "code" and not nbutils.is_solution(cell):
                    q["reason"] = failure_reason(cell, w.hidden)
                v = w.verdicts.get(gid)
                if v is not None:
                    q["referee"] = v.to_dict()
                    ref_points = verdict_points(v, max_score, spec.checks[gid].partial)
                    if score is not None and score >= max_score and ref_points < max_score:
                        sub.flag("tampered", f"{w.name}.ipynb: test {gid} passed in the student's kernel but the "
                                             f"referee found: {v.reason}")
                    if score is None or ref_points < score:
                        _set_score(cell, ref_points, max_score, f"referee: {v.reason}")
                    if ref_points < max_score and v.reason:
                        q["reason"] = (f"{q['reason']}\nhidden checks: {v.reason}" if q.get("reason")
                                       else v.reason)
                    if v.diagnosis:
                        q["diagnosis"] = v.diagnosis
                final, _ = nbutils.determine_grade(cell)
                q["score"] = float(final) if final is not None else None
                if q["score"] is not None and q["score"] >= max_score:
                    q["reason"] = None
            w.score = sum(q["score"] or 0.0 for q in w.questions.values())
            w.autograded = nbformat.writes(w.nb)
