"""The LMS files: each read back by a small importer that checks what that LMS's
import documents, round trips of the scores, the unmatched students, the roster's errors."""

from __future__ import annotations

import csv
import io
import math

import pytest

from cnnlab_grade.lms import KINDS, GradeRow, RosterEntry, fmt, match, read_roster, write


class ImportRefused(AssertionError):
    pass


def _table(path):
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM"
    text = raw.decode("utf-8")
    # one line ending throughout
    assert not ("\r\n" in text and "\n" in text.replace("\r\n", "")), "mixed line endings"
    rows = list(csv.reader(io.StringIO(text, newline="")))
    width = len(rows[0])
    for n, r in enumerate(rows, 1):
        if len(r) != width:
            raise ImportRefused(f"line {n}: {len(r)} fields, header {width}")
    return rows


def _number(cell, where):
    if cell == "":
        return None
    try:
        v = float(cell)
    except ValueError:
        raise ImportRefused(f"{where}: {cell!r} is not a number") from None
    if not math.isfinite(v):
        raise ImportRefused(f"{where}: {cell!r}")
    return v


# Canvas's gradebook import takes the layout of its gradebook export: the leading
# identity columns Student, ID, SIS User ID, SIS Login ID, Section (in that order),
# then one column per assignment, "Name (assignment id)" for an existing one.  A row
# whose first cell is "Points Possible" (right under the header) carries the points;
# students are matched on ID, Canvas's user id; a blank score leaves the grade alone.
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def canvas_import(path, assignment_column):
    rows = _table(path)
    header = rows[0]
    if header[:5] != CANVAS_COLUMNS:
        raise ImportRefused(f"Canvas header starts {header[:5]}")
    if assignment_column not in header[5:]:
        raise ImportRefused(f"no column {assignment_column!r}")
    col = header.index(assignment_column)
    if rows[1][0].strip() != "Points Possible":
        raise ImportRefused("second row is not Points Possible")
    points = _number(rows[1][col], "Points Possible")
    if points is None:
        raise ImportRefused("Points Possible is empty")
    scores = {}
    for n, r in enumerate(rows[2:], 3):
        if not r[1].strip():
            raise ImportRefused(f"line {n}: no ID")
        if r[1] in scores:
            raise ImportRefused(f"line {n}: ID {r[1]} twice")
        scores[r[1]] = _number(r[col], f"line {n}")
    return points, scores


# Moodle's CSV grade import: the teacher picks one column to identify users
# (mapped to a user field: email address, ID number, username or user id) and maps
# each grade column to a grade item, a "feedback" column to that item's feedback.
# The files Moodle's own grade export writes -- and which the import reads back --
# name the columns "First name", "Surname", "ID number", ..., "Email address",
# "<item> (Real)" and "<item> (Feedback)".  Every line must have the header's
# number of fields; grades must be numbers (or empty).
MOODLE_USER_COLUMNS = ["First name", "Surname", "ID number", "Email address"]


def moodle_import(path, item, identify_by="Email address"):
    rows = _table(path)
    header = rows[0]
    if header[:4] != MOODLE_USER_COLUMNS:
        raise ImportRefused(f"Moodle user columns {header[:4]}")
    grade, fb = f"{item} (Real)", f"{item} (Feedback)"
    for c in (identify_by, grade, fb):
        if c not in header:
            raise ImportRefused(f"no column {c!r} to map")
    ident, gi, fi = header.index(identify_by), header.index(grade), header.index(fb)
    out = {}
    for n, r in enumerate(rows[1:], 2):
        if not r[ident].strip():
            raise ImportRefused(f"line {n}: empty {identify_by}")
        out[r[ident]] = (_number(r[gi], f"line {n}"), r[fi])
    return out


# Gradescope's score upload: a CSV with a header; students are matched on their
# email (or on SID, the student id number); "Total Score" holds the assignment's
# score, the columns after it one question each -- the layout of Gradescope's own
# score export (Name, SID, Email, Total Score, questions...).
GRADESCOPE_COLUMNS = ["Name", "SID", "Email", "Total Score"]


def gradescope_import(path):
    rows = _table(path)
    header = rows[0]
    if header[:4] != GRADESCOPE_COLUMNS:
        raise ImportRefused(f"Gradescope header {header[:4]}")
    out = {}
    for n, r in enumerate(rows[1:], 2):
        key = r[2].strip() or r[1].strip()
        if not key:
            raise ImportRefused(f"line {n}: neither Email nor SID")
        if key in out:
            raise ImportRefused(f"line {n}: {key} twice")
        out[key] = {"total": _number(r[3], f"line {n}"),
                    **{q: _number(v, f"line {n} {q}") for q, v in zip(header[4:], r[4:])}}
    return out


