"""The pieces every sample is made of: the :class:`Sample` record, the
reference solution with patches, and edits of a notebook's cells."""

from __future__ import annotations

from dataclasses import dataclass, field

import nbformat

from .notebooks import nbg, submission

DUE = "2025-10-06T23:59:00+00:00"
ON_TIME = "2025-10-05T18:00:00+00:00"
LATE = "2025-10-07T09:30:00+00:00"


@dataclass
class Sample:
    student: str
    what: str
    notebook: object | None          # NotebookNode, bytes (a broken file) or None (no notebook)
    fails: tuple = ()                # questions that score 0
    flags: tuple = ()                # flag kinds the grader must raise (exactly these)
    name: str = "ps1.ipynb"          # file name as submitted
    files: dict = field(default_factory=dict)  # other files beside the notebook
    links: dict = field(default_factory=dict)  # symbolic links beside the notebook: name -> target
    timestamp: str = ON_TIME
    flat: bool = False               # <student>_ps1.ipynb at the top instead of <student>/ps1.ipynb


def solution(**patches) -> nbformat.NotebookNode:
    return submission("ps1", patches={k: v for k, v in patches.items()})


def _cell(nb, grade_id):
    return next(c for c in nb.cells if nbg(c).get("grade_id") == grade_id)


def with_code(nb, grade_id: str, code: str, *, replace: bool = False):
    """Append ``code`` to the solution cell ``grade_id`` (or replace its source)."""
    cell = _cell(nb, grade_id)
    cell.source = code if replace else cell.source.rstrip() + "\n\n\n" + code.strip() + "\n"
    return nb


def with_cell(nb, grade_id: str, code: str, *, before: bool = False):
    """A new code cell of the student's own (no nbgrader metadata) after (or
    before) the cell ``grade_id``."""
    i = nb.cells.index(_cell(nb, grade_id))
    cell = nbformat.v4.new_code_cell(code)
    cell.id = f"own-{'before' if before else 'after'}-{grade_id}"  # fixed: the samples are generated exactly
    nb.cells.insert(i if before else i + 1, cell)
    return nb


def strip_def_markers(nb, grade_id: str) -> str:
    return _cell(nb, grade_id).source


def blank_except(keep: str, code: str):
    """The released stubs everywhere; ``code`` alone in the solution cell ``keep``
    and the other solution cells emptied (so their stubs do not overwrite it)."""
    blank = submission("ps1", blank=True)
    for cell in blank.cells:
        meta = nbg(cell)
        if meta.get("solution") and cell.cell_type == "code":
            cell.source = code if meta["grade_id"] == keep else "# (see the first answer cell)\n"
    return blank
