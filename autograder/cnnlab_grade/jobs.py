"""The jobs of a run: one per student of ``submitted/`` who is not graded yet.

A student counts as graded when their result file matches both the
submission (its files and time) and the grading settings (the bundle's
fingerprint); ``--force`` grades everyone again.
"""

from __future__ import annotations

from .gradedir import GradingDir
from .records import Bundle, Job, Options


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