# --------------------------------------------------------------------------------------------

ROSTER = [
    RosterEntry("Ada Lovelace", "101", "ada@uni.edu", "ada", "S-1", "A"),
    RosterEntry("José María Núñez", "102", "jose.nunez@uni.edu", "", "S-2", "B"),
    RosterEntry("李 小龍", "103", "lee@uni.edu", "", "S-3", ""),
    RosterEntry("Grace Hopper", "104", "grace@uni.edu", "", "", "A"),
]
ROWS = [
    GradeRow("ada", 8.5, 10, 0.5, "1 day late", ["needs-manual-grading"], {"q1": 5.0, "q2": 3.5}),
    GradeRow("jose.nunez", 2 / 3 * 3 + 1e-9, 10, 0, "", [], {"q1": 1.0, "q2": 1.0}),  # by the email's local part
    GradeRow("S-3", 10.0, 10, 0, "", [], {"q1": 5.0, "q2": 5.0}),                       # by sis_id
    GradeRow("104", 0.0, 10, 0, "", ["timeout"], {"q1": 0.0, "q2": None}),              # by lms_id
]
EXPECT = {"101": 8.5, "102": 2.0, "103": 10.0, "104": 0.0}


def test_canvas_round_trip(tmp_path):
    out = write("canvas", "PS1 Convolutions", ROWS, ROSTER, tmp_path, 10)
    assert out.path == tmp_path / "canvas.csv"
    points, scores = canvas_import(out.path, "PS1 Convolutions")
    assert points == 10
    assert scores == EXPECT
    assert [r[1] for r in _table(out.path)[2:]] == [e.lms_id for e in ROSTER]   # roster order
    assert out.not_in_roster == [] and out.no_submission == []


def test_canvas_existing_assignment_id(tmp_path):
    out = write("canvas", "PS1", ROWS, ROSTER, tmp_path, 12.5, canvas_assignment_id=4711)
    points, scores = canvas_import(out.path, "PS1 (4711)")
    assert points == 12.5 and scores == EXPECT


def test_moodle_round_trip(tmp_path):
    out = write("moodle", "PS1", ROWS, ROSTER, tmp_path, 10)
    assert out.path == tmp_path / "moodle.csv"
    got = moodle_import(out.path, "PS1")
    by_email = {e.email: e.lms_id for e in ROSTER}
    assert {by_email[k]: v[0] for k, v in got.items()} == EXPECT
    fb = got["ada@uni.edu"][1]
    assert "0.5 points" in fb and "1 day late" in fb and "needs manual grading" in fb
    assert got["jose.nunez@uni.edu"][1] == ""
    assert "timeout" in got["grace@uni.edu"][1]
    # ID number is the SIS id: Grace has none, so a TA must map "Email address"
    with pytest.raises(ImportRefused, match="empty ID number"):
        moodle_import(out.path, "PS1", identify_by="ID number")
    lines = _table(out.path)
    assert lines[1][:2] == ["Ada", "Lovelace"] and lines[2][:2] == ["José María", "Núñez"]


def test_gradescope_round_trip(tmp_path):
    out = write("gradescope", "PS1", ROWS, ROSTER, tmp_path, 10)
    assert out.path == tmp_path / "gradescope.csv"
    got = gradescope_import(out.path)
    by_email = {e.email: e.lms_id for e in ROSTER}
    assert {by_email[k]: v["total"] for k, v in got.items()} == EXPECT
    assert got["ada@uni.edu"]["q2"] == 3.5
    assert got["grace@uni.edu"]["q2"] is None


@pytest.mark.parametrize("kind", KINDS)
def test_unmatched_reported_never_dropped(tmp_path, kind):
    roster = ROSTER + [RosterEntry("Alan Turing", "105", "alan@uni.edu", "", "S-5", "B")]
    rows = ROWS + [GradeRow("mallory", 7.0, 10, 0, "", [], {})]
    out = write(kind, "PS1", rows, roster, tmp_path, 10)
    assert out.not_in_roster == ["mallory"]
    assert [e.lms_id for e in out.no_submission] == ["105"]
    assert out.unmatched_path == tmp_path / f"{kind}-unmatched.csv"
    unmatched = list(csv.DictReader(out.unmatched_path.open(encoding="utf-8", newline="")))
    assert [(u["student"], u["score"]) for u in unmatched if "not in the roster" in u["reason"]] == [("mallory", "7")]
    assert [u["lms_id"] for u in unmatched if u["reason"] == "no submission"] == ["105"]
    body = _table(out.path)
    assert "mallory" not in out.path.read_text(encoding="utf-8")
    data = body[2:] if kind == "canvas" else body[1:]
    assert len(data) == len(roster)                      # a row per roster entry, Alan's empty
    turing = [r for r in data if "Turing" in " ".join(r)]
    assert len(turing) == 1
    score_col = body[0].index({"canvas": "PS1", "moodle": "PS1 (Real)", "gradescope": "Total Score"}[kind])
    assert turing[0][score_col] == ""


