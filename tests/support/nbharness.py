"""Helpers for the assignment tests: read the nbgrader source notebooks, make
submissions from their solutions (optionally with a mistake patched in), run a
notebook in this process the way nbgrader scores it, and run a real
``nbgrader generate_assignment`` / ``nbgrader autograde`` in a scratch course.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source"
RELEASE = ROOT / "assignments"
ASSIGNMENTS = ("ps1", "ps2", "ps3", "ps4")

_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.M | re.S)
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*(\n|$)", re.M | re.S)


def existing() -> list[str]:
    return [a for a in ASSIGNMENTS if (SOURCE / a / f"{a}.ipynb").is_file()]


def nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def read(path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def source_nb(ps: str) -> nbformat.NotebookNode:
    return read(SOURCE / ps / f"{ps}.ipynb")


def released_nb(ps: str) -> nbformat.NotebookNode:
    return read(RELEASE / ps / f"{ps}.ipynb")


def strip_markers(src: str) -> str:
    """A solution cell as the student would write it: the code between the
    BEGIN/END SOLUTION markers kept, the markers removed."""
    return _SOLUTION.sub(lambda m: m.group(2), src)


def solution_sources(ps: str) -> dict[str, str]:
    """{grade_id: source} of the solution cells of the source notebook, markers kept."""
    return {nbg(c)["grade_id"]: c.source for c in source_nb(ps).cells
            if nbg(c).get("solution") and c.cell_type == "code"}


BODY = "<the whole solution body>"


def apply_patches(src: str, patches) -> str:
    """Apply (old, new) patches to a solution cell (markers kept) and return it
    without markers.  ``old`` must occur exactly once; ``old == BODY`` replaces
    everything between the (single) pair of solution markers."""
    for old, new in patches:
        if old == BODY:
            regions = _SOLUTION.findall(src)
            if len(regions) != 1:
                raise AssertionError(f"BODY patch needs exactly one solution region, found {len(regions)}")
            src = _SOLUTION.sub(lambda m: m.group(1) + "### BEGIN SOLUTION\n" + new + m.group(1)
                                + "### END SOLUTION\n", src)
            continue
        n = src.count(old)
        if n != 1:
            raise AssertionError(f"patch target occurs {n} times (must be once): {old!r}")
        src = src.replace(old, new)
    return strip_markers(src)


def submission(ps: str, patches: dict[str, list] | None = None, answers: dict[str, str] | None = None,
               blank: bool = False, graded: bool = False) -> nbformat.NotebookNode:
    """The released notebook filled in with the reference solutions (unless
    ``blank``), with ``patches`` {grade_id: [(old, new), ...]} applied to the
    solution cells and ``answers`` {grade_id: text} for written answers.

    With ``graded`` the test cells are those of the source notebook, hidden
    tests included: the notebook nbgrader's autograde runs for this submission."""
    released = released_nb(ps)
    nb = source_nb(ps) if graded else released
    stubs = {nbg(c).get("grade_id"): c.source for c in released.cells if nbg(c).get("solution")}
    sols = solution_sources(ps)
    model_answers = {nbg(c)["grade_id"]: c.source for c in source_nb(ps).cells
                     if nbg(c).get("solution") and c.cell_type == "markdown"}
    for cell in nb.cells:
        meta = nbg(cell)
        gid = meta.get("grade_id")
        if not meta.get("solution"):
            continue
        if cell.cell_type == "code":
            cell.source = stubs[gid] if blank else apply_patches(sols[gid], (patches or {}).get(gid, []))
        elif blank:
            cell.source = stubs[gid]
        else:   # a written answer: the given one, else the model answer of the source
            cell.source = (answers or {}).get(gid) or strip_markers(model_answers[gid]).strip()
    return nb


# ---------------------------------------------------------------- in-process run

@dataclass
class CellResult:
    grade_id: str
    passed: bool
    output: str        # what the cell printed, and the error message if it failed
    error: str | None  # exception type name


_DATA_CACHE: dict = {}


@contextlib.contextmanager
def _memoised_data():
    """cnnlab.data.glyphs is a pure function of its arguments: within this test
    process make each data set once (the in-process runs would otherwise draw
    the same images again for every submission)."""
    try:
        import cnnlab.data as data
    except ImportError:
        yield
        return
    original = data.glyphs

    def glyphs(*args, **kwargs):
        key = (args, tuple(sorted(kwargs.items())))
        if key not in _DATA_CACHE:
            _DATA_CACHE[key] = original(*args, **kwargs)
        return _DATA_CACHE[key]

    data.glyphs = glyphs
    try:
        yield
    finally:
        data.glyphs = original


def run_in_process(nb, only: set[str] | None = None) -> dict[str, CellResult]:
    """Run the code cells of ``nb`` in one fresh namespace, like a kernel, and
    score its test cells like nbgrader: a test cell passes when it raises
    nothing and writes nothing to stderr. With ``only``, test cells whose
    grade_id is not in it are skipped (their code is not run). The summary
    cell is skipped (it grades nothing; the nbgrader tests run it)."""
    with _memoised_data():
        return _run_in_process(nb, only)


