"""The course: where the assignments' sources, the referee specs and the settings live."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .records import Limits, parse_size


@dataclass
class Course:
    """The course: where ``source/<assignment>/`` and the referee specs live."""

    root: Path
    source: Path
    course_id: str = "course"
    autograder: Path | None = None

    cell_timeout: float | None = None  # the course's nbgrader Execute.timeout

    @classmethod
    def find(cls, root: Path) -> "Course":
        root = Path(root).resolve()
        source, course_id, timeout = root / "source", "course", None
        cfg_file = root / "nbgrader_config.py"
        if cfg_file.is_file():
            from traitlets.config.loader import PyFileConfigLoader

            cfg = PyFileConfigLoader(cfg_file.name, path=str(root)).load_config()
            cd = cfg.get("CourseDirectory", {})
            course_id = cd.get("course_id", course_id) or course_id
            src = cd.get("source_directory", "source")
            base = Path(cd.get("root", root))
            source = (base / src).resolve()
            timeout = cfg.get("Execute", {}).get("timeout")
        if not source.is_dir():
            raise ValueError(f"course: {root} has no {source.name}/ folder with the assignments' source notebooks; "
                             "give the course's root with --course")
        ag = root / "autograder"
        return cls(root, source, course_id, ag if ag.is_dir() else None, timeout)

    def mathjax(self) -> Path | None:
        """The course website's MathJax (``book/_assets/mathjax``), served to
        the feedback pages from a folder beside them; None when the course has none."""
        folder = self.root / "book" / "_assets" / "mathjax"
        return folder if (folder / "tex-mml-chtml.js").is_file() else None

    def assignments(self) -> list[str]:
        return sorted(p.name for p in self.source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))

    def settings(self) -> dict:
        """``autograder/grading.toml``: defaults and per-assignment settings."""
        if self.autograder and (self.autograder / "grading.toml").is_file():
            return tomllib.loads((self.autograder / "grading.toml").read_text())
        return {}

    def setting(self, assignment: str, key: str, given=None, fallback=None):
        """A setting: given (command line) > [assignments.<a>] > [defaults] > fallback."""
        if given is not None:
            return given
        s = self.settings()
        for table in (s.get("assignments", {}).get(assignment, {}), s.get("defaults", {})):
            if key in table:
                return table[key]
        return fallback

    def limits(self, assignment: str, given: dict) -> Limits:
        base = Limits()
        cell = self.setting(assignment, "cell_timeout", given.get("cell_timeout"),
                            self.cell_timeout or base.cell_timeout)
        return Limits(
            cell_timeout=float(cell),
            notebook_timeout=float(self.setting(assignment, "notebook_timeout", given.get("notebook_timeout"),
                                                base.notebook_timeout)),
            memory=parse_size(self.setting(assignment, "memory", given.get("memory"), base.memory), "memory"),
            processes=int(self.setting(assignment, "processes", given.get("processes"), base.processes)),
            total_memory=(None if (total := self.setting(assignment, "total_memory", given.get("total_memory")))
                          is None else parse_size(total, "total_memory")),
            tmp_size=parse_size(self.setting(assignment, "scratch", given.get("scratch"), base.tmp_size), "scratch"),
            cpus=float(self.setting(assignment, "cpus", given.get("cpus"), base.cpus)))

    def term(self, due: dict | None = None, late_penalty: str | None = None, extensions: str | None = None):
        """The late rules of the term (:class:`cnnlab_grade.late.Term`) for every assignment of the
        course; ``due``, ``late_penalty`` and ``extensions`` as given on the command line win."""
        from .late import LatePolicy, Term, parse_time, read_extensions

        due = due or {}
        term = Term()
        for a in self.assignments():
            when = self.setting(a, "due", due.get(a))
            term.due[a] = parse_time(when, f"due of {a}") if when else None
            term.policies[a] = LatePolicy.parse(self.setting(a, "late_penalty", late_penalty, "none"),
                                                f"late_penalty of {a}")
        days = self.settings().get("defaults", {}).get("late_days", 0)
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise ValueError(f"late_days: expected a whole number of days (0 or more), got {days!r}")
        term.late_days = days
        path = extensions or self.settings().get("defaults", {}).get("extensions")
        if path:
            path = Path(path) if extensions else (self.autograder or self.root) / path
            term.extensions = read_extensions(path)
        return term

    def hidden_tests(self, assignment: str) -> str:
        """When the hidden tests' results are shown in the feedback: ``always`` (default),
        ``after_due`` or ``never``."""
        value = self.setting(assignment, "hidden_tests", None, "always")
        if value not in ("always", "after_due", "never"):
            raise ValueError(f"hidden_tests of {assignment}: expected \"always\", \"after_due\" or \"never\", "
                             f"got {value!r}")
        return value

    def spec_path(self, assignment: str) -> Path | None:
        if self.autograder:
            p = self.autograder / "referee" / f"{assignment}.toml"
            return p if p.is_file() else None
        return None


LIMIT_KEYS = ("cell_timeout", "notebook_timeout", "memory", "processes", "total_memory", "scratch", "cpus")
