"""Plain nbgrader on a scratch copy of the course: what the grader is compared with.

A scratch nbgrader course made from this checkout (``nbgrader_config.py``
and ``source/``), ``nbgrader`` run in it as a subprocess, and the grades read
back from its gradebook -- for the benchmarks and the assignment tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .notebooks import ROOT, SOURCE


def nbgrader_env() -> dict:
    """Environment for nbgrader subprocesses: the venv's bin first on PATH
    (nbgrader runs `alembic` from PATH), this checkout's lib importable."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT / "lib") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def nbgrader(course: Path, *args, timeout=900, merge=False) -> subprocess.CompletedProcess:
    """Run nbgrader in ``course``; ``merge`` puts its log (stderr) into stdout, in order."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    if merge:
        return subprocess.run(cmd, cwd=course, env=nbgrader_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return subprocess.run(cmd, cwd=course, env=nbgrader_env(), capture_output=True, text=True, timeout=timeout)


def make_course(tmp: Path) -> Path:
    """A scratch nbgrader course: this repository's nbgrader_config.py and source/."""
    course = tmp / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(SOURCE, course / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return course


def gradebook(course: Path, ps: str) -> Path:
    """The gradebook that holds ``ps``'s grades: the per-assignment copy that
    `autograde_all` grades into, else the course's own."""
    own = course / f"gradebook-{ps}.db"
    return own if own.exists() else course / "gradebook.db"


def grades(course: Path, ps: str) -> dict[str, dict[str, float]]:
    """{student: {grade_id: score}} from the gradebook of ``ps``."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{gradebook(course, ps)}") as gb:
        for sub in gb.assignment_submissions(ps):
            scores = {}
            for nb in sub.notebooks:
                for g in nb.grades:
                    scores[g.name] = g.score
            out[sub.student.id] = scores
    return out
