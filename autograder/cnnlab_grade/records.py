"""The records the grading stages pass to each other -- the bottom of the package.

Plain data, nothing else: this module imports nothing of ``cnnlab_grade``
(every other module may import it), so reading it tells what flows where:

* :class:`Options` -- what the TA asked for (the command line);
* :class:`Limits` -- what one student's sandbox may use;
* :class:`MasterAssignment` (with :class:`MasterNotebook` and its cells) -- the
  assignment as nbgrader's gradebook holds it, read once, picklable;
* :class:`Bundle` -- everything a worker needs to grade one assignment;
* :class:`Job` -- one student's submission of one assignment (its files);
* :class:`Submission` and :class:`NotebookWork` -- the work on one job as it
  goes through the stages (see :mod:`cnnlab_grade.pipeline`), ending in the
  result dict that the export stage records;
* :class:`Fault` (the sandbox run) and :class:`Verdict` (the referee);
* :class:`Outcome` -- what one run of the command did.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

#: changes when a result file from an older version must not be reused
RESULT_VERSION = 2   # 2: the tests and the settings fingerprinted apart; late penalties by the term stage


class GradingBroken(RuntimeError):
    """Grading itself does not work (not the student's fault): nothing is recorded for the student."""


# --------------------------------------------------------------------------
# what the TA asked for
# --------------------------------------------------------------------------

@dataclass
class Options:
    workers: int = 0                   # 0: the machine's cores
    dask: str | None = None            # scheduler address
    force: bool = False
    unsafe: bool = False
    limits: dict = field(default_factory=dict)  # given on the command line: they win over grading.toml
    students: list = field(default_factory=list)
    due: dict = field(default_factory=dict)   # assignment -> ISO due date
    late_penalty: str | None = None   # None: grading.toml; "none" or "zero" (cnnlab_grade.late)
    extensions: str | None = None     # the extensions file (None: grading.toml's)
    lms: list = field(default_factory=list)   # LMS exports to write: canvas, moodle, gradescope
    roster: str | None = None         # the roster file (name, LMS id, email)
    bundles: bool = False             # write a feedback bundle per student
    written_pdf: bool = False         # write a PDF of each student's written answers
    regex: str | None = None
    feedback: bool = True
    progress: bool = True
    expose: list = field(default_factory=list)


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(value, name: str = "size") -> int:
    """``"4G"`` -> 4294967296; integers pass through (bytes)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
        return value
    text = str(value).strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in _UNITS and text[-1:] else ""
    number = text[: len(text) - len(unit)]
    try:
        size = int(float(number) * _UNITS[unit])
    except ValueError:
        raise ValueError(f"{name}: cannot read {value!r} as a size; write e.g. 4G, 512M or a number "
                         "of bytes") from None
    if size <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return size


@dataclass(frozen=True)
class Limits:
    """Resource limits for one student's notebook.

    ``cell_timeout`` and ``notebook_timeout`` are wall-clock seconds;
    ``memory`` is the address-space limit of each process (bytes; a memory
    bomb ends in a ``MemoryError`` and the kernel lives); ``processes`` the
    number of processes and threads; ``file_size`` the largest file it may
    write; ``tmp_size`` the size of its ``/tmp``; ``output_bytes`` the output
    kept per cell (the rest is dropped with a note, so a print loop cannot
    exhaust the grader's memory).

    Where the grader can make a cgroup per sandbox (:mod:`cnnlab_grade.sandbox.cgroup`),
    all the sandbox's processes together are bounded too: ``total_memory``
    bytes (``None``: the same as ``memory``; its tmpfs scratch space counts
    too), ``processes`` processes and threads, and ``cpus`` cores (``0``: no
    quota, only an equal share).
    """

    cell_timeout: float = 30.0
    notebook_timeout: float = 600.0
    memory: int = 4 * 2**30
    processes: int = 256
    file_size: int = 256 * 2**20
    tmp_size: int = 256 * 2**20
    output_bytes: int = 512 * 2**10
    total_memory: int | None = None
    cpus: float = 1.0

    def __post_init__(self):
        for name in ("cell_timeout", "notebook_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {getattr(self, name)!r}")
        for name in ("memory", "processes", "file_size", "tmp_size", "output_bytes"):
            if not int(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.total_memory is not None and not int(self.total_memory) > 0:
            raise ValueError(f"total_memory must be positive, got {self.total_memory!r}")
        if not (isinstance(self.cpus, (int, float)) and 0 <= self.cpus <= 1024):
            raise ValueError(f"cpus must be a number of cores from 0 (no quota) up, got {self.cpus!r}")

    @property
    def total_memory_bytes(self) -> int:
        """The memory of all the sandbox's processes together (its cgroup's limit)."""
        return int(self.total_memory if self.total_memory is not None else self.memory)

    @property
    def cpu_seconds(self) -> int:
        """CPU-time limit per process: a backstop behind the wall-clock limits."""
        return int(self.notebook_timeout * 2 + 60)

    def but(self, **changes) -> "Limits":
        return replace(self, **changes)


# --------------------------------------------------------------------------
# the assignment, as nbgrader's gradebook holds it
# --------------------------------------------------------------------------

def strip_hidden(source: str) -> str:
    """The source without its ``### BEGIN/END HIDDEN TESTS`` regions (what students see)."""
    lines, inside = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


@dataclass
class SourceCell:
    name: str
    cell_type: str
    locked: bool
    checksum: str
    source: str


@dataclass
class GradeCell:
    name: str
    max_score: float
    cell_type: str


@dataclass
class NamedCell:
    name: str


@dataclass
class MasterNotebook:
    name: str
    source_cells: list = field(default_factory=list)
    grade_cells: list = field(default_factory=list)
    solution_cells: list = field(default_factory=list)
    task_cells: list = field(default_factory=list)

    @property
    def max_score(self) -> float:
        return sum(g.max_score for g in self.grade_cells) + sum(t.max_score for t in self.task_cells)

    def hidden_lines(self) -> list[str]:
        """Distinctive lines of the hidden tests (for leak checks): those of at
        least 12 characters that do not also occur in the released text."""
        visible = "\n".join(strip_hidden(c.source) for c in self.source_cells)
        out = []
        for c in self.source_cells:
            inside = False
            for line in c.source.splitlines():
                if "BEGIN HIDDEN TESTS" in line:
                    inside = True
                elif "END HIDDEN TESTS" in line:
                    inside = False
                elif inside and len(line.strip()) >= 12 and not line.strip().startswith("#") \
                        and line.strip() not in visible:
                    out.append(line.strip())
        return out


@dataclass
class MasterAssignment:
    name: str
    notebooks: dict  # name -> MasterNotebook
    duedate: str | None = None

    @property
    def max_score(self) -> float:
        return sum(nb.max_score for nb in self.notebooks.values())

    def questions(self) -> list[tuple[str, str, float]]:
        """(notebook, grade_id, points) of every graded cell, in notebook order."""
        out = []
        for nb in self.notebooks.values():
            points = {g.name: g.max_score for g in nb.grade_cells}
            points.update({t.name: t.max_score for t in nb.task_cells})
            for c in nb.source_cells:
                if c.name in points:
                    out.append((nb.name, c.name, points[c.name]))
        return out


# --------------------------------------------------------------------------
# what travels to a worker
# --------------------------------------------------------------------------

def stable_repr(obj) -> str:
    """``repr`` that is the same in every process: sets sorted (a set's order follows string
    hashing, which Python salts per process), dataclasses and dicts field by field."""
    from dataclasses import fields, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        inner = ", ".join(f"{f.name}={stable_repr(getattr(obj, f.name))}" for f in fields(obj))
        return f"{type(obj).__name__}({inner})"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{stable_repr(k)}: {stable_repr(v)}"
                               for k, v in sorted(obj.items(), key=lambda kv: repr(kv[0]))) + "}"
    if isinstance(obj, (set, frozenset)):
        return "{" + ", ".join(sorted(stable_repr(x) for x in obj)) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ", ".join(stable_repr(x) for x in obj) + "]"
    return repr(obj)


