"""The audit log: every change of a student's grade, when, why, from what to what.

``<grading dir>/audit.jsonl``, one JSON object per line, only ever appended:

``time``, ``assignment``, ``student``, ``old`` and ``new`` (the total after the
late penalty; ``old`` is null the first time), ``reason`` and ``note``, and
``parts`` (the score before the penalty, the penalty, and the grades a TA set
by hand), from which the next change's reason is told.

The reasons:

* ``first grading``;
* ``new submission`` (the student's files or submission time changed);
* ``changed tests`` (a test cell, the referee's spec or a file of the
  assignment's source changed: every student is graded again);
* ``changed settings`` (limits, sandbox, due date; or, without regrading,
  the late policy, the late days or an extension);
* ``--force`` (the TA asked for a regrade);
* ``again after could-not-grade``;
* ``grader updated`` (results of an older ``cnnlab-grade`` are not reused);
* ``manual override`` (``cnnlab-grade --override``, with the TA's note);
* ``manual grade`` (a score set in nbgrader's formgrader; its comment is the note).

A regrade is logged even when the score stays the same (the TA can show it
was done); anything else only when the grade changed.
``cnnlab-grade --history STUDENT -o DIR`` prints a student's entries.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

LOG = "audit.jsonl"


def log_path(out: Path) -> Path:
    return Path(out) / LOG


def read(out: Path) -> list[dict]:
    path = log_path(out)
    if not path.exists():
        return []
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except ValueError:
                raise ValueError(f"audit log: {path} line {n} is not JSON; the log is only ever appended to, "
                                 "so restore it from a backup or move the broken line out") from None
    return entries


def latest(entries: list[dict]) -> dict:
    """(assignment, student) -> the newest entry."""
    out = {}
    for e in entries:
        out[e["assignment"], e["student"]] = e
    return out


def append(out: Path, entries: list[dict]) -> None:
    """Append entries (each written whole, then flushed to disk)."""
    if not entries:
        return
    path = log_path(out)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with open(path, "a", encoding="utf-8") as fh:
        for e in entries:
            fh.write(json.dumps({"time": stamp, **e}, ensure_ascii=False, sort_keys=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _points(x) -> str:
    return "-" if x is None else f"{x:g}"


def history(out: Path, student: str) -> str:
    """A student's entries as a table, oldest first (the text ``--history`` prints)."""
    mine = [e for e in read(out) if e["student"] == student]
    if not mine:
        known = sorted({e["student"] for e in read(out)})
        hint = f"; students in the log: {', '.join(known[:10])}{' ...' if len(known) > 10 else ''}" if known else ""
        raise ValueError(f"--history: no entries for {student!r} in {log_path(out)}{hint}")
    lines = [f"history of {student} ({log_path(out)}):"]
    for e in mine:
        change = f"{_points(e['old'])} -> {_points(e['new'])}"
        lines.append(f"  {e['time']}  {e['assignment']:<8} {change:<16} {e['reason']}"
                     + (f": {e['note']}" if e.get("note") else ""))
    return "\n".join(lines)