def _run_in_process(nb, only):
    ns: dict = {"__name__": "__main__"}
    results = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = nbg(cell)
        gid = meta.get("grade_id", f"cell{i}")
        if meta.get("grade") and only is not None and gid not in only or gid == "summary":
            continue
        out, err = io.StringIO(), io.StringIO()
        error = None
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = lambda m, c, f, l, file=None, line=None: err.write(f"{c.__name__}: {m}\n")
            try:
                exec(compile(cell.source, f"<cell {gid}>", "exec"), ns)  # noqa: S102 - running our notebooks
            except BaseException as exc:  # noqa: BLE001
                error = exc
        text = out.getvalue() + err.getvalue()
        if error is not None:
            text += f"{type(error).__name__}: {error}"
        if meta.get("grade"):
            results[gid] = CellResult(gid, error is None and not err.getvalue(), text,
                                      type(error).__name__ if error else None)
    return results


# ---------------------------------------------------------------- nbgrader

def nbgrader_env() -> dict:
    """Environment for nbgrader subprocesses: the venv's bin first on PATH
    (nbgrader runs `alembic` from PATH), this checkout's lib importable."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT / "lib") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def nbgrader(course: Path, *args, timeout=900, merge=False) -> subprocess.CompletedProcess:
    """Run nbgrader in ``course``; ``merge`` puts its log (stderr) into stdout, in order."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    if merge:
        return subprocess.run(cmd, cwd=course, env=nbgrader_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return subprocess.run(cmd, cwd=course, env=nbgrader_env(), capture_output=True, text=True, timeout=timeout)


def make_course(tmp: Path) -> Path:
    """A scratch nbgrader course: this repository's nbgrader_config.py and source/."""
    course = tmp / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(SOURCE, course / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return course


def gradebook(course: Path, ps: str) -> Path:
    """The gradebook that holds ``ps``'s grades: the per-assignment copy that
    `autograde_all` grades into, else the course's own."""
    own = course / f"gradebook-{ps}.db"
    return own if own.exists() else course / "gradebook.db"


def grades(course: Path, ps: str) -> dict[str, dict[str, float]]:
    """{student: {grade_id: score}} from the gradebook of ``ps``."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{gradebook(course, ps)}") as gb:
        for sub in gb.assignment_submissions(ps):
            scores = {}
            for nb in sub.notebooks:
                for g in nb.grades:
                    scores[g.name] = g.score
            out[sub.student.id] = scores
    return out


def autograded_outputs(course: Path, student: str, ps: str) -> dict[str, str]:
    """{grade_id: text of the cell's outputs} of an autograded notebook."""
    nb = read(course / "autograded" / student / ps / f"{ps}.ipynb")
    out = {}
    for cell in nb.cells:
        gid = nbg(cell).get("grade_id")
        if not gid or cell.cell_type != "code":
            continue
        parts = []
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                parts.append(o.text)
            elif o.output_type == "error":
                parts.append(f"{o.ename}: {o.evalue}")
                parts.extend(o.get("traceback", []))
            elif "data" in o:
                parts.append(str(o["data"].get("text/plain", "")))
        out[gid] = "\n".join(parts)
    return out


def autograde_all(course: Path, assignments, parallel: int = 2, timeout: int = 1200) -> dict:
    """``nbgrader autograde <ps> --force`` for each assignment, ``parallel`` at a
    time; returns {ps: CompletedProcess}.

    Each assignment grades into its own copy of the gradebook (the processes
    never contend for one sqlite file), and nbgrader re-executes a notebook
    once if its kernel fails (``Execute.execute_retries``: two kernels started
    at once by different processes can race for the same ports)."""
    import time

    for ps in assignments:
        shutil.copy(course / "gradebook.db", course / f"gradebook-{ps}.db")
    pending = list(assignments)
    running, done = {}, {}
    start = time.monotonic()
    while pending or running:
        while pending and len(running) < parallel:
            ps = pending.pop(0)
            cmd = [sys.executable, "-m", "nbgrader", "autograde", ps, "--force", "--Execute.execute_retries=1",
                   f"--CourseDirectory.db_url=sqlite:///{course / f'gradebook-{ps}.db'}"]
            running[ps] = subprocess.Popen(cmd, cwd=course, env=nbgrader_env(), stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True)
        for ps, proc in list(running.items()):
            if proc.poll() is not None:
                out, err = proc.communicate()
                done[ps] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
                del running[ps]
        if time.monotonic() - start > timeout:
            for proc in running.values():
                proc.kill()
            raise TimeoutError(f"nbgrader autograde did not finish in {timeout} s")
        time.sleep(0.2)
    return done


def failure_log(r: subprocess.CompletedProcess) -> str:
    """What to show when an nbgrader run failed: its tracebacks first (nbgrader
    logs them in the middle of a long log), then the end of the log."""
    err = r.stderr or ""
    tracebacks = [err[i:i + 2500] for i in (m.start() for m in re.finditer(r"Traceback \(most recent", err))]
    return "\n---\n".join(tracebacks[:3]) + "\n--- end of log:\n" + err[-2000:] + (r.stdout or "")[-1000:]