@dataclass
class Bundle:
    """What a worker needs to grade one assignment (picklable, no paths to the course)."""

    master: MasterAssignment
    source_notebooks: dict          # notebook name -> the instructor's notebook (JSON text)
    files: dict                     # other files of source/<assignment> (relative path -> bytes)
    spec: Any                       # the referee's spec (cnnlab_grade.referee.RefereeSpec), or None
    secret: int                     # the referee's secret: its inputs are drawn from it
    limits: Limits = field(default_factory=Limits)
    unsafe: bool = False
    hidden_paths: tuple = ()        # host paths no sandbox may see (the course, the grading directory)
    feedback: bool = True
    extra_ro: tuple = ()            # further read-only paths (--expose)

    @property
    def name(self) -> str:
        return self.master.name

    def fingerprints(self) -> dict:
        """What grading depends on, in two parts: ``tests`` (the source notebooks, their test
        cells included, the referee's spec and the assignment's files) and ``settings`` (limits,
        sandbox, due date, the referee's secret). Lateness is not in them: the term stage works
        the penalties out afresh on every run."""
        def digest(*parts):
            h = hashlib.sha256()
            for part in parts:
                h.update(part.encode() + b"\0")
            return h.hexdigest()[:16]

        return {"tests": digest(json.dumps(self.source_notebooks, sort_keys=True), stable_repr(self.spec),
                                json.dumps({k: hashlib.sha256(v).hexdigest() for k, v in sorted(self.files.items())})),
                "settings": digest(repr(self.limits), str(self.unsafe), str(self.master.duedate), str(self.secret),
                                   str(RESULT_VERSION))}

    def fingerprint(self) -> str:
        """Changes whenever grading would give a different result."""
        parts = self.fingerprints()
        return hashlib.sha256((parts["tests"] + parts["settings"]).encode()).hexdigest()[:16]


