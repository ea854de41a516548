"""The sandbox a student's code runs in: what it can see, do and use up.

Each test starts real sandboxed processes (bubblewrap, as CI runs as root:
``make test`` installs it), both the plain one (one bubblewrap process, used by
the referee and when the grader is not root) and the kernels the zygote forks.
"""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from cnnlab_grade.records import Limits, parse_size
from cnnlab_grade.sandbox import (HOME, Sandbox, SandboxUnavailable, prepare_home, require_sandbox, run_notebook,
                                  sandbox_problem, uid_slot)
from cnnlab_grade.sandbox import zygote as zmod

PROBE = r'''
import json, os, socket, sys
out = {"uid": os.getuid(), "cwd": os.getcwd()}
caps = [l for l in open("/proc/self/status") if l.startswith("CapEff")]
out["capeff"] = caps[0].split()[1] if caps else None
def can_read(p):
    try:
        open(p, "rb").read(1)
        return True
    except Exception:
        return False
def can_write(p):
    try:
        with open(p, "w") as fh:
            fh.write("x")
        return True
    except Exception:
        return False
out["read"] = {p: can_read(p) for p in sys.argv[1:]}
out["write_home"] = can_write(os.path.join(os.environ["HOME"], "scratch.txt"))
out["home_files"] = sorted(os.listdir(os.environ["HOME"]))
out["write_usr"] = can_write("/usr/evil.txt")
out["write_lib"] = can_write(os.path.join(os.path.dirname(os.path.dirname(os.__file__)), "evil.txt"))
try:
    socket.create_connection(("127.0.0.1", int(os.environ["PROBE_PORT"])), timeout=2).close()
    out["network"] = True
except OSError:
    out["network"] = False
out["pids"] = len([d for d in os.listdir("/proc") if d.isdigit()])
print(json.dumps(out))
'''


@pytest.fixture
def course(tmp_path):
    """Secrets on the host: a solution, a gradebook and another student's work."""
    root = tmp_path / "course"
    (root / "source" / "ps1").mkdir(parents=True)
    (root / "source" / "ps1" / "ps1.ipynb").write_text("the solutions")
    (root / "gradebook.db").write_text("grades")
    other = tmp_path / "other-student"
    other.mkdir()
    (other / "ps1.ipynb").write_text("someone else's work")
    return root, other


def _listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    return srv


def test_the_sandbox_is_available_here():
    # CI installs bubblewrap (.ci/sysdeps.sh); grading refuses without it
    assert sandbox_problem() is None


def test_a_student_process_sees_nothing_of_the_course(course, tmp_path):
    root, other = course
    secrets = [root / "source" / "ps1" / "ps1.ipynb", root / "gradebook.db", other / "ps1.ipynb",
               Path("/etc/shadow"), Path(__file__)]
    srv = _listener()
    home = tmp_path / "home"
    with uid_slot() as uid:
        prepare_home(home, {"ps1.ipynb": b"{}"}, uid=uid)
        sb = Sandbox(Limits(), hidden=(str(root), str(other)))
        cmd = sb.command([sys.executable, "-c", PROBE, *map(str, secrets)], home, uid=uid,
                         env={"PROBE_PORT": str(srv.getsockname()[1])})
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    srv.close()
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["read"] == {str(p): False for p in secrets}
    assert out["uid"] != 0 and out["capeff"] == "0000000000000000"
    assert out["cwd"] == HOME and out["write_home"]
    assert not out["write_usr"] and not out["write_lib"]
    assert out["network"] is False
    assert out["pids"] <= 4  # its own PID namespace
    assert "ps1.ipynb" in out["home_files"]  # the home starts as a copy of the student's files...
    assert not (home / "scratch.txt").exists()  # ...in a tmpfs: what the code writes never reaches the host


@pytest.mark.parametrize("what, code, expect", [
    ("memory", "b = bytearray(3 * 2**30)", "MemoryError"),
    ("processes", "import os\nkids = []\nwhile True:\n    pid = os.fork()\n    if pid == 0:\n"
                  "        import time; time.sleep(30)\n    kids.append(pid)", "BlockingIOError"),
    ("file size", "open('big', 'wb').write(b'x' * (3 * 2**20))", "File too large"),
])
def test_limits_end_in_a_plain_error(tmp_path, what, code, expect):
    home = tmp_path / "home"
    with uid_slot() as uid:
        prepare_home(home, {}, uid=uid)
        sb = Sandbox(Limits(memory=2 * 2**30, processes=16, file_size=2**20))
        res = subprocess.run(sb.command([sys.executable, "-c", code], home, uid=uid), capture_output=True,
                             text=True, timeout=60)
    assert res.returncode != 0
    assert expect in res.stderr, res.stderr[-1000:]


def _probe_notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def _outputs(nb):
    return ["".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream") or
            next((f"{o['ename']}: {o['evalue']}" for o in c.outputs if o.get("output_type") == "error"), "")
            for c in nb.cells]


def _run_on_zygote(z, sb, uid, files, cells):
    """One student on the zygote: ``files`` in the home, ``cells`` run; their outputs."""
    stage = z.new_stage(files)
    rundir = Path(tempfile.mkdtemp(dir=z.runtime))
    os.chmod(rundir, 0o755)
    nb = _probe_notebook(cells)
    env = sb.environment(Path(HOME))
    try:
        run_notebook(nb, sandbox=sb, home=Path(HOME), uid=uid, rundir=rundir,
                     kernel_manager=lambda rd: zmod.ZygoteKernelManager(z, stage, env, rd))
    finally:
        z.drop_stage(stage)
    return _outputs(nb)


