"""A cgroup per sandbox: memory, processes and CPU of all its processes together.

The rlimits of :mod:`.bwrap` bound each *process*; a student who spreads a
memory bomb over child processes, or forks until the process limit and keeps
every process busy, gets around them.  A control group bounds the sandbox as
a whole: every process the kernel starts is born in its group, so

* ``memory``: the memory of all of them together (files in the sandbox's
  tmpfs scratch space count too), swap off; over it the kernel's OOM killer
  stops a process *of this group*, never one of another student or the grader;
* ``pids``: the number of processes and threads of all of them together;
* ``cpu``: an equal share (weight) against every other group, and a quota of
  ``Limits.cpus`` cores, so a busy or forking student cannot slow the
  students graded beside it.

Both cgroup versions work: the unified hierarchy (v2: ``memory.max``,
``pids.max``, ``cpu.weight``/``cpu.max``) and the v1 ``memory``, ``pids`` and
``cpu`` hierarchies (``memory.limit_in_bytes``, ``pids.max``,
``cpu.shares``/``cpu.cfs_quota_us``).  Where no cgroup can be made (not root,
a read-only ``/sys/fs/cgroup``, controllers not delegated) grading goes on
with the rlimits alone, and :func:`hierarchy` says so once in the log.

The grader's groups live in a folder ``cnnlab-grade`` under its own cgroup
(v1; for ``cpu`` right beside its own processes, so that each sandbox gets
the share of one more process, whatever else the host runs), or under the first of its own cgroup and the hierarchy's root where the
controllers can be enabled (v2, whose rule is that a group with processes
has no children with controllers).  :meth:`Cgroup.outcome` reads what
happened (OOM kills, refused forks, peak memory); :meth:`Cgroup.remove`
kills what is left and removes the group.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("cnnlab_grade.sandbox")

V1 = ("memory", "pids", "cpu")
NEEDED = ("memory", "pids")          # without these there is no point
TOP = "cnnlab-grade"
CPU_PERIOD = 100_000                 # microseconds
#: joins a cgroup, then runs the command: ``sh -c JOIN sh N procs-file... cmd...``
JOIN = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || true; shift; n=$((n-1)); done; exec "$@"'


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def _mounts(mountinfo: str):
    """(fstype, mount point, root inside the hierarchy, super options) of each cgroup mount."""
    for line in Path(mountinfo).read_text().splitlines():
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if rparts and rparts[0] in ("cgroup", "cgroup2"):
            yield rparts[0], _unescape(parts[4]), _unescape(parts[3]), set(rparts[-1].split(","))


def _own(proc_cgroup: str) -> dict:
    """The process's cgroup path per v1 controller, and under "" its v2 path."""
    out = {}
    for line in Path(proc_cgroup).read_text().splitlines():
        _hid, ctrls, path = line.split(":", 2)
        for c in (ctrls.split(",") if ctrls else [""]):
            out[c] = path
    return out


def _write(path: Path, value) -> None:
    with open(path, "w") as fh:
        fh.write(str(value))


def _read_keys(path: Path) -> dict:
    try:
        return {k: int(v) for k, v in (ln.split()[:2] for ln in path.read_text().splitlines() if ln.strip())
                if v.lstrip("-").isdigit()}
    except OSError:
        return {}


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Hierarchy:
    """Where the grader's groups go: ``bases`` maps a controller ("" in v2) to its ``cnnlab-grade`` folder."""

    version: int
    bases: dict

    def dirs(self, rel: str) -> dict:
        return {c: b / rel for c, b in self.bases.items()}


def _v2_base(mount: Path, own: str) -> Path | None:
    """A folder for the grader's groups in the unified hierarchy, controllers enabled, or None."""
    for parent in (mount / own.lstrip("/"), mount):
        try:
            if not set(NEEDED) <= set((parent / "cgroup.controllers").read_text().split()):
                continue
            enabled = set((parent / "cgroup.subtree_control").read_text().split())
            want = [c for c in ("memory", "pids", "cpu") if c not in enabled and
                    c in (parent / "cgroup.controllers").read_text().split()]
            if want:
                _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in want))
            base = parent / TOP
            base.mkdir(exist_ok=True)
            have = (base / "cgroup.controllers").read_text().split()
            _write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in ("memory", "pids", "cpu") if c in have))
            return base
        except OSError:
            continue
    return None


