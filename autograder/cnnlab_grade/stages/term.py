"""The term stages: what is done for the whole class once its submissions are graded.

They run in the coordinating process after every run of ``cnnlab-grade``
(also one that graded nobody new, and after ``--override``), in the order
:data:`cnnlab_grade.pipeline.TERM` declares, each on the whole grading
directory:

late        the late policy: each student's penalty and its reason, late days spent in
            due-date order, extensions; written into the gradebook (nbgrader's
            ``late_submission_penalty``) so nbgrader's own tools agree
audit       every change of a grade appended to the audit log, with its reason
publish     each student's feedback page as they may see it now (the hidden tests'
            results withheld until the due date if the assignment says so), with the
            late penalty and its reason
grades      ``export/<assignment>/``: grades.csv, flagged.csv, report.html
lms         the LMS's own import file (Canvas, Moodle, Gradescope) from a roster
written     a PDF of each student's answers to the hand-graded questions
similarity  the similarity report: pairs of students whose answer code is alike (a flag
            for a TA to look at, never a deduction)
bundles     a feedback bundle per student, named by their LMS id
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from .. import audit
from .. import feedback as fb
from ..gradedir import atomic_write


@dataclass
class TermRun:
    """What the term stages share."""

    gdir: object                 # GradingDir
    course: object               # Course
    opts: object                 # Options
    masters: dict                # assignment -> MasterAssignment: the assignments of this run
    graded: dict = field(default_factory=dict)      # assignment -> students graded in this run
    overrides: dict = field(default_factory=dict)   # (assignment, student) -> the TA's note
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    term: object = None          # cnnlab_grade.late.Term
    late: dict = field(default_factory=dict)        # (assignment, student) -> Late
    raw: dict = field(default_factory=dict)         # (assignment, student) -> gradebook facts
    exports: dict = field(default_factory=dict)     # assignment -> {name: path}
    messages: dict = field(default_factory=dict)    # assignment -> [lines for the TA]
    _recorded: dict | None = None

    def say(self, assignment: str, line: str) -> None:
        self.messages.setdefault(assignment, []).append(line)

    def recorded(self) -> dict:
        """assignment -> {student: result} of every recorded result in the grading directory
        (read once per run of the term stages)."""
        if self._recorded is not None:
            return self._recorded
        root = self.gdir.state / "results"
        out = {}
        for d in sorted(root.iterdir()) if root.is_dir() else []:
            res = {s: r for s, r in self.gdir.results(d.name).items() if r.get("recorded")}
            if res:
                out[d.name] = res
        self._recorded = out
        return out


def _gradebook_facts(db_url: str, recorded: dict) -> dict:
    """(assignment, student) -> the score before any penalty, per notebook, and the grades set by hand."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(db_url) as gb:
        for a, results in recorded.items():
            for s in results:
                try:
                    sub = gb.find_submission(a, s)
                except MissingEntry:
                    continue
                manual = {f"{nb.name}:{g.name}": g.manual_score for nb in sub.notebooks for g in nb.grades
                          if g.manual_score is not None}
                comments = [c.manual_comment for nb in sub.notebooks for c in nb.comments if c.manual_comment]
                out[a, s] = {"raw": float(sub.score), "max": float(sub.max_score),
                             "notebooks": {nb.name: float(nb.score) for nb in sub.notebooks},
                             "manual": manual, "comments": comments,
                             "needs_manual": bool(sub.needs_manual_grade),
                             "timestamp": sub.timestamp.replace(tzinfo=timezone.utc) if sub.timestamp else None}
    return out


