"""The coordinator: a class's submissions to grades, in parallel, resumable.

``grade()`` does, for each assignment:

1. sets up a grading directory that is an nbgrader course (its own
   ``nbgrader_config.py`` and ``gradebook.db``; the course's ``source/`` is
   used where it is), generates the assignment into the gradebook with
   nbgrader (only when the source changed) and reads its master cells;
2. collects the submissions with nbgrader's ``zip_collect``;
3. checks, once per machine, that the instructor's solution gets full marks
   in the sandbox (this also warms the caches every student's sandbox gets);
4. runs one :func:`~cnnlab.autograde.job.grade_student` job per student that
   is not graded yet, on a local process pool (``workers``) or on a Dask
   cluster (``dask``);
5. records each result as it arrives, in this process only: the autograded
   notebook and the feedback (``autograded/``, ``feedback/``), the gradebook
   (nbgrader's own preprocessors), and last a result file that marks the
   student done (``.cnnlab-grade/results/``, written atomically);
6. exports the grades and the report.

An interrupted run loses at most the students being graded at that moment;
the next run skips every student whose result file matches the submission
and the grading settings (``force`` regrades).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import secrets as _secrets
import signal
import sys
import threading
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic

import nbformat

from .job import Bundle, GradingBroken, Job, check_referee, ensure_seed, grade_student
from .sandbox import Limits, require_sandbox

log = logging.getLogger("cnnlab.autograde")
STATE = ".cnnlab-grade"


def _atomic_write(path: Path, data: bytes | str, mode: int = 0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


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
        from .sandbox import parse_size

        base = Limits()
        cell = self.setting(assignment, "cell_timeout", given.get("cell_timeout"),
                            self.cell_timeout or base.cell_timeout)
        return Limits(
            cell_timeout=float(cell),
            notebook_timeout=float(self.setting(assignment, "notebook_timeout", given.get("notebook_timeout"),
                                                base.notebook_timeout)),
            memory=parse_size(self.setting(assignment, "memory", given.get("memory"), base.memory), "memory"),
            processes=int(self.setting(assignment, "processes", given.get("processes"), base.processes)))

    def spec_path(self, assignment: str) -> Path | None:
        if self.autograder:
            p = self.autograder / "referee" / f"{assignment}.toml"
            return p if p.is_file() else None
        return None


LIMIT_KEYS = ("cell_timeout", "notebook_timeout", "memory", "processes")


@dataclass
class Options:
    workers: int = 0                   # 0: the machine's cores
    dask: str | None = None            # scheduler address
    force: bool = False
    unsafe: bool = False
    limits: dict = field(default_factory=dict)  # given on the command line: they win over grading.toml
    students: list = field(default_factory=list)
    due: dict = field(default_factory=dict)   # assignment -> ISO due date
    late_penalty: str | None = None   # None: grading.toml, else "none"
    regex: str | None = None
    feedback: bool = True
    progress: bool = True
    expose: list = field(default_factory=list)


@dataclass
class Outcome:
    """What one run did."""

    graded: dict = field(default_factory=dict)      # assignment -> [student]
    skipped: dict = field(default_factory=dict)     # already graded
    errors: dict = field(default_factory=dict)      # assignment -> {student: reason}
    unmatched: dict = field(default_factory=dict)   # assignment -> [file: reason]
    exports: dict = field(default_factory=dict)     # assignment -> {name: path}
    phases: dict = field(default_factory=dict)      # seconds: setup, solution check, grading, export
    interrupted: bool = False
    seconds: float = 0.0


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

    def write_nbgrader_config(self, late_penalty: str):
        text = (
            "# Written by cnnlab-grade: this grading directory is an nbgrader course, so nbgrader's\n"
            "# commands work here too (nbgrader export, nbgrader formgrader, nbgrader db student list).\n"
            "c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.root = {str(self.out)!r}\n"
            f"c.CourseDirectory.source_directory = {str(self.course.source)!r}\n"
            "c.CourseDirectory.release_directory = 'release'\n"
            f"c.CourseDirectory.course_id = {self.course.course_id!r}\n"
            f"c.LateSubmissionPlugin.penalty_method = {late_penalty!r}\n")
        path = self.out / "nbgrader_config.py"
        if not path.exists() or path.read_text() != text:
            _atomic_write(path, text)

    def seed(self) -> int:
        """The referee's secret seed: made once, kept with the grading state
        (which no sandbox can see), so reruns judge alike."""
        path = self.state / "referee-seed"
        if not path.exists():
            _atomic_write(path, str(_secrets.randbits(62)), mode=0o600)
        return int(path.read_text().strip())

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


# ---------------------------------------------------------------------------
# preparing an assignment


def _source_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and ".ipynb_checkpoints" not in p.parts:
            h.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def generate(gdir: GradingDir, assignment: str, due: str | None):
    """Put the assignment into the gradebook with nbgrader's generate_assignment
    (only when its source changed since the last run) and set its due date."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import parse_utc

    src = gdir.course.source / assignment
    stamp = gdir.state / "generated" / assignment
    digest = _source_hash(src)
    if not (stamp.exists() and stamp.read_text() == digest and (gdir.out / "gradebook.db").exists()):
        cfg = gdir.config()
        api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
        res = api.generate_assignment(assignment, force=True, create=True)
        if not res["success"]:
            raise GradingBroken(f"nbgrader generate_assignment {assignment} failed:\n{res.get('error') or ''}\n"
                                f"{res.get('log', '')[-2000:]}")
        _atomic_write(stamp, digest)
    with Gradebook(gdir.db_url) as gb:
        gb.update_or_create_assignment(assignment, duedate=parse_utc(due) if due else None)


