"""Late policies: a penalty per day or hour late, a grace period, a cap, a
term-wide budget of late days, and per-student extensions.

Settings (``autograder/grading.toml``, ``[defaults]`` or ``[assignments.<a>]``)::

    due = "2025-10-06T23:59:00+02:00"
    late_penalty = { per = "day", percent = 10, grace = "15m", cap = 50, zero_after = "7d" }
    late_days = 3                    # [defaults] only: late days each student may spend over the term
    extensions = "extensions.csv"    # [defaults] only: per-student extensions, beside grading.toml

``late_penalty`` may also be ``"none"`` (late work is only flagged) or
``"zero"`` (late work scores 0: nbgrader's own ``zero``).

How a penalty is worked out, for one student and one assignment:

1. The student's due date is the assignment's, moved by their extension
   (``student,assignment,extension`` in the extensions file: a duration
   such as ``2d`` or ``36h``, or a new due date; an optional ``note``
   column says why, e.g. an accommodation).
2. Lateness is the time after that due date.  Within the grace period the
   work is on time; past it, lateness counts from the due date itself.
3. Late days from the term budget are spent first, whole days, on the
   assignments in order of their due dates: a student 30 hours late with 3
   late days left spends 2 and has no penalty.  A student with fewer days
   left than needed spends what is left and the rest is penalised.
4. What remains is counted in started units (``per = "day"`` or
   ``"hour"``), times ``percent`` of the points earned, at most ``cap``
   percent (``zero_after``: later than that, 100 %).

Every outcome carries its reason in words, which goes into the exports and
into the student's feedback.  Nothing here reads the gradebook: the
:mod:`term stage <cnnlab_grade.stages.term>` calls :func:`penalties` with
the students' submission times and scores.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

DAY, HOUR = 86400.0, 3600.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|day|days|h|hour|hours|m|min|minutes?|s|sec|seconds?)?\s*$", re.I)
_UNIT = {"d": DAY, "h": HOUR, "m": 60.0, "s": 1.0}


def parse_duration(value, name: str) -> float:
    """``"2d"``, ``"36h"``, ``"15m"``, ``"90s"`` or a number of seconds -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"{name}: cannot read {value!r} as a duration; write e.g. 2d, 36h, 15m or a number "
                             "of seconds")
        seconds = float(m.group(1)) * _UNIT[(m.group(2) or "s")[0].lower()]
    if seconds < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return seconds


def parse_time(value: str, name: str) -> datetime:
    """An ISO date and time; without a time zone it is UTC (as nbgrader takes it)."""
    try:
        t = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: cannot read {value!r} as a date; write it as ISO 8601, e.g. "
                         "2025-10-06T23:59:00+02:00") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def human(seconds: float) -> str:
    """1 day 2 h 5 min."""
    minutes = int(round(seconds / 60))
    d, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    parts = ([f"{d} day{'s' if d != 1 else ''}"] if d else []) + ([f"{h} h"] if h else []) + \
        ([f"{m} min"] if m or not (d or h) else [])
    return " ".join(parts)


