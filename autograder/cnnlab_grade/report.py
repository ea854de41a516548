"""Grades out: a CSV per assignment for the LMS, a report for the TA.

``export/<assignment>/``

* ``grades.csv``: one row per student, one column per question (the
  gradebook's score, so a TA's manual changes in formgrader count), the
  total after the late penalty, the maximum, the late penalty, the flags
  (``late``; ``needs-manual-grading`` while written answers wait for a TA in
  formgrader), the submission time and the late policy's reason;
* ``flagged.csv``: one row per flag with its reason;
* ``report.html`` with ``histogram.png`` (totals) and ``pass_rates.png``
  (share of students with full points per question), the statistics and the
  list of flagged submissions.
"""

from __future__ import annotations

import csv
import html
import statistics
from pathlib import Path

from matplotlib.figure import Figure
from nbgrader.api import Gradebook, MissingEntry


def _scores(db_url: str, assignment: str, students) -> dict:
    out = {}
    with Gradebook(db_url) as gb:
        for s in students:
            try:
                sub = gb.find_submission(assignment, s)
            except MissingEntry:
                continue
            per = {}
            for nb in sub.notebooks:
                for g in nb.grades:
                    per[(nb.name, g.name)] = g.score
            penalty = sub.late_submission_penalty or 0.0
            out[s] = {"questions": per, "score": sub.score - penalty, "raw": sub.score, "max": sub.max_score,
                      "late_penalty": penalty, "timestamp": sub.timestamp.isoformat() if sub.timestamp else "",
                      # a grade waits for a TA until formgrader (or --override) gives it a score
                      "manual": any(g.needs_manual_grade and g.manual_score is None
                                    for nb in sub.notebooks for g in nb.grades)}
    return out


def _column(nb: str, gid: str, many_notebooks: bool) -> str:
    return f"{nb}:{gid}" if many_notebooks else gid


def grade_rows(gdir, assignment: str, master, late: dict | None = None):
    """The class's rows (:class:`cnnlab_grade.lms.GradeRow`), sorted by student, from the
    gradebook, the result files and the late policy's outcome (``late``: (assignment, student)
    -> :class:`cnnlab_grade.late.Late`); and every flag with its reason, {student: [(flag, reason)]}."""
    from .lms import GradeRow

    late = late or {}
    results = {s: r for s, r in gdir.results(assignment).items() if r.get("recorded")}
    questions = master.questions()
    many = len(master.notebooks) > 1
    scores = _scores(gdir.db_url, assignment, sorted(results))
    rows, flags_of = [], {}
    for s in sorted(scores):
        sc = scores[s]
        res = late.get((assignment, s))
        flags = [(f["flag"], f["reason"]) for f in results[s].get("flags", [])]
        if res is not None and res.flag:
            flags.append(("late", res.reason))
        if sc["manual"]:
            flags.append(("needs-manual-grading", "written answers wait for a TA in nbgrader's formgrader"))
        flags_of[s] = flags
        rows.append(GradeRow(student=s, score=sc["score"], max_score=sc["max"], late_penalty=sc["late_penalty"],
                             late_reason=res.reason if res is not None else "",
                             flags=sorted({f for f, _ in flags}),
                             questions={_column(nb, gid, many): sc["questions"].get((nb, gid))
                                        for nb, gid, _ in questions}, timestamp=sc["timestamp"]))
    return rows, flags_of


def export_assignment(gdir, assignment: str, master, late: dict | None = None) -> dict[str, Path]:
    """Write the files above from the gradebook, the result files and the late policy's
    outcome (see :func:`grade_rows`); returns their paths."""
    where = gdir.out / "export" / assignment
    where.mkdir(parents=True, exist_ok=True)
    questions = master.questions()
    many = len(master.notebooks) > 1
    rows, flags_of = grade_rows(gdir, assignment, master, late)
    results = flags_of
    scores = {r.student: {"score": r.score, "questions": {(nb, gid): r.questions[_column(nb, gid, many)]
                                                           for nb, gid, _ in questions}} for r in rows}
    cols = [_column(nb, gid, many) for nb, gid, _ in questions]

    grades = where / "grades.csv"
    with open(grades, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student_id", *cols, "total", "max_score", "late_penalty", "flags", "timestamp", "late_reason"])
        for r in rows:
            w.writerow([r.student, *[("" if r.questions[c] is None else f"{r.questions[c]:g}") for c in cols],
                        f"{r.score:g}", f"{r.max_score:g}", f"{r.late_penalty:g}", ";".join(r.flags), r.timestamp,
                        r.late_reason])

    flagged = where / "flagged.csv"
    with open(flagged, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student_id", "flag", "reason"])
        for s in sorted(results):
            for flag, reason in results[s]:
                w.writerow([s, flag, reason])

    totals = [scores[s]["score"] for s in sorted(scores)]
    max_total = master.max_score
    hist = where / "histogram.png"
    fig = Figure(figsize=(6, 3.2), dpi=100)
    ax = fig.add_subplot()
    bins = max(1, min(20, int(round(max_total)) or 1))
    ax.hist(totals, bins=bins, range=(0, max_total or 1), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"total score (of {max_total:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment}: scores of {len(totals)} students")
    fig.tight_layout()
    fig.savefig(hist)

    rates = []
    for (nb, gid, pts), col in zip(questions, cols):
        vals = [scores[s]["questions"].get((nb, gid)) for s in scores]
        full = sum(1 for v in vals if v is not None and v >= pts)
        rates.append((col, pts, full / len(vals) if vals else 0.0))
    pr = where / "pass_rates.png"
    fig = Figure(figsize=(max(4, 0.55 * len(rates) + 1.5), 3.2), dpi=100)
    ax = fig.add_subplot()
    ax.bar([r[0] for r in rates], [100 * r[2] for r in rates], color="#55a868")
    ax.set_ylim(0, 100)
    ax.set_ylabel("full points (% of students)")
    ax.set_title(f"{assignment}: pass rate per question")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(pr)

    report = where / "report.html"
    e = html.escape
    stats = ""
    if totals:
        stats = (f"<p>{len(totals)} students; mean {statistics.mean(totals):.2f}, median "
                 f"{statistics.median(totals):g}, min {min(totals):g}, max {max(totals):g} of {max_total:g}.</p>")
    rows = "".join(f"<tr><td>{e(c)}</td><td>{p:g}</td><td>{100 * r:.0f}%</td></tr>" for c, p, r in rates)
    flag_rows = "".join(
        f"<tr><td>{e(s)}</td><td>{e(flag)}</td><td>{e(reason)}</td></tr>"
        for s in sorted(results) for flag, reason in results[s])
    report.write_text(f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{e(assignment)}: grading report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:left}}</style></head><body>
<h1>{e(assignment)}: grading report</h1>
{stats}
<img src="histogram.png" alt="histogram of total scores">
<h2>Questions</h2>
<table><tr><th>question</th><th>points</th><th>full points</th></tr>{rows}</table>
<img src="pass_rates.png" alt="pass rate per question">
<h2>Flagged submissions</h2>
<table><tr><th>student</th><th>flag</th><th>reason</th></tr>{flag_rows or '<tr><td colspan=3>none</td></tr>'}</table>
<p>Grades for the LMS: <a href="grades.csv">grades.csv</a>; flags: <a href="flagged.csv">flagged.csv</a>.</p>
</body></html>
""")
    return {"grades": grades, "flagged": flagged, "report": report, "histogram": hist, "pass_rates": pr}