def test_two_submissions_for_one_student(tmp_path):
    rows = [GradeRow("ada", 5, 10), GradeRow("ADA@uni.edu ", 6, 10)]
    pairs, missing, no_sub = match(rows, ROSTER)
    assert [(e.lms_id, r.score) for e, r in pairs] == [("101", 5)]
    assert [r.student for r in missing] == ["ADA@uni.edu "]
    assert len(no_sub) == 3
    out = write("canvas", "PS1", rows, ROSTER, tmp_path, 10)
    assert "already matched by submission ada" in out.unmatched_path.read_text(encoding="utf-8")


def test_match_order_student_id_first():
    # "bob" is Bob's submission id and also the local part of someone else's email
    roster = [RosterEntry("Robert Roe", "1", "bob@uni.edu", "", "", ""),
              RosterEntry("Bob Smith", "2", "bsmith@uni.edu", "bob", "", "")]
    pairs, missing, no_sub = match([GradeRow("  BOB ", 4, 10)], roster)
    assert [e.lms_id for e, _ in pairs] == ["2"] and not missing and [e.lms_id for e in no_sub] == ["1"]


def test_scores_formatting():
    assert [fmt(v) for v in (2.0000001, 2.0, 7.125, 1 / 3, 0.0, -0.0, None, 100)] == \
        ["2", "2", "7.12", "0.33", "0", "0", "", "100"]


def test_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match=r"--lms.*'blackboard'.*canvas, moodle, gradescope"):
        write("blackboard", "PS1", ROWS, ROSTER, tmp_path, 10)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------ the roster

def _roster(tmp_path, text, encoding="utf-8"):
    p = tmp_path / "roster.csv"
    p.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return p


@pytest.mark.parametrize("header", [
    "name,lms_id,email,student_id,sis_id,section",
    "Full Name,Canvas ID,Email Address,Submission ID,SIS User ID,Section",
    "STUDENT,ID,E-mail,Login,SIS ID,Sections",
    "Student Name,User ID,email_address,Username,ID number,section",
])
def test_roster_header_spellings(tmp_path, header):
    p = _roster(tmp_path, f"{header}\nAda Lovelace,101,ada@uni.edu,ada,S-1,A\n")
    assert read_roster(p) == [RosterEntry("Ada Lovelace", "101", "ada@uni.edu", "ada", "S-1", "A")]


def test_roster_first_and_last_name(tmp_path):
    p = _roster(tmp_path, "First Name,Surname,User ID,Email\nAda,Lovelace,101,ada@uni.edu\n")
    assert read_roster(p) == [RosterEntry("Ada Lovelace", "101", "ada@uni.edu", "", "", "")]
    p = _roster(tmp_path, "first name,last name,id\nGrace,Hopper,7\n")
    assert read_roster(p)[0].name == "Grace Hopper"


def test_roster_canvas_export_as_roster(tmp_path):
    # Canvas's own gradebook export works as a roster (its Points Possible row aside)
    p = _roster(tmp_path, "Student,ID,SIS User ID,SIS Login ID,Section\n"
                          '"Lovelace, Ada",101,S-1,ada,A\n')
    assert read_roster(p) == [RosterEntry("Lovelace, Ada", "101", "", "ada", "S-1", "A")]


def test_roster_bom_crlf_and_unicode(tmp_path):
    text = "name,lms_id,email\r\nJosé Núñez,102,jose@uni.edu\r\n李 小龍,103,lee@uni.edu\r\n\r\n"
    p = _roster(tmp_path, b"\xef\xbb\xbf" + text.encode("utf-8"))
    roster = read_roster(p)
    assert [e.name for e in roster] == ["José Núñez", "李 小龍"]
    out = write("moodle", "PS1", [GradeRow("lee", 3, 4)], roster, tmp_path, 4)
    lines = _table(out.path)
    assert lines[0][0] == "First name"                  # no BOM carried into the header
    assert lines[2][:2] == ["李", "小龍"] and lines[2][4] == "3"


