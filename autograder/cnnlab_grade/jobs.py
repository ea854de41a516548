"""The jobs of a run: one per student of ``submitted/`` who is not graded yet.

A student counts as graded when their result file matches both the
submission (its files and time) and the grading settings (the bundle's
fingerprint), and they were not left ``could-not-grade``; ``--force``
grades everyone again.
"""

from __future__ import annotations

import os
from pathlib import Path

from .gradedir import GradingDir
from .intake import inode_counts, refusal
from .records import RESULT_VERSION, Bundle, Job, Options

SECRET = "submission_secret.txt"  # nbgrader's exchange: the key of the submission's feedback


def read_submission(adir: Path) -> tuple[dict, str | None, list[str]]:
    """(files, timestamp, refused) of one student's folder in ``submitted/``: the regular
    files only (:func:`cnnlab_grade.intake.refusal`); links are not followed.  nbgrader's
    exchange bookkeeping (``timestamp.txt``, ``submission_secret.txt``) is not a file of the
    submission: it stays in ``submitted/`` for returning the feedback (:mod:`cnnlab_grade.exchange`)."""
    from nbgrader.utils import parse_utc

    files, timestamp, refused = {}, None, []
    inside = inode_counts(adir)
    for folder, dirs, names in os.walk(adir):
        here = Path(folder)
        for d in [d for d in dirs if (here / d).is_symlink()]:
            dirs.remove(d)
            names.append(d)
        for name in sorted(names):
            p = here / name
            rel = p.relative_to(adir).as_posix()
            why = refusal(p, inside)
            if why:
                refused.append(f"{rel}: {why}")
            elif rel == "timestamp.txt":
                text = p.read_text().strip()
                timestamp = parse_utc(text).isoformat() if text else None
            elif rel == SECRET:
                continue
            else:
                files[rel] = p.read_bytes()
    return dict(sorted(files.items())), timestamp, sorted(refused)


def gather_jobs(gdir: GradingDir, assignment: str, bundle: Bundle, opts: Options, refused: dict | None = None):
    """(jobs to run, students already graded). ``refused``: {student: ["path: why", ...]} of
    the entries collecting did not take; a student with nothing else still gets a job (and a row)."""
    submitted = gdir.out / "submitted"
    refused = refused or {}
    students = {s.name for s in submitted.iterdir() if (s / assignment).is_dir()} if submitted.is_dir() else set()
    jobs, done = [], []
    for student in sorted(students | set(refused)):
        if opts.students and student not in opts.students:
            continue
        adir = submitted / student / assignment
        files, timestamp, not_read = read_submission(adir) if student in students else ({}, None, [])
        why = sorted(set(refused.get(student, [])) | set(not_read))
        job = Job(assignment, student, files, timestamp, Job.hash_files(files, timestamp, why), refused=why)
        prev = gdir.load_result(assignment, student)
        job.why = why_graded(prev, job, bundle, opts.force)
        if job.why is None:
            done.append(student)
        else:
            jobs.append(job)
    return jobs, done


def why_graded(prev: dict | None, job: Job, bundle: Bundle, force: bool) -> str | None:
    """Why the student is graded (the audit log's reason), or None when their result stands."""
    if prev is None:
        return "first grading"
    if prev.get("input_hash") != job.input_hash:
        return "new submission"
    if prev.get("version") != RESULT_VERSION:
        return "grader updated"
    parts, before = bundle.fingerprints(), prev.get("bundle_parts") or {}
    if prev.get("bundle") != bundle.fingerprint():
        if before.get("tests") != parts["tests"]:
            return "changed tests"
        return "changed settings"
    if any(f.get("flag") == "could-not-grade" for f in prev.get("flags", [])):
        return "again after could-not-grade"
    return "--force" if force else None
