"""A tiny nbgrader course for the autograder's own tests (independent of the
course's assignments): one notebook, ``toy``, with a function to write, a
visible and a hidden test, and a referee spec with an explicit check."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

SOLUTION = '''def double(x):
    """x: an array. Returns 2 * x."""
    ### BEGIN SOLUTION
    return 2 * np.asarray(x)
    ### END SOLUTION'''

TEST = '''assert double(np.array([1.0])).tolist() == [2.0]
### BEGIN HIDDEN TESTS
_hidden_input = np.linspace(-3.25, 7.5, 11)
assert np.allclose(double(_hidden_input), _hidden_input * 2.0), "hidden-secret-message"
### END HIDDEN TESTS'''

SPEC = '''
hide = ["cnnlab"]
forbid = ["cnnlab", "scipy.signal"]

[checks.test_double]
call = "double(x)"
reference = "2 * x"
arrays = ["x"]
cases = [{x = [3, 4]}, {x = [5]}]
'''


def _cell(kind, src, **nbg):
    cell = nbformat.v4.new_code_cell(src) if kind == "code" else nbformat.v4.new_markdown_cell(src)
    if nbg:
        cell.metadata.nbgrader = dict(schema_version=3, **nbg)
    return cell


def source_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("markdown", "# Toy\nWrite `double`."),
        _cell("code", "import numpy as np", grade=False, solution=False, locked=True, grade_id="setup"),
        _cell("code", SOLUTION, grade=False, solution=True, locked=False, grade_id="double"),
        _cell("code", TEST, grade=True, solution=False, locked=True, grade_id="test_double", points=2),
    ]
    return nb


def make_course(root: Path, spec: bool = True) -> Path:
    """A course folder: source/toy/toy.ipynb and autograder/referee/toy.toml."""
    (root / "source" / "toy").mkdir(parents=True)
    nbformat.write(source_notebook(), str(root / "source" / "toy" / "toy.ipynb"))
    if spec:
        (root / "autograder" / "referee").mkdir(parents=True)
        (root / "autograder" / "referee" / "toy.toml").write_text(textwrap.dedent(SPEC))
    return root


def submission(body: str | None = None, extra_cells=()):
    """The released notebook with ``body`` as the answer (default: the solution)."""
    nb = source_notebook()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = body if body is not None else "\n".join(
                ln for ln in SOLUTION.splitlines() if "###" not in ln)
        if meta.get("grade"):
            cell.source = TEST.split("### BEGIN HIDDEN TESTS")[0].rstrip()
    for i, src in extra_cells:
        nb.cells.insert(i, nbformat.v4.new_code_cell(src))
    return nb


def hidden_lines() -> list[str]:
    inside = TEST.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
    return [ln.strip() for ln in inside.splitlines() if ln.strip()]