def test_kernels_forked_by_the_zygote_are_isolated_from_each_other(tmp_path):
    """Two students in a row on one zygote: the second sees nothing the first left."""
    sb = Sandbox(Limits(cell_timeout=30, notebook_timeout=60))
    assert zmod.available(sb)
    base = Path(tempfile.mkdtemp(prefix="zygote-test-", dir="/run"))
    with uid_slot() as uid:
        z = zmod.Zygote(sb, uid, ["numpy"], None, base)
        try:
            results = []
            for files, cells in [
                ({"ps1.ipynb": b"first"}, [
                    "import os; open('/tmp/left', 'w').write('a'); open(os.path.expanduser('~/left'), 'w').write('b')",
                    "open('/dev/shm/left', 'w').write('c'); print(sorted(os.listdir(os.path.expanduser('~'))))",
                    "import subprocess; p = subprocess.Popen(['sleep', '300']); print(p.pid)"]),
                ({"ps1.ipynb": b"second"}, [
                    "import os; print(sorted(os.listdir(os.path.expanduser('~'))), os.path.exists('/tmp/left'), "
                    "os.path.exists('/dev/shm/left'))",
                    "print(os.getuid(), [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')])",
                    "print(len([d for d in os.listdir('/proc') if d.isdigit()]), os.listdir('/run/cnnlab'))",
                    "print(open(os.path.expanduser('~/ps1.ipynb')).read())"]),
            ]:
                results.append(_run_on_zygote(z, sb, uid, files, cells))
        finally:
            z.close()
    first, second = results
    assert "left" in first[1] and "ps1.ipynb" in first[1]
    home_listing, tmp_left, shm_left = second[0].rsplit(" ", 2)
    assert "left" not in home_listing and tmp_left == "False" and shm_left.strip() == "False"
    uid_text, caps = second[1].split(" ", 1)
    assert int(uid_text) != 0 and "0000000000000000" in caps
    npids, staging = second[2].split(" ", 1)
    assert int(npids) <= 4  # its own PID namespace: the first student's `sleep` died with the first kernel
    assert staging.strip() == "[]"  # the staging folder its files came through is gone
    assert second[3].strip() == "second"


def test_zygote_kernels_keep_what_is_bound_below_tmp(tmp_path):
    """A checkout (the Python environment, the package) or the kernels' socket
    folder may lie in /tmp: each student's fresh /tmp must keep them, read-only
    where they were, and still hide what the previous student left there."""
    exposed = Path(tempfile.mkdtemp(prefix="exposed-", dir="/tmp"))
    os.chmod(exposed, 0o755)  # like a checkout: readable by all
    (exposed / "data.txt").write_text("course data")
    sb = Sandbox(Limits(cell_timeout=30, notebook_timeout=60), extra_ro=(exposed,))
    base = Path(tempfile.mkdtemp(prefix="zygote-test-", dir="/tmp"))
    try:
        with uid_slot() as uid:
            z = zmod.Zygote(sb, uid, ["numpy"], None, base)
            try:
                results = []
                for cells in (["open('/tmp/left', 'w').write('a'); print(open(%r).read())" % str(exposed / "data.txt")],
                              ["import os; print(os.path.exists('/tmp/left'), open(%r).read())"
                               % str(exposed / "data.txt"),
                               "open(%r, 'w').write('x')" % str(exposed / "data.txt")]):
                    results.append(_run_on_zygote(z, sb, uid, {"ps1.ipynb": b"x"}, cells))
            finally:
                z.close()
        host_copy = (exposed / "data.txt").read_text()
    finally:
        shutil.rmtree(exposed, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    first, second = results
    assert first[0].strip() == "course data"
    assert second[0].strip() == "False course data"
    assert "Read-only file system" in second[1] or "Permission denied" in second[1], second[1]
    assert host_copy == "course data"


def test_grading_refuses_without_the_sandbox_and_says_why(monkeypatch):
    monkeypatch.setattr("cnnlab_grade.sandbox.availability.sandbox_problem",
                        lambda: "bubblewrap is not installed (no `bwrap` on PATH)")
    with pytest.raises(SandboxUnavailable, match="(?s)bubblewrap is not installed.*--unsafe"):
        require_sandbox(unsafe=False)
    require_sandbox(unsafe=True)  # the TA's explicit choice


def test_bad_limits_are_named():
    assert parse_size("4G") == 4 * 2**30 and parse_size("512M") == 512 * 2**20 and parse_size(1000) == 1000
    with pytest.raises(ValueError, match="--memory"):
        parse_size("lots", "--memory")
    with pytest.raises(ValueError, match="cell_timeout"):
        Limits(cell_timeout=0)


def test_the_probe_runs_in_a_kernel_too(tmp_path):
    """nbclient + the plain sandboxed kernel manager (used when not root)."""
    sb = Sandbox(Limits(cell_timeout=30, notebook_timeout=60))
    nb = _probe_notebook(["import os; print(os.getuid() != 0, os.getcwd())", "while True: pass"])
    sb = Sandbox(Limits(cell_timeout=3, notebook_timeout=60))
    with uid_slot() as uid:
        prepare_home(tmp_path / "home", {}, uid=uid)
        faults = run_notebook(nb, sandbox=sb, home=tmp_path / "home", uid=uid, rundir=tmp_path / "run")
    assert _outputs(nb)[0].strip() == f"True {HOME}"
    assert [f.kind for f in faults] == ["cell-timeout"]
