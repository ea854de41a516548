"""Feedback back through nbgrader's exchange (a course on a JupyterHub).

On a hub the students submit with ``nbgrader submit`` and the instructor
collects with ``nbgrader collect``; ``cnnlab-grade <course>/submitted ps1``
grades that folder (:mod:`cnnlab_grade.collect` keeps each submission's
``timestamp.txt`` and ``submission_secret.txt`` in the grading directory's
``submitted/``).  :func:`release_feedback` hands the feedback pages to
nbgrader's own ``ExchangeReleaseFeedback``, run on the grading directory
(which is an nbgrader course: ``submitted/``, ``feedback/``), so each student
gets their page with ``nbgrader fetch_feedback ps1``.

nbgrader finds a student's page by a hash of the submission's secret and the
notebook's name; the secret and the time are copied from ``submitted/`` into
``feedback/<student>/<assignment>/`` (where nbgrader's release looks for
them).  A student is left out, and said why, when their submission did not
come through the exchange (no secret: an LMS export), or when ``submitted/``
now holds a submission other than the one graded (grade again first).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .gradedir import STATE, atomic_write
from .intake import refusal
from .jobs import SECRET


def check_exchange(exchange) -> Path:
    """The exchange root, which must be an existing folder this user may write to."""
    if exchange is None or str(exchange) == "":
        raise ValueError("--exchange: give nbgrader's exchange folder (c.Exchange.root of the course's "
                         "nbgrader_config.py) to release feedback through it")
    path = Path(exchange).expanduser().resolve()
    if not path.is_dir():
        raise ValueError(f"--exchange: {path} does not exist (nbgrader's exchange folder, c.Exchange.root, "
                         "must exist before anything is released)")
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"--exchange: {path} is not writable by this user")
    return path


def course_exchange(course_root) -> str | None:
    """``c.Exchange.root`` of the course's ``nbgrader_config.py``, if it sets one."""
    cfg_file = Path(course_root) / "nbgrader_config.py"
    if not cfg_file.is_file():
        return None
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader(cfg_file.name, path=str(cfg_file.parent)).load_config()
    return cfg.get("Exchange", {}).get("root") or None


def _graded_time(grading_dir: Path, assignment: str, student: str):
    try:
        result = json.loads((grading_dir / STATE / "results" / assignment / f"{student}.json").read_text())
    except (OSError, ValueError):
        return False, None
    return True, result.get("timestamp")


def _read_own(path: Path) -> str | None:
    """The text of a regular file of the submission's own (None: absent or refused)."""
    if not os.path.lexists(path) or refusal(path):
        return None
    return path.read_text()


def release_feedback(grading_dir: Path, assignment: str, exchange: Path, course_id: str,
                     students=None) -> dict:
    """Release the feedback pages of ``assignment`` in ``grading_dir/feedback/`` through the
    exchange at ``exchange`` for course ``course_id`` (all students, or only ``students``).

    Returns ``{"released": {student: [notebook, ...]}, "skipped": {student: why},
    "exchange": <the exchange's feedback folder>}``.  Raises ValueError (naming
    ``--exchange``) when the exchange folder does not exist or is not writable."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
    from nbgrader.utils import parse_utc
    from traitlets.config import Config

    exchange = check_exchange(exchange)
    grading_dir = Path(grading_dir).resolve()
    feedback, submitted = grading_dir / "feedback", grading_dir / "submitted"
    results = grading_dir / STATE / "results" / assignment
    everyone = sorted({p.name for d in (feedback, submitted) if d.is_dir() for p in d.iterdir()
                       if (p / assignment).is_dir() and not p.is_symlink()}
                      | ({p.stem for p in results.glob("*.json")} if results.is_dir() else set()))
    wanted = set(students) if students else None
    released, skipped = {}, {}
    for s in everyone:
        if wanted is not None and s not in wanted:
            continue
        fdir, sdir = feedback / s / assignment, submitted / s / assignment
        pages = sorted(p.stem for p in fdir.glob("*.html") if p.is_file() and not p.is_symlink())
        secret, stamp = _read_own(sdir / SECRET), _read_own(sdir / "timestamp.txt")
        if not pages:
            skipped[s] = f"no feedback page in feedback/{s}/{assignment}/"
        elif not secret or not stamp:
            skipped[s] = (f"not submitted through nbgrader's exchange (submitted/{s}/{assignment}/ has no "
                          f"{SECRET if not secret else 'timestamp.txt'})")
        else:
            graded, when = _graded_time(grading_dir, assignment, s)
            try:
                now = parse_utc(stamp.strip()).isoformat()
            except Exception:
                now = None
            if not graded or when != now:
                skipped[s] = (f"submitted/{s}/{assignment}/ holds a submission ({stamp.strip()}) other than the one "
                              "graded: grade again first")
            else:
                atomic_write(fdir / SECRET, secret)
                atomic_write(fdir / "timestamp.txt", stamp)
                released[s] = pages
    for s in sorted(wanted - set(everyone)) if wanted else []:
        skipped[s] = "no feedback page"
    out = exchange / course_id / "feedback"
    if released:
        cfg = Config()
        cfg.CourseDirectory.root = str(grading_dir)
        cfg.CourseDirectory.course_id = course_id
        cfg.CourseDirectory.assignment_id = assignment
        cfg.CourseDirectory.student_id_exclude = ",".join(s for s in everyone if s not in released)
        cfg.Exchange.root = str(exchange)
        coursedir = CourseDirectory(config=cfg)
        app = ExchangeReleaseFeedback(coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg)
        app.start()
    return {"released": released, "skipped": skipped, "exchange": str(out)}


def release_after_grading(args, course, out: Path, assignments) -> int:
    """``cnnlab-grade --release-feedback``: release the graded assignments' feedback and say
    what was released; the exit status (0, or 2 when the exchange is unusable)."""
    import sys

    from nbgrader.exchange import ExchangeError

    exchange = args.exchange or course_exchange(course.root)
    for a in assignments:
        try:
            res = release_feedback(out, a, exchange, course.course_id, args.student or None)
        except (ValueError, ExchangeError) as e:
            print(f"cnnlab-grade: {e}", file=sys.stderr)
            return 2
        print(f"\n{a}: feedback released for {len(res['released'])} students to {res['exchange']}"
             + (f"; not released for {len(res['skipped'])}:" if res["skipped"] else ""))
        for s, why in res["skipped"].items():
            print(f"  {s}: {why}")
    return 0