def make_bundle(gdir: GradingDir, assignment: str, opts: Options) -> Bundle:
    from .gradebook import snapshot
    from .referee import Spec

    master = snapshot(gdir.db_url, assignment)
    src = gdir.course.source / assignment
    source_nbs = {name: (src / f"{name}.ipynb").read_text() for name in master.notebooks}
    files = {}
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in rel.parts \
                and "__pycache__" not in rel.parts:
            files[str(rel)] = p.read_bytes()
    spec = None
    spec_path = gdir.course.spec_path(assignment)
    if spec_path:
        from .referee import defined_functions

        tests, answers = {}, []
        for nb in master.notebooks.values():
            graded = {g.name for g in nb.grade_cells}
            solutions = {c.name for c in nb.solution_cells}
            tests.update({c.name: c.source for c in nb.source_cells if c.name in graded})
            answers += [c.source for c in nb.source_cells if c.name in solutions]
        # the instructor's answer cells say which functions the students write
        solution_nbs = [nbformat.reads(t, as_version=4) for t in source_nbs.values()]
        answers += [c.source for snb in solution_nbs for c in snb.cells
                    if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        spec = Spec.load(spec_path, assignment, tests, defined_functions(answers))
    secrets = [gdir.course.root, gdir.course.source, gdir.out]
    return Bundle(master=master, source_notebooks=source_nbs, files=files, spec=spec, seed=gdir.seed(),
                  limits=gdir.course.limits(assignment, opts.limits), unsafe=opts.unsafe,
                  secrets=tuple(str(s) for s in secrets),
                  late_penalty=gdir.course.setting(assignment, "late_penalty", opts.late_penalty, "none"),
                  feedback=opts.feedback, extra_ro=tuple(opts.expose))


def gather_jobs(gdir: GradingDir, assignment: str, bundle: Bundle, opts: Options):
    """(jobs to run, students already graded)."""
    from nbgrader.utils import parse_utc

    submitted = gdir.out / "submitted"
    jobs, done = [], []
    for sdir in sorted(submitted.iterdir()) if submitted.is_dir() else []:
        adir = sdir / assignment
        if not adir.is_dir() or (opts.students and sdir.name not in opts.students):
            continue
        files, timestamp = {}, None
        for p in sorted(adir.rglob("*")):
            if p.is_file():
                rel = str(p.relative_to(adir))
                if rel == "timestamp.txt":
                    text = p.read_text().strip()
                    timestamp = parse_utc(text).isoformat() if text else None
                else:
                    files[rel] = p.read_bytes()
        job = Job(assignment, sdir.name, files, timestamp, Job.hash_files(files, timestamp))
        prev = gdir.load_result(assignment, sdir.name)
        if (not opts.force and prev and prev.get("input_hash") == job.input_hash
                and prev.get("bundle") == bundle.fingerprint()):
            done.append(sdir.name)
        else:
            jobs.append(job)
    return jobs, done


# ---------------------------------------------------------------------------
# recording (this process only)


class Writer:
    """The one place that writes grades: files, gradebook, result marker."""

    def __init__(self, gdir: GradingDir, opts: Options, late_penalties: dict):
        from .gradebook import Recorder

        self.gdir = gdir
        self.recorders = {}
        for a, method in late_penalties.items():
            cfg = gdir.config()
            cfg.LateSubmissionPlugin.penalty_method = method
            self.recorders[a] = cfg
        self.recorder = Recorder(gdir.db_url)

    def close(self):
        self.recorder.close()

    def record(self, result: dict, bundle: Bundle):
        a, s = result["assignment"], result["student"]
        out = self.gdir.out
        graded = {}
        for name, rec in result["notebooks"].items():
            if rec.get("autograded"):
                text = rec.pop("autograded")
                _atomic_write(out / "autograded" / s / a / f"{name}.ipynb", text)
                graded[name] = nbformat.reads(text, as_version=4)
            else:
                graded[name] = None
            if rec.get("feedback"):
                _atomic_write(out / "feedback" / s / a / f"{name}.html", rec.pop("feedback"))
        if result.get("timestamp"):
            _atomic_write(out / "autograded" / s / a / "timestamp.txt", result["timestamp"])
        self.recorder.config = self.recorders.get(a)
        self.recorder.record(a, s, result.get("timestamp"), graded, bundle.master)
        db = self.recorder.scores(a, s)
        result["gradebook"] = db
        result["recorded"] = True
        _atomic_write(self.gdir.result_path(a, s), json.dumps(result, indent=1, default=str))
        return result


# ---------------------------------------------------------------------------
# running the jobs


def _worker_init(coordinator: int):
    """Worker initializer: die when the coordinator dies, kill -9 included.

    The workers' parent is multiprocessing's fork server, which outlives the
    coordinator as long as a worker lives (they hold its pipe), so a thread
    watches the coordinator itself; the sandboxes die with their worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle

    def watch():
        while True:
            time.sleep(0.5)
            try:
                os.kill(coordinator, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass

    threading.Thread(target=watch, daemon=True, name="coordinator-watch").start()


def _preload(bundles) -> list[str]:
    """Modules the workers need, imported once in the fork server (not per worker)."""
    mods = ["cnnlab.autograde.job", "cnnlab.autograde._warm"]
    for b in bundles.values():
        for imp in (b.spec.imports if b.spec else []):
            words = imp.replace(",", " ").split()
            if words[:1] in (["from"], ["import"]) and len(words) > 1:
                mods.append(words[1])
            elif words:
                mods.append(words[0])
    return list(dict.fromkeys(mods))


def _local(jobs, bundles, workers):
    """Yield (job, result or exception) from a process pool; a pool that
    breaks (a worker killed) is replaced and the unfinished jobs resubmitted.
    The workers fork from a server that imported everything once."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_preload(bundles))
    pending = list(jobs)
    for _attempt in range(3):
        if not pending:
            return
        pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=ctx,
                                   initializer=_worker_init, initargs=(os.getpid(),))
        futures = {pool.submit(grade_student, j, bundles[j.assignment]): j for j in pending}
        broken, finished = False, False
        try:
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                except Exception as exc:  # noqa: BLE001 - reported per student
                    result = exc
                pending.remove(job)
                yield job, result
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:  # interrupted: stop now, the sandboxes die with their workers
                _kill(pool)
        if not broken:
            return
    for job in pending:
        yield job, RuntimeError("the grading worker kept dying on this submission")


