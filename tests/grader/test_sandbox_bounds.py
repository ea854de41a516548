"""Each student's sandbox is bounded as a whole: memory, processes and CPU of all
its processes together (a cgroup per sandbox), scratch space of a fixed size
in memory, nothing on the host's disk.  A bomb is flagged in words, and the
student graded beside it keeps its usual pace.

The real tests start sandboxes (bubblewrap, as root, as CI runs); the small
limits keep each one to seconds.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from cnnlab_grade.records import Limits
from cnnlab_grade.sandbox import HOME, Sandbox, is_root, prepare_home, run_notebook, uid_slot
from cnnlab_grade.sandbox import cgroup as cgroups
from cnnlab_grade.sandbox import zygote as zmod
from cnnlab_grade.stages.run import bombs

MiB = 2**20
needs_root = pytest.mark.skipif(not is_root() or not shutil.which("bwrap"),
                                reason="the cgroup per sandbox and the kernel zygote need root and bubblewrap "
                                       "(CI runs as root with bubblewrap installed)")


# ---------------------------------------------------------------------------
# the cgroup module on a folder that looks like a cgroup v2 tree (no root, no kernel needed)

def _fake_v2(tmp_path):
    root = tmp_path / "cgroup"
    (root / "cnnlab-grade").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cnnlab-grade" / "cgroup.controllers").write_text("cpu memory pids\n")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"30 25 0:26 / {root} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
    proc = tmp_path / "cgroup-of-self"
    proc.write_text("0::/user.slice/session-1.scope\n")
    return root, mountinfo, proc


def test_v2_limits_and_outcome_are_written_and_read_where_the_kernel_has_them(tmp_path, monkeypatch):
    root, mountinfo, proc = _fake_v2(tmp_path)
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 0)
    h = cgroups.detect(str(mountinfo), str(proc))
    assert h == cgroups.Hierarchy(2, {"": root / "cnnlab-grade"})
    assert (root / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    k = root / "cnnlab-grade" / "k1"
    k.mkdir()
    for name in ("memory.swap.max", "cpu.max", "cpu.weight"):
        (k / name).write_text("max")
    cg = cgroups.create(h, "k1", Limits(total_memory=300 * MiB, processes=40, cpus=0.5))
    assert [(k / f).read_text() for f in ("memory.max", "memory.swap.max", "pids.max", "cpu.max")] == \
        [str(300 * MiB), "0", "40", "50000 100000"]
    (k / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\n")
    (k / "pids.events").write_text("max 7\n")
    (k / "memory.peak").write_text(f"{300 * MiB}\n")
    assert cg.outcome() == {"oom_kills": 2, "fork_refused": 7, "memory_peak": 300 * MiB, "at_memory_limit": 12}


def test_without_root_there_is_no_cgroup_and_grading_goes_on(tmp_path, monkeypatch):
    _, mountinfo, proc = _fake_v2(tmp_path)
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 1000)
    assert "root" in cgroups.detect(str(mountinfo), str(proc))


def test_the_bounds_are_limits_with_names():
    assert Limits(memory=2**30).total_memory_bytes == 2**30  # by default: the per-process memory
    assert Limits(memory=2**30, total_memory=3 * 2**30).total_memory_bytes == 3 * 2**30
    with pytest.raises(ValueError, match="total_memory"):
        Limits(total_memory=0)
    with pytest.raises(ValueError, match="cpus"):
        Limits(cpus=-1)


# ---------------------------------------------------------------------------
# real sandboxes

def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def _text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream") + "".join(
        f"{o['ename']}: {o['evalue']}" for o in cell.outputs if o.get("output_type") == "error")


class _Student:
    """One student on a zygote of its own (its own uid), as a grading worker has."""

    def __init__(self, limits):
        self.sandbox = Sandbox(limits)
        self._slot = uid_slot()
        self.uid = self._slot.__enter__()
        self.base = Path(tempfile.mkdtemp(prefix="bounds-test-", dir="/run"))
        os.chmod(self.base, 0o755)
        self.zygote = zmod.Zygote(self.sandbox, self.uid, ["numpy"], None, self.base)

    def run(self, nb):
        stage = self.zygote.new_stage({"ps1.ipynb": b"{}"})
        rundir = Path(tempfile.mkdtemp(dir=self.zygote.runtime))
        os.chmod(rundir, 0o755)
        env = self.sandbox.environment(Path(HOME))
        t = time.perf_counter()
        faults = run_notebook(nb, sandbox=self.sandbox, home=Path(HOME), uid=self.uid, rundir=rundir,
                              kernel_manager=lambda rd: zmod.ZygoteKernelManager(self.zygote, stage, env, rd))
        return faults, time.perf_counter() - t

    def close(self):
        self.zygote.close()
        self._slot.__exit__(None, None, None)
        assert not self.base.exists()


@pytest.fixture
def peaks(monkeypatch):
    """The outcome of every cgroup when it is removed (its peak memory included)."""
    seen = []
    remove = cgroups.Cgroup.remove

    def recording(self):
        if not self.removed:
            seen.append((self.rel, self.outcome()))
        remove(self)

    monkeypatch.setattr(cgroups.Cgroup, "remove", recording)
    return seen


@needs_root
def test_a_memory_bomb_spread_over_child_processes_is_stopped_and_flagged(peaks):
    assert cgroups.hierarchy() is not None, "root, but no cgroup: see the log line"
    limits = Limits(cell_timeout=30, notebook_timeout=60, memory=2**30, total_memory=256 * MiB, tmp_size=32 * MiB)
    student = _Student(limits)
    try:
        nb = _notebook(
            "import multiprocessing as mp, time\n"
            "def hog(i):\n"
            "    b = bytearray(120 * 2**20)\n"
            "    for j in range(0, len(b), 4096):\n"
            "        b[j] = 1\n"
            "    time.sleep(3)\n"
            "ps = [mp.Process(target=hog, args=(i,)) for i in range(6)]\n"
            "for p in ps: p.start()\n"
            "for p in ps: p.join()\n"
            "print(sorted(p.exitcode for p in ps))",
            "print('still here')")
        faults, _ = student.run(nb)
    finally:
        student.close()
    assert "-9" in _text(nb.cells[0]), _text(nb.cells[0])   # some children were killed...
    assert _text(nb.cells[1]).strip() == "still here"       # ...and the kernel went on
    assert [f.kind for f in faults] == ["out-of-memory"] and faults[0].cell == 0
    assert faults[0].message == ("out of memory: the notebook's processes used more than 256 MiB together and "
                                 "were stopped")
    kernels = [o for rel, o in peaks if rel.rsplit("/", 1)[-1].startswith("k")]
    assert kernels and all(o["memory_peak"] <= 256 * MiB for o in kernels)   # 720 MiB asked, 256 MiB at most
    flags = bombs(SimpleNamespace(faults=faults, nb=nb), limits)
    assert [(k, where) for k, _, where in flags] == [("out-of-memory", ["cell 0"])]


HONEST = ("import time\nt = time.process_time()\nn = 0\nwhile time.process_time() - t < 1.0:\n"
          "    n += 1\nprint('done')")


@needs_root
def test_a_fork_bomb_is_flagged_and_the_student_beside_it_keeps_its_pace():
    limits = Limits(cell_timeout=20, notebook_timeout=60, processes=48, total_memory=512 * MiB,
                    tmp_size=32 * MiB, cpus=1)
    honest, bomber = _Student(limits), _Student(limits)
    try:
        honest.run(_notebook("print('warm')"))
        _, alone = honest.run(_notebook(HONEST))
        bomb = _notebook(   # every process forks and spins for 7 s
            "import os, time\n"
            "end = time.time() + 7\n"
            "while time.time() < end:\n"
            "    try:\n"
            "        if os.fork() == 0:\n"
            "            while time.time() < end:\n"
            "                try:\n"
            "                    os.fork()\n"
            "                except OSError:\n"
            "                    pass\n"
            "            os._exit(0)\n"
            "    except OSError:\n"
            "        pass")
        out = {}
        t = threading.Thread(target=lambda: out.update(bomb=bomber.run(bomb)))
        t.start()
        time.sleep(2)  # the bomb is at its limit, every process spinning
        honest_faults, beside = honest.run(_notebook(HONEST))
        t.join()
    finally:
        honest.close()
        bomber.close()
    bomb_faults, _ = out["bomb"]
    assert "process-limit" in {f.kind for f in bomb_faults}
    assert [f for f in bomb_faults if f.kind == "process-limit"][0].message == \
        "process limit: the notebook started more than 48 processes"
    assert honest_faults == []
    print(f"{beside:.1f} s beside the bomb, {alone:.1f} s alone")
    assert beside <= 2 * alone + 1.0, f"{beside:.1f} s beside the bomb, {alone:.1f} s alone"


@needs_root
def test_a_disk_filler_fills_its_scratch_space_and_nothing_reaches_the_host(tmp_path):
    limits = Limits(cell_timeout=30, notebook_timeout=60, total_memory=512 * MiB, tmp_size=32 * MiB,
                    file_size=2**30)
    fill = ("import os\n"
            "def fill(path):\n"
            "    n = 0\n"
            "    try:\n"
            "        with open(path, 'wb') as fh:\n"
            "            while n < 256 * 2**20:\n"
            "                fh.write(b'x' * 2**20)\n"
            "                fh.flush()\n"
            "                n += 2**20\n"
            "    except OSError as e:\n"
            "        print(path, n >> 20, e.strerror)\n"
            "        return\n"
            "    print(path, n >> 20, 'no error')\n")
    student = _Student(limits)
    before = shutil.disk_usage("/").used
    try:
        nb = _notebook(fill + "for p in ('~/fill', '/tmp/fill', '/dev/shm/fill'):\n"
                              "    fill(os.path.expanduser(p))",
                       "from ipykernel import get_connection_file\n"
                       "fill(os.path.join(os.path.dirname(get_connection_file()), 'fill'))\n"
                       "open(os.path.expanduser('~/more'), 'wb').write(b'x' * 2**20)")  # the error stays
        faults, _ = student.run(nb)
        runtime_is_tmpfs = os.path.ismount(student.zygote.runtime)
    finally:
        student.close()
    lines = _text(nb.cells[0]).splitlines() + _text(nb.cells[1]).splitlines()[:1]
    assert len(lines) == 4, lines
    for line in lines:
        path, mib, why = line.split(" ", 2)
        assert int(mib) <= 32 and why == "No space left on device", line
    assert runtime_is_tmpfs
    assert shutil.disk_usage("/").used - before < 100 * MiB   # 4 x 256 MiB asked for
    flags = bombs(SimpleNamespace(faults=faults, nb=nb), limits)
    assert [(k, w) for k, w, _ in flags] == [("disk-full", "disk full: the notebook filled its 32 MiB scratch space")]

    # the plain sandbox (the referee's worker, a kernel when the grader is not root): its home too
    home = tmp_path / "home"
    with uid_slot() as uid:
        prepare_home(home, {"ps1.ipynb": b"{}"}, uid=uid)
        cg = cgroups.new_group("t", limits)
        try:
            cmd = Sandbox(limits).command([sys.executable, "-c", fill + "fill(os.path.expanduser('~/fill'))"],
                                          home, uid=uid, cgroup=cg)
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        finally:
            if cg is not None:
                cg.remove()
    assert res.stdout.split(" ", 1)[1].strip().endswith("No space left on device"), res.stdout + res.stderr
    assert sorted(p.name for p in home.iterdir()) == [".cache", ".config", ".tmp", "ps1.ipynb"]


# ---------------------------------------------------------------------------
# only the environment the notebook needs

SITES = r'''
import json, os, site, sys
dirs = site.getsitepackages([sys.base_prefix, sys.base_exec_prefix]) + ["/usr/lib/python3/dist-packages"]
seen = {d: sorted(os.listdir(d)) for d in dirs if os.path.isdir(d) and not d.startswith(sys.prefix)}
imported = {}
for name in NAMES:
    sys.path.extend(dirs)
    try:
        __import__(name)
        imported[name] = True
    except Exception:
        imported[name] = False
print(json.dumps({"seen": seen, "imported": imported, "numpy": __import__("numpy").__file__}))
'''


def _base_only_modules() -> list[str]:
    """Modules of the base interpreter's site-packages that the grading environment lacks."""
    import importlib.util
    import site

    names = []
    for d in site.getsitepackages([sys.base_prefix]):
        if os.path.isdir(d) and not d.startswith(sys.prefix):
            for entry in sorted(os.listdir(d)):
                name = entry[:-3] if entry.endswith(".py") else entry
                if name.isidentifier() and (entry.endswith(".py") or os.path.isfile(os.path.join(d, entry, "__init__.py"))) \
                        and importlib.util.find_spec(name) is None:
                    names.append(name)
    return names[:3]


@needs_root
def test_the_base_interpreters_packages_are_out_of_reach(tmp_path):
    import json

    names = _base_only_modules()
    code = SITES.replace("NAMES", repr(names))
    home = tmp_path / "home"
    sb = Sandbox(Limits(cell_timeout=30, notebook_timeout=60))
    with uid_slot() as uid:
        prepare_home(home, {}, uid=uid)
        res = subprocess.run(sb.command([sys.executable, "-c", code], home, uid=uid), capture_output=True,
                             text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    plain = json.loads(res.stdout)
    student = _Student(Limits(cell_timeout=30, notebook_timeout=60))
    try:
        nb = _notebook(code)
        student.run(nb)
    finally:
        student.close()
    kernel = json.loads(_text(nb.cells[0]))
    for out in (plain, kernel):
        assert all(listing == [] for listing in out["seen"].values()), out["seen"]
        assert out["imported"] == {n: False for n in names}
        assert out["numpy"].startswith(sys.prefix)  # the grading environment's own packages are all there
