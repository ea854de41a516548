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
    """Two pages per notebook: with every result, and with the hidden tests' results withheld
    (shown while an assignment's ``hidden_tests`` setting holds them back). The late penalty
    is not in them: it depends on the whole term (late days), and the term stage
    (:mod:`cnnlab_grade.stages.term`) adds it when it publishes the pages."""

    name = "feedback"

    def run(self, sub, ctx) -> None:
        bundle = sub.bundle
        if not bundle.feedback:
            return
        for w in sub.gradable():
            notes = [f["reason"] for f in sub.flags if f["flag"] not in TA_ONLY]
            page = fb.feedback_notebook(w.nb, w.questions, notes, w.hidden)
            w.feedback = fb.render(page, notebook=w.name, score=w.score, max_score=w.max_score)
            page = fb.feedback_notebook(w.nb, w.questions, notes, w.hidden, withheld="after_due")
            w.feedback_withheld = fb.render(page, notebook=w.name, score=w.score, max_score=w.max_score,
                                            withheld="after_due")
