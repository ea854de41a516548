#!/usr/bin/env python3
"""Notebooks that Colab (or any fresh Jupyter) can open: ``make notebooks``.

Colab opens ``.ipynb`` files from GitHub only, and starts without ``cnnlab``.
So every chapter and every assignment gets an ``.ipynb`` whose **first cell
installs cnnlab when it is missing** (and does nothing where it is installed):

* each chapter ``book/chapters/<name>.md`` gets ``book/chapters/<name>.ipynb``
  beside it: the same cells (converted by jupytext), the install cell first.
  The website's launch buttons (Binder, Colab, JupyterHub) open that
  notebook, because the book theme links to an ``.ipynb`` of the same name
  when one exists; Sphinx reads only the ``.md`` (``exclude_patterns``).
  Edit the ``.md``, never the ``.ipynb``;
* the source and the released notebook of each assignment
  (``source/<ps>/<ps>.ipynb``, ``assignments/<ps>/<ps>.ipynb``) get the same
  install cell first (an ordinary cell, not graded); ``--assignments`` puts it
  into an assignment that lacks it, and ``make notebooks`` keeps it in step.

The package is installed from the repository named in ONE place,
``repository:`` (url and branch) in ``book/_config.yml``, which also drives the
launch buttons. ``tests/test_release.py`` checks that the committed notebooks
are what this script writes (``--check`` does the same).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
INSTALL_TAG = "cnnlab-install"

# What a chapter needs besides cnnlab: the book's tools (myst_nb.glue, threadpoolctl).
CHAPTER = {"extra": "book", "modules": ("cnnlab", "myst_nb", "threadpoolctl")}
ASSIGNMENT = {"extra": None, "modules": ("cnnlab",)}


def repository() -> tuple[str, str]:
    """(url, branch) of ``repository:`` in book/_config.yml."""
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    repo = config.get("repository") or {}
    url, branch = str(repo.get("url", "")).rstrip("/"), str(repo.get("branch", "main"))
    if not url.startswith("https://"):
        raise SystemExit(f"repository.url in book/_config.yml must be the repository's https URL, got {url!r}")
    return url, branch


def requirement(extra: str | None = None) -> str:
    """The pip requirement that installs cnnlab (with an extra) from the repository."""
    url, branch = repository()
    return f"cnnlab{f'[{extra}]' if extra else ''} @ git+{url}@{branch}"


def install_line(extra: str | None = "student") -> str:
    """The one command a student runs (PyTorch's CPU build: on Linux the default one is a
    CUDA build of several GB)."""
    return f'pip install --extra-index-url https://download.pytorch.org/whl/cpu "{requirement(extra)}"'


def install_cell(kind: dict) -> nbformat.NotebookNode:
    # An IPython magic, not `import subprocess`: %pip installs into the kernel's own
    # environment, and the grader (which preloads the instructor notebook's imports
    # into its kernel zygote) sees no new import.
    source = (
        "# Installs the course's package, cnnlab, where it is missing (on Colab, for example);\n"
        "# where it is installed, this cell does nothing.\n"
        "try:\n"
        f"    import {', '.join(kind['modules'])}\n"
        "except ImportError:\n"
        f'    %pip install --quiet "{requirement(kind["extra"])}"'
    )
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [INSTALL_TAG]})
    cell.id = INSTALL_TAG
    return cell


def with_install_cell(nb: nbformat.NotebookNode, kind: dict) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if INSTALL_TAG not in c.get("metadata", {}).get("tags", [])]
    nb.cells = [install_cell(kind)] + cells
    return nb


def chapter_notebook(md: Path) -> str:
    import jupytext
    nb = jupytext.read(md)
    nb.metadata.pop("jupytext", None)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["cnnlab"] = {"generated_from": md.name,
                             "note": "written by `make notebooks`; edit the .md, not this file"}
    for i, cell in enumerate(nb.cells):             # stable ids: the file changes only with its source
        cell.id = f"cell-{i}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(with_install_cell(nb, CHAPTER)) + "\n"


def assignment_notebook(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return nbformat.writes(with_install_cell(nb, ASSIGNMENT)) + "\n"


def chapter_sources() -> list[Path]:
    """The chapters (``book/chapters/*.md``) that are notebooks: they have code cells."""
    return [md for md in sorted((BOOK / "chapters").glob("*.md")) if "```{code-cell}" in md.read_text()]


def has_install_cell(path: Path) -> bool:
    cells = nbformat.read(path, as_version=4).cells
    return bool(cells) and INSTALL_TAG in cells[0].get("metadata", {}).get("tags", [])


def targets(add_to_assignments: bool = False) -> dict[Path, str]:
    """{path: text it should have} for every notebook this script writes: the chapters'
    notebooks, and the assignments that have the install cell (all of them with
    ``add_to_assignments``)."""
    out = {md.with_suffix(".ipynb"): chapter_notebook(md) for md in chapter_sources()}
    for folder in ("source", "assignments"):
        for path in sorted((ROOT / folder).glob("*/*.ipynb")):
            if path.stem == path.parent.name and (add_to_assignments or has_install_cell(path)):
                out[path] = assignment_notebook(path)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook is out of date")
    parser.add_argument("--assignments", action="store_true",
                        help="also put the install cell first in every assignment (source/ and assignments/); "
                             "then regenerate the sample class: python autograder/make_samples.py")
    args = parser.parse_args(argv)
    stale = []
    for path, text in targets(args.assignments).items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path.relative_to(ROOT).as_posix())
            if not args.check:
                path.write_text(text, encoding="utf-8")
    orphans = [p.relative_to(ROOT).as_posix() for p in (BOOK / "chapters").glob("*.ipynb")
               if not p.with_suffix(".md").is_file()]
    if args.check:
        for p in stale:
            print(f"out of date: {p}")
        for p in orphans:
            print(f"no chapter of that name: {p}")
        if stale or orphans:
            print("run `make notebooks` and commit the result", file=sys.stderr)
        return 1 if stale or orphans else 0
    for p in orphans:
        (ROOT / p).unlink()
    print(f"{len(stale)} notebook(s) written, {len(orphans)} removed" if stale or orphans else "notebooks up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