@dataclass
class Job:
    """One student's submission of one assignment."""

    assignment: str
    student: str
    files: dict                      # relative path -> bytes, as submitted
    timestamp: str | None = None     # ISO, UTC
    input_hash: str = ""
    notes: list = field(default_factory=list)  # from collecting (renamed files)
    refused: list = field(default_factory=list)  # "path: why" of each entry that was not read (intake)
    run: str = ""                    # this run's random token: with the student, it picks the referee's inputs
    why: str = "first grading"       # why it is graded (the audit log's reason, see cnnlab_grade.audit)

    @staticmethod
    def hash_files(files: dict, timestamp, refused=()) -> str:
        h = hashlib.sha256(str(timestamp).encode())
        for k in sorted(files):
            h.update(k.encode() + b"\0" + hashlib.sha256(files[k]).digest())
        for r in sorted(refused):
            h.update(b"\1" + r.encode())
        return h.hexdigest()[:16]


# --------------------------------------------------------------------------
# what the stages find
# --------------------------------------------------------------------------

@dataclass
class Fault:
    """Something that went wrong while running one cell (or the notebook)."""

    kind: str  # cell-timeout, notebook-timeout, kernel-died, kernel-restarted, output-truncated, not-run
    cell: int | None
    grade_id: str | None
    message: str

    def to_dict(self):
        return asdict(self)


@dataclass
class Verdict:
    """The referee's judgement of one test cell."""

    grade_id: str
    functions: list
    passed: int
    total: int
    reason: str | None = None  # plain words, no hidden values
    diagnosis: str | None = None

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def to_dict(self):
        return asdict(self)


@dataclass
class NotebookWork:
    """One notebook of a submission on its way through the stages."""

    name: str
    max_score: float
    questions: dict                  # grade_id -> {"score", "max", "reason", ...}
    data: bytes | None = None        # the file as submitted (None: not submitted)
    nb: Any = None                   # the notebook being graded (nbformat), once read and prepared
    hidden: list = field(default_factory=list)   # lines of the hidden tests (never shown)
    faults: list = field(default_factory=list)   # Fault, from the sandbox run
    notes: list = field(default_factory=list)    # what nbgrader's preprocessors said
    kernel: dict = field(default_factory=dict)   # grade_id -> (score, max_score, cell): the notebook's own run
    verdicts: dict = field(default_factory=dict)  # grade_id -> Verdict: the referee's
    score: float = 0.0
    autograded: str | None = None    # the graded notebook (JSON text)
    feedback: str | None = None      # the feedback page (HTML)
    feedback_withheld: str | None = None  # the same with the hidden tests' results withheld

    @property
    def gradable(self) -> bool:
        return self.nb is not None

    def record(self) -> dict:
        return {"questions": self.questions, "faults": [f.to_dict() for f in self.faults], "notes": self.notes,
                "autograded": self.autograded, "feedback": self.feedback,
                "feedback_withheld": self.feedback_withheld, "score": self.score,
                "max_score": self.max_score}


@dataclass
class Submission:
    """A job on its way through the stages: what they found so far."""

    job: Job
    bundle: Bundle
    notebooks: dict = field(default_factory=dict)   # name -> NotebookWork
    home_files: dict = field(default_factory=dict)  # files the sandbox's home gets beside the notebook
    flags: list = field(default_factory=list)       # {"flag": kind, "reason": plain words}
    late_seconds: float = 0.0
    timings: dict = field(default_factory=dict)     # stage -> seconds

    def flag(self, kind: str, reason: str) -> None:
        self.flags.append({"flag": kind, "reason": reason})

    def gradable(self) -> list[NotebookWork]:
        return [w for w in self.notebooks.values() if w.gradable]

    def result(self, seconds: float) -> dict:
        """The result the export stage records (JSON-ready)."""
        return {
            "version": RESULT_VERSION,
            "assignment": self.job.assignment,
            "student": self.job.student,
            "timestamp": self.job.timestamp,
            "input_hash": self.job.input_hash,
            "bundle": self.bundle.fingerprint(),
            "bundle_parts": self.bundle.fingerprints(),
            "why": self.job.why,
            "notebooks": {name: w.record() for name, w in self.notebooks.items()},
            "score": sum(w.score for w in self.notebooks.values()),
            "max_score": self.bundle.master.max_score,
            "late_seconds": self.late_seconds,
            "flags": self.flags,
            "seconds": round(seconds, 2),
            "timings": self.timings,
        }


# --------------------------------------------------------------------------
# what a run did
# --------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one run did."""

    graded: dict = field(default_factory=dict)      # assignment -> [student]
    skipped: dict = field(default_factory=dict)     # already graded
    errors: dict = field(default_factory=dict)      # assignment -> {student: reason}
    unmatched: dict = field(default_factory=dict)   # assignment -> [file: reason]
    exports: dict = field(default_factory=dict)     # assignment -> {name: path}
    messages: dict = field(default_factory=dict)    # assignment -> [lines of the term stages for the TA]
    phases: dict = field(default_factory=dict)      # seconds: setup, solution check, grading, export
    interrupted: bool = False
    seconds: float = 0.0
