"""One assignment made ready for grading: in the gradebook, and as a bundle for the workers.

:func:`generate` puts the assignment into the grading directory's gradebook
with nbgrader's ``generate_assignment`` (only when its source changed) and
sets its due date; :func:`make_bundle` reads what every worker needs -- the
master cells, the instructor's notebooks and files, the referee's spec, the
limits -- into one picklable :class:`~cnnlab_grade.records.Bundle`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat

from .gradedir import GradingDir, atomic_write
from .records import Bundle, GradingBroken, Options


def _source_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and ".ipynb_checkpoints" not in p.parts:
            h.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def generate(gdir: GradingDir, assignment: str, due: str | None):
    """Put the assignment into the gradebook with nbgrader's generate_assignment
    (only when its source changed since the last run) and set its due date."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import parse_utc

    src = gdir.course.source / assignment
    stamp = gdir.state / "generated" / assignment
    digest = _source_hash(src)
    if not (stamp.exists() and stamp.read_text() == digest and (gdir.out / "gradebook.db").exists()):
        cfg = gdir.config()
        api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
        res = api.generate_assignment(assignment, force=True, create=True)
        if not res["success"]:
            raise GradingBroken(f"nbgrader generate_assignment {assignment} failed:\n{res.get('error') or ''}\n"
                                f"{res.get('log', '')[-2000:]}")
        atomic_write(stamp, digest)
    with Gradebook(gdir.db_url) as gb:
        gb.update_or_create_assignment(assignment, duedate=parse_utc(due) if due else None)


def make_bundle(gdir: GradingDir, assignment: str, opts: Options) -> Bundle:
    from .gradebook import snapshot
    from .referee import RefereeSpec, defined_functions

    master = snapshot(gdir.db_url, assignment)
    src = gdir.course.source / assignment
    source_nbs = {name: (src / f"{name}.ipynb").read_text() for name in master.notebooks}
    files = {}
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in rel.parts \
                and "__pycache__" not in rel.parts:
            files[str(rel)] = p.read_bytes()
    spec = None
    spec_path = gdir.course.spec_path(assignment)
    if spec_path:
        tests, answers = {}, []
        for nb in master.notebooks.values():
            graded = {g.name for g in nb.grade_cells}
            solutions = {c.name for c in nb.solution_cells}
            tests.update({c.name: c.source for c in nb.source_cells if c.name in graded})
            answers += [c.source for c in nb.source_cells if c.name in solutions]
        # the instructor's answer cells say which functions the students write
        solution_nbs = [nbformat.reads(t, as_version=4) for t in source_nbs.values()]
        answers += [c.source for snb in solution_nbs for c in snb.cells
                    if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        spec = RefereeSpec.load(spec_path, assignment, tests, defined_functions(answers))
    hidden = [gdir.course.root, gdir.course.source, gdir.out]
    return Bundle(master=master, source_notebooks=source_nbs, files=files, spec=spec,
                  secret=gdir.referee_secret(), limits=gdir.course.limits(assignment, opts.limits),
                  unsafe=opts.unsafe, hidden_paths=tuple(str(s) for s in hidden),
                  feedback=opts.feedback, extra_ro=tuple(opts.expose))
