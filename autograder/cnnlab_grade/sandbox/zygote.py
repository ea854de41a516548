"""Warm sandboxed kernels: a zygote per grading worker forks one kernel per student.

Starting a kernel costs more than most ps1 notebooks take to run: Python,
ipykernel, NumPy, numba and the check library are imported again for every
student (about 1.2 s of CPU here).  A *zygote* imports them once, inside a
bubblewrap sandbox (:meth:`Sandbox.zygote_command`: the same read-only system,
no network, no course files), and forks a kernel per student, each isolated
further in namespaces of its own with a private home, an unprivileged uid and
the limits (:mod:`._zygote_main` has the details).

:class:`ZygoteKernelManager` is a jupyter_client kernel manager whose
provisioner asks the zygote instead of starting a process, so nbclient (and
nbgrader's ``Execute``) drive these kernels like any other.

Used when the grader runs as root (as CI does); otherwise each kernel is a
fresh bubblewrap process (:class:`~cnnlab_grade.sandbox.kernel.SandboxKernelManager`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.provisioning import LocalProvisioner

from . import _zygote_main
from . import cgroup as cgroups
from .availability import stop_process
from .bwrap import CGROUP_INSIDE, Sandbox
from .home import mount_tmpfs, umount, write_files
from .uids import is_root

SOURCE = Path(_zygote_main.__file__).read_text()


def available(sandbox: Sandbox) -> bool:
    return is_root() and not sandbox.unsafe


class Zygote:
    """The zygote process (one per grading worker and assignment)."""

    def __init__(self, sandbox: Sandbox, uid: int, preload: list[str], warm_dir: Path | None, base: Path):
        """``base``: a host folder for the zygote's staging and socket folders
        (it may lie under /tmp: each kernel's fresh /tmp keeps what is bound there).
        The socket folder, which the kernels can write to, is a tmpfs of the
        limits' scratch size (nothing reaches the host's disk); the zygote and
        its kernels live in a cgroup of their own, each kernel in a child group
        with the limits (:mod:`.cgroup`; without cgroups, the rlimits alone)."""
        self.sandbox, self.uid, self.base = sandbox, uid, Path(base)
        self.stage = self.base / "stage"
        self.runtime = self.base / "run"
        self.closed, self._k, self.group, self._mounted = False, 0, None, False
        for d in (self.stage, self.runtime):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o755)
        self.proc = None
        try:
            self._start(sandbox, preload, warm_dir)
        except BaseException:
            self.close()
            raise

    def _start(self, sandbox, preload, warm_dir):
        self._mounted = mount_tmpfs(self.runtime, sandbox.limits.tmp_size)
        self.group = cgroups.new_group("z")
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        cmd = sandbox.zygote_command([sys.executable, "-P", "-c", SOURCE, str(r_in), str(w_out), json.dumps(preload)],
                                     stage=self.stage, runtime=self.runtime, warm=warm_dir, cgroup=self.group)
        self.proc = subprocess.Popen(cmd, pass_fds=(r_in, w_out), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(self.base / "zygote.log", "ab"),
                                     start_new_session=True)
        os.close(r_in)
        os.close(w_out)
        self._w = os.fdopen(w_in, "w", buffering=1)
        self._r = os.fdopen(r_out, "r")
        self._lock = threading.Lock()
        hello = self._r.readline()
        if not hello:
            raise RuntimeError(f"the kernel zygote did not start: {self._log_tail()}")
        self._n = 0

    def _log_tail(self) -> str:
        try:
            return (self.base / "zygote.log").read_text()[-1500:]
        except OSError:
            return "(no log)"

    def request(self, **req) -> dict:
        with self._lock:
            try:
                self._w.write(json.dumps(req) + "\n")
                line = self._r.readline()
            except (OSError, ValueError):
                line = ""
        if not line:
            raise RuntimeError(f"the kernel zygote died: {self._log_tail()}")
        reply = json.loads(line)
        if "error" in reply:
            raise OSError(reply["error"])
        return reply

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def new_stage(self, files: dict) -> str:
        """A staging folder with the student's files (the fork copies them into its home)."""
        self._n += 1
        name = f"s{self._n}"
        d = self.stage / name
        shutil.rmtree(d, ignore_errors=True)
        write_files(d, files)
        return name

    def drop_stage(self, name: str):
        shutil.rmtree(self.stage / name, ignore_errors=True)

    def kernel_group(self, limits) -> tuple:
        """A cgroup for the next kernel, and the files the zygote writes its pid to (None, [] without)."""
        if self.group is None:
            return None, []
        self._k += 1
        try:
            cg = self.group.child(f"k{self._k}", limits)
        except OSError as e:
            cgroups.log.warning("cnnlab-grade: no cgroup for a kernel (%s); rlimits only", e)
            return None, []
        return cg, [f"{CGROUP_INSIDE}/{ctrl or 'unified'}/k{self._k}/cgroup.procs" for ctrl in cg.dirs]

    def close(self):
        """Stop the zygote and every kernel, remove its cgroups, its tmpfs and its folder (idempotent)."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.proc is not None:
                stop_process(self.proc, (self._w, self._r))
        finally:
            if self.group is not None:
                self.group.remove()
            if self._mounted:
                umount(self.runtime)
            shutil.rmtree(self.base, ignore_errors=True)


class ZygoteProcess:
    """What jupyter_client expects of a kernel process (``Popen``-like)."""

    def __init__(self, zygote: Zygote, pid: int):
        self.zygote, self.pid = zygote, pid
        self.returncode = None
        self.stdin = self.stdout = self.stderr = None

    def poll(self):
        if self.returncode is None:
            if not self.zygote.alive:
                self.returncode = -9
            else:
                try:
                    self.returncode = self.zygote.request(op="poll", pid=self.pid)["returncode"]
                except (OSError, RuntimeError):
                    self.returncode = -9
        return self.returncode

    def wait(self, timeout=None):
        import time

        while self.poll() is None:
            time.sleep(0.05)
        try:
            self.zygote.request(op="forget", pid=self.pid)
        except (OSError, RuntimeError):
            pass
        return self.returncode

    def send_signal(self, signum):
        if self.poll() is None:
            self.zygote.request(op="signal", pid=self.pid, signal=int(signum))

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGKILL)  # the student's namespace dies with its outer process


class ZygoteProvisioner(LocalProvisioner):
    """Launches the kernel by asking the zygote to fork one."""

    async def launch_kernel(self, cmd, **kwargs):
        km = self.parent
        km.cgroup, procs = km.zygote.kernel_group(km.zygote.sandbox.limits)
        req = dict(op="spawn", uid=km.uid, stage=km.stage_name, connection_file=km.connection_file,
                   env=km.kernel_env, limits=km.limits_dict, cgroup=procs)
        try:
            pid = km.zygote.request(**req)["pid"]
        except BaseException:
            if km.cgroup is not None:
                km.cgroup.remove()
            raise
        self.process = ZygoteProcess(km.zygote, pid)
        self.pid, self.pgid = pid, None
        return self.connection_info

    async def send_signal(self, signum: int) -> None:
        if self.process:
            self.process.send_signal(signum)


class ZygoteKernelManager(AsyncKernelManager):
    """A kernel manager for kernels forked by a :class:`Zygote` (ipc transport)."""

    def __init__(self, zygote: Zygote, stage_name: str, kernel_env: dict, rundir: Path, **kw):
        rundir = Path(rundir)
        super().__init__(transport="ipc", ip=str(rundir / "k"), connection_file=str(rundir / "kernel.json"),
                         kernel_name="python3", **kw)
        self._kernel_spec = KernelSpec(argv=["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                       display_name="Python 3 (cnnlab sandbox)", language="python",
                                       interrupt_mode="message")
        self.zygote, self.stage_name, self.kernel_env, self.rundir = zygote, stage_name, kernel_env, rundir
        self.uid = zygote.uid
        self.cgroup = None  # the kernel's cgroup (set when it starts)
        lim = zygote.sandbox.limits
        self.limits_dict = {"memory": lim.memory, "file_size": lim.file_size, "cpu_seconds": lim.cpu_seconds,
                            "processes": lim.processes, "tmp_size": lim.tmp_size}
        import uuid

        self.kernel_id = str(uuid.uuid4())
        self.provisioner = ZygoteProvisioner(kernel_id=self.kernel_id, kernel_spec=self._kernel_spec, parent=self)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        os.chown(self.rundir, self.uid, self.uid)
        os.chown(self.connection_file, self.uid, self.uid)
        return cmd
