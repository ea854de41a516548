"""The grading directory: an nbgrader course of its own, and the grader's state in it.

``<out>/`` has nbgrader's ``nbgrader_config.py``, ``gradebook.db``,
``submitted/``, ``autograded/``, ``feedback/`` and ``export/``;
``<out>/.cnnlab-grade/`` (which no sandbox can see) keeps the grader's own
state: a result file per graded student (the mark that it is done), the
stamps of generated assignments, and the referee's secret.
"""

from __future__ import annotations

import json
import os
import secrets as _secrets
from pathlib import Path

from .course import Course

STATE = ".cnnlab-grade"


def atomic_write(path: Path, data: bytes | str, mode: int = 0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class GradingDir:
    """The grading directory: an nbgrader course of its own."""

    def __init__(self, out: Path, course: Course):
        self.out, self.course = Path(out).resolve(), course
        self.state = self.out / STATE
        self.out.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(exist_ok=True, mode=0o700)
        self.db_url = f"sqlite:///{self.out / 'gradebook.db'}"

    def config(self):
        from traitlets.config import Config

        c = Config()
        c.CourseDirectory.root = str(self.out)
        c.CourseDirectory.source_directory = str(self.course.source)
        c.CourseDirectory.release_directory = "release"
        c.CourseDirectory.course_id = self.course.course_id
        c.CourseDirectory.db_url = self.db_url
        return c

    def write_nbgrader_config(self):
        text = (
            "# Written by cnnlab-grade: this grading directory is an nbgrader course, so nbgrader's\n"
            "# commands work here too (nbgrader export, nbgrader formgrader, nbgrader db student list).\n"
            "c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.root = {str(self.out)!r}\n"
            f"c.CourseDirectory.source_directory = {str(self.course.source)!r}\n"
            "c.CourseDirectory.release_directory = 'release'\n"
            f"c.CourseDirectory.course_id = {self.course.course_id!r}\n"
            "# Late penalties are cnnlab-grade's (grading.toml's late policy): it writes them into the\n"
            "# gradebook itself, so nbgrader's own plugin must not apply one too.\n"
            "c.LateSubmissionPlugin.penalty_method = 'none'\n")
        path = self.out / "nbgrader_config.py"
        if not path.exists() or path.read_text() != text:
            atomic_write(path, text)

    def referee_secret(self) -> int:
        """The referee's secret: made once, kept with the grading state (which
        no sandbox can see). The hidden inputs are drawn from it together
        with the student and a token of the run, so they differ between
        students and between runs, and none of them can be worked out from
        the others."""
        path = self.state / "referee-secret"
        old = self.state / "referee-seed"   # its earlier name: keep the same secret
        if not path.exists() and old.exists():
            os.replace(old, path)
        if not path.exists():
            atomic_write(path, str(_secrets.randbits(62)), mode=0o600)
        return int(path.read_text().strip())

    def feedback_page(self, assignment: str, student: str, notebook: str, kind: str = "feedback") -> Path:
        """A feedback page as graded (``kind``: ``feedback`` or ``feedback_withheld``), kept
        with the state; the term stage publishes it to ``feedback/<student>/<assignment>/``."""
        return self.state / "feedback" / assignment / student / f"{notebook}.{kind}.html"

    def result_path(self, assignment: str, student: str) -> Path:
        return self.state / "results" / assignment / f"{student}.json"

    def load_result(self, assignment: str, student: str) -> dict | None:
        try:
            return json.loads(self.result_path(assignment, student).read_text())
        except (OSError, ValueError):
            return None

    def results(self, assignment: str) -> dict:
        d = self.state / "results" / assignment
        out = {}
        for p in sorted(d.glob("*.json")) if d.is_dir() else []:
            try:
                out[p.stem] = json.loads(p.read_text())
            except ValueError:
                continue
        return out
