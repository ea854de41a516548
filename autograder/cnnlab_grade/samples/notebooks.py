"""The course's notebooks, and submissions made from their solutions.

The sources (``source/<ps>/<ps>.ipynb``, solutions and hidden tests) and the
released notebooks (``assignments/``) of this checkout; :func:`submission`
fills a released notebook in with the reference solutions, optionally with a
mistake patched in (the table in :mod:`.mistakes`) -- the way the sample
class, the benchmarks and the assignment tests make their submissions.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

#: the checkout this package lives in (autograder/cnnlab_grade/samples/ -> the repository)
ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "source"
RELEASE = ROOT / "assignments"
ASSIGNMENTS = ("ps1", "ps2", "ps3", "ps4")

_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.M | re.S)
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*(\n|$)", re.M | re.S)


def existing() -> list[str]:
    return [a for a in ASSIGNMENTS if (SOURCE / a / f"{a}.ipynb").is_file()]


def nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def read(path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def source_nb(ps: str) -> nbformat.NotebookNode:
    return read(SOURCE / ps / f"{ps}.ipynb")


def released_nb(ps: str) -> nbformat.NotebookNode:
    return read(RELEASE / ps / f"{ps}.ipynb")


def strip_markers(src: str) -> str:
    """A solution cell as the student would write it: the code between the
    BEGIN/END SOLUTION markers kept, the markers removed."""
    return _SOLUTION.sub(lambda m: m.group(2), src)


def solution_sources(ps: str) -> dict[str, str]:
    """{grade_id: source} of the solution cells of the source notebook, markers kept."""
    return {nbg(c)["grade_id"]: c.source for c in source_nb(ps).cells
            if nbg(c).get("solution") and c.cell_type == "code"}


BODY = "<the whole solution body>"


def apply_patches(src: str, patches) -> str:
    """Apply (old, new) patches to a solution cell (markers kept) and return it
    without markers.  ``old`` must occur exactly once; ``old == BODY`` replaces
    everything between the (single) pair of solution markers."""
    for old, new in patches:
        if old == BODY:
            regions = _SOLUTION.findall(src)
            if len(regions) != 1:
                raise AssertionError(f"BODY patch needs exactly one solution region, found {len(regions)}")
            src = _SOLUTION.sub(lambda m: m.group(1) + "### BEGIN SOLUTION\n" + new + m.group(1)
                                + "### END SOLUTION\n", src)
            continue
        n = src.count(old)
        if n != 1:
            raise AssertionError(f"patch target occurs {n} times (must be once): {old!r}")
        src = src.replace(old, new)
    return strip_markers(src)


def submission(ps: str, patches: dict[str, list] | None = None, answers: dict[str, str] | None = None,
               blank: bool = False, graded: bool = False) -> nbformat.NotebookNode:
    """The released notebook filled in with the reference solutions (unless
    ``blank``), with ``patches`` {grade_id: [(old, new), ...]} applied to the
    solution cells and ``answers`` {grade_id: text} for written answers.

    With ``graded`` the test cells are those of the source notebook, hidden
    tests included: the notebook nbgrader's autograde runs for this submission."""
    released = released_nb(ps)
    nb = source_nb(ps) if graded else released
    stubs = {nbg(c).get("grade_id"): c.source for c in released.cells if nbg(c).get("solution")}
    sols = solution_sources(ps)
    model_answers = {nbg(c)["grade_id"]: c.source for c in source_nb(ps).cells
                     if nbg(c).get("solution") and c.cell_type == "markdown"}
    for cell in nb.cells:
        meta = nbg(cell)
        gid = meta.get("grade_id")
        if not meta.get("solution"):
            continue
        if cell.cell_type == "code":
            cell.source = stubs[gid] if blank else apply_patches(sols[gid], (patches or {}).get(gid, []))
        elif blank:
            cell.source = stubs[gid]
        else:   # a written answer: the given one, else the model answer of the source
            cell.source = (answers or {}).get(gid) or strip_markers(model_answers[gid]).strip()
    return nb