@dataclass(frozen=True)
class LatePolicy:
    """One assignment's penalty rule (see the module doc)."""

    per: str = "day"              # "day" or "hour"
    percent: float = 0.0          # of the points earned, per started unit
    grace: float = 0.0            # seconds
    cap: float = 100.0            # percent
    zero_after: float | None = None  # seconds after the due date, then 100 %
    kind: str = "percent"         # "none", "zero" or "percent"

    @classmethod
    def parse(cls, value, name: str = "late_penalty") -> "LatePolicy":
        if value is None or value == "none":
            return cls(kind="none")
        if value == "zero":
            return cls(per="day", percent=100.0, cap=100.0, kind="zero")
        if not isinstance(value, dict):
            raise ValueError(f"{name}: expected \"none\", \"zero\" or a table such as "
                             f"{{ per = \"day\", percent = 10, grace = \"15m\", cap = 50 }}, got {value!r}")
        known = {"per", "percent", "grace", "cap", "zero_after"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"{name}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(sorted(known))}")
        per = str(value.get("per", "day")).lower()
        if per not in ("day", "hour"):
            raise ValueError(f"{name}.per must be \"day\" or \"hour\", got {value.get('per')!r}")
        try:
            percent, cap = float(value.get("percent", 0)), float(value.get("cap", 100))
        except (TypeError, ValueError):
            raise ValueError(f"{name}: percent and cap must be numbers (percent of the points earned)") from None
        if not 0 <= percent <= 100 or not 0 <= cap <= 100:
            raise ValueError(f"{name}: percent and cap must be between 0 and 100, got {percent:g} and {cap:g}")
        zero_after = value.get("zero_after")
        return cls(per=per, percent=percent, cap=cap,
                   grace=parse_duration(value.get("grace", 0), f"{name}.grace"),
                   zero_after=None if zero_after is None else parse_duration(zero_after, f"{name}.zero_after"))

    @property
    def unit(self) -> float:
        return DAY if self.per == "day" else HOUR

    def describe(self) -> str:
        if self.kind == "none":
            return "late work is flagged, not penalised"
        if self.kind == "zero":
            return "late work scores 0"
        text = f"{self.percent:g}% of the points earned per {self.per} started"
        if self.grace:
            text += f", after a grace period of {human(self.grace)}"
        if self.cap < 100:
            text += f", at most {self.cap:g}%"
        if self.zero_after is not None:
            text += f"; 0 points when more than {human(self.zero_after)} late"
        return text


@dataclass(frozen=True)
class Extension:
    student: str
    assignment: str
    due: datetime | None = None     # a new due date
    extra: float = 0.0              # or seconds added
    note: str = ""


def read_extensions(path: Path) -> dict[tuple[str, str], Extension]:
    """``student,assignment,extension[,note]``; extension: a duration (``2d``) or a new ISO due date."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ValueError(f"extensions: cannot read {path} ({e.strerror}); give the extensions file "
                         "(student,assignment,extension[,note]) or remove the setting") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return {}
    header = [h.strip().lower() for h in rows[0]]
    need = ["student", "assignment", "extension"]
    if header[:3] != need:
        raise ValueError(f"extensions: {path} line 1 must be the header student,assignment,extension[,note]; "
                         f"found {','.join(rows[0])}")
    out = {}
    for n, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < 3 or not row[0].strip() or not row[1].strip() or not row[2].strip():
            raise ValueError(f"extensions: {path} line {n}: each line needs a student, an assignment and an "
                             f"extension, got {','.join(row)!r}")
        student, assignment, value = row[0].strip(), row[1].strip(), row[2].strip()
        where = f"extensions: {path} line {n}"
        if (student, assignment) in out:
            raise ValueError(f"{where}: a second extension for {student} on {assignment}; keep one line per "
                             "student and assignment")
        note = row[3].strip() if len(row) > 3 else ""
        if re.match(r"^\d{4}-\d{2}-\d{2}", value):
            out[student, assignment] = Extension(student, assignment, due=parse_time(value, where), note=note)
        else:
            out[student, assignment] = Extension(student, assignment, extra=parse_duration(value, where), note=note)
    return out


@dataclass
class Late:
    """One student's lateness on one assignment, and what it costs."""

    seconds_late: float = 0.0       # after the student's due date (0: on time, grace included)
    days_spent: int = 0             # late days taken from the budget
    days_left: int | None = None    # budget left afterwards (None: no budget)
    units: int = 0                  # units penalised
    percent: float = 0.0            # of the points earned
    penalty: float = 0.0            # points
    reason: str = ""                # words for the TA and the student ("" when on time and no extension)
    flag: bool = False              # submitted after the due date (grace included)


