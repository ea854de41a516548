"""Execute a notebook in a sandboxed kernel, graded as far as it can be.

nbgrader's ``Execute`` preprocessor (an nbclient ``NotebookClient``) runs the
cells; around it this module adds what a class of real submissions needs:

* the kernel runs under :class:`~cnnlab_grade.sandbox.bwrap.Sandbox` and talks
  to the grader over Unix sockets (jupyter_client's ``ipc`` transport), so
  the sandbox can have no network at all;
* a per-cell *and* a per-notebook wall-clock limit; a cell that times out is
  interrupted (``interrupt_mode: message``, the kernel lives) and, if the
  kernel does not answer afterwards, the kernel is restarted;
* a dead kernel (out of memory, ``os._exit``, a crash) costs the cell that
  killed it, not the notebook: a fresh kernel replays the earlier non-test
  cells and grading goes on with the next cell;
* the output kept per cell is capped, so a print loop cannot exhaust the
  grader's memory;
* a test cell that never ran gets an error output, so nbgrader scores it 0
  (an empty test cell would otherwise earn full marks).

Each event is returned as a :class:`~cnnlab_grade.records.Fault` with a plain-words reason.
"""

from __future__ import annotations

import asyncio
import math
import json
import os
import sys
from pathlib import Path
from time import monotonic

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader import utils as nbutils
from nbgrader.preprocessors import Execute

from ..records import Fault, Limits
from . import cgroup as cgroups
from .bwrap import Sandbox
from .uids import is_root

#: a cell that keeps the kernel busy after a timeout for this long gets the kernel restarted
RESPONSIVE_WAIT = 5.0
MAX_RESTARTS = 3


class SandboxKernelManager(AsyncKernelManager):
    """An ipykernel started through :meth:`Sandbox.command` over the ipc transport."""

    def __init__(self, sandbox: Sandbox, home: Path, uid: int | None, rundir: Path, **kw):
        rundir = Path(rundir)
        super().__init__(transport="ipc", ip=str(rundir / "k"), connection_file=str(rundir / "kernel.json"),
                         kernel_name="python3", **kw)
        self._kernel_spec = KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (cnnlab sandbox)", language="python", interrupt_mode="message")
        self.sandbox, self.home, self.uid, self.rundir = sandbox, Path(home), uid, rundir
        self.cgroup = None  # the kernel's cgroup (made when it starts)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if is_root() and self.uid not in (None, 0):
            # the unprivileged kernel must read its connection file and create its sockets
            os.chown(self.rundir, self.uid, self.uid)
            os.chown(self.connection_file, self.uid, self.uid)
        if self.cgroup is None:
            self.cgroup = cgroups.new_group("k", self.sandbox.limits)
        return self.sandbox.command(cmd, self.home, uid=self.uid, rw=[self.rundir], cgroup=self.cgroup)


def _size(msg) -> int:
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    if msg.get("msg_type") == "error":
        return sum(len(x) for x in content.get("traceback", [])) + len(content.get("evalue", ""))
    data = content.get("data", {})
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in data.values())


