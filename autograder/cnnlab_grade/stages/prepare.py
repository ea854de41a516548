"""Prepare: each submitted notebook read, and sanitised as nbgrader's autograde does.

A file that is not a readable notebook is flagged ``invalid-notebook`` (its
questions score 0, with the reason).  A readable one goes through nbgrader's
sanitising preprocessors (``ClearOutput``, ``DeduplicateIds``,
``OverwriteKernelspec``, ``OverwriteCells``, ``CheckCellMetadata``), reading
the master cells from the assignment's snapshot instead of a database;
nbgrader restores edited read-only cells and puts deleted test cells back,
and the stage flags them (``edited-tests``, ``missing-tests``,
``duplicate-ids``), and changed grading metadata -- points, grade ids,
unlocked cells (``edited-metadata``).
"""

from __future__ import annotations

import logging
import warnings

import nbformat
from nbformat.reader import NotJSONError
from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteCells,
                                    OverwriteKernelspec)

from ..feedback import redact
from ..gradebook import SnapshotGradebook
from ..records import MasterAssignment, strip_hidden
from . import Stage


class _Capture(logging.Handler):
    """Collects nbgrader's warnings (changed test cells, duplicate ids...)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _logger(capture: _Capture) -> logging.Logger:
    log = logging.getLogger(f"cnnlab_grade.prepare.{id(capture)}")
    log.handlers[:] = [capture]
    log.propagate = False
    log.setLevel(logging.WARNING)
    return log


def read_notebook(data: bytes):
    """(notebook, problem): problem is None or a plain-words reason."""
    if not data or not data.strip():
        return None, "the notebook file is empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "the notebook file is not text (not UTF-8)"
    try:
        with warnings.catch_warnings():  # nbformat's complaints about old files: fixed below, not our output
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4, capture_validation_error={})
    except NotJSONError as e:
        return None, f"the notebook file is not valid JSON ({str(e).splitlines()[0][:120]})"
    except Exception as e:  # noqa: BLE001 - nbformat raises many kinds
        return None, f"the notebook file cannot be read as a notebook ({type(e).__name__}: {str(e)[:120]})"
    if not isinstance(nb, dict) or "cells" not in nb:
        return None, "the file is JSON but not a notebook"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            nbformat.validate(nb)
        except Exception:
            changes, fixed = nbformat.validator.normalize(nb)
            nb = nbformat.from_dict(fixed)
            try:
                nbformat.validate(nb)
            except Exception as e:  # noqa: BLE001
                return None, f"the notebook does not follow the notebook format ({str(e).splitlines()[0][:120]})"
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    if not nb.cells:
        return None, "the notebook has no cells"
    return nb, None


class _SnapshotOverwriteCells(OverwriteCells):
    """nbgrader's OverwriteCells reading the master cells from the snapshot."""

    def preprocess(self, nb, resources):
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.gradebook = SnapshotGradebook(resources["cnnlab"]["master"])
        nb, resources = super(OverwriteCells, self).preprocess(nb, resources)
        if self.add_missing_cells:
            nb, resources = self.add_missing_grade_cells(nb, resources)
            nb, resources = self.add_missing_task_cells(nb, resources)
        return nb, resources


def sanitize(nb, name: str, master: MasterAssignment, student: str, log: logging.Logger):
    """nbgrader's autograde sanitising step (ClearOutput, DeduplicateIds,
    OverwriteKernelspec, OverwriteCells, CheckCellMetadata) without a database;
    deleted test cells are put back (``add_missing_cells``)."""
    resources = {"nbgrader": {"notebook": name, "assignment": master.name, "student": student, "db_url": ""},
                 "cnnlab": {"master": master}}
    for pp in (ClearOutput(), DeduplicateIds(), OverwriteKernelspec(), _SnapshotOverwriteCells(add_missing_cells=True),
               CheckCellMetadata()):
        pp.log = log
        if isinstance(pp, OverwriteKernelspec):
            # nbgrader copies the kernelspec from the database; the sandbox decides the kernel anyway
            nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            continue
        nb, resources = pp.preprocess(nb, resources)
        if isinstance(pp, DeduplicateIds):
            # nbgrader empties the metadata of all but the last copy; an empty block fails the checks
            for cell in nb.cells:
                if cell.get("metadata", {}).get("nbgrader", None) == {}:
                    del cell.metadata["nbgrader"]
    return nbformat.from_dict(nb)  # cells put back by OverwriteCells are plain dicts inside


