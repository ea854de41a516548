"""The referee's worker: the student's code in a sandboxed process, and its pipes.

:class:`Worker` starts ``_worker_main.py`` from its source text in the
sandbox and talks to it in frames (a JSON header, then ``.npy`` blobs; see
there); :class:`Session` is the worker of one notebook, started with the
student's code cells and restarted (a few times at most) after a crash or a
time-out.  Nothing the worker sends is ever unpickled: it is parsed as JSON
and ``.npy`` (``allow_pickle=False``) only.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
from pathlib import Path
from time import monotonic

from . import _worker_main as wire
from ..sandbox import Sandbox, prepare_home, stop_process
from ..sandbox import cgroup as cgroups

MAX_REPLY_BYTES = 256 * 2**20
#: the worker runs from its source text (``python -I -c``), so it needs no file
#: of the grader inside the sandbox (the package may be hidden there)
WORKER_SOURCE = Path(wire.__file__).read_text()


class WorkerGone(BaseException):
    """The worker died or broke the protocol (a BaseException, so that a check
    library's ``except Exception`` does not turn it into a student error)."""


class WorkerTimeout(BaseException):
    """A call ran past the time limit."""


class Worker:
    """One sandboxed worker process and its two pipes."""

    def __init__(self, sandbox: Sandbox, home: Path, uid, files: dict, warm: dict, hide=()):
        prepare_home(home, files, uid=uid, warm=warm)
        r_in, w_in = os.pipe()    # grader -> worker
        r_out, w_out = os.pipe()  # worker -> grader
        self.cgroup = cgroups.new_group("r", sandbox.limits)  # all the worker's processes together
        cmd = sandbox.command([sys.executable, "-I", "-c", WORKER_SOURCE, str(r_in), str(w_out),
                               json.dumps(list(hide))], home, uid=uid, cgroup=self.cgroup)
        try:
            self.proc = subprocess.Popen(cmd, pass_fds=(r_in, w_out), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         cwd=str(home) if sandbox.unsafe else None, start_new_session=True)
        except BaseException:
            if self.cgroup is not None:
                self.cgroup.remove()
            raise
        os.close(r_in)
        os.close(w_out)
        self.w, self.r = w_in, r_out
        self.buf = bytearray()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, header, blobs=()):
        try:
            wire.write_frame(self.w, header, blobs)
        except OSError:
            raise WorkerGone("the worker exited") from None

    def _read(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - monotonic()
            if left <= 0:
                raise WorkerTimeout
            ready, _, _ = select.select([self.r], [], [], left)
            if not ready:
                raise WorkerTimeout
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise WorkerGone("the worker exited")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def receive(self, timeout: float):
        deadline = monotonic() + timeout
        (n,) = struct.unpack(">I", self._read(4, deadline))
        if n > 2**20:
            raise WorkerGone("the worker sent a malformed reply")
        try:
            header = json.loads(self._read(n, deadline))
            count = int(header.get("blobs", 0))
        except (ValueError, TypeError, AttributeError, RecursionError):   # a reply the student's code forged
            raise WorkerGone("the worker sent a malformed reply") from None
        blobs, total = [], 0
        for _ in range(count):
            (m,) = struct.unpack(">Q", self._read(8, deadline))
            total += m
            if total > MAX_REPLY_BYTES:
                raise WorkerGone(f"the result is larger than {MAX_REPLY_BYTES >> 20} MiB")
            blobs.append(self._read(m, deadline))
        return header, blobs

    def call(self, fn: str, args: tuple, kwargs: dict, timeout: float):
        """Call the student's ``fn``; returns ("result", value) / ("raised", info) / ("missing", None)
        / ("unreadable", message); raises WorkerGone or WorkerTimeout."""
        blobs: list[bytes] = []
        self.send({"op": "call", "fn": fn, "args": wire.encode(tuple(args), blobs),
                   "kwargs": wire.encode(dict(kwargs), blobs)}, blobs)
        header, out = self.receive(timeout)
        op = header.get("op")
        if op == "result":
            try:
                return "result", wire.decode(header.get("value"), out)
            except Exception:  # noqa: BLE001 - whatever the worker sent
                return "unreadable", "data the referee cannot read"
        if op == "raised":
            return "raised", {k: header.get(k) for k in ("type", "mro", "message")}
        if op == "missing":
            return "missing", None
        if op == "unreadable":
            return "unreadable", str(header.get("message", ""))[:300]
        raise WorkerGone("the worker sent an unexpected reply")

    def close(self):
        try:
            stop_process(self.proc, (self.w, self.r))
        finally:
            if self.cgroup is not None:
                self.cgroup.remove()


class Session:
    """The worker of one notebook: started with the student's code cells,
    restarted (a few times at most) after a crash or a time-out; a cell that
    hung or killed the worker is left out of the next start."""

    MAX_RESTARTS = 3

    def __init__(self, sandbox: Sandbox, home: Path, uid, files: dict, warm: dict, cells, hide=()):
        self.sandbox, self.home, self.uid, self.files, self.warm = sandbox, home, uid, files, warm
        self.hide = hide
        self.cells = cells
        self.skip: set[int] = set()
        self.worker: Worker | None = None
        self.restarts = 0
        self._start_any()

    def _start(self) -> bool:
        limits = self.sandbox.limits
        self.worker = worker = Worker(self.sandbox, self.home, self.uid, self.files, self.warm, self.hide)
        deadline = monotonic() + limits.notebook_timeout
        for i, src in self.cells:
            if i in self.skip:
                continue
            try:
                worker.send({"op": "cell", "index": i, "source": src})
                worker.receive(max(0.1, min(limits.cell_timeout, deadline - monotonic())))
            except (WorkerTimeout, WorkerGone):
                self.skip.add(i)
                self.close()
                return False
        return True

    def _start_any(self):
        for _ in range(len(self.cells) + 1):
            if self._start():
                return

    def restart(self):
        self.close()
        if self.restarts < self.MAX_RESTARTS:
            self.restarts += 1
            self._start_any()

    def close(self):
        if self.worker is not None:
            self.worker.close()
            self.worker = None
