"""A TA's term on the toy course: late policies with grace, late days and extensions in the
grades, the LMS exports and the feedback; the audit log of every kind of change and
``--history``; the visibility of hidden-test results; feedback bundles; hand grading merged."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

import toy_course as toy

DUE = "2025-10-06T23:59:00+00:00"
TOML = """
[defaults]
cell_timeout = 20
late_days = 1
extensions = "extensions.csv"
hidden_tests = "{hidden}"

[assignments.toy]
due = "{due}"
late_penalty = {{ per = "day", percent = 10, grace = "15m", cap = 30 }}
"""
#: passes the visible test, fails the hidden one
HALF = "def double(x):\n    x = np.asarray(x)\n    return 2 * x if x.size == 1 else x\n"


def _cli(*args):
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([sys.executable, "-m", "cnnlab_grade.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600)


def _course(tmp_path, hidden="always", due=DUE, extensions="student,assignment,extension,note\n"):
    course = toy.make_course(tmp_path / "course")
    (course / "autograder" / "grading.toml").write_text(TOML.format(hidden=hidden, due=due))
    (course / "autograder" / "extensions.csv").write_text(extensions)
    return course


def _submit(folder, student, when, body=None):
    (folder / student).mkdir(parents=True, exist_ok=True)
    nbformat.write(toy.submission(body), folder / student / "toy.ipynb")
    stamps = folder / "timestamps.csv"
    rows = [r for r in (stamps.read_text().splitlines()[1:] if stamps.exists() else [])
            if not r.startswith(student + ",")]
    stamps.write_text("\n".join(["student_id,timestamp", *rows, f"{student},{when}"]) + "\n")


def _grades(out):
    return {r["student_id"]: r for r in csv.DictReader(open(out / "export" / "toy" / "grades.csv"))}


def _log(out):
    return [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]


def test_late_policy_lms_exports_bundles_and_the_audit_log_of_every_kind_of_change(tmp_path):
    course = _course(tmp_path, extensions="student,assignment,extension,note\ncat,toy,2d,accommodation\n")
    subs, out = tmp_path / "subs", tmp_path / "grading"
    _submit(subs, "ann", "2025-10-06T20:00:00Z")          # on time
    _submit(subs, "ben", "2025-10-08T05:59:00Z")          # 30 h late: 1 late day, then 1 day started: 10 %
    _submit(subs, "cat", "2025-10-08T05:59:00Z")          # 30 h late, with a 2-day extension: on time
    _submit(subs, "dan", "2025-10-07T00:09:00Z")          # 10 min late: within the grace period
    roster = tmp_path / "roster.csv"
    roster.write_text("name,lms_id,email,student_id\nAnn Lee,101,ann@uni.edu,ann\nBen Ng,102,ben@uni.edu,ben\n"
                      "Cat Roy,103,cat@uni.edu,cat\nEve Diaz,105,eve@uni.edu,eve\n")
    base = [subs, "toy", "--course", course, "-o", out, "--quiet"]
    res = _cli(*base, "--lms", "canvas", "--lms", "gradescope", "--roster", roster, "--bundles")
    assert res.returncode == 0, res.stdout + res.stderr
    rows = _grades(out)
    assert {s: rows[s]["total"] for s in rows} == {"ann": "2", "ben": "1.8", "cat": "2", "dan": "2"}
    assert rows["ben"]["late_penalty"] == "0.2" and rows["ben"]["flags"] == "late"
    assert "1 late day spent, 0 left" in rows["ben"]["late_reason"] and "10%" in rows["ben"]["late_reason"]
    assert "accommodation" in rows["cat"]["late_reason"] and rows["cat"]["flags"] == ""
    assert "grace period" in rows["dan"]["late_reason"] and rows["dan"]["flags"] == ""
    # the student's feedback says it too
    page = (out / "feedback" / "ben" / "toy" / "toy.html").read_text()
    assert "Late policy:" in page and "late penalty -0.2" in page and "1 late day spent" in page
    # LMS exports: scores after the penalty, mapped by the roster; dan (not in the roster) and eve
    # (no submission) are reported, not dropped
    canvas = list(csv.reader(open(out / "export" / "toy" / "canvas.csv")))
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1][0].strip() == "Points Possible" and canvas[1][5] == "2"
    assert {r[1]: r[5] for r in canvas[2:]} == {"101": "2", "102": "1.8", "103": "2", "105": ""}
    gs = {r["Email"]: r["Total Score"] for r in csv.DictReader(open(out / "export" / "toy" / "gradescope.csv"))}
    assert gs["ben@uni.edu"] == "1.8"
    unmatched = (out / "export" / "toy" / "canvas-unmatched.csv").read_text()
    assert "dan" in unmatched and "Eve Diaz" in unmatched
    assert "not in the roster (dan)" in res.stdout
    # a feedback bundle per student, named by the LMS id (the student id without one)
    bundles = out / "export" / "toy" / "feedback-bundles"
    assert sorted(p.name for p in bundles.glob("*.zip")) == ["101.zip", "102.zip", "103.zip", "dan.zip"]
    with zipfile.ZipFile(bundles / "102.zip") as zf:
        assert "late penalty -0.2" in zf.read("toy-feedback/toy.html").decode()
    assert [(e["student"], e["reason"], e["old"], e["new"]) for e in _log(out)] == [
        ("ann", "first grading", None, 2), ("ben", "first grading", None, 1.8),
        ("cat", "first grading", None, 2), ("dan", "first grading", None, 2)]

    # an extension for ben, given after grading: nobody is graded again, ben's grade changes
    (course / "autograder" / "extensions.csv").write_text(
        "student,assignment,extension,note\ncat,toy,2d,accommodation\nben,toy,1d,illness\n")
    # ann hands in again (a wrong answer); dan is regraded on request
    _submit(subs, "ann", "2025-10-06T21:00:00Z", body="def double(x):\n    return 3 * np.asarray(x)\n")
    assert _cli(*base).returncode == 0
    assert _cli(*base, "--force", "--student", "dan").returncode == 0
    res = _cli("--override", "toy:ann:test_double=1", "--note", "regrade request 3: partial credit",
               "--course", course, "-o", out, "--quiet")
    assert res.returncode == 0, res.stderr
    # a TA grades cat's test by hand in formgrader (nbgrader's manual_score and a comment)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook("toy", "toy", "cat")
        next(g for g in nb.grades if g.name == "test_double").manual_score = 1.5
        for c in nb.comments:
            c.manual_comment = "checked by hand"
        gb.db.commit()
    assert _cli(*base).returncode == 0
    # the instructor changes a test cell in source/: every student is graded again
    src = course / "source" / "toy" / "toy.ipynb"
    nb = nbformat.read(src, as_version=4)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_double")
    test.source = test.source.replace("assert double(np.array([1.0])).tolist() == [2.0]",
                                      "assert double(np.array([1.0, 2.0])).tolist() == [2.0, 4.0]")
    nbformat.write(nb, src)
    assert _cli(*base).returncode == 0
    later = [(e["student"], e["reason"], e["old"], e["new"]) for e in _log(out)[4:]]
    assert later[:5] == [("ann", "new submission", 2, 0), ("ben", "changed settings", 1.8, 2),
                         ("dan", "--force", 2, 2), ("ann", "manual override", 0, 1), ("cat", "manual grade", 2, 1.5)]
    # a changed test regrades everyone (cat's hand grade stays: it is formgrader's, kept by nbgrader)
    assert sorted(later[5:]) == [("ann", "changed tests", 1, 1), ("ben", "changed tests", 2, 2),
                                 ("cat", "changed tests", 1.5, 1.5), ("dan", "changed tests", 2, 2)]
    notes = {e["reason"]: e["note"] for e in _log(out)}
    assert notes["manual override"] == "regrade request 3: partial credit"
    assert notes["manual grade"] == "checked by hand" and "illness" in notes["changed settings"]
    hist = _cli("--history", "ann", "--course", course, "-o", out)
    assert hist.returncode == 0
    lines = hist.stdout.splitlines()[1:]
    assert [ln.split("  ")[2].split()[0] for ln in lines] == ["toy"] * 4
    for words in ("first grading", "new submission", "2 -> 0", "manual override: regrade request 3",
                  "changed tests"):
        assert words in hist.stdout
    bad = _cli("--history", "zed", "--course", course, "-o", out)
    assert bad.returncode == 2 and "no entries for 'zed'" in bad.stderr


def _page(out, student="ann"):
    return (out / "feedback" / student / "toy" / "toy.html").read_text()


def test_hidden_test_results_are_shown_never_or_after_the_due_date(tmp_path):
    course = _course(tmp_path, hidden="after_due", due="2099-01-01T00:00:00Z")
    subs, out = tmp_path / "subs", tmp_path / "grading"
    _submit(subs, "ann", "2025-10-06T20:00:00Z", body=HALF)
    _submit(subs, "ben", "2025-10-06T20:00:00Z", body="def double(x):\n    return 3 * np.asarray(x)\n")
    base = [subs, "toy", "--course", course, "-o", out, "--quiet"]
    assert _cli(*base).returncode == 0
    assert _grades(out)["ann"]["total"] == "0"        # the TA's grades have everything
    before = _page(out)
    assert "the visible tests passed; the hidden tests&#39;" in before or \
        "the visible tests passed; the hidden tests'" in before
    assert "shown after the due date" in before and "0 / 2" not in before and "Score: 0" not in before
    assert "failed a visible test" in _page(out, "ben")     # what the student's own run shows
    (course / "autograder" / "grading.toml").write_text(TOML.format(hidden="never", due="2000-01-01T00:00:00Z"))
    assert _cli(*base).returncode == 0
    never = _page(out)
    assert "are not shown" in never and "Score: 0" not in never and "shown after" not in never
    (course / "autograder" / "grading.toml").write_text(TOML.format(hidden="after_due", due="2000-01-01T00:00:00Z"))
    assert _cli(*base).returncode == 0
    after = _page(out)
    assert "Score: 0.0 / 2.0" in after and "hidden test" in after and "shown after" not in after
    assert "hidden-secret-message" not in after


def test_hand_graded_answers_are_merged_and_printed(tmp_path):
    """A written answer (nbgrader's manually graded cell) waits for a TA: `needs-manual-grading`
    until formgrader has a score for it, then it counts in the grades and the LMS export;
    --written-pdf prints each student's written answers."""
    course = toy.make_course(tmp_path / "course")
    src = course / "source" / "toy" / "toy.ipynb"
    nb = nbformat.read(src, as_version=4)
    answer = nbformat.v4.new_markdown_cell("Why does doubling commute with convolution?\n\nYOUR ANSWER HERE")
    answer.metadata.nbgrader = dict(schema_version=3, grade=True, solution=True, locked=False,
                                    grade_id="why", points=3)
    nb.cells.append(answer)
    nbformat.write(nb, src)
    subs, out = tmp_path / "subs", tmp_path / "grading"
    sub = toy.submission()
    sub.cells.append(nbformat.v4.new_markdown_cell("Because convolution is linear: conv(2x) = 2 conv(x)."))
    sub.cells[-1].metadata = answer.metadata
    (subs / "ann").mkdir(parents=True)
    nbformat.write(sub, subs / "ann" / "toy.ipynb")
    roster = tmp_path / "roster.csv"
    roster.write_text("name,lms_id,email\nAnn Lee,101,ann@uni.edu\n")
    base = [subs, "toy", "--course", course, "-o", out, "--quiet", "--cell-timeout", "20", "--lms", "moodle",
            "--roster", roster]
    assert _cli(*base, "--written-pdf").returncode == 0
    row = _grades(out)["ann"]
    assert row["flags"] == "needs-manual-grading" and row["total"] == "2" and row["max_score"] == "5"
    pdf = out / "export" / "toy" / "written-answers" / "ann.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:      # what formgrader does
        g = gb.find_grade("why", "toy", "toy", "ann")
        g.manual_score = 2.5
        g.needs_manual_grade = False      # formgrader clears it with the score
        gb.db.commit()
    assert _cli(*base).returncode == 0
    row = _grades(out)["ann"]
    assert row["flags"] == "" and row["why"] == "2.5" and row["total"] == "4.5"
    moodle = list(csv.DictReader(open(out / "export" / "toy" / "moodle.csv")))
    assert moodle[0]["Email address"] == "ann@uni.edu" and moodle[0]["toy (Real)"] == "4.5"
    assert _log(out)[-1]["reason"] == "manual grade"


def test_bad_term_settings_are_refused_before_grading(tmp_path):
    course = _course(tmp_path, extensions="student,assignment,extension\nann,toy,soon\n")
    res = _cli(tmp_path, "toy", "--course", course, "-o", tmp_path / "g")
    assert res.returncode == 2 and "extensions.csv line 2: cannot read 'soon'" in res.stderr
    res = _cli(tmp_path, "toy", "--course", course, "-o", tmp_path / "g", "--lms", "canvas")
    assert res.returncode == 2 and "--lms needs --roster" in res.stderr
    (course / "autograder" / "extensions.csv").write_text("student,assignment,extension\n")
    res = _cli("--override", "toy:ann=1", "--note", "x", "--course", course, "-o", tmp_path / "g")
    assert res.returncode == 2 and "ASSIGNMENT:STUDENT:QUESTION=POINTS" in res.stderr
    assert not (tmp_path / "g" / "gradebook.db").exists()
