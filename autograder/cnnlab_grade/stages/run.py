"""Run: each notebook executed in the sandbox, graded as far as it goes.

As root, the kernel is forked by this worker's *kernel zygote* (one per
worker and assignment, :mod:`cnnlab_grade.sandbox.zygote`); otherwise it is a
fresh bubblewrap process.  :mod:`cnnlab_grade.sandbox.kernel` runs the cells
and reports each fault; here they become flags a TA reads (``cell-timeout``,
``notebook-timeout``, ``kernel-died``, ``output-truncated``,
``out-of-memory``, ``process-limit``, ``disk-full``: in words, what the
cgroup stopped or the limits refused), and nbgrader's ``LimitOutput`` trims
the outputs kept.
"""

from __future__ import annotations

import ast
import atexit
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbgrader.preprocessors import LimitOutput

from ..records import Bundle
from ..sandbox import HOME, prepare_home, run_notebook
from ..sandbox import leftovers
from ..sandbox import zygote as zmod
from ..warm import sandbox_for, warm_key
from . import Stage

_ZYGOTES: dict = {}


def _preload_modules(bundle: Bundle) -> list[str]:
    """What the zygote imports once: the instructor notebook's own imports
    (trusted code; a student's notebook imports them again, at no cost)."""
    mods = []
    for text in bundle.source_notebooks.values():
        for cell in nbformat.reads(text, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse("\n".join(ln for ln in cell.source.splitlines()
                                            if not ln.lstrip().startswith(("%", "!"))))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    mods += [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    mods.append(node.module)
    return list(dict.fromkeys(["numpy", *mods]))


def _zygote(bundle: Bundle, uid: int, warm: dict):
    """This worker's kernel zygote for the bundle (None where zygotes cannot run)."""
    sandbox = sandbox_for(bundle)
    if not zmod.available(sandbox):
        return None
    key = (warm_key(bundle), uid, repr(bundle.limits), tuple(bundle.hidden_paths))
    z = _ZYGOTES.get(key)
    if z is None or not z.alive:
        if z is not None:
            z.close()
        if not _ZYGOTES:
            leftovers.register(close_zygotes)  # normal exit, SIGTERM (a grading worker)
            atexit.register(close_zygotes)     # a process of its own
        # not under /tmp: each kernel gets a fresh /tmp, and its sockets must stay where the grader sees them
        base = Path(tempfile.mkdtemp(prefix=leftovers.zygote_prefix(), dir=leftovers.run_dir()))
        os.chmod(base, 0o755)
        warm_home = Path(warm[".cache"]).parent if warm else None
        try:
            z = _ZYGOTES[key] = zmod.Zygote(sandbox, uid, _preload_modules(bundle), warm_home, base)
        except BaseException:
            _ZYGOTES.pop(key, None)
            shutil.rmtree(base, ignore_errors=True)
            raise
    return z


def close_zygotes():
    """Stop this process's zygotes and remove their folders (idempotent)."""
    while _ZYGOTES:
        _, z = _ZYGOTES.popitem()
        z.close()


def _where(cell, index: int) -> str:
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"test {gid}" if gid and cell.metadata.nbgrader.get("grade") else f"cell {index}"


class RunInSandbox(Stage):
    name = "run"

    def run(self, sub, ctx) -> None:
        limits = sub.bundle.limits
        for w in sub.gradable():
            files_here = {**sub.home_files, f"{w.name}.ipynb": w.data}
            zyg = _zygote(sub.bundle, ctx.uid, ctx.warm)
            if zyg is not None:
                stage = zyg.new_stage(files_here)
                env = ctx.sandbox.environment(Path(HOME))
                rundir = Path(tempfile.mkdtemp(prefix="k", dir=zyg.runtime))
                os.chmod(rundir, 0o755)
                try:
                    w.faults = run_notebook(w.nb, sandbox=ctx.sandbox, home=Path(HOME), uid=ctx.uid, rundir=rundir,
                                            kernel_manager=lambda rd: zmod.ZygoteKernelManager(zyg, stage, env, rd))
                finally:
                    zyg.drop_stage(stage)
                    shutil.rmtree(rundir, ignore_errors=True)
            else:
                home = ctx.tmp / f"{w.name}-kernel"
                prepare_home(home, files_here, uid=ctx.uid, warm=ctx.warm)
                w.faults = run_notebook(w.nb, sandbox=ctx.sandbox, home=home, uid=ctx.uid,
                                        rundir=ctx.tmp / f"{w.name}-run", log_path=ctx.tmp / f"{w.name}-kernel.log")
            for f in w.faults:
                if f.kind in ("cell-timeout", "notebook-timeout", "kernel-died", "output-truncated"):
                    where = (f" (test {f.grade_id})" if f.grade_id
                             else f" (cell {f.cell})" if f.cell is not None else "")
                    sub.flag(f.kind, f"{w.name}.ipynb{where}: {f.message}")
            w.nb, _ = LimitOutput().preprocess(w.nb, {})
            for kind, words, where in bombs(w, limits):
                sub.flag(kind, f"{w.name}.ipynb: {words} ({', '.join(where)})")


def _gib(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 2**30 else f"{n / 2**20:g} MiB"


def _marks(limits) -> list:
    """(flag, what a cell's error says, plain words): what a bomb leaves in the cell that ran it."""
    return [
        ("out-of-memory", ("MemoryError",),
         f"out of memory: a process of the notebook asked for more than {_gib(limits.memory)} "
         "(the limit per process)"),
        ("process-limit", ("BlockingIOError", "Resource temporarily unavailable"),
         f"process limit: the notebook started more than {limits.processes} processes"),
        ("disk-full", ("No space left on device", "Disk quota exceeded"),
         f"disk full: the notebook filled its {_gib(limits.tmp_size)} scratch space"),
        ("disk-full", ("File too large",),
         f"disk full: the notebook wrote a file larger than {_gib(limits.file_size)}"),
    ]


def bombs(w, limits) -> list[tuple[str, str, list[str]]]:
    """(flag, words, where) for each way the notebook ran into the sandbox's bounds: what the
    cgroup stopped (the run's faults) and the errors the limits raised in a cell."""
    found: dict = {}   # (flag, words) -> [where]
    for f in w.faults:
        if f.kind in ("out-of-memory", "process-limit"):
            where = (f"test {f.grade_id}" if f.grade_id else f"cell {f.cell}" if f.cell is not None
                     else "after the last cell")
            found.setdefault((f.kind, f.message), []).append(where)
    for kind, marks, words in _marks(limits):
        for i, c in enumerate(w.nb.cells):
            if c.cell_type == "code" and any(
                    o.get("output_type") == "error" and any(m in f"{o.get('ename')}: {o.get('evalue')}"
                                                            for m in marks) for o in c.get("outputs", [])):
                found.setdefault((kind, words), []).append(_where(c, i))
    return [(kind, words, list(dict.fromkeys(where))) for (kind, words), where in found.items()]