class _Client(NotebookClient):
    """nbclient's executor with nbgrader's timeout handling (the timeout
    error lands in the cell, so nbgrader scores it 0) and an output budget
    per cell."""

    def __init__(self, nb, km, *, output_bytes: int, **kw):
        super().__init__(nb, km=km, **kw)
        self.error_on_timeout = Execute.class_traits()["error_on_timeout"].default()
        self.output_bytes = output_bytes
        self.cell_bytes = 0
        self.truncated = False

    def on_cell_executed(self, **kwargs):
        return Execute.on_cell_executed(self, **kwargs)

    def output(self, outs, msg, display_id, cell_index):
        self.cell_bytes += _size(msg)
        if self.cell_bytes > self.output_bytes:
            self.truncated = True
            return None
        return super().output(outs, msg, display_id, cell_index)


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _gib(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 2**30 else f"{n / 2**20:g} MiB"


def bound_messages(limits: Limits) -> dict:
    """What a TA reads when the sandbox's cgroup stopped the notebook (by fault kind)."""
    return {"out-of-memory": f"out of memory: the notebook's processes used more than "
                             f"{_gib(limits.total_memory_bytes)} together and were stopped",
            "process-limit": f"process limit: the notebook started more than {limits.processes} processes",
            "at-limit": f"out of memory: the notebook's processes reached {_gib(limits.total_memory_bytes)} "
                        "together, and the cell ran out of time there"}


class NotebookRun:
    """Runs one notebook; :meth:`run` returns the list of faults (the
    notebook's cells get their outputs in place)."""

    def __init__(self, nb: NotebookNode, *, sandbox: Sandbox, home: Path, uid: int | None, rundir: Path,
                 log_path: Path | None = None, kernel_manager=None):
        """``kernel_manager``: a callable making the kernel manager for the run
        directory (default: a :class:`SandboxKernelManager` on ``home``); the
        kernel zygote (:mod:`.zygote`) passes its own."""
        self.nb, self.sandbox, self.home, self.uid, self.rundir = nb, sandbox, Path(home), uid, Path(rundir)
        self.make_km = kernel_manager or (lambda rundir: SandboxKernelManager(self.sandbox, self.home, self.uid, rundir))
        self.limits: Limits = sandbox.limits
        self.log_path = log_path
        self.faults: list[Fault] = []
        self.client: _Client | None = None
        self.restarts = 0
        self._seen: dict = {}  # cgroup -> its outcome when last read
        self._at_limit = False  # the memory reached its limit during the last cell

    # -- kernel lifecycle -------------------------------------------------
    async def _start(self):
        self.rundir.mkdir(parents=True, exist_ok=True)
        for f in self.rundir.iterdir():
            f.unlink()
        km = self.make_km(self.rundir)
        client = _Client(self.nb, km, timeout=int(self.limits.cell_timeout), interrupt_on_timeout=True,
                         allow_errors=True, raise_on_iopub_timeout=False, iopub_timeout=4,
                         startup_timeout=120, record_timing=False,
                         output_bytes=self.limits.output_bytes)
        self.client = client  # from here on, _stop cleans up (the kernel, its cgroup)
        log = open(self.log_path, "ab") if self.log_path else open(os.devnull, "wb")
        try:
            kw = dict(stdout=log, stderr=log, stdin=open(os.devnull, "rb"))
            if self.sandbox.unsafe:
                kw["cwd"] = str(self.home)
            await km.start_kernel(extra_arguments=["--HistoryManager.hist_file=:memory:"], **kw)
        finally:
            log.close()
        await client.async_start_new_kernel_client()
        msg_id = client.kc.kernel_info()
        reply = await client.async_wait_for_reply(msg_id)
        if reply and "language_info" in reply["content"]:
            self.nb.metadata["language_info"] = reply["content"]["language_info"]

    def _bounds(self, idx: int | None, gid: str | None, *, final: bool = False) -> None:
        """Faults for what the kernel's cgroup stopped since it was last read (the cell ``idx``);
        with ``final`` the group goes (what is left of the kernel's processes with it)."""
        cg = getattr(self.client.km, "cgroup", None) if self.client else None
        if cg is None:
            return
        out = cg.outcome()
        before = self._seen.get(cg, {})
        self._at_limit = out.get("at_memory_limit", 0) > before.get("at_memory_limit", 0)
        words = bound_messages(self.limits)
        for key, kind in (("oom_kills", "out-of-memory"), ("fork_refused", "process-limit")):
            if out[key] > before.get(key, 0):
                self.faults.append(Fault(kind, idx, gid, words[kind]))
        self._seen[cg] = out
        if final:
            cg.remove()

    async def _stop(self):
        client = self.client
        if client is None:
            return
        km = client.km
        try:
            if client.kc is not None:
                client.kc.stop_channels()
        except Exception:
            pass
        try:
            await km.shutdown_kernel(now=True)
        except Exception:
            pass
        try:
            self._bounds(None, None, final=True)
        finally:
            self.client = None

    async def _responsive(self) -> bool:
        kc = self.client.kc
        msg_id = kc.kernel_info()
        deadline = monotonic() + RESPONSIVE_WAIT
        while (left := deadline - monotonic()) > 0:
            try:
                msg = await kc.shell_channel.get_msg(timeout=left)
            except Exception:
                return False
            if msg["parent_header"].get("msg_id") == msg_id:
                return True
        return False

    async def _restart(self, replay: list[int], reason: str, deadline: float) -> bool:
        """Fresh kernel; re-run the earlier non-test cells silently. False if
        no more restarts are allowed or the replay itself failed."""
        await self._stop()
        if self.restarts >= MAX_RESTARTS:
            return False
        self.restarts += 1
        await self._start()
        self.faults.append(Fault("kernel-restarted", None, None,
                                 f"a fresh kernel was started ({reason}); the earlier non-test cells were run again"))
        for idx in replay:
            original = self.nb.cells[idx]
            cell = nbformat.from_dict(json.loads(json.dumps(original)))
            if deadline - monotonic() <= 0:
                return False
            self.client.timeout = max(1, math.ceil(min(self.limits.cell_timeout, deadline - monotonic())))
            try:
                await asyncio.wait_for(self.client.async_execute_cell(cell, idx, store_history=False),
                                       self.client.timeout + 20)
            except (DeadKernelError, asyncio.TimeoutError, Exception):
                return False
            finally:
                self.nb.cells[idx] = original  # nbclient stores the executed copy; keep the graded one
            if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
                return False
        return True

    # -- the run ----------------------------------------------------------
    async def run(self) -> list[Fault]:
        deadline = monotonic() + self.limits.notebook_timeout
        cells = self.nb.cells
        replay: list[int] = []  # earlier non-test code cells that ran without a fault
        stop_reason = None
        try:
            await self._start()
            for idx, cell in enumerate(cells):
                if cell.cell_type != "code":
                    continue
                gid = _grade_id(cell)
                is_test = nbutils.is_grade(cell)
                if stop_reason is None and deadline - monotonic() <= 0:
                    stop_reason = (f"the notebook ran longer than its limit of {self.limits.notebook_timeout:g} s; "
                                   "this cell was not run")
                    self.faults.append(Fault("notebook-timeout", idx, gid, stop_reason))
                if stop_reason is not None:
                    cell.outputs = [_error("NotRun", stop_reason)] if is_test else []
                    continue
                if not cell.source.strip():
                    continue
                client = self.client
                client.cell_bytes, client.truncated = 0, False
                client.timeout = max(1, math.ceil(min(self.limits.cell_timeout, deadline - monotonic())))
                died = None
                try:
                    await asyncio.wait_for(client.async_execute_cell(cell, idx,
                                                                     execution_count=client.code_cells_executed + 1),
                                           client.timeout + 30)
                except DeadKernelError:
                    died = "the kernel died while running this cell (out of memory, a crash or os._exit)"
                except asyncio.TimeoutError:
                    died = f"the kernel stopped answering during this cell (limit {client.timeout} s)"
                self._bounds(idx, gid)
                if client.truncated:
                    cell.outputs.append(NotebookNode(
                        output_type="stream", name="stdout",
                        text=f"\n[output truncated: more than {self.limits.output_bytes} bytes]\n"))
                    self.faults.append(Fault("output-truncated", idx, gid,
                                             f"the output was longer than {self.limits.output_bytes} bytes "
                                             "and was cut"))
                timed_out = any(o.get("ename") == "CellTimeoutError" for o in cell.outputs)
                if timed_out and died is None and self._at_limit:
                    # out of time because out of memory: the processes sat at their memory limit,
                    # where reclaiming pages can take longer than the cell may run
                    self.faults.append(Fault("out-of-memory", idx, gid, bound_messages(self.limits)["at-limit"]))
                elif timed_out and died is None:
                    self.faults.append(Fault("cell-timeout", idx, gid,
                                             f"the cell ran longer than its limit of {client.timeout} s and was "
                                             "interrupted"))
                    if not await self._responsive():
                        died = "the kernel ignored the interrupt after the time limit"
                if died is not None:
                    cell.outputs.append(_error("DeadKernelError", died))
                    self.faults.append(Fault("kernel-died", idx, gid, died))
                    if not await self._restart(replay, died, deadline):
                        stop_reason = "the kernel could not be brought back (see the earlier cell); not run"
                    continue
                if not is_test and not timed_out:
                    replay.append(idx)
        finally:
            await self._stop()
        return self.faults


def run_notebook(nb, **kw) -> list[Fault]:
    """Synchronous wrapper around :class:`NotebookRun`."""
    return asyncio.run(NotebookRun(nb, **kw).run())
