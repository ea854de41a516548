"""``cnnlab-grade``: a class's submissions to grades in one command."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
from pathlib import Path

EPILOG = textwrap.dedent("""\
    examples:
      cnnlab-grade ps1-export.zip                 grade ps1 from an LMS export, into ./grading
      cnnlab-grade submissions/ ps1 -o grading    a folder of notebooks (<student>/ps1.ipynb or <student>_ps1.ipynb)
      cnnlab-grade export.zip                     every assignment found in the export
      cnnlab-grade export.zip ps1 --force         grade everyone again
      cnnlab-grade export.zip ps1 --dask tcp://10.0.0.5:8786   on a Dask cluster
      cnnlab-grade course/submitted ps1 --release-feedback --exchange /srv/nbgrader/exchange
                                                  on a JupyterHub: grade what `nbgrader collect ps1` collected
                                                  and return the feedback (students: nbgrader fetch_feedback ps1)

    The grading directory (-o) is an nbgrader course: gradebook.db, submitted/,
    autograded/, feedback/<student>/<assignment>/*.html, and export/<assignment>/
    with grades.csv (one column per question, for the LMS), flagged.csv and
    report.html.  Run the same command again after an interruption: students
    already graded are kept.  Exit status: 0 all graded, 1 some submissions
    could not be graded (see the messages), 3 the sandbox is not available.
""")


def _default_course() -> Path | None:
    cwd = Path.cwd()
    if (cwd / "source").is_dir():
        return cwd
    import cnnlab

    repo = Path(cnnlab.__file__).resolve().parents[2]
    return repo if (repo / "source").is_dir() else None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cnnlab-grade",
        description="Grade a class's notebooks with nbgrader: collect an LMS export, autograde every student in "
                    "parallel in a sandbox, write feedback, export grades.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submissions", type=Path, nargs="?",
                   help="the LMS export (.zip), a folder of notebooks, or nbgrader's submitted/ folder (after "
                        "nbgrader collect); not needed with --history or --override")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                   help="assignment(s) to grade, e.g. ps1 (default: every assignment of the course)")
    p.add_argument("-o", "--out", type=Path, default=Path("grading"),
                   help="grading directory, created if needed (default: ./grading)")
    p.add_argument("--course", type=Path, default=None,
                   help="the course's root, with source/<assignment>/ and autograder/ (default: the current "
                        "directory if it has source/, else this CNN Lab checkout)")
    run = p.add_argument_group("running")
    run.add_argument("-j", "--workers", type=int, default=0,
                     help="students graded at once (default: the number of cores)")
    run.add_argument("--dask", metavar="ADDRESS", default=None,
                     help="grade on a Dask cluster: its scheduler address, e.g. tcp://127.0.0.1:8786")
    run.add_argument("--force", action="store_true", help="grade again students that are already graded")
    run.add_argument("--student", action="append", default=[], metavar="ID",
                     help="grade only this student (repeat for several)")
    run.add_argument("--no-feedback", action="store_true", help="do not write feedback HTML")
    run.add_argument("--quiet", action="store_true", help="no progress bar and no line per student")
    rules = p.add_argument_group("grading rules")
    rules.add_argument("--due", action="append", default=[], metavar="[ASSIGNMENT=]DATE",
                       help="due date, e.g. 2025-10-06T23:59:00+02:00 (or ps1=DATE); later submissions are "
                            "flagged late (default: autograder/grading.toml, else none)")
    rules.add_argument("--late-penalty", choices=["none", "zero"], default=None,
                       help="late submissions: none (only flagged) or zero; a penalty per day or hour with a "
                            "grace period and a cap, and late days, are set in grading.toml (default: it)")
    rules.add_argument("--extensions", default=None, metavar="CSV",
                       help="per-student extensions: student,assignment,extension[,note] with a duration (2d, 36h) "
                            "or a new due date (default: grading.toml's extensions)")
    rules.add_argument("--regex", default=None,
                       help="nbgrader zip_collect regular expression for unusual file names, with groups "
                            "student_id and file_id (and timestamp); it must match the whole path")
    lim = p.add_argument_group("limits per student (defaults: the course's autograder/grading.toml)")
    lim.add_argument("--cell-timeout", type=float, default=None, metavar="S", help="seconds per cell")
    lim.add_argument("--notebook-timeout", type=float, default=None, metavar="S", help="seconds per notebook")
    lim.add_argument("--memory", default=None, metavar="SIZE", help="memory per process, e.g. 4G")
    lim.add_argument("--processes", type=int, default=None, metavar="N",
                     help="processes and threads (of all the notebook's processes together)")
    lim.add_argument("--total-memory", default=None, metavar="SIZE",
                     help="memory of all the notebook's processes together, its scratch files included "
                          "(default: --memory; needs root for a cgroup per sandbox)")
    lim.add_argument("--scratch", default=None, metavar="SIZE",
                     help="size of each scratch space (home, /tmp, /dev/shm; default 256M)")
    lim.add_argument("--cpus", type=float, default=None, metavar="N",
                     help="cores one notebook may use at most (default 1; 0: no quota, an equal share only)")
    out = p.add_argument_group("exports and the term")
    out.add_argument("--lms", action="append", default=[], choices=["canvas", "moodle", "gradescope"],
                     help="also write the grades in this LMS's import layout, export/<assignment>/<lms>.csv "
                          "(repeat for several); needs --roster")
    out.add_argument("--roster", default=None, metavar="CSV",
                     help="the class roster: name, LMS id, email (and optionally student_id, sis_id, section)")
    out.add_argument("--bundles", action="store_true",
                     help="write export/<assignment>/feedback-bundles/<LMS id>.zip per student (named by the "
                          "student id without --roster)")
    out.add_argument("--written-pdf", action="store_true",
                     help="write export/<assignment>/written-answers/<student>.pdf: the answers to hand-graded "
                          "questions, for graders outside Jupyter")
    out.add_argument("--history", metavar="STUDENT", default=None,
                     help="print the student's grade changes from the audit log of -o, and stop")
    out.add_argument("--override", metavar="A:STUDENT:Q=POINTS", default=None,
                     help="set a question's score by hand (e.g. ps1:ann:q2a=3) with --note; logged and "
                          "exported, no grading")
    out.add_argument("--note", default="", help="why (for --override; it goes into the audit log)")
    hub = p.add_argument_group("nbgrader exchange (a course on a JupyterHub)")
    hub.add_argument("--exchange", metavar="PATH", default=None,
                     help="nbgrader's exchange folder (c.Exchange.root; default: the course's nbgrader_config.py)")
    hub.add_argument("--release-feedback", action="store_true",
                     help="after grading, release the feedback of the graded assignments through the exchange "
                          "(as nbgrader release_feedback does); students get it with nbgrader fetch_feedback")
    safety = p.add_argument_group("sandbox")
    safety.add_argument("--unsafe", action="store_true",
                        help="grade without the bubblewrap sandbox when it is not available (student code then "
                             "runs as you and could read the solutions): only for submissions you trust")
    safety.add_argument("--expose", action="append", default=[], metavar="PATH",
                        help="a further path the sandbox may read (e.g. a data set outside the course)")
    return p


def _options(args, course, parser):
    from .records import Options

    given = {k: v for k, v in (("cell_timeout", args.cell_timeout), ("notebook_timeout", args.notebook_timeout),
                               ("memory", args.memory), ("processes", args.processes),
                               ("total_memory", args.total_memory), ("scratch", args.scratch),
                               ("cpus", args.cpus)) if v is not None}
    try:
        for a in args.assignments or course.assignments():
            course.limits(a, given)  # a bad value fails here, with the option's name
    except ValueError as e:
        text = str(e)
        for key in ("total_memory", "scratch", "cpus"):
            text = text.replace(key, "--" + key.replace("_", "-"))
        if "--total-memory" not in text:
            text = text.replace("memory", "--memory")
        parser.error(text)
    due = {}
    for item in args.due:
        if "=" in item.split("T")[0]:
            a, _, date = item.partition("=")
            due[a] = date
        else:
            if len(args.assignments) != 1:
                parser.error("--due DATE needs exactly one ASSIGNMENT; write --due ps1=DATE for several")
            due[args.assignments[0]] = item
    if args.workers < 0:
        parser.error(f"--workers must be 0 (all cores) or more, got {args.workers}")
    if args.lms and not args.roster:
        parser.error("--lms needs --roster CSV (name, LMS id, email) to map student ids to the LMS's")
    if args.roster:
        from .lms import read_roster

        try:
            read_roster(args.roster)
        except ValueError as e:
            parser.error(str(e))
    opts = Options(workers=args.workers, dask=args.dask, force=args.force, unsafe=args.unsafe, limits=given,
                   students=args.student, due=due, late_penalty=args.late_penalty, regex=args.regex,
                   feedback=not args.no_feedback, progress=not args.quiet,
                   expose=[str(Path(x).resolve()) for x in args.expose],
                   extensions=args.extensions, lms=list(dict.fromkeys(args.lms)), roster=args.roster,
                   bundles=args.bundles, written_pdf=args.written_pdf)
    try:
        course.term(due, args.late_penalty, args.extensions)   # bad late settings fail before any grading
        for a in args.assignments or course.assignments():
            course.hidden_tests(a)
    except ValueError as e:
        parser.error(str(e))
    return opts


def _short(path) -> str:
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


def _terminate(signum, frame):
    raise KeyboardInterrupt  # `kill` stops as cleanly as Ctrl-C


def _minutes(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .coordinator import grade
    from .workers import quiet_notebook_warnings

    quiet_notebook_warnings()
    from .course import Course
    from .records import GradingBroken
    from .sandbox import SandboxUnavailable

    course_root = args.course or _default_course()
    if course_root is None:
        parser.error("--course: no course found (a folder with source/<assignment>/); give it with --course")
    try:
        course = Course.find(course_root)
    except ValueError as e:
        parser.error(str(e))
    if args.history:
        from .audit import history

        try:
            print(history(args.out, args.history))
        except ValueError as e:
            print(f"cnnlab-grade: {e}", file=sys.stderr)
            return 2
        return 0
    opts = _options(args, course, parser)
    if args.submissions is None and not args.override:
        parser.error("give the submissions (an LMS export .zip or a folder), or --history / --override")
    if args.release_feedback:
        from .exchange import check_exchange, course_exchange

        try:
            check_exchange(args.exchange or course_exchange(course.root))
        except ValueError as e:
            parser.error(str(e))
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C (SIGINT) stops cleanly also when the command was started from a script in the
    # background, where the shell hands it SIGINT ignored (and Python then keeps it ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    echo = (lambda *a: None) if args.quiet else print
    try:
        if args.override:
            from .coordinator import override

            outcome = override(course, args.out, args.override, args.note, opts)
        else:
            outcome = grade(course, args.out, args.submissions, args.assignments or None, opts, echo=echo)
    except SandboxUnavailable as e:
        print(f"cnnlab-grade: {e}", file=sys.stderr)
        return 3
    except (ValueError, GradingBroken) as e:
        print(f"cnnlab-grade: {e}", file=sys.stderr)
        return 2 if isinstance(e, ValueError) else 1
    except KeyboardInterrupt:
        print("\ninterrupted; students graded so far are kept: run the same command again to go on.",
              file=sys.stderr)
        return 130
    out = Path(args.out).resolve()
    for a, paths in outcome.exports.items():
        graded, skipped = outcome.graded.get(a, []), outcome.skipped.get(a, [])
        errors = outcome.errors.get(a, {})
        print(f"\n{a}: graded {len(graded)}, already graded {len(skipped)}, could not grade {len(errors)}"
              f" ({_minutes(outcome.seconds)})")
        for s, why in errors.items():
            print(f"  {s}: {why}")
        for line in outcome.unmatched.get(a, []):
            print(f"  not collected: {line}")
        for line in outcome.messages.get(a, []):
            print(f"  {line}")
        import csv

        with open(paths["grades"]) as fh:
            rows = list(csv.DictReader(fh))
        if rows:
            totals = [float(r["total"]) for r in rows]
            flagged = [r for r in rows if r["flags"]]
            print(f"  {len(rows)} students, mean {sum(totals) / len(totals):.2f} of {rows[0]['max_score']}; "
                  f"{len(flagged)} flagged")
        for name in ("grades", "report", "flagged", "similarity", "canvas", "moodle", "gradescope", "bundles"):
            if name in paths:
                print(f"  {name + ':':<12}{_short(paths[name])}")
        print(f"  feedback: {_short(out / 'feedback')}/<student>/{a}/")
    if outcome.phases:
        n = sum(len(v) for v in outcome.graded.values())
        parts = ", ".join(f"{k} {_minutes(v)}" for k, v in outcome.phases.items())
        per = f"; {outcome.phases.get('grading', 0) / n:.2f} s per submission graded" if n else ""
        print(f"\ntime: {parts}{per}")
    if outcome.interrupted:
        print("interrupted; run the same command again to go on.", file=sys.stderr)
        return 130
    if args.release_feedback:
        from .exchange import release_after_grading

        if release_after_grading(args, course, out, list(outcome.exports)):
            return 2
    return 1 if any(outcome.errors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
