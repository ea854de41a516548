"""Grading one submission: a declared list of stages.

The way nbgrader's converters declare their preprocessors, the grader
declares its stages (:mod:`cnnlab_grade.stages`, one small module each):

    collect -> prepare -> run -> referee -> score -> scan -> feedback    (in a grading worker: STAGES)
    -> export                                                            (in the coordinating process: EXPORT)

and, once the class is graded, the term stages (:mod:`cnnlab_grade.stages.term`)

    late -> audit -> publish -> grades -> lms -> similarity -> written -> bundles   (coordinating process: TERM)

:func:`grade_submission` runs :data:`STAGES` on one job in a worker process
(a local pool's or a Dask worker's).  It touches neither the gradebook nor
the course directory: everything it needs travels in the
:class:`~cnnlab_grade.records.Job` and the assignment's
:class:`~cnnlab_grade.records.Bundle`, and everything it produces comes back
in the result dict, which :data:`EXPORT` records in the coordinating process.
When grading itself is broken (:class:`~cnnlab_grade.records.GradingBroken`)
the run stops. Any other failure of one job (a worker that died, a reply
that could not be read) still gives the student a row:
:func:`could_not_grade` records 0 points and a ``could-not-grade`` flag with
the reason, and the next run tries that student again.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from time import monotonic

from .records import Bundle, Job, Submission
from .referee import Referee
from .sandbox import Sandbox, leftovers, uid_slot
from .stages.collect import Collect
from .stages.export import Export
from .stages.feedback import WriteFeedback
from .stages.prepare import Prepare
from .stages.referee import AskReferee, referee_for
from .stages.run import RunInSandbox
from .stages.scan import Scan
from .stages.score import Score
from .stages.term import (AuditLog, ExportGrades, FeedbackBundles, LatePenalties, LmsExports, PublishFeedback,
                          Similarity, TermRun, WrittenAnswers)
from .warm import check_referee, ensure_warm, sandbox_for

#: the stages of one submission in a grading worker, in order
STAGES = [Collect, Prepare, RunInSandbox, AskReferee, Score, Scan, WriteFeedback]
#: the stage that records a graded submission, in the coordinating process
EXPORT = Export
#: the stages of the whole class once it is graded, in the coordinating process (see stages.term)
TERM = [LatePenalties, AuditLog, PublishFeedback, ExportGrades, LmsExports, Similarity, WrittenAnswers,
        FeedbackBundles]


def run_term(t: TermRun) -> dict:
    """Run the term stages in order; returns {stage: seconds}."""
    times = {}
    for stage in (cls() for cls in TERM):
        t0 = monotonic()
        stage.run(t)
        times[stage.name] = round(monotonic() - t0, 3)
    return times


@dataclass
class Context:
    """What the stages of one job share, besides the submission itself."""

    sandbox: Sandbox          # the sandbox of the bundle's students
    uid: int                  # this worker's sandbox uid
    warm: dict                # the warm caches: {relative dir in the home: host dir}
    tmp: Path                 # a scratch folder of this job (removed afterwards)
    referee: Referee | None   # this worker's referee for the bundle, if it has a spec


# ---------------------------------------------------------------------------
# per-worker state: a uid slot for the worker's lifetime

_UID = None
_UID_HOLD: list = []


def _worker_uid() -> int:
    """This process's sandbox uid, reserved until it exits."""
    global _UID
    if _UID is None:
        slot = uid_slot()
        _UID = slot.__enter__()  # released when the process exits (the lock file closes)
        _UID_HOLD.append(slot)
    return _UID


def grade_submission(job: Job, bundle: Bundle) -> dict:
    """Grade one student's submission of one assignment (see the module doc)."""
    t0 = monotonic()
    warm = ensure_warm(bundle)
    referee = referee_for(bundle)
    check_referee(bundle, warm, referee)  # once per process (done by the coordinator when it can)
    sub = Submission(job, bundle)
    with tempfile.TemporaryDirectory(prefix=leftovers.job_prefix()) as tmp:
        os.chmod(tmp, 0o755)
        ctx = Context(sandbox_for(bundle), _worker_uid(), warm, Path(tmp), referee)
        for stage in (cls() for cls in STAGES):
            t = monotonic()
            stage.run(sub, ctx)
            sub.timings[stage.name] = round(monotonic() - t, 3)
    return sub.result(monotonic() - t0)


def could_not_grade(job: Job, bundle: Bundle, reason: str) -> dict:
    """The result of a submission that could not be graded: its notebooks and questions as
    collected (nothing runs), every question at 0, and a ``could-not-grade`` flag."""
    sub = Submission(job, bundle)
    Collect().run(sub, None)
    for w in sub.notebooks.values():
        for q in w.questions.values():
            q["score"] = 0.0
            q["reason"] = q["reason"] or "the submission could not be graded"
    sub.flag("could-not-grade", f"the submission could not be graded ({reason}); run the grader again, "
                                "and grade it by hand if this stays")
    return sub.result(0.0)
