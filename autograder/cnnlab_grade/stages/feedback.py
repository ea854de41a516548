"""Feedback: the page each student gets back (:mod:`cnnlab_grade.feedback` renders it).

Scores per test cell, the reason a test lost points in plain words, the
grading notes (late, renamed, restored cells...), never a hidden test.  The
flags meant for the TA alone (``suspicious-code``, ``tampered``) are not in it.
"""

from __future__ import annotations

from .. import feedback as fb
from . import Stage

#: flags whose reasons are for the TA, not the student
TA_ONLY = ("suspicious-code", "tampered")


class WriteFeedback(Stage):
    name = "feedback"

    def run(self, sub, ctx) -> None:
        bundle = sub.bundle
        if not bundle.feedback:
            return
        for w in sub.gradable():
            penalty = w.score if (sub.late_seconds > 0 and bundle.late_penalty == "zero") else 0.0
            notes = [f["reason"] for f in sub.flags if f["flag"] not in TA_ONLY]
            page = fb.feedback_notebook(w.nb, w.questions, notes, w.hidden)
            w.feedback = fb.render(page, notebook=w.name, score=w.score, max_score=w.max_score, late_penalty=penalty)
