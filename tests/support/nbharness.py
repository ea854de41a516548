"""Helpers for the assignment tests: run a notebook in this process the way
nbgrader scores it, and grade many submissions with a real ``nbgrader
autograde`` in a scratch course.  The notebooks and submissions themselves
come from :mod:`cnnlab_grade.samples` (the sample class is made from them too).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

# the tests use these through this module (h.submission, h.source_nb, ...)
from cnnlab_grade.samples.notebooks import (_HIDDEN, ASSIGNMENTS, BODY, RELEASE, ROOT, SOURCE,  # noqa: F401
                                            apply_patches, existing, nbg, read, released_nb, solution_sources,
                                            source_nb, strip_markers, submission)
from cnnlab_grade.samples.plain import gradebook, grades, make_course, nbgrader, nbgrader_env  # noqa: F401


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
