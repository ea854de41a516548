"""Collect: the submission's files sorted out, before anything runs.

Which file is which notebook of the assignment; which other files may sit
beside the notebook in the sandbox's home (not Python modules and the like,
which could shadow what the tests import: ``ignored-file``); notebooks that
are not part of the assignment (``extra-notebook``); an ``empty``
submission; files the class collector renamed (``renamed``); the time after the due date;
entries that are not the submission's own regular files, which were never
read (``refused-file``, see :mod:`cnnlab_grade.intake`).
(The class's files reach ``submitted/`` through :mod:`cnnlab_grade.collect`.)
"""

from __future__ import annotations

from nbgrader import utils as nbutils

from ..records import NotebookWork
from ..scan import split_files
from . import Stage


def _late(timestamp: str | None, duedate: str | None) -> float:
    if not timestamp or not duedate:
        return 0.0
    t = nbutils.parse_utc(timestamp)
    d = nbutils.parse_utc(duedate)
    return max(0.0, (t - d).total_seconds())


class Collect(Stage):
    name = "collect"

    def run(self, sub, ctx) -> None:
        job, bundle = sub.job, sub.bundle
        master = bundle.master
        notebooks = {name: job.files.get(f"{name}.ipynb") for name in master.notebooks}
        others = [f for f in job.files if not (f.endswith(".ipynb") and f[:-6] in master.notebooks)]
        stray_nbs = [f for f in others if f.endswith(".ipynb")]
        allowed, quarantined = split_files(f for f in others if not f.endswith(".ipynb"))
        for q in quarantined:
            sub.flag("ignored-file", f"{q} was not placed beside the notebook: a Python module there could replace "
                                     "what the tests import")
        for r in job.refused:
            sub.flag("refused-file", f"{r}; it was not read")
        for s in stray_nbs:
            sub.flag("extra-notebook", f"{s} is not part of the assignment and was not graded")
        if not any(notebooks.values()):
            sub.flag("empty", "nothing to grade: no notebook of the assignment was submitted")
        for note in job.notes:
            sub.flag("renamed", note)
        # after the class's due date; the penalty, the flag and the reason (extensions, grace, late
        # days) are the term stage's (cnnlab_grade.stages.term)
        sub.late_seconds = _late(job.timestamp, master.duedate)

        sub.home_files = {f: job.files[f] for f in allowed}
        sub.home_files.update(bundle.files)  # the instructor's files win over same-named submitted ones
        for name, data in notebooks.items():
            mnb = master.notebooks[name]
            questions = {g: {"score": 0.0, "max": p, "reason": None}
                         for nbn, g, p in master.questions() if nbn == name}
            sub.notebooks[name] = NotebookWork(name, mnb.max_score, questions, data=data, hidden=mnb.hidden_lines())
            if data is None:
                if any(notebooks.values()):
                    sub.flag("missing-notebook", f"{name}.ipynb was not submitted")
                for q in questions.values():
                    q["reason"] = "not submitted"