def edited_cells(nb, master_nb) -> list[str]:
    """grade ids of read-only cells whose source differs from what was released."""
    locked = {c.name: c for c in master_nb.source_cells if c.locked}
    out = []
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in locked and strip_hidden(cell.source).strip() != strip_hidden(locked[gid].source).strip():
            out.append(gid)
    return out


def edited_metadata(nb, master_nb) -> list[str]:
    """What a student changed in the cells' nbgrader metadata, in plain words: points, grade ids
    the assignment does not have, read-only cells unlocked, test or answer cells turned into
    something else. (nbgrader grades with the course's own points and cells either way.)"""
    points = {g.name: g.max_score for g in master_nb.grade_cells + master_nb.task_cells}
    source = {c.name: c for c in master_nb.source_cells}
    solutions = {c.name for c in master_nb.solution_cells}
    out = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if not isinstance(meta, dict) or not meta.get("grade_id"):
            continue
        gid = meta["grade_id"]
        if gid not in source:
            if meta.get("grade") or meta.get("solution") or meta.get("locked"):
                out.append(f"{gid}: a grade id the assignment does not have")
            continue
        if gid in points and meta.get("grade"):
            try:
                given = float(meta.get("points", 0))
            except (TypeError, ValueError):
                given = None
            if given != points[gid]:
                out.append(f"{gid}: points {meta.get('points')!r} instead of {points[gid]:g}")
        if source[gid].locked and not meta.get("locked"):
            out.append(f"{gid}: a read-only cell unlocked")
        if gid in points and not meta.get("grade"):
            out.append(f"{gid}: no longer marked as graded")
        if gid in solutions and not meta.get("solution"):
            out.append(f"{gid}: no longer marked as an answer cell")
    return out


class Prepare(Stage):
    name = "prepare"

    def run(self, sub, ctx) -> None:
        master = sub.bundle.master
        for w in sub.notebooks.values():
            if w.data is None:
                continue
            nb, problem = read_notebook(w.data)
            if problem:
                sub.flag("invalid-notebook", f"{w.name}.ipynb: {problem}")
                for q in w.questions.values():
                    q["reason"] = problem
                continue
            edited = edited_cells(nb, master.notebooks[w.name])
            metadata = edited_metadata(nb, master.notebooks[w.name])
            capture = _Capture()
            log = _logger(capture)
            try:
                nb = sanitize(nb, w.name, master, sub.job.student, log)
            except Exception as e:  # noqa: BLE001 - a broken notebook is the student's, not ours
                sub.flag("invalid-notebook", f"{w.name}.ipynb cannot be prepared for grading: "
                                             f"{type(e).__name__}: {e}")
                continue
            w.nb = nb
            w.notes += [redact(m, w.hidden) for m in capture.messages]
            if edited:
                sub.flag("edited-tests", f"{w.name}.ipynb: read-only cells were edited ({', '.join(edited)}); "
                                         "nbgrader restored them")
            if metadata:
                sub.flag("edited-metadata", f"{w.name}.ipynb: the cells' grading metadata was changed "
                                            f"({'; '.join(metadata)}); graded with the course's own")
            if any("Missing grade cell" in m for m in capture.messages):
                sub.flag("missing-tests", f"{w.name}.ipynb: test cells were deleted; nbgrader put them back")
            if any("Cell with id" in m or "duplicate" in m.lower() for m in capture.messages):
                sub.flag("duplicate-ids", f"{w.name}.ipynb: cells with duplicated grade ids; only the first of "
                                          "each was graded")