def _kill(pool: ProcessPoolExecutor):
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join(timeout=5)


def _dask(jobs, bundles, address):
    from distributed import Client, as_completed as dask_completed

    with Client(address, timeout="30s") as client:
        shared = {a: client.scatter(b, broadcast=True) for a, b in bundles.items()}
        futures = {}
        for j in jobs:
            fut = client.submit(grade_student, j, shared[j.assignment], pure=False,
                                key=f"grade-{j.assignment}-{j.student}-{_secrets.token_hex(4)}")
            futures[fut] = j
        try:
            for fut in dask_completed(list(futures)):
                job = futures[fut]
                try:
                    yield job, fut.result()
                except Exception as exc:  # noqa: BLE001
                    yield job, exc
        finally:
            client.cancel(list(futures))


def _status_line(result: dict) -> str:
    flags = sorted({f["flag"] for f in result["flags"]})
    return (f"{result['assignment']:<6} {result['student']:<18} {result['score']:>6g} / {result['max_score']:g}"
            + (f"   [{', '.join(flags)}]" if flags else ""))


def grade(course: Course, out: Path, submissions: Path, assignments: list[str] | None, opts: Options,
          echo=print) -> Outcome:
    """Grade (see the module docstring).  ``echo`` prints the story."""
    from tqdm import tqdm

    from . import collect as collect_mod
    from .export import export_assignment

    t0 = monotonic()
    require_sandbox(opts.unsafe)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    submissions = Path(submissions).resolve()
    if not submissions.exists():
        raise ValueError(f"submissions: {submissions} does not exist; give the LMS export (.zip) or a folder")
    gdir = GradingDir(out, course)
    gdir.write_nbgrader_config(course.setting(assignments[0] if assignments and len(assignments) == 1 else "",
                                              "late_penalty", opts.late_penalty, "none"))
    known = course.assignments()
    if assignments:
        unknown = [a for a in assignments if a not in known]
        if unknown:
            raise ValueError(f"assignment: {', '.join(unknown)} not found in {course.source}; "
                             f"known: {', '.join(known) or 'none'}")
    todo = assignments or known
    outcome = Outcome()
    bundles, jobs = {}, []
    cfg = gdir.config()
    quiet = logging.getLogger("cnnlab.autograde.nbgrader")
    quiet.setLevel(logging.ERROR)
    for a in todo:
        due = course.setting(a, "due", opts.due.get(a))
        generate(gdir, a, due)
        bundle = make_bundle(gdir, a, opts)
        notebooks = list(bundle.master.notebooks)
        others = [p.stem for b in known if b != a for p in (course.source / b).glob("*.ipynb")]
        res = collect_mod.collect(cfg, a, notebooks, submissions, single=len(todo) == 1, regex=opts.regex,
                                  log=quiet, elsewhere=others)
        outcome.unmatched[a] = res["unmatched"]
        new, done = gather_jobs(gdir, a, bundle, opts)
        if not new and not done:
            echo(f"{a}: no submissions found in {submissions}")
            continue
        for job in new:
            job.notes = list(res["notes"].get(job.student, []))
        bundles[a] = bundle
        jobs += new
        outcome.skipped[a] = done
        echo(f"{a}: {len(new) + len(done)} submissions, {len(done)} already graded, {len(new)} to grade")
    outcome.phases["setup"] = monotonic() - t0
    t1 = monotonic()
    # the instructor's solution must score full marks in the sandbox before any student is graded
    for a, bundle in bundles.items():
        if opts.dask is None and any(j.assignment == a for j in jobs):
            echo(f"{a}: checking the instructor's solution in the sandbox ...")
            check_referee(bundle, ensure_seed(bundle))
    outcome.phases["solution check"] = monotonic() - t1
    t2 = monotonic()
    writer = Writer(gdir, opts, {a: b.late_penalty for a, b in bundles.items()})
    tqdm.monitor_interval = 0  # no monitor thread
    workers = opts.workers or os.cpu_count() or 1
    source = _dask(jobs, bundles, opts.dask) if opts.dask else _local(jobs, bundles, workers)
    bar = tqdm(total=len(jobs), unit="student", disable=not opts.progress or not jobs, dynamic_ncols=True,
               desc=f"grading ({opts.dask or f'{workers} workers'})")
    counts = {"ok": 0, "flagged": 0, "errors": 0}
    try:
        for job, result in source:
            if isinstance(result, BaseException):
                reason = (str(result).strip() or type(result).__name__).splitlines()
                outcome.errors.setdefault(job.assignment, {})[job.student] = " ".join(reason)[:500]
                counts["errors"] += 1
                if opts.progress:
                    bar.write(f"{job.assignment:<6} {job.student:<18}  ERROR: {reason[0][:200]}")
                if isinstance(result, GradingBroken):
                    raise result
            else:
                writer.record(result, bundles[job.assignment])
                outcome.graded.setdefault(job.assignment, []).append(job.student)
                counts["flagged" if result["flags"] else "ok"] += 1
                if opts.progress:
                    bar.write(_status_line(result))
            bar.set_postfix(counts)
            bar.update(1)
    except KeyboardInterrupt:
        outcome.interrupted = True
        source.close()
    finally:
        bar.close()
        writer.close()
    outcome.phases["grading"] = monotonic() - t2
    t3 = monotonic()
    for a, bundle in bundles.items():
        outcome.exports[a] = export_assignment(gdir, a, bundle.master)
    outcome.phases["export"] = monotonic() - t3
    outcome.seconds = monotonic() - t0
    return outcome
