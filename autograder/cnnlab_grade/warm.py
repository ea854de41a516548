"""The instructor's solution, run once per machine before any student: warm caches and checks.

Running the instructor's notebooks in the sandbox does two jobs at once:

* it makes the *warm caches* every student's sandbox starts from (numba's
  compiled reference, matplotlib's font list), so no student pays for them;
* it checks that the solution gets full marks there -- and
  :func:`check_referee` that the referee accepts it -- else grading would be
  wrong and stops with the failing test named (:class:`GradingBroken`).

The caches are shared by every grading of the same notebooks in the same
environment (``$TMPDIR/cnnlab-grade-<uid>/warm/<key>/``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbgrader import utils as nbutils

from . import feedback as fb
from .records import RESULT_VERSION, Bundle, GradingBroken
from .sandbox import Sandbox, leftovers, package_root, prepare_home, run_notebook, uid_slot


def sandbox_for(bundle: Bundle, limits=None, home_on_host: bool = False) -> Sandbox:
    """The sandbox of a bundle's students (``limits``: other limits than the bundle's; ``home_on_host``:
    the instructor's run, whose home keeps the caches it made)."""
    return Sandbox(limits or bundle.limits, hidden=tuple(bundle.hidden_paths), extra_ro=tuple(bundle.extra_ro),
                   unsafe=bundle.unsafe, home_on_host=home_on_host)


def _warm_root() -> Path:
    d = Path(tempfile.gettempdir()) / f"cnnlab-grade-{os.geteuid()}" / "warm"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def warm_key(bundle: Bundle) -> str:
    """What the warm caches depend on: the instructor's notebooks and files, the
    environment, the package's code, and the limits that could fail them."""
    h = hashlib.sha256()
    for part in (json.dumps(bundle.source_notebooks, sort_keys=True),
                 json.dumps({k: hashlib.sha256(v).hexdigest() for k, v in sorted(bundle.files.items())}),
                 os.path.realpath(sys.executable), str(bundle.unsafe), str(bundle.limits.memory),
                 str(bundle.limits.processes), str(bundle.extra_ro), str(RESULT_VERSION)):
        h.update(part.encode())
    for p in sorted(Path(package_root(), "cnnlab").rglob("*.py")):
        h.update(f"{p}:{p.stat().st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def ensure_warm(bundle: Bundle) -> dict:
    """Warm caches (numba's compiled reference, matplotlib's font list) for
    this machine, made once by running the instructor's notebooks in the
    sandbox -- which checks on the way that they score full marks there.
    Shared by every grading of the same notebooks in the same environment.
    Returns ``{relative dir in the student's home: host dir}``."""
    key = warm_key(bundle)
    root = _warm_root()
    done = root / key / "ok"
    if not done.exists():
        with open(root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                _calibrate(bundle, root / key)
                done.write_text(datetime.now(timezone.utc).isoformat())
    return {".cache": root / key / "home" / ".cache", ".config": root / key / "home" / ".config"}


_REFEREE_CHECKED: set = set()


def check_referee(bundle: Bundle, warm: dict, referee) -> None:
    """The referee must pass the instructor's solution (its spec, the check
    library and the sandbox are all in order); raises :class:`GradingBroken`."""
    if not bundle.spec or bundle.fingerprint() in _REFEREE_CHECKED:
        return
    problems = []
    with uid_slot() as uid, tempfile.TemporaryDirectory(prefix=leftovers.job_prefix() + "check-") as tmp:
        os.chmod(tmp, 0o755)
        for name, text in bundle.source_notebooks.items():
            nb = nbformat.reads(text, as_version=4)
            ids = {c.metadata.nbgrader.grade_id for c in nb.cells if nbutils.is_grade(c)}
            verdicts = referee.judge(nb, Path(tmp) / name, uid, files=dict(bundle.files), warm=warm,
                                     grade_ids=ids)
            problems += [f"{name}: referee check {v.grade_id} fails on the instructor's solution: {v.reason}"
                         for v in verdicts.values() if v.passed < v.total]
    if problems:
        raise GradingBroken("the referee does not accept the instructor's solution, so its verdicts would be "
                            "wrong:\n  " + "\n  ".join(problems) +
                            (f"\n(spec: {bundle.spec.path})" if bundle.spec.path else ""))
    _REFEREE_CHECKED.add(bundle.fingerprint())


def _calibrate(bundle: Bundle, where: Path):
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    # generous limits: the first run compiles what later runs load from the cache
    sandbox = sandbox_for(bundle, bundle.limits.but(cell_timeout=max(bundle.limits.cell_timeout, 120),
                                                    notebook_timeout=max(bundle.limits.notebook_timeout, 600)),
                          home_on_host=True)
    problems = []
    with uid_slot() as uid:
        home = where / "home"
        for name, text in bundle.source_notebooks.items():
            nb = nbformat.reads(text, as_version=4)
            prepare_home(home, dict(bundle.files), uid=uid)
            run_notebook(nb, sandbox=sandbox, home=home, uid=uid, rundir=where / "run", log_path=where / "kernel.log")
            for cell in nb.cells:
                if nbutils.is_grade(cell) and cell.cell_type == "code":
                    score, max_score = nbutils.determine_grade(cell)
                    if score is not None and score < max_score:
                        problems.append(f"{name}: test cell {cell.metadata.nbgrader.grade_id} fails on the "
                                        f"instructor's solution: {fb.failure_reason(cell, []) or 'score ' + str(score)}")
        for f in list(home.iterdir()):
            if f.name not in (".cache", ".config"):
                shutil.rmtree(f) if f.is_dir() else f.unlink()
        for r, dirs, files in os.walk(home):
            os.chown(r, os.geteuid(), os.getegid())
            for n in dirs + files:
                os.lchown(os.path.join(r, n), os.geteuid(), os.getegid())
    if problems:
        raise GradingBroken("the instructor's solution does not get full marks in the sandbox, so grading "
                            "would be wrong:\n  " + "\n  ".join(problems) +
                            f"\n(kernel log: {where / 'kernel.log'})")
