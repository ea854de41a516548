"""One student's grading job: a pure function from submitted files to a result.

:func:`grade_student` runs in a worker process (local pool or Dask worker).
It touches neither the gradebook nor the course directory: everything it
needs travels in the :class:`Job` and the assignment's :class:`Bundle`, and
everything it produces (the autograded notebook, the feedback HTML, the
scores, the flags) comes back in the returned dict, which the coordinating
process records.  A job never raises for a student's fault; it raises only
when grading itself is broken, and then nothing is recorded for the student.
"""

from __future__ import annotations

import atexit
import copy
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from time import monotonic

import nbformat
from nbformat.reader import NotJSONError
from nbgrader import utils as nbutils
from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds, LimitOutput,
                                    OverwriteCells, OverwriteKernelspec)

from . import feedback as fb
from .execute import NotebookRun, run_notebook
from .gradebook import MasterAssignment, SnapshotGradebook
from .referee import Referee, Spec, student_code_cells, verdict_points
from .sandbox import HOME, Limits, Sandbox, prepare_home, uid_slot
from .zygote import ZygoteKernelManager
from .scan import split_files, suspicious_code

RESULT_VERSION = 1


class GradingBroken(RuntimeError):
    """Grading itself does not work (not the student's fault)."""


@dataclass
class Bundle:
    """What a worker needs to grade one assignment (picklable, no paths to the course)."""

    master: MasterAssignment
    source_notebooks: dict          # notebook name -> the instructor's notebook (JSON text)
    files: dict                     # other files of source/<assignment> (relative path -> bytes)
    spec: Spec | None               # referee spec, or None
    seed: int                       # the referee's secret seed
    limits: Limits = field(default_factory=Limits)
    unsafe: bool = False
    secrets: tuple = ()
    late_penalty: str = "none"      # nbgrader's LateSubmissionPlugin.penalty_method
    feedback: bool = True
    extra_ro: tuple = ()

    @property
    def name(self) -> str:
        return self.master.name

    def fingerprint(self) -> str:
        """Changes whenever grading would give a different result."""
        h = hashlib.sha256()
        for part in (json.dumps(self.source_notebooks, sort_keys=True),
                     repr(self.spec),
                     json.dumps({k: hashlib.sha256(v).hexdigest() for k, v in sorted(self.files.items())}),
                     repr(self.limits), str(self.unsafe), self.late_penalty, str(self.master.duedate),
                     str(self.seed), str(RESULT_VERSION)):
            h.update(part.encode())
        return h.hexdigest()[:16]

    def sandbox(self) -> Sandbox:
        return Sandbox(self.limits, secrets=tuple(self.secrets), extra_ro=tuple(self.extra_ro), unsafe=self.unsafe)


@dataclass
class Job:
    assignment: str
    student: str
    files: dict                      # relative path -> bytes, as submitted
    timestamp: str | None = None     # ISO, UTC
    input_hash: str = ""
    notes: list = field(default_factory=list)  # from collecting (renamed files)

    @staticmethod
    def hash_files(files: dict, timestamp) -> str:
        h = hashlib.sha256(str(timestamp).encode())
        for k in sorted(files):
            h.update(k.encode() + b"\0" + hashlib.sha256(files[k]).digest())
        return h.hexdigest()[:16]


class _Capture(logging.Handler):
    """Collects nbgrader's warnings (changed test cells, duplicate ids...)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _logger(capture: _Capture) -> logging.Logger:
    log = logging.getLogger(f"cnnlab.autograde.job.{id(capture)}")
    log.handlers[:] = [capture]
    log.propagate = False
    log.setLevel(logging.WARNING)
    return log


# ---------------------------------------------------------------------------
# the notebook, from bytes to graded


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
        if gid in locked and fb.strip_hidden(cell.source).strip() != fb.strip_hidden(locked[gid].source).strip():
            out.append(gid)
    return out


def _set_score(cell, points: float, max_points: float, message: str):
    """Make nbgrader's ``determine_grade`` give ``points`` for this test cell."""
    outs = [o for o in cell.outputs if o.get("output_type") != "execute_result"]
    if points <= 0:
        outs.append(nbformat.v4.new_output("error", ename="RefereeCheckFailed", evalue=message,
                                           traceback=[f"RefereeCheckFailed: {message}"]))
    elif points < max_points:
        outs = [o for o in outs if o.get("output_type") != "error"]
        outs.insert(0, nbformat.v4.new_output("execute_result", data={"text/plain": repr(float(points))},
                                              execution_count=cell.get("execution_count")))
    cell.outputs = outs


