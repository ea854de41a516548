"""Is the sandbox available here?  And stopping a sandboxed process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ..records import Limits
from .bwrap import BWRAP, HOME, Sandbox
from .home import prepare_home
from .uids import is_root, uid_slot


class SandboxUnavailable(RuntimeError):
    """The bubblewrap sandbox cannot run here; the message says why and what to do."""


def stop_process(proc: subprocess.Popen, pipes=()) -> None:
    """Close our ends of its pipes, kill the sandboxed process's whole group
    (what it forked too) and reap it."""
    for p in pipes:
        try:
            os.close(p) if isinstance(p, int) else p.close()
        except OSError:
            pass
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
    proc.wait()


def sandbox_problem() -> str | None:
    """``None`` if the sandbox works here, else why not (in plain words)."""
    if sys.platform != "linux":
        return f"the sandbox needs Linux (bubblewrap); this is {sys.platform}"
    if not shutil.which(BWRAP):
        return ("bubblewrap is not installed (no `bwrap` on PATH): install it with "
                "`sudo apt-get install bubblewrap`")
    missing = [tool for tool in (["setpriv", "prlimit"] if is_root() else ["prlimit"])
               if not shutil.which(tool)]
    if missing:
        return f"{' and '.join(missing)} not found (package util-linux): install it"
    home = Path(tempfile.mkdtemp(prefix="cnnlab-probe-"))
    try:
        with uid_slot() as uid:
            prepare_home(home, {}, uid=uid)
            cmd = Sandbox(Limits(cell_timeout=10, notebook_timeout=10)).command(
                [sys.executable, "-c", "import os; print(os.getcwd())"], home, uid=uid)
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if res.returncode != 0 or res.stdout.strip() != HOME:
            err = (res.stderr.strip().splitlines() or ["(no message)"])[-1]
            hint = ""
            if "namespace" in err or "Operation not permitted" in err:
                hint = (" (user namespaces look disabled: as root, `sysctl -w kernel.unprivileged_userns_clone=1`"
                        " or run the grader as root)")
            return f"bubblewrap is installed but cannot start a sandbox here: {err}{hint}"
    except (OSError, subprocess.SubprocessError) as e:
        return f"bubblewrap is installed but cannot start a sandbox here: {e}"
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return None


def require_sandbox(unsafe: bool) -> None:
    """Raise :class:`SandboxUnavailable` with the reason unless the sandbox
    works or the TA explicitly chose ``unsafe``."""
    problem = sandbox_problem()
    if not problem:
        from .cgroup import hierarchy

        hierarchy()  # says once whether each sandbox gets a cgroup
    if problem and not unsafe:
        raise SandboxUnavailable(
            f"Refusing to grade: {problem}.\nWithout the sandbox, student code runs as you, can read the "
            "solutions and the gradebook and can change its own grade. Fix the above, or pass --unsafe "
            "to grade anyway (only for submissions you trust).")