def detect(mountinfo: str = "/proc/self/mountinfo", proc_cgroup: str = "/proc/self/cgroup") -> Hierarchy | str:
    """The hierarchy the grader can make groups in, or why there is none (plain words)."""
    try:
        mounts, own = list(_mounts(mountinfo)), _own(proc_cgroup)
    except OSError as e:
        return f"cannot read the process's cgroups ({e})"
    if os.geteuid() != 0:
        return "the grader does not run as root"
    v1 = {}
    for fstype, point, root, opts in mounts:
        for c in V1:
            if fstype == "cgroup" and c in opts and c not in v1:
                mine = own.get(c, "/")
                inside = mine == root or mine.startswith(root.rstrip("/") + "/")
                v1[c] = Path(point) / os.path.relpath(mine, root) if inside else Path(point)
    if all(c in v1 for c in NEEDED):
        bases = {}
        for c, own_dir in v1.items():
            try:
                if c == "cpu":   # each sandbox one competitor beside the host's others, not all in one share
                    if (own_dir / "cpu.shares").exists() and os.access(own_dir, os.W_OK):
                        bases[c] = own_dir
                    continue
                (own_dir / TOP).mkdir(exist_ok=True)
                bases[c] = own_dir / TOP
            except OSError as e:
                if c in NEEDED:
                    return f"cannot make a cgroup in {own_dir} ({e.strerror})"
        return Hierarchy(1, bases)
    for fstype, point, root, _ in mounts:
        if fstype == "cgroup2" and root == "/":
            base = _v2_base(Path(point), own.get("", "/"))
            if base is not None:
                return Hierarchy(2, {"": base})
            return (f"the memory and pids controllers cannot be enabled for a cgroup in {point} "
                    "(run the grader as root in a cgroup with delegated controllers)")
    return "no cgroup hierarchy with the memory and pids controllers is mounted"


