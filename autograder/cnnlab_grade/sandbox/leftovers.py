"""Nothing of a run stays behind: the folders and cgroups a grading process made, removed.

A grading process names what it makes with its pid: its kernel zygotes'
folders (``/run/cnnlab-grade-zygote-<pid>-*``, each with a tmpfs for the
kernels' sockets), its jobs' scratch folders (``$TMPDIR/cnnlab-grade-job-<pid>-*``)
and its cgroups (``<kind><pid>-*``).  The process removes them itself when it
ends normally or is told to stop (:func:`on_exit` in a grading worker); the
coordinator, after it had to kill a worker, removes what that worker left
(:func:`sweep`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

from . import cgroup as cgroups
from .home import umount

_CLEANUPS: list = []


def run_dir() -> Path | None:
    """Where zygote folders go: ``/run`` (not ``/tmp``, which every kernel gets fresh), else the temp
    folder; ``CNNLAB_GRADE_RUN_DIR`` overrides it."""
    if os.environ.get("CNNLAB_GRADE_RUN_DIR"):
        return Path(os.environ["CNNLAB_GRADE_RUN_DIR"])
    return Path("/run") if os.access("/run", os.W_OK) else None


def zygote_prefix(pid: int | None = None) -> str:
    return f"cnnlab-grade-zygote-{pid or os.getpid()}-"


def job_prefix(pid: int | None = None) -> str:
    return f"cnnlab-grade-job-{pid or os.getpid()}-"


def register(fn) -> None:
    """``fn()`` runs when this grading process ends or is told to stop (:func:`cleanup`)."""
    _CLEANUPS.append(fn)


def cleanup() -> None:
    """Run the registered clean-ups (last first) and remove this process's cgroups; never raises."""
    while _CLEANUPS:
        fn = _CLEANUPS.pop()
        try:
            fn()
        except Exception:  # noqa: BLE001 - the others still run
            pass
    cgroups.remove_all()
    sweep([os.getpid()], own=True)


def on_exit() -> None:
    """In a grading worker: clean up when it exits normally (multiprocessing's finalizers, which run
    where ``atexit`` does not) and when it gets SIGTERM (then exit at once)."""
    from multiprocessing import util

    util.Finalize(None, cleanup, exitpriority=100)

    def stop(signum, frame):
        cleanup()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def _remove_folder(path: Path) -> None:
    for sub in (path / "run", path):
        if os.path.ismount(sub):
            umount(sub)
    shutil.rmtree(path, ignore_errors=True)


def sweep(pids, own: bool = False) -> None:
    """Remove what the grading processes ``pids`` (gone now, or this one with ``own``) left:
    zygote and job folders, cgroups."""
    pids = [int(p) for p in pids]
    if own:
        for place in {run_dir(), Path(tempfile.gettempdir())} - {None}:
            for path in place.glob(zygote_prefix() + "*"):
                _remove_folder(path)
            for path in place.glob(job_prefix() + "*"):
                shutil.rmtree(path, ignore_errors=True)
        return
    places = [p for p in {run_dir(), Path(tempfile.gettempdir())} if p is not None]
    for pid in pids:
        for place in places:
            for prefix in (zygote_prefix(pid), job_prefix(pid)):
                for path in place.glob(prefix + "*"):
                    _remove_folder(path)
    h = cgroups.hierarchy()
    if h is None:
        return
    pattern = re.compile(r"[a-z]+(\d+)-[0-9a-f]+-\d+$")
    for base in h.bases.values():
        try:
            names = [d.name for d in base.iterdir() if d.is_dir()]
        except OSError:
            continue
        for name in names:
            m = pattern.match(name)
            if m and int(m.group(1)) in pids:
                cgroups.Cgroup(h, name).remove()
