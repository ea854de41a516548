"""The coordinator: a class's submissions to grades, in parallel, resumable.

``grade()`` does, for each assignment:

1. sets up a grading directory that is an nbgrader course (its own
   ``nbgrader_config.py`` and ``gradebook.db``; the course's ``source/`` is
   used where it is), generates the assignment into the gradebook with
   nbgrader (only when the source changed) and reads its master cells;
2. collects the submissions with nbgrader's ``zip_collect``;
3. checks, once per machine, that the instructor's solution gets full marks
   in the sandbox (this also warms the caches every student's sandbox gets);
4. runs the stages of :mod:`cnnlab_grade.pipeline` on one job per student
   that is not graded yet, on a local process pool (``workers``) or on a Dask
   cluster (``dask``) (:mod:`cnnlab_grade.workers`);
5. records each result as it arrives, in this process only (the export
   stage, :mod:`cnnlab_grade.stages.export`);
6. exports the class's grades and the report (:mod:`cnnlab_grade.report`).

An interrupted run loses at most the students being graded at that moment;
the next run skips every student whose result file matches the submission
and the grading settings (``force`` regrades).
"""


from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path
from time import monotonic

from .assignment import generate, make_bundle
from .course import Course
from .gradedir import GradingDir
from .jobs import gather_jobs
from .pipeline import EXPORT, could_not_grade, run_term
from .stages.term import TermRun
from .records import GradingBroken, Options, Outcome
from .sandbox import require_sandbox
from .stages.referee import referee_for
from .warm import check_referee, ensure_warm
from . import workers


def _status_line(result: dict) -> str:
    flags = sorted({f["flag"] for f in result["flags"]})
    return (f"{result['assignment']:<6} {result['student']:<24} {result['score']:>6g} / {result['max_score']:g}"
            + (f"   [{', '.join(flags)}]" if flags else ""))


def grade(course: Course, out: Path, submissions: Path, assignments: list[str] | None, opts: Options,
          echo=print) -> Outcome:
    """Grade (see the module docstring).  ``echo`` prints the story."""
    from tqdm import tqdm

    from . import collect as collect_mod

    t0 = monotonic()
    require_sandbox(opts.unsafe)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    submissions = Path(submissions).resolve()
    if not submissions.exists():
        raise ValueError(f"submissions: {submissions} does not exist; give the LMS export (.zip) or a folder")
    gdir = GradingDir(out, course)
    gdir.write_nbgrader_config()
    known = course.assignments()
    if assignments:
        unknown = [a for a in assignments if a not in known]
        if unknown:
            raise ValueError(f"assignment: {', '.join(unknown)} not found in {course.source}; "
                             f"known: {', '.join(known) or 'none'}")
    todo = assignments or known
    outcome = Outcome()
    run_token = secrets.token_hex(8)   # the referee's inputs are drawn afresh in every run
    bundles, jobs = {}, []
    cfg = gdir.config()
    quiet = logging.getLogger("cnnlab_grade.nbgrader")
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
        new, done = gather_jobs(gdir, a, bundle, opts, res["refused"])
        if not new and not done:
            echo(f"{a}: no submissions found in {submissions}")
            continue
        for job in new:
            job.notes = list(res["notes"].get(job.student, []))
            job.run = run_token
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
            check_referee(bundle, ensure_warm(bundle), referee_for(bundle))
    outcome.phases["solution check"] = monotonic() - t1
    t2 = monotonic()
    export = EXPORT(gdir, opts)
    tqdm.monitor_interval = 0  # no monitor thread
    n_workers = opts.workers or os.cpu_count() or 1
    source = workers.dask(jobs, bundles, opts.dask) if opts.dask else workers.local(jobs, bundles, n_workers)
    bar = tqdm(total=len(jobs), unit="student", disable=not opts.progress or not jobs, dynamic_ncols=True,
               desc=f"grading ({opts.dask or f'{n_workers} workers'})")
    counts = {"ok": 0, "flagged": 0, "errors": 0}
    try:
        for job, result in source:
            if isinstance(result, BaseException):
                reason = (str(result).strip() or type(result).__name__).splitlines()
                outcome.errors.setdefault(job.assignment, {})[job.student] = " ".join(reason)[:500]
                counts["errors"] += 1
                if opts.progress:
                    bar.write(f"{job.assignment:<6} {job.student:<24}  ERROR: {reason[0][:200]}")
                if isinstance(result, GradingBroken):
                    raise result
                result = could_not_grade(job, bundles[job.assignment], " ".join(reason)[:300])
                export.record(result, bundles[job.assignment])
            else:
                export.record(result, bundles[job.assignment])
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
        export.close()
    outcome.phases["grading"] = monotonic() - t2
    t3 = monotonic()
    term = TermRun(gdir, course, opts, {a: b.master for a, b in bundles.items()}, graded=outcome.graded)
    run_term(term)
    outcome.exports.update(term.exports)
    outcome.messages = term.messages
    outcome.phases["export"] = monotonic() - t3
    outcome.seconds = monotonic() - t0
    return outcome


def override(course: Course, out: Path, target: str, note: str, opts: Options) -> Outcome:
    """``--override ASSIGNMENT:STUDENT:QUESTION=POINTS``: a TA's manual score for one question
    (nbgrader's ``manual_score``, as formgrader sets it), then the term stages, which log it
    with the note and export the grades again."""
    from nbgrader.api import Gradebook, MissingEntry

    from .gradebook import snapshot

    where, _, points_text = target.partition("=")
    bits = where.split(":")
    if len(bits) != 3 or not all(bits) or not points_text:
        raise ValueError(f"--override: expected ASSIGNMENT:STUDENT:QUESTION=POINTS, e.g. ps1:ann:q2a=3, got {target!r}")
    if not note.strip():
        raise ValueError("--override needs --note \"why\" (it goes into the audit log)")
    a, student, question = bits
    try:
        points = float(points_text)
    except ValueError:
        raise ValueError(f"--override: POINTS must be a number, got {points_text!r}") from None
    gdir = GradingDir(out, course)
    if not (gdir.out / "gradebook.db").exists():
        raise ValueError(f"--override: {gdir.out} is not a grading directory (no gradebook.db); give it with -o")
    with Gradebook(gdir.db_url) as gb:
        try:
            sub = gb.find_submission(a, student)
        except MissingEntry:
            raise ValueError(f"--override: no submission of {a} by {student!r} in {gdir.out}") from None
        grades = [g for nb in sub.notebooks for g in nb.grades if g.name == question]
        if not grades:
            known = sorted({g.name for nb in sub.notebooks for g in nb.grades})
            raise ValueError(f"--override: {a} has no graded question {question!r}; its questions: "
                             f"{', '.join(known)}")
        g = grades[0]
        if not 0 <= points <= g.max_score:
            raise ValueError(f"--override: {question} is worth 0 to {g.max_score:g} points, got {points:g}")
        g.manual_score = points
        gb.db.commit()
    outcome = Outcome()
    term = TermRun(gdir, course, opts, {a: snapshot(gdir.db_url, a)}, overrides={(a, student): note.strip()})
    run_term(term)
    outcome.exports.update(term.exports)
    outcome.messages = term.messages
    return outcome