class LatePenalties:
    name = "late"

    def run(self, t: TermRun) -> None:
        from nbgrader.api import Gradebook

        from ..late import Submitted, penalties

        recorded = t.recorded()
        t.term = t.course.term(t.opts.due, t.opts.late_penalty, t.opts.extensions)
        with Gradebook(t.gdir.db_url) as gb:   # a due date given on the command line in an earlier run
            for a in recorded:
                if t.term.due.get(a) is None and a in t.term.policies:
                    try:
                        due = gb.find_assignment(a).duedate
                    except Exception:
                        due = None
                    t.term.due[a] = due.replace(tzinfo=timezone.utc) if due else None
        t.raw = _gradebook_facts(t.gdir.db_url, recorded)
        subs = [Submitted(a, s, f["timestamp"], f["raw"]) for (a, s), f in t.raw.items()]
        t.late = penalties(t.term, subs)
        with Gradebook(t.gdir.db_url) as gb:
            for (a, s), res in t.late.items():
                sub = gb.find_submission(a, s)
                left = min(res.penalty, t.raw[a, s]["raw"])
                parts = {}
                for nb in sorted(sub.notebooks, key=lambda n: n.name):
                    part = min(left, float(nb.score))
                    left -= part
                    parts[nb.name] = part
                    nb.late_submission_penalty = part if part > 0 else None
                t.raw[a, s]["penalty_parts"] = parts
            gb.db.commit()
        for a in recorded:
            mine = {s: asdict(res) for (b, s), res in t.late.items() if b == a}
            atomic_write(t.gdir.state / "late" / f"{a}.json", json.dumps(mine, indent=1))


class AuditLog:
    name = "audit"

    def run(self, t: TermRun) -> None:
        last = audit.latest(audit.read(t.gdir.out))
        recorded = t.recorded()
        entries = []
        for (a, s), facts in sorted(t.raw.items()):
            late = t.late.get((a, s))
            penalty = late.penalty if late else 0.0
            new = round(facts["raw"] - min(penalty, facts["raw"]), 6)
            parts = {"raw": facts["raw"], "penalty": penalty, "manual": facts["manual"]}
            prev = last.get((a, s))
            note = ""
            if s in t.graded.get(a, ()):
                reason = recorded[a][s].get("why") or "first grading"
                if prev is None:
                    reason = "first grading"
            elif (a, s) in t.overrides:
                reason, note = "manual override", t.overrides[a, s]
            elif prev is None:
                reason = "first grading"
            elif abs(new - prev["new"]) <= 1e-9:
                continue
            elif facts["manual"] != prev.get("parts", {}).get("manual"):
                reason, note = "manual grade", "; ".join(facts["comments"])
            elif abs(penalty - prev.get("parts", {}).get("penalty", 0.0)) > 1e-9:
                reason, note = "changed settings", (late.reason if late and late.reason else "late policy")
            else:
                reason = "changed in the gradebook"
            entries.append({"assignment": a, "student": s, "old": None if prev is None else prev["new"], "new": new,
                            "reason": reason, "note": note, "parts": parts})
        audit.append(t.gdir.out, entries)
        for e in entries:
            if e["old"] is not None and abs(e["new"] - e["old"]) > 1e-9:
                t.say(e["assignment"], f"grade changed: {e['student']} {e['old']:g} -> {e['new']:g} ({e['reason']})")


def visible_kind(setting: str, own_due: datetime | None, now: datetime) -> str | None:
    """Which page a student sees now: None (every result) or the withheld kind."""
    if setting == "always":
        return None
    if setting == "after_due" and own_due is not None and now >= own_due:
        return None
    return setting


def own_due(term, assignment: str, student: str) -> datetime | None:
    from datetime import timedelta

    due = term.due.get(assignment)
    ext = term.extensions.get((student, assignment))
    if ext and ext.due:
        return ext.due
    if due is not None and ext:
        return due + timedelta(seconds=ext.extra)
    return due