@pytest.mark.parametrize("text, line, words", [
    ("name,email\nAda,ada@uni.edu\n", 1, ["missing required column lms_id", "'name', 'email'"]),
    ("lms_id,email\n101,ada@uni.edu\n", 1, ["missing required column name", "'lms_id', 'email'"]),
    ("name,lms_id\nAda,101\nGrace,\n", 3, ["empty lms_id", "Grace", "fill in"]),
    ("name,lms_id\nAda,101\nGrace,102\nAlan,101\n", 4, ["duplicate lms_id '101'", "also on line 2"]),
    ("name,lms_id,student_id\nAda,101,ada\nGrace,102,x\nAlan,103,ADA\n", 4,
     ["duplicate student_id 'ADA'", "also on line 2"]),
    ("", 1, ["empty", "header"]),
    ("name,lms_id\nAda,101,extra,more\n", 2, ["4 fields", "header has 2"]),
    ("name,id,user id\nAda,1,2\n", 1, ["two columns for lms_id"]),
])
def test_roster_errors(tmp_path, text, line, words):
    p = _roster(tmp_path, text)
    with pytest.raises(ValueError) as err:
        read_roster(p)
    msg = str(err.value)
    assert msg.startswith("roster: ") and str(p) in msg and f"line {line}:" in msg, msg
    for w in words:
        assert w in msg, msg


@pytest.mark.parametrize("data, words", [
    (b"PK\x03\x04\x00\x00binary zip", "not a CSV text file"),
    ("name,lms_id\nAda,101\n".encode("utf-16"), "not a CSV text file"),
    ("name,lms_id\nJosé,101\n".encode("latin-1"), "not UTF-8"),
])
def test_roster_not_a_csv(tmp_path, data, words):
    p = _roster(tmp_path, data)
    with pytest.raises(ValueError, match=r"^roster: .*" + words):
        read_roster(p)


def test_roster_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"^roster: .*nope\.csv.*cannot read"):
        read_roster(tmp_path / "nope.csv")


def test_importers_refuse_bad_files(tmp_path):
    """The importers above can fail: each refuses a file that breaks its LMS's rules."""
    p = tmp_path / "x.csv"
    p.write_text("Student,ID,SIS User ID,SIS Login ID,Section,PS1\nAda,101,,,,9\n")
    with pytest.raises(ImportRefused, match="Points Possible"):
        canvas_import(p, "PS1")
    p.write_text("ID,Student,SIS User ID,SIS Login ID,Section,PS1\nPoints Possible,,,,,10\n")
    with pytest.raises(ImportRefused, match="header"):
        canvas_import(p, "PS1")
    p.write_text("First name,Surname,ID number,Email address,PS1 (Real),PS1 (Feedback)\nA,B,,,9,\n")
    with pytest.raises(ImportRefused, match="empty Email"):
        moodle_import(p, "PS1")
    p.write_text("First name,Surname,ID number,Email address,PS1,PS1 (Feedback)\nA,B,,a@x,9,\n")
    with pytest.raises(ImportRefused, match="no column"):
        moodle_import(p, "PS1")
    p.write_text("Name,SID,Email,Total Score\nA,1,a@x,2.0000001x\n")
    with pytest.raises(ImportRefused, match="not a number"):
        gradescope_import(p)
    p.write_text("Name,SID,Email,Total Score\nA,1,a@x,2,3\n")
    with pytest.raises(ImportRefused, match="fields"):
        gradescope_import(p)


@pytest.mark.parametrize("kind", KINDS)
def test_a_row_per_roster_entry_in_roster_order(tmp_path, kind):
    rows = list(reversed(ROWS))
    out = write(kind, "PS1", rows, ROSTER, tmp_path, None)   # points from the rows' max_score
    body = _table(out.path)
    data = body[2:] if kind == "canvas" else body[1:]
    key = {"canvas": (1, "lms_id"), "moodle": (3, "email"), "gradescope": (2, "email")}[kind]
    assert [r[key[0]] for r in data] == [getattr(e, key[1]) for e in ROSTER]
    if kind == "canvas":
        assert body[1][5] == "10"


def test_lms_module_imports_stdlib_only():
    import ast
    import sys

    import cnnlab_grade.lms as lms

    tree = ast.parse(open(lms.__file__, encoding="utf-8").read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no imports of other cnnlab_grade modules"
            names.add(node.module.split(".")[0])
    assert names and names <= set(sys.stdlib_module_names) | {"__future__"}, names
