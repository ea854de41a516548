"""Grades in the layout each LMS imports, with a roster that maps the grader's
student ids (the names of the submissions) to the LMS's ids.

``write(kind, ...)`` writes ``where/<kind>.csv`` and ``where/<kind>-unmatched.csv``:

* ``canvas``: Canvas's gradebook import -- ``Student,ID,SIS User ID,SIS Login ID,
  Section,<assignment>`` then a ``Points Possible`` row; Canvas matches on ``ID``
  (its user id).  An empty cell leaves Canvas's grade as it is.
* ``moodle``: Moodle's CSV grade import -- the column names of Moodle's own grade
  export (``First name,Surname,ID number,Email address,<item> (Real),<item>
  (Feedback)``); the TA maps ``Email address`` (or ``ID number``) to the user and
  the two item columns to the grade item and its feedback.
* ``gradescope``: Gradescope's score upload -- ``Name,SID,Email,Total Score`` and
  a column per question; Gradescope matches on ``Email`` (or ``SID``).

One row per roster entry, in roster order.  Submissions that match no roster
entry, and roster entries with no submission, go to the unmatched file (and to
the returned :class:`LmsExport`): nothing is dropped silently.  Stdlib only.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("canvas", "moodle", "gradescope")


@dataclass
class GradeRow:
    student: str                      # the grader's id: the submission's folder/file name
    score: float | None               # after the late penalty
    max_score: float
    late_penalty: float = 0.0         # points
    late_reason: str = ""
    flags: list[str] = field(default_factory=list)
    questions: dict[str, float | None] = field(default_factory=dict)
    timestamp: str = ""               # the submission's time (ISO), "" when unknown


@dataclass
class RosterEntry:
    name: str
    lms_id: str
    email: str = ""
    student_id: str = ""              # the id used in the submissions, when it differs
    sis_id: str = ""
    section: str = ""


@dataclass
class LmsExport:
    path: Path
    not_in_roster: list[str]          # the grader's student ids
    no_submission: list[RosterEntry]
    unmatched_path: Path


# Header spellings (compared lower-cased, with "_", "-", "." and runs of spaces as one space).
_ALIASES = {
    "name": ("name", "full name", "fullname", "student", "student name"),
    "first": ("first name", "firstname", "given name"),
    "last": ("last name", "lastname", "surname", "family name"),
    "lms_id": ("lms id", "id", "canvas id", "canvas user id", "user id", "userid"),
    "email": ("email", "email address", "e mail", "e mail address"),
    "student_id": ("student id", "submission id", "login", "login id", "sis login id", "username", "user name"),
    "sis_id": ("sis id", "sis user id", "id number", "idnumber"),
    "section": ("section", "sections"),
}
_FIELD_OF = {alias: f for f, aliases in _ALIASES.items() for alias in aliases}
_EXAMPLE = "name,lms_id,email,student_id,sis_id,section"


def _norm_header(h: str) -> str:
    return re.sub(r"[\s_.\-]+", " ", h).strip().lower()


def _key(s: str) -> str:
    return s.strip().casefold()


def read_roster(path) -> list[RosterEntry]:
    """Read a roster CSV (UTF-8, BOM or not); errors are ``ValueError("roster: ...")``."""
    path = Path(path)

    def bad(msg: str, line: int | None = None):
        where = f"{path}, line {line}" if line else f"{path}"
        return ValueError(f"roster: {where}: {msg}")

    try:
        data = path.read_bytes()
    except OSError as e:
        raise bad(f"cannot read the file ({e.strerror}); give the path of the roster CSV") from None
    if b"\x00" in data:
        raise bad("not a CSV text file (it has NUL bytes); export the roster as CSV (UTF-8)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise bad(f"not UTF-8 text (byte {e.start}); save the roster as CSV UTF-8") from None
    if not text.strip():
        raise bad(f"the file is empty; it needs a header line such as {_EXAMPLE}", 1)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        while not any(c.strip() for c in header):
            header = next(reader)
        head_line = reader.line_num
        cols: dict[str, int] = {}
        for i, h in enumerate(header):
            f = _FIELD_OF.get(_norm_header(h))
            if f is None:
                continue
            if f in cols:
                raise bad(f"two columns for {f}: {header[cols[f]]!r} and {h!r}; keep one", head_line)
            cols[f] = i
        found = ", ".join(repr(h) for h in header)
        if "name" not in cols and not ("first" in cols and "last" in cols):
            raise bad("missing required column name (or 'first name' and 'last name'/'surname'); "
                      f"columns found: {found}", head_line)
        if "lms_id" not in cols:
            raise bad("missing required column lms_id (also spelled id, canvas id, user id); "
                      f"columns found: {found}", head_line)
        out: list[RosterEntry] = []
        seen: dict[str, dict[str, int]] = {"lms_id": {}, "student_id": {}}
        for row in reader:
            line = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
                raise bad(f"{len(row)} fields but the header has {len(header)}; "
                          "quote values that contain commas", line)

            def get(f: str) -> str:
                i = cols.get(f)
                return row[i].strip() if i is not None and i < len(row) else ""

            name = get("name") or " ".join(p for p in (get("first"), get("last")) if p)
            e = RosterEntry(name=name, lms_id=get("lms_id"), email=get("email"),
                            student_id=get("student_id"), sis_id=get("sis_id"), section=get("section"))
            if not e.lms_id:
                raise bad(f"empty lms_id (column {header[cols['lms_id']]!r}) for {name or 'this student'!r}; "
                          "fill in the LMS's user id or remove the line", line)
            for f in ("lms_id", "student_id"):
                v = getattr(e, f)
                if not v:
                    continue
                if _key(v) in seen[f]:
                    raise bad(f"duplicate {f} {v!r}, also on line {seen[f][_key(v)]}; "
                              "each student must appear once", line)
                seen[f][_key(v)] = line
            out.append(e)
    except csv.Error as e:
        raise bad(f"not a valid CSV ({e}); export the roster as CSV", reader.line_num) from None
    except StopIteration:
        raise bad(f"the file has no header line; it needs one such as {_EXAMPLE}", 1) from None
    return out


def _match(rows, roster):
    """(pairs in roster order, [(row, reason)] not in the roster, roster entries with no submission)."""
    indexes: list[dict[str, int]] = [{}, {}, {}, {}, {}]
    for i, e in enumerate(roster):
        keys = (e.student_id, e.lms_id, e.email, e.email.split("@")[0] if "@" in e.email else "", e.sis_id)
        for index, k in zip(indexes, keys):
            if k.strip():
                index.setdefault(_key(k), i)
    taken: dict[int, GradeRow] = {}
    missing: list[tuple[GradeRow, str]] = []
    for r in rows:
        k = _key(r.student)
        i = next((index[k] for index in indexes if k in index), None)
        if i is None:
            missing.append((r, "submission not in the roster"))
        elif i in taken:
            missing.append((r, f"matches roster entry {roster[i].lms_id} ({roster[i].name}), "
                               f"already matched by submission {taken[i].student}"))
        else:
            taken[i] = r
    pairs = [(roster[i], taken[i]) for i in sorted(taken)]
    no_sub = [e for i, e in enumerate(roster) if i not in taken]
    return pairs, missing, no_sub


def match(rows: list[GradeRow], roster: list[RosterEntry]):
    """Pair submissions with roster entries: by student_id, else lms_id, else email, else the
    email's local part, else sis_id (trimmed, case-insensitive).  Returns ``(pairs,
    not_in_roster, no_submission)``: (entry, row) pairs in roster order, the rows that match no
    entry (or one already matched), and the entries without a submission."""
    pairs, missing, no_sub = _match(rows, roster)
    return pairs, [r for r, _ in missing], no_sub


def fmt(v) -> str:
    """A score as LMSs read it: at most 2 decimals, no trailing zeros; None -> ""."""
    if v is None:
        return ""
    s = f"{float(v):.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def feedback(row: GradeRow | None) -> str:
    """The late penalty and the flags in words, for the student ("" when none)."""
    if row is None:
        return ""
    parts = []
    if row.late_penalty:
        why = f" ({row.late_reason})" if row.late_reason else ""
        parts.append(f"Late penalty: {fmt(row.late_penalty)} points{why}.")
    elif row.late_reason:
        parts.append(f"Late: {row.late_reason}.")
    if row.flags:
        words = "; ".join(re.sub(r"[-_]+", " ", f).strip() for f in row.flags)
        parts.append(f"Flagged: {words}.")
    return " ".join(parts)


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else (last, "")


def _canvas(assignment, by_entry, roster, points, canvas_assignment_id):
    col = f"{assignment} ({canvas_assignment_id})" if canvas_assignment_id else assignment
    yield ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", col]
    yield ["Points Possible", "", "", "", "", fmt(points)]
    for i, e in enumerate(roster):
        r = by_entry.get(i)
        yield [e.name, e.lms_id, e.sis_id, "", e.section, fmt(r.score if r else None)]


def _moodle(assignment, by_entry, roster, points, _):
    yield ["First name", "Surname", "ID number", "Email address",
           f"{assignment} (Real)", f"{assignment} (Feedback)"]
    for i, e in enumerate(roster):
        r = by_entry.get(i)
        yield [*_split_name(e.name), e.sis_id, e.email, fmt(r.score if r else None), feedback(r)]


def _gradescope(assignment, by_entry, roster, points, _):
    questions: list[str] = []
    for r in by_entry.values():
        questions += [q for q in r.questions if q not in questions]
    yield ["Name", "SID", "Email", "Total Score", *questions]
    for i, e in enumerate(roster):
        r = by_entry.get(i)
        yield [e.name, e.sis_id, e.email, fmt(r.score if r else None),
               *[fmt(r.questions.get(q)) if r else "" for q in questions]]


_WRITERS = {"canvas": _canvas, "moodle": _moodle, "gradescope": _gradescope}


def write(kind: str, assignment: str, rows: list[GradeRow], roster: list[RosterEntry], where: Path,
          points_possible: float | None = None, canvas_assignment_id: str | int | None = None) -> LmsExport:
    """Write ``where/<kind>.csv`` and ``where/<kind>-unmatched.csv``; see the module docstring."""
    if kind not in _WRITERS:
        raise ValueError(f"--lms: unknown LMS {kind!r}; choose one of {', '.join(KINDS)}")
    if points_possible is None:
        points_possible = max((r.max_score for r in rows), default=None)
    where = Path(where)
    where.mkdir(parents=True, exist_ok=True)
    pairs, missing, no_sub = _match(rows, roster)
    index = {id(e): i for i, e in enumerate(roster)}
    by_entry = {index[id(e)]: r for e, r in pairs}
    path = where / f"{kind}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(_WRITERS[kind](assignment, by_entry, roster, points_possible,
                                                canvas_assignment_id))
    unmatched = where / f"{kind}-unmatched.csv"
    with open(unmatched, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["reason", "student", "name", "lms_id", "email", "score", "max_score",
                    "late_penalty", "flags"])
        for r, reason in missing:
            w.writerow([reason, r.student, "", "", "", fmt(r.score), fmt(r.max_score),
                        fmt(r.late_penalty), ";".join(r.flags)])
        for e in no_sub:
            w.writerow(["no submission", e.student_id, e.name, e.lms_id, e.email, "", "", "", ""])
    return LmsExport(path=path, not_in_roster=[r.student for r, _ in missing], no_submission=no_sub,
                     unmatched_path=unmatched)