class PublishFeedback:
    name = "publish"

    def run(self, t: TermRun) -> None:
        if not t.opts.feedback:
            return
        mathjax = t.course.mathjax()
        for a, results in t.recorded().items():
            setting = t.course.hidden_tests(a) if a in t.term.policies else "always"
            for s in results:
                kind = visible_kind(setting, own_due(t.term, a, s), t.now)
                late = t.late.get((a, s))
                parts = t.raw.get((a, s), {}).get("penalty_parts", {})
                folder = t.gdir.out / "feedback" / s / a
                for page_file in sorted((t.gdir.state / "feedback" / a / s).glob("*.feedback.html")):
                    nb = page_file.name[: -len(".feedback.html")]
                    src = page_file if kind is None else page_file.with_name(f"{nb}.feedback_withheld.html")
                    if not src.exists():
                        continue
                    page = src.read_text(encoding="utf-8")
                    if kind == "never":
                        page = page.replace("results are shown after the due date", "results are not shown") \
                            .replace("(score: shown after the due date)", "(score: not shown)")
                    if late and late.reason:
                        page = fb.apply_late(page, 0.0 if kind else parts.get(nb, 0.0), late.reason)
                    target = folder / f"{nb}.html"
                    if not target.exists() or target.read_text(encoding="utf-8") != page:
                        atomic_write(target, page)
                    fb.place_mathjax(folder, mathjax)


class ExportGrades:
    name = "grades"

    def run(self, t: TermRun) -> None:
        from ..report import export_assignment

        for a, master in t.masters.items():
            t.exports[a] = export_assignment(t.gdir, a, master, t.late)


class LmsExports:
    name = "lms"

    def run(self, t: TermRun) -> None:
        from .. import lms
        from ..report import grade_rows

        if not t.opts.lms:
            return
        roster = lms.read_roster(t.opts.roster)
        for a, master in t.masters.items():
            rows, _ = grade_rows(t.gdir, a, master, t.late)
            where = t.gdir.out / "export" / a
            for kind in t.opts.lms:
                res = lms.write(kind, a, rows, roster, where, master.max_score)
                t.exports.setdefault(a, {})[kind] = res.path
                if res.not_in_roster or res.no_submission:
                    t.say(a, f"{kind}: {len(res.not_in_roster)} submission(s) not in the roster"
                             f"{' (' + ', '.join(res.not_in_roster[:5]) + ')' if res.not_in_roster else ''}, "
                             f"{len(res.no_submission)} roster student(s) without a submission; see "
                             f"{res.unmatched_path.name}")


class Similarity:
    """``export/<assignment>/similarity.html`` and ``similarity.csv``: every pair of students
    whose answer code is alike, ranked (see :mod:`cnnlab_grade.similarity`). The released
    notebook's code is left out; nothing here changes a grade."""

    name = "similarity"

    def run(self, t: TermRun) -> None:
        from .. import similarity as sim

        for a, master in t.masters.items():
            solution_ids = {c.name for nb in master.notebooks.values() for c in nb.solution_cells}
            starter = []
            for name in sorted(master.notebooks):
                released = t.gdir.out / "release" / a / f"{name}.ipynb"
                if released.is_file():
                    starter.append(sim.starter_code(nbformat.read(released, as_version=4)))
            codes = {}
            for s in t.recorded().get(a, {}):
                parts = []
                for name in sorted(master.notebooks):
                    path = t.gdir.out / "submitted" / s / a / f"{name}.ipynb"
                    try:
                        parts.append(sim.answer_code(nbformat.read(path, as_version=4), solution_ids))
                    except Exception:   # not submitted, or not a notebook: nothing to compare
                        continue
                if any(p.strip() for p in parts):
                    codes[s] = "\n\n".join(parts)
            starter_text = "\n\n".join(starter)
            pairs = sim.compare(codes, starter_text)
            paths = sim.write_report(pairs, codes, t.gdir.out / "export" / a, a, starter=starter_text)
            t.exports.setdefault(a, {})["similarity"] = paths["html"]
            flagged = [p for p in pairs if p.flagged]
            if flagged:
                t.say(a, f"similarity: {len(flagged)} pair(s) of students with alike code, for you to look at "
                         f"(no grade changed): {', '.join(f'{p.a}/{p.b}' for p in flagged[:5])}"
                         f"{' ...' if len(flagged) > 5 else ''}")