class Cgroup:
    """One group (a folder per v1 controller, or one v2 folder)."""

    def __init__(self, h: Hierarchy, rel: str):
        self.h, self.rel = h, rel
        self.dirs = h.dirs(rel)
        self.removed = False

    def child(self, name: str, limits=None, *, leaf: bool = False) -> "Cgroup":
        return create(self.h, f"{self.rel}/{name}", limits, leaf=leaf)

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def join_command(self, cmd: list[str]) -> list[str]:
        """``cmd`` started inside this group (every process it starts stays in it)."""
        return ["/bin/sh", "-c", JOIN, "sh", str(len(self.dirs)), *self.procs_files, *cmd]

    def add(self, pid: int) -> None:
        for f in self.procs_files:
            _write(f, pid)

    def _file(self, ctrl: str, name: str) -> Path:
        return self.dirs.get(ctrl if self.h.version == 1 else "", Path("/nonexistent")) / name

    def outcome(self) -> dict:
        """What happened: OOM kills, forks refused at the limit, peak memory (bytes), and how
        often the memory reached the limit (the kernel then reclaims, which can slow the
        notebook to a crawl before anything is killed)."""
        if self.h.version == 2:
            events = _read_keys(self._file("memory", "memory.events"))
            oom, at_limit = events.get("oom_kill", 0), events.get("max", 0)
            peak = _read_int(self._file("memory", "memory.peak"))
        else:
            oom = _read_keys(self._file("memory", "memory.oom_control")).get("oom_kill", 0)
            at_limit = _read_int(self._file("memory", "memory.failcnt")) or 0
            peak = _read_int(self._file("memory", "memory.max_usage_in_bytes"))
        forks = _read_keys(self._file("pids", "pids.events")).get("max", 0)
        return {"oom_kills": oom, "fork_refused": forks, "memory_peak": peak, "at_memory_limit": at_limit}

    def pids(self) -> list[int]:
        out = set()
        for d in self.dirs.values():
            for sub, _dirs, _files in os.walk(d):
                try:
                    out.update(int(x) for x in Path(sub, "cgroup.procs").read_text().split())
                except (OSError, ValueError):
                    pass
        return sorted(out)

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL every process in the group and its children (``cgroup.kill`` where there is one)."""
        deadline = time.monotonic() + timeout
        while (left := self.pids()) and time.monotonic() < deadline:
            kill_file = self._file("", "cgroup.kill")
            if self.h.version == 2 and kill_file.exists():
                try:
                    _write(kill_file, 1)
                except OSError:
                    pass
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)

    def remove(self) -> None:
        """Kill what is left and remove the group (children first); never raises."""
        if self.removed:
            return
        self.removed = True
        _LIVE.discard(self)
        self.kill()
        for d in self.dirs.values():
            subs = sorted((Path(r) for r, _d, _f in os.walk(d)), key=lambda p: -len(p.parts))
            for sub in subs:
                for _ in range(50):
                    try:
                        sub.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError as e:
                        if e.errno != errno.EBUSY:
                            break
                        time.sleep(0.02)


def create(h: Hierarchy, rel: str, limits=None, *, leaf: bool = False) -> Cgroup:
    """Make the group ``rel`` (below the grader's folder) with the ``limits``' memory, processes and CPU;
    without ``limits`` a parent of other groups (v2 enables the controllers for its children), or with
    ``leaf`` a group for processes that only shares its parent's bounds."""
    cg = Cgroup(h, rel)
    for d in cg.dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    if h.version == 2:
        d = cg.dirs[""]
        if limits is None and leaf:
            return cg
        if limits is None:   # a parent: its children get the controllers
            have = (d / "cgroup.controllers").read_text().split()
            _write(d / "cgroup.subtree_control", " ".join(f"+{c}" for c in ("memory", "pids", "cpu") if c in have))
            return cg
        _write(d / "memory.max", limits.total_memory_bytes)
        for name, value in (("memory.swap.max", 0), ("cpu.weight", 100)):
            if (d / name).exists():
                _write(d / name, value)
        _write(d / "pids.max", limits.processes)
        if limits.cpus and (d / "cpu.max").exists():
            _write(d / "cpu.max", f"{int(limits.cpus * CPU_PERIOD)} {CPU_PERIOD}")
        return cg
    if limits is None:
        return cg
    mem = cg.dirs["memory"]
    _write(mem / "memory.limit_in_bytes", limits.total_memory_bytes)
    for name, value in (("memory.memsw.limit_in_bytes", limits.total_memory_bytes), ("memory.swappiness", 0)):
        try:
            _write(mem / name, value)
        except OSError:
            pass  # no swap accounting: swap stays as the machine has it
    _write(cg.dirs["pids"] / "pids.max", limits.processes)
    if "cpu" in cg.dirs:
        cpu = cg.dirs["cpu"]
        _write(cpu / "cpu.shares", 1024)
        if limits.cpus:
            _write(cpu / "cpu.cfs_period_us", CPU_PERIOD)
            _write(cpu / "cpu.cfs_quota_us", int(limits.cpus * CPU_PERIOD))
    return cg


# ---------------------------------------------------------------------------
# the grader's hierarchy, found once per process

_LOCK = threading.Lock()
_FOUND: list = []
_COUNT = [0]
_LIVE: set = set()             # the groups this process made and has not removed yet
_TOKEN = os.urandom(3).hex()   # groups of two graders in different PID namespaces never clash


def _probe(h: Hierarchy) -> str | None:
    """Make a group, start a process in it, see it there: None if it all works."""
    try:
        cg = create(h, f"probe-{os.getpid()}", _ProbeLimits())
    except OSError as e:
        return f"cannot make a cgroup ({e.strerror or e})"
    try:
        res = subprocess.run(cg.join_command(["/bin/sh", "-c", "cat /proc/self/cgroup"]), capture_output=True,
                             text=True, timeout=30)
        if cg.rel not in res.stdout:
            return "a process cannot be moved into a cgroup"
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot start a process in a cgroup ({e})"
    finally:
        cg.remove()
    return None


@dataclass(frozen=True)
class _ProbeLimits:
    total_memory_bytes: int = 256 * 2**20
    processes: int = 16
    cpus: float = 1.0


def hierarchy() -> Hierarchy | None:
    """The grader's cgroup hierarchy, or None (then the rlimits alone bound each sandbox; logged once)."""
    with _LOCK:
        if not _FOUND:
            if os.environ.get("CNNLAB_GRADE_NO_CGROUPS"):
                found = "CNNLAB_GRADE_NO_CGROUPS is set"
            else:
                found = detect()
                if isinstance(found, Hierarchy):
                    found = _probe(found) or found
            if isinstance(found, str) and not os.environ.get("CNNLAB_GRADE_CGROUPS_SAID"):
                os.environ["CNNLAB_GRADE_CGROUPS_SAID"] = "1"  # the workers started later say it no more
                log.warning("cnnlab-grade: no cgroup per sandbox (%s); each process of a student is bounded by its "
                            "rlimits, but not all of them together", found)
            if isinstance(found, str):
                found = None
            _FOUND.append(found)
        return _FOUND[0]


def new_group(kind: str, limits=None) -> Cgroup | None:
    """A fresh group ``<kind><pid>-<token>-<n>`` (None without cgroups, or when it cannot be made: logged)."""
    h = hierarchy()
    if h is None:
        return None
    with _LOCK:
        _COUNT[0] += 1
        rel = f"{kind}{os.getpid()}-{_TOKEN}-{_COUNT[0]}"
    try:
        cg = create(h, rel, limits)
        _LIVE.add(cg)
        return cg
    except OSError as e:
        log.warning("cnnlab-grade: could not make the cgroup %s (%s); rlimits only for this sandbox", rel, e)
        Cgroup(h, rel).remove()
        return None


def remove_all() -> None:
    """Remove every group this process made (what runs in them is killed)."""
    for cg in list(_LIVE):
        cg.remove()
