"""The export stage: one graded submission into the grading directory.

Runs in the coordinating process only, one result at a time -- the one place
that writes grades: the autograded notebook (``autograded/``), the feedback
page (``feedback/<student>/<assignment>/``), the gradebook (nbgrader's own
``SaveAutoGrades`` and ``AssignLatePenalties``, :mod:`cnnlab_grade.gradebook`),
and last the result file that marks the student done (written atomically).
The class's files (``export/<assignment>/grades.csv``, the report) are
written from all of them at the end (:mod:`cnnlab_grade.report`).
"""

from __future__ import annotations

import json

import nbformat

from ..gradedir import GradingDir, atomic_write
from ..records import Bundle, Options


class Export:
    """The export stage (see the module doc); ``record`` takes one result of the worker stages."""

    name = "export"

    def __init__(self, gdir: GradingDir, opts: Options):
        from ..gradebook import Recorder

        self.gdir = gdir
        self.recorder = Recorder(gdir.db_url)

    def close(self):
        self.recorder.close()

    def record(self, result: dict, bundle: Bundle):
        a, s = result["assignment"], result["student"]
        out = self.gdir.out
        graded = {}
        for name, rec in result["notebooks"].items():
            if rec.get("autograded"):
                text = rec.pop("autograded")
                atomic_write(out / "autograded" / s / a / f"{name}.ipynb", text)
                graded[name] = nbformat.reads(text, as_version=4)
            else:
                graded[name] = None
            for key in ("feedback", "feedback_withheld"):   # published by the term stage
                if rec.get(key):
                    atomic_write(self.gdir.feedback_page(a, s, name, key), rec.pop(key))
        if result.get("timestamp"):
            atomic_write(out / "autograded" / s / a / "timestamp.txt", result["timestamp"])
        self.recorder.record(a, s, result.get("timestamp"), graded, bundle.master)
        db = self.recorder.scores(a, s)
        result["gradebook"] = db
        result["recorded"] = True
        atomic_write(self.gdir.result_path(a, s), json.dumps(result, indent=1, default=str))
        return result