def _written_answers(gdir, assignment: str, student: str, manual_ids: set) -> list[tuple[str, str]]:
    """(question, the student's answer) of each hand-graded cell, from the autograded notebooks."""
    out = []
    for path in sorted((gdir.out / "autograded" / student / assignment).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in manual_ids:
                out.append((f"{path.stem}: {gid}", cell.source))
    return out


def written_pdf(path: Path, title: str, answers: list[tuple[str, str]]) -> None:
    """A PDF of written answers (matplotlib's PDF backend: text pages, no LaTeX needed)."""
    import textwrap

    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    lines = [(title, "title")]
    for question, text in answers:
        lines.append(("", "body"))
        lines.append((question, "head"))
        for para in (text.strip() or "(no answer)").splitlines() or [""]:
            for ln in textwrap.wrap(para, 90) or [""]:
                lines.append((ln, "body"))
    per_page = 52
    tmp = path.with_name(f".{path.name}.tmp")
    with PdfPages(tmp, metadata={"Title": title, "Creator": "cnnlab-grade"}) as pdf:
        for start in range(0, len(lines), per_page):
            fig = Figure(figsize=(8.27, 11.69))
            for i, (text, kind) in enumerate(lines[start:start + per_page]):
                fig.text(0.07, 0.95 - i * 0.0175, text, fontsize={"title": 13, "head": 10.5}.get(kind, 9.5),
                         family="DejaVu Sans Mono" if kind == "body" else "DejaVu Sans",
                         weight="bold" if kind != "body" else "normal", va="top")
            pdf.savefig(fig)
    os.replace(tmp, path)


class WrittenAnswers:
    """``export/<assignment>/written-answers/<student>.pdf``: each student's answers to the
    hand-graded questions, for graders who work outside Jupyter (``--written-pdf``)."""

    name = "written"

    def run(self, t: TermRun) -> None:
        if not t.opts.written_pdf:
            return
        for a, master in t.masters.items():
            manual_ids = {c.name for nb in master.notebooks.values() for c in nb.grade_cells
                          if c.cell_type == "markdown" or c.name in {s.name for s in nb.solution_cells}}
            manual_ids |= {c.name for nb in master.notebooks.values() for c in nb.task_cells}
            if not manual_ids:
                t.say(a, "written answers: the assignment has no hand-graded question")
                continue
            where = t.gdir.out / "export" / a / "written-answers"
            where.mkdir(parents=True, exist_ok=True)
            for s in t.recorded().get(a, {}):
                answers = _written_answers(t.gdir, a, s, manual_ids)
                if answers:
                    written_pdf(where / f"{s}.pdf", f"{a}: written answers of {s}", answers)
            t.exports.setdefault(a, {})["written"] = where


class FeedbackBundles:
    """``export/<assignment>/feedback-bundles/<LMS id>.zip``: the student's published pages
    (and MathJax, so formulas typeset offline), ready to attach as a submission comment."""

    name = "bundles"

    def run(self, t: TermRun) -> None:
        from .. import lms

        if not t.opts.bundles:
            return
        names = {}
        if t.opts.roster:
            roster = lms.read_roster(t.opts.roster)
            for a in t.masters:
                rows = [lms.GradeRow(student=s, score=None, max_score=0.0) for s in t.recorded().get(a, {})]
                pairs, _, _ = lms.match(rows, roster)
                names.update({(a, r.student): e.lms_id for e, r in pairs})
        mathjax = t.course.mathjax()
        for a in t.masters:
            where = t.gdir.out / "export" / a / "feedback-bundles"
            where.mkdir(parents=True, exist_ok=True)
            for s in t.recorded().get(a, {}):
                pages = sorted((t.gdir.out / "feedback" / s / a).glob("*.html"))
                if not pages:
                    continue
                name = names.get((a, s), s)
                tmp = where / f".{name}.zip.tmp"
                with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                    for p in pages:
                        zf.write(p, f"{a}-feedback/{p.name}")
                    if mathjax is not None:
                        for f in sorted(mathjax.rglob("*")):
                            if f.is_file():
                                zf.write(f, f"{a}-feedback/{fb.MATHJAX_DIR}/{f.relative_to(mathjax)}")
                os.replace(tmp, where / f"{name}.zip")
            t.exports.setdefault(a, {})["bundles"] = where
