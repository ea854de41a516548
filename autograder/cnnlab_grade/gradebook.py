"""nbgrader's gradebook: the assignment's master cells, and the one writer.

Workers never open the gradebook.  Before grading, :func:`snapshot` reads an
assignment's master cells (what nbgrader's ``OverwriteCells`` restores) into
a small picklable :class:`MasterAssignment` that travels with the jobs, also
to Dask workers on other machines.  After grading, :class:`Recorder` -- used
by the coordinating process only, one result at a time -- stores each result
with nbgrader's own ``SaveAutoGrades`` and ``AssignLatePenalties``
preprocessors, so ``nbgrader export``, ``formgrader`` and
``generate_feedback`` keep working on the same database.
"""

from __future__ import annotations

import logging
import warnings

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import AssignLatePenalties, NbGraderPreprocessor, SaveAutoGrades
from sqlalchemy.exc import SAWarning

from .records import GradeCell, MasterAssignment, MasterNotebook, NamedCell, SourceCell


class SnapshotGradebook:
    """The read-only part of nbgrader's ``Gradebook`` API that
    ``OverwriteCells`` uses, answered from a :class:`MasterAssignment`."""

    def __init__(self, master: MasterAssignment):
        self.master = master

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def find_notebook(self, notebook_id, assignment_id):
        try:
            return self.master.notebooks[notebook_id]
        except KeyError:
            raise MissingEntry() from None

    def find_source_cell(self, name, notebook_id, assignment_id):
        for c in self.find_notebook(notebook_id, assignment_id).source_cells:
            if c.name == name:
                return c
        raise MissingEntry()

    def find_graded_cell(self, name, notebook_id, assignment_id):
        nb = self.find_notebook(notebook_id, assignment_id)
        for c in nb.grade_cells + nb.task_cells:
            if c.name == name:
                return c
        raise MissingEntry()


def snapshot(db_url: str, assignment: str) -> MasterAssignment:
    with Gradebook(db_url) as gb:
        a = gb.find_assignment(assignment)
        notebooks = {}
        for nb in a.notebooks:
            notebooks[nb.name] = MasterNotebook(
                name=nb.name,
                source_cells=[SourceCell(c.name, c.cell_type, bool(c.locked), c.checksum, c.source)
                              for c in nb.source_cells],
                grade_cells=[GradeCell(c.name, float(c.max_score), c.cell_type) for c in nb.grade_cells],
                solution_cells=[NamedCell(c.name) for c in nb.solution_cells],
                task_cells=[GradeCell(c.name, float(c.max_score), c.cell_type) for c in nb.task_cells],
            )
        return MasterAssignment(assignment, notebooks, a.duedate.isoformat() if a.duedate else None)


class _SaveAutoGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades on the recorder's open gradebook (opening one
    per notebook -- an engine and a schema check each -- was half its time)."""

    def preprocess(self, nb, resources):
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.student_id = resources["nbgrader"]["student"]
        self.db_url = resources["nbgrader"]["db_url"]
        self.gradebook = resources["cnnlab"]["gradebook"]
        return NbGraderPreprocessor.preprocess(self, nb, resources)


class _AssignLatePenalties(AssignLatePenalties):
    """nbgrader's AssignLatePenalties on the recorder's open gradebook (its
    ``preprocess``, with the gradebook passed in)."""

    def preprocess(self, nb, resources):
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.student_id = resources["nbgrader"]["student"]
        self.init_plugin()
        gb = self.gradebook = resources["cnnlab"]["gradebook"]
        nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
        assignment = gb.find_submission(self.assignment_id, self.student_id)
        notebook = gb.find_submission_notebook(self.notebook_id, self.assignment_id, self.student_id)
        notebook.late_submission_penalty = None
        if assignment.total_seconds_late > 0:
            penalty = self.plugin_inst.late_submission_penalty(self.student_id, notebook.score,
                                                                assignment.total_seconds_late)
            if penalty is not None:
                notebook.late_submission_penalty = self._check_late_penalty(notebook, penalty)
        gb.db.commit()
        return nb, resources


class Recorder:
    """Stores graded notebooks in the gradebook.  Only ever one per database,
    in the coordinating process (nbgrader's sqlite gradebook has no
    concurrent writers then); it keeps one gradebook connection open."""

    def __init__(self, db_url: str, log: logging.Logger | None = None, config=None):
        self.db_url = db_url
        self.log = log or logging.getLogger("cnnlab_grade.nbgrader")
        self.config = config
        self.gb = Gradebook(db_url)

    def close(self):
        self.gb.close()

    def record(self, assignment: str, student: str, timestamp, notebooks: dict, master: MasterAssignment):
        """``notebooks``: notebook name -> graded notebook (``NotebookNode``)
        or ``None`` when the student did not submit it (scored 0 as nbgrader does)."""
        with warnings.catch_warnings():
            # nbgrader's own API trips SQLAlchemy's autoflush warnings on new submissions
            warnings.simplefilter("ignore", SAWarning)
            try:
                self._record(assignment, student, timestamp, notebooks)
            except Exception:
                self.gb.db.rollback()
                raise

    def _record(self, assignment, student, timestamp, notebooks):
        gb = self.gb
        gb.update_or_create_student(student)
        if timestamp:
            gb.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(assignment, student)
        base = {"assignment": assignment, "student": student, "db_url": self.db_url}
        for name, nb in notebooks.items():
            if nb is None:  # not submitted (or not readable): zero, as nbgrader's autograde does
                sub = gb.find_submission_notebook(name, assignment, student)
                for grade in sub.grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
                gb.db.commit()
                continue
            nb = nbformat.from_dict(nb) if not isinstance(nb, nbformat.NotebookNode) else nb
            resources = {"nbgrader": dict(base, notebook=name), "cnnlab": {"gradebook": gb}}
            for pp in (_SaveAutoGrades(config=self.config), _AssignLatePenalties(config=self.config)):
                pp.log = self.log
                nb, resources = pp.preprocess(nb, resources)

    def scores(self, assignment: str, student: str) -> dict:
        """What the gradebook now says: {notebook: {grade_id: score}} and the total."""
        sub = self.gb.find_submission(assignment, student)
        out = {nb.name: {g.name: g.score for g in nb.grades} for nb in sub.notebooks}
        return {"notebooks": out, "score": sub.score, "max_score": sub.max_score,
                "late_penalty": sub.late_submission_penalty}