# ---------------------------------------------------------------------------
# seeds: warm caches built by running the instructor's notebook (trusted)

_REFEREES: dict = {}


def _seed_root() -> Path:
    d = Path(tempfile.gettempdir()) / f"cnnlab-grade-{os.geteuid()}" / "seeds"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def _warm_key(bundle: Bundle) -> str:
    """What the warm caches depend on: the instructor's notebooks and files, the
    environment, the package's code, and the limits that could fail them."""
    from .sandbox import package_root

    h = hashlib.sha256()
    for part in (json.dumps(bundle.source_notebooks, sort_keys=True),
                 json.dumps({k: hashlib.sha256(v).hexdigest() for k, v in sorted(bundle.files.items())}),
                 os.path.realpath(sys.executable), str(bundle.unsafe), str(bundle.limits.memory),
                 str(bundle.limits.processes), str(bundle.extra_ro), str(RESULT_VERSION)):
        h.update(part.encode())
    for p in sorted(Path(package_root(), "cnnlab").rglob("*.py")):
        h.update(f"{p}:{p.stat().st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def ensure_seed(bundle: Bundle) -> dict:
    """Warm caches (numba's compiled reference, matplotlib's font list) for
    this machine, made once by running the instructor's notebooks in the
    sandbox -- which checks on the way that they score full marks there.
    Shared by every grading of the same notebooks in the same environment.
    Returns ``{relative dir in the student's home: host dir}``."""
    key = _warm_key(bundle)
    root = _seed_root()
    done = root / key / "ok"
    if not done.exists():
        with open(root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                _calibrate(bundle, root / key)
                done.write_text(datetime.now(timezone.utc).isoformat())
    return {".cache": root / key / "home" / ".cache", ".config": root / key / "home" / ".config"}


_REFEREE_CHECKED: set = set()


def check_referee(bundle: Bundle, seeds: dict | None = None) -> None:
    """The referee must pass the instructor's solution (its spec, the check
    library and the sandbox are all in order); raises :class:`GradingBroken`."""
    if not bundle.spec or bundle.fingerprint() in _REFEREE_CHECKED:
        return
    seeds = seeds if seeds is not None else ensure_seed(bundle)
    problems = []
    with uid_slot() as uid, tempfile.TemporaryDirectory(prefix="cnnlab-grade-check-") as tmp:
        os.chmod(tmp, 0o755)
        for name, text in bundle.source_notebooks.items():
            nb = nbformat.reads(text, as_version=4)
            ids = {c.metadata.nbgrader.grade_id for c in nb.cells if nbutils.is_grade(c)}
            verdicts = _referee(bundle).judge(nb, Path(tmp) / name, uid, files=dict(bundle.files), seeds=seeds,
                                              grade_ids=ids)
            problems += [f"{name}: referee check {v.grade_id} fails on the instructor's solution: {v.reason}"
                         for v in verdicts.values() if v.passed < v.total]
    if problems:
        raise GradingBroken("the referee does not accept the instructor's solution, so its verdicts would be "
                            "wrong:\n  " + "\n  ".join(problems) +
                            (f"\n(spec: {bundle.spec.path})" if bundle.spec.path else ""))
    _REFEREE_CHECKED.add(bundle.fingerprint())


def _referee(bundle: Bundle):
    key = (bundle.name, bundle.seed, repr(bundle.spec), repr(bundle.limits), bundle.unsafe, tuple(bundle.secrets))
    if key not in _REFEREES:
        _REFEREES[key] = Referee(bundle.spec, bundle.seed, bundle.sandbox())
    return _REFEREES[key]


def _calibrate(bundle: Bundle, where: Path):
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    # generous limits: the first run compiles what later runs load from the cache
    sandbox = Sandbox(bundle.limits.but(cell_timeout=max(bundle.limits.cell_timeout, 120),
                                        notebook_timeout=max(bundle.limits.notebook_timeout, 600)),
                      secrets=tuple(bundle.secrets), extra_ro=tuple(bundle.extra_ro), unsafe=bundle.unsafe)
    problems = []
    with uid_slot() as uid:
        home = where / "home"
        for name, text in bundle.source_notebooks.items():
            nb = nbformat.reads(text, as_version=4)
            prepare_home(home, dict(bundle.files), uid=uid)
            run_notebook(nb, sandbox=sandbox, home=home, uid=uid, rundir=where / "run", log_path=where / "kernel.log")
            for cell in nb.cells:
                if nbutils.is_grade(cell) and cell.cell_type == "code":
                    score, max_score = nbutils.determine_grade(cell)
                    if score is not None and score < max_score:
                        problems.append(f"{name}: test cell {cell.metadata.nbgrader.grade_id} fails on the "
                                        f"instructor's solution: {fb.failure_reason(cell, []) or 'score ' + str(score)}")
        for f in list(home.iterdir()):
            if f.name not in (".cache", ".config"):
                shutil.rmtree(f) if f.is_dir() else f.unlink()
        for r, dirs, files in os.walk(home):
            os.chown(r, os.geteuid(), os.getegid())
            for n in dirs + files:
                os.lchown(os.path.join(r, n), os.geteuid(), os.getegid())
    if problems:
        raise GradingBroken("the instructor's solution does not get full marks in the sandbox, so grading "
                            "would be wrong:\n  " + "\n  ".join(problems) +
                            f"\n(kernel log: {where / 'kernel.log'})")


# ---------------------------------------------------------------------------
# per-worker state: a uid slot for the worker's lifetime, and its kernel zygotes

_UID = None
_ZYGOTES: dict = {}


def _worker_uid() -> int:
    """This process's sandbox uid, reserved until it exits."""
    global _UID
    if _UID is None:
        slot = uid_slot()
        _UID = slot.__enter__()  # released when the process exits (the lock file closes)
        _UID_HOLD.append(slot)
    return _UID


_UID_HOLD: list = []


def _preload_modules(bundle: Bundle) -> list[str]:
    """What the zygote imports once: the instructor notebook's own imports
    (trusted code; a student's notebook imports them again, at no cost)."""
    import ast as _ast

    mods = []
    for text in bundle.source_notebooks.values():
        for cell in nbformat.reads(text, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = _ast.parse("\n".join(ln for ln in cell.source.splitlines()
                                            if not ln.lstrip().startswith(("%", "!"))))
            except SyntaxError:
                continue
            for node in _ast.walk(tree):
                if isinstance(node, _ast.Import):
                    mods += [a.name for a in node.names]
                elif isinstance(node, _ast.ImportFrom) and node.module and node.level == 0:
                    mods.append(node.module)
    return list(dict.fromkeys(["numpy", *mods]))


def _zygote(bundle: Bundle, uid: int, seeds: dict):
    """This worker's kernel zygote for the bundle (None where zygotes cannot run)."""
    from . import zygote as zmod

    sandbox = bundle.sandbox()
    if not zmod.available(sandbox):
        return None
    key = (_warm_key(bundle), uid, repr(bundle.limits), tuple(bundle.secrets))
    z = _ZYGOTES.get(key)
    if z is None or not z.alive:
        if z is not None:
            z.close()
        # not under /tmp: each kernel gets a fresh /tmp, and its sockets must stay where the grader sees them
        base = Path(tempfile.mkdtemp(prefix="cnnlab-grade-zygote-", dir="/run" if os.access("/run", os.W_OK) else None))
        os.chmod(base, 0o755)
        seed_home = Path(seeds[".cache"]).parent if seeds else None
        z = _ZYGOTES[key] = zmod.Zygote(sandbox, uid, _preload_modules(bundle), seed_home, base)
        atexit.register(_close_zygote, z, base)
    return z


def _close_zygote(z, base):
    z.close()
    shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------
# the job


def _where(cell, index: int) -> str:
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"test {gid}" if gid and cell.metadata.nbgrader.get("grade") else f"cell {index}"


def _late(timestamp: str | None, duedate: str | None) -> float:
    if not timestamp or not duedate:
        return 0.0
    t = nbutils.parse_utc(timestamp)
    d = nbutils.parse_utc(duedate)
    return max(0.0, (t - d).total_seconds())


def _human(seconds: float) -> str:
    h, m = divmod(int(seconds) // 60, 60)
    return f"{h} h {m} min" if h else f"{m} min"


def grade_student(job: Job, bundle: Bundle) -> dict:
    """Grade one student's submission of one assignment (see module doc)."""
    t0 = monotonic()
    timings: dict[str, float] = {}

    def lap(name, since):
        timings[name] = round(timings.get(name, 0.0) + monotonic() - since, 3)
        return monotonic()

    seeds = ensure_seed(bundle)
    check_referee(bundle, seeds)  # once per process (done by the coordinator when it can)
    master = bundle.master
    sandbox = bundle.sandbox()
    flags: list[dict] = []

    def flag(kind, reason):
        flags.append({"flag": kind, "reason": reason})

    notebooks = {name: job.files.get(f"{name}.ipynb") for name in master.notebooks}
    others = [f for f in job.files if not (f.endswith(".ipynb") and f[:-6] in master.notebooks)]
    stray_nbs = [f for f in others if f.endswith(".ipynb")]
    allowed, quarantined = split_files(f for f in others if not f.endswith(".ipynb"))
    for q in quarantined:
        flag("ignored-file", f"{q} was not placed beside the notebook: a Python module there could replace "
                             "what the tests import")
    for s in stray_nbs:
        flag("extra-notebook", f"{s} is not part of the assignment and was not graded")
    if not any(notebooks.values()):
        flag("empty", "nothing to grade: no notebook of the assignment was submitted")
    for note in job.notes:
        flag("renamed", note)
    late = _late(job.timestamp, master.duedate)
    if late > 0:
        flag("late", f"submitted {_human(late)} after the due date")

    home_files = {f: job.files[f] for f in allowed}
    home_files.update(bundle.files)  # the instructor's files win over same-named submitted ones
    spec = bundle.spec
    referee = _referee(bundle) if spec else None

    out_notebooks = {}
    total = 0.0
    uid = _worker_uid()
    with tempfile.TemporaryDirectory(prefix="cnnlab-grade-job-") as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)
        for name, data in notebooks.items():
            mnb = master.notebooks[name]
            hidden = mnb.hidden_lines()
            questions = {g: {"score": 0.0, "max": p, "reason": None} for nbn, g, p in master.questions() if nbn == name}
            record = {"questions": questions, "faults": [], "notes": [], "autograded": None, "feedback": None,
                      "score": 0.0, "max_score": mnb.max_score}
            out_notebooks[name] = record
            if data is None:
                if any(notebooks.values()):
                    flag("missing-notebook", f"{name}.ipynb was not submitted")
                for q in questions.values():
                    q["reason"] = "not submitted"
                continue
            nb, problem = read_notebook(data)
            if problem:
                flag("invalid-notebook", f"{name}.ipynb: {problem}")
                for q in questions.values():
                    q["reason"] = problem
                continue
            t = monotonic()
            edited = edited_cells(nb, mnb)
            capture = _Capture()
            log = _logger(capture)
            try:
                nb = sanitize(nb, name, master, job.student, log)
            except Exception as e:  # noqa: BLE001 - a broken notebook is the student's, not ours
                flag("invalid-notebook", f"{name}.ipynb cannot be prepared for grading: {type(e).__name__}: {e}")
                continue
            record["notes"] += [fb.redact(m, hidden) for m in capture.messages]
            if edited:
                flag("edited-tests", f"{name}.ipynb: read-only cells were edited ({', '.join(edited)}); "
                                     "nbgrader restored them")
            if any("Missing grade cell" in m for m in capture.messages):
                flag("missing-tests", f"{name}.ipynb: test cells were deleted; nbgrader put them back")
            if any("Cell with id" in m or "duplicate" in m.lower() for m in capture.messages):
                flag("duplicate-ids", f"{name}.ipynb: cells with duplicated grade ids; only the first of each "
                                      "was graded")

            t = lap("sanitize", t)
            # run it in the sandbox: a kernel forked by this worker's zygote, else a fresh one
            files_here = {**home_files, f"{name}.ipynb": data}
            zyg = _zygote(bundle, uid, seeds)
            if zyg is not None:
                stage = zyg.new_stage(files_here)
                env = sandbox.environment(Path(HOME))
                rundir = Path(tempfile.mkdtemp(prefix="k", dir=zyg.runtime))
                os.chmod(rundir, 0o755)
                try:
                    faults = run_notebook(nb, sandbox=sandbox, home=Path(HOME), uid=uid, rundir=rundir,
                                          kernel_manager=lambda rd: ZygoteKernelManager(zyg, stage, env, rd))
                finally:
                    zyg.drop_stage(stage)
                    shutil.rmtree(rundir, ignore_errors=True)
            else:
                home = tmp / f"{name}-kernel"
                prepare_home(home, files_here, uid=uid, seeds=seeds)
                faults = run_notebook(nb, sandbox=sandbox, home=home, uid=uid, rundir=tmp / f"{name}-run",
                                      log_path=tmp / f"{name}-kernel.log")
            record["faults"] = [f.to_dict() for f in faults]
            for f in faults:
                if f.kind in ("cell-timeout", "notebook-timeout", "kernel-died", "output-truncated"):
                    where = f" (test {f.grade_id})" if f.grade_id else (f" (cell {f.cell})" if f.cell is not None else "")
                    flag(f.kind, f"{name}.ipynb{where}: {f.message}")
            nb, _ = LimitOutput().preprocess(nb, {})
            t = lap("kernel", t)

            for kind, marks, what in (
                    ("out-of-memory", ("MemoryError",),
                     f"ran out of memory (the limit is {bundle.limits.memory / 2**30:g} GiB per process)"),
                    ("process-limit", ("BlockingIOError", "Resource temporarily unavailable"),
                     f"hit the limit of {bundle.limits.processes} processes (a fork bomb?)")):
                where = [_where(c, i) for i, c in enumerate(nb.cells) if c.cell_type == "code" and any(
                    o.get("output_type") == "error" and any(m in f"{o.get('ename')}: {o.get('evalue')}"
                                                            for m in marks) for o in c.get("outputs", []))]
                if where:
                    flag(kind, f"{name}.ipynb: {what} in {', '.join(where)}")
            # the notebook's own verdicts
            kernel = {}
            for cell in nb.cells:
                if nbutils.is_grade(cell):
                    gid = cell.metadata.nbgrader.grade_id
                    score, max_score = nbutils.determine_grade(cell)
                    kernel[gid] = (score, max_score, cell)
            # the referee's
            verdicts = {}
            if referee:
                ids = set(kernel) & set(spec.checks)
                if ids:
                    rhome = tmp / f"{name}-referee"
                    verdicts = referee.judge(nb, rhome, uid, files=home_files, seeds=seeds, grade_ids=ids)
            t = lap("referee", t)
            for gid, (score, max_score, cell) in kernel.items():
                q = questions.setdefault(gid, {"score": 0.0, "max": max_score, "reason": None})
                q["kernel"] = score
                if cell.cell_type == "code" and not nbutils.is_solution(cell):
                    q["reason"] = fb.failure_reason(cell, hidden)
                v = verdicts.get(gid)
                if v is not None:
                    q["referee"] = v.to_dict()
                    ref_points = verdict_points(v, max_score, spec.checks[gid].partial)
                    if score is not None and score >= max_score and ref_points < max_score:
                        flag("tampered", f"{name}.ipynb: test {gid} passed in the student's kernel but the referee "
                                         f"found: {v.reason}")
                    if score is None or ref_points < score:
                        _set_score(cell, ref_points, max_score, f"referee: {v.reason}")
                    if ref_points < max_score and v.reason:
                        q["reason"] = (f"{q['reason']}\nhidden checks: {v.reason}" if q.get("reason")
                                       else v.reason)
                    if v.diagnosis:
                        q["diagnosis"] = v.diagnosis
                final, _ = nbutils.determine_grade(cell)
                q["score"] = float(final) if final is not None else None
                if q["score"] is not None and q["score"] >= max_score:
                    q["reason"] = None
            findings = suspicious_code([(i, c.source) for i, c in enumerate(nb.cells)
                                        if c.cell_type == "code" and not nbutils.is_grade(c)])
            for finding in findings:
                flag("suspicious-code", f"{name}.ipynb: {finding}")
            score = sum(q["score"] or 0.0 for q in questions.values())
            record["score"] = score
            record["autograded"] = nbformat.writes(nb)
            total += score
            if bundle.feedback:
                penalty = score if (late > 0 and bundle.late_penalty == "zero") else 0.0
                notes = [f["reason"] for f in flags if f["flag"] not in ("suspicious-code", "tampered")]
                fnb = fb.feedback_notebook(nb, questions, notes, hidden)
                record["feedback"] = fb.render(fnb, notebook=name, score=score, max_score=mnb.max_score,
                                               late_penalty=penalty)
            lap("feedback", t)
    return {
        "version": RESULT_VERSION,
        "assignment": job.assignment,
        "student": job.student,
        "timestamp": job.timestamp,
        "input_hash": job.input_hash,
        "bundle": bundle.fingerprint(),
        "notebooks": out_notebooks,
        "score": total,
        "max_score": master.max_score,
        "late_seconds": late,
        "flags": flags,
        "seconds": round(monotonic() - t0, 2),
        "timings": timings,
    }
