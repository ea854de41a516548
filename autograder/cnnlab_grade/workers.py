"""How the jobs are run: a local process pool, or a Dask cluster.

Both yield ``(job, result or exception)`` as jobs finish; each job is
:func:`cnnlab_grade.pipeline.grade_submission` in a worker process.  The
local workers fork from a server that imported everything once
(:mod:`cnnlab_grade._preload`), die with the coordinator (Ctrl-C, ``kill``,
even ``kill -9``), and a pool that breaks (a worker killed) is replaced.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets as _secrets
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from .pipeline import grade_submission
from .sandbox import leftovers


def quiet_notebook_warnings():
    """nbformat's warnings about a submission's cell ids (missing, duplicated)
    are about the student's file, which the prepare stage repairs and flags:
    they must not reach the TA's console (Python prints them with a stray
    source line such as ``_validate(nbdict, ...)``)."""
    import warnings

    from nbformat.warnings import DuplicateCellId, MissingIDFieldWarning

    for category in (MissingIDFieldWarning, DuplicateCellId):
        warnings.filterwarnings("ignore", category=category)


def _worker_init(coordinator: int):
    """Worker initializer: die when the coordinator dies, kill -9 included.

    The workers' parent is multiprocessing's fork server, which outlives the
    coordinator as long as a worker lives (they hold its pipe), so a thread
    watches the coordinator itself; the sandboxes die with their worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    quiet_notebook_warnings()
    leftovers.on_exit()  # its zygotes, cgroups and folders go with it (normal exit or SIGTERM)

    def watch():
        while True:
            time.sleep(0.5)
            try:
                os.kill(coordinator, 0)
            except ProcessLookupError:   # the coordinator is gone (kill -9): nothing of this worker stays
                leftovers.cleanup()
                os._exit(1)
            except PermissionError:
                pass

    threading.Thread(target=watch, daemon=True, name="coordinator-watch").start()


def _preload(bundles) -> list[str]:
    """Modules the workers need, imported once in the fork server (not per worker)."""
    mods = ["cnnlab_grade.pipeline", "cnnlab_grade._preload"]
    for b in bundles.values():
        for imp in (b.spec.imports if b.spec else []):
            words = imp.replace(",", " ").split()
            if words[:1] in (["from"], ["import"]) and len(words) > 1:
                mods.append(words[1])
            elif words:
                mods.append(words[0])
    return list(dict.fromkeys(mods))


def local(jobs, bundles, workers):
    """Yield (job, result or exception) from a process pool; a pool that
    breaks (a worker killed) is replaced and the unfinished jobs resubmitted.
    The workers fork from a server that imported everything once."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_preload(bundles))
    pending = list(jobs)
    for _attempt in range(3):
        if not pending:
            return
        pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=ctx,
                                   initializer=_worker_init, initargs=(os.getpid(),))
        futures = {pool.submit(grade_submission, j, bundles[j.assignment]): j for j in pending}
        broken, finished = False, False
        try:
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                except Exception as exc:  # noqa: BLE001 - reported per student
                    result = exc
                pending.remove(job)
                yield job, result
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:  # interrupted: stop now, the sandboxes die with their workers
                _kill(pool)
        if not broken:
            return
    for job in pending:
        yield job, RuntimeError("the grading worker kept dying on this submission")


def _kill(pool: ProcessPoolExecutor):
    """Stop the workers now: SIGTERM (each removes its zygotes, cgroups and folders), SIGKILL
    for one that does not go within seconds; then remove whatever a worker left."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 10
    for p in procs:
        p.join(timeout=max(0.1, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(timeout=5)
    leftovers.sweep([p.pid for p in procs])


def dask(jobs, bundles, address):
    from distributed import Client, as_completed as dask_completed

    with Client(address, timeout="30s") as client:
        shared = {a: client.scatter(b, broadcast=True) for a, b in bundles.items()}
        futures = {}
        for j in jobs:
            fut = client.submit(grade_submission, j, shared[j.assignment], pure=False,
                                key=f"grade-{j.assignment}-{j.student}-{_secrets.token_hex(4)}")
            futures[fut] = j
        try:
            for fut in dask_completed(list(futures)):
                job = futures[fut]
                try:
                    yield job, fut.result()
                except Exception as exc:  # noqa: BLE001
                    yield job, exc
        finally:
            client.cancel(list(futures))