def _fmt(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def assess(submitted: datetime | None, due: datetime | None, policy: LatePolicy, score: float,
           extension: Extension | None = None, budget_left: int | None = None) -> Late:
    """What lateness costs one submission (``budget_left``: late days the student has left, None: no budget)."""
    if due is None or submitted is None:
        return Late(days_left=budget_left)
    own_due = extension.due if (extension and extension.due) else due + timedelta(seconds=extension.extra if extension else 0)
    words = []
    if extension:
        words.append(f"extension to {_fmt(own_due)}" + (f" ({extension.note})" if extension.note else ""))
    late = (submitted - own_due).total_seconds()
    if late <= 0:
        return Late(days_left=budget_left, reason="; ".join(words + ["on time"]) if extension else "")
    if late <= policy.grace:
        words.append(f"submitted {human(late)} after the due date, within the grace period of {human(policy.grace)}")
        return Late(days_left=budget_left, reason="; ".join(words))
    out = Late(seconds_late=late, flag=True, days_left=budget_left)
    words.append(f"submitted {human(late)} after the due date ({_fmt(own_due)})")
    rest = late
    if budget_left:
        need = math.ceil(late / DAY)
        out.days_spent = min(need, budget_left)
        out.days_left = budget_left - out.days_spent
        rest = max(0.0, late - out.days_spent * DAY)
        words.append(f"{out.days_spent} late day{'s' if out.days_spent != 1 else ''} spent, "
                     f"{out.days_left} left")
    if rest <= 0 or policy.kind == "none":
        if policy.kind == "none" and rest > 0:
            words.append("no penalty (late work is flagged only)")
        else:
            words.append("no penalty")
        out.reason = "; ".join(words)
        return out
    if policy.zero_after is not None and late > policy.zero_after:
        out.percent = 100.0
        words.append(f"more than {human(policy.zero_after)} late: 0 points")
    elif policy.kind == "zero":
        out.percent = 100.0
        words.append("late work scores 0")
    else:
        out.units = math.ceil(rest / policy.unit - 1e-9)
        raw = out.units * policy.percent
        out.percent = min(raw, policy.cap)
        unit = policy.per + ("s" if out.units != 1 else "")
        words.append(f"penalty {policy.percent:g}% per {policy.per} for {out.units} {unit}"
                     + (f" = {raw:g}%, capped at {policy.cap:g}%" if raw > policy.cap else f" = {out.percent:g}%"))
    out.penalty = round(score * out.percent / 100.0, 6)
    words.append(f"-{out.penalty:g} of {score:g} points")
    out.reason = "; ".join(words)
    return out


@dataclass
class Submitted:
    """What :func:`penalties` needs of one graded submission."""

    assignment: str
    student: str
    timestamp: datetime | None
    score: float


@dataclass
class Term:
    """The course's late rules: a policy and a due date per assignment, the budget, the extensions."""

    policies: dict = field(default_factory=dict)     # assignment -> LatePolicy
    due: dict = field(default_factory=dict)          # assignment -> datetime | None
    late_days: int = 0
    extensions: dict = field(default_factory=dict)   # (student, assignment) -> Extension

    def order(self) -> list[str]:
        """Assignments in the order their late days are spent: by due date, then name."""
        far = datetime.max.replace(tzinfo=timezone.utc)
        return sorted(self.policies, key=lambda a: (self.due.get(a) or far, a))


def penalties(term: Term, subs: list[Submitted]) -> dict[tuple[str, str], Late]:
    """(assignment, student) -> :class:`Late`, the budget spent in due-date order per student."""
    by_student: dict[str, dict[str, Submitted]] = {}
    for s in subs:
        by_student.setdefault(s.student, {})[s.assignment] = s
    out = {}
    for student, mine in by_student.items():
        left = term.late_days if term.late_days else None
        for a in term.order():
            if a not in mine:
                continue
            s = mine[a]
            res = assess(s.timestamp, term.due.get(a), term.policies.get(a, LatePolicy(kind="none")), s.score,
                         term.extensions.get((student, a)), left)
            left = res.days_left
            out[a, student] = res
    return out
