"""Run untrusted student code under bubblewrap.

The sandbox is an *allow list*: the student's process sees a fresh root with
only the operating system (``/usr``, ``/etc``...), the Python installation
and the ``cnnlab`` package bound read-only, a private scratch directory as its
home (``/home/student``, read-write) and a small ``/tmp``.  The course
(``source/``, the gradebook, other students' submissions, the TA's export) is
simply not there.  There is no network (``--unshare-net``; the kernel talks
to the grader over Unix sockets in a directory bound for it), a private PID
namespace that dies with the grader, and resource limits on memory, processes,
file size and CPU time (``prlimit``).

Run as root (as CI does), the process also drops to an unprivileged user id
with no capabilities (``setpriv``): one id per concurrent sandbox slot, so that
the process limit of one student's fork bomb is not shared with another
student graded at the same time.  Run as an ordinary user, bubblewrap's user
namespace gives the same mount isolation under the TA's own id.

See ``shared/facts.md`` ("Grading is not safe by default") for why each option
is there.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

#: where the student's scratch directory appears inside the sandbox
HOME = "/home/student"
#: the bubblewrap executable (``CNNLAB_GRADE_BWRAP`` overrides it, e.g. for a build of one's own)
BWRAP = os.environ.get("CNNLAB_GRADE_BWRAP", "bwrap")

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(value, name: str = "size") -> int:
    """``"4G"`` -> 4294967296; integers pass through (bytes)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
        return value
    text = str(value).strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in _UNITS and text[-1:] else ""
    number = text[: len(text) - len(unit)]
    try:
        size = int(float(number) * _UNITS[unit])
    except ValueError:
        raise ValueError(f"{name}: cannot read {value!r} as a size; write e.g. 4G, 512M or a number "
                         "of bytes") from None
    if size <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return size


@dataclass(frozen=True)
class Limits:
    """Resource limits for one student's notebook.

    ``cell_timeout`` and ``notebook_timeout`` are wall-clock seconds;
    ``memory`` is the address-space limit of each process (bytes; a memory
    bomb ends in a ``MemoryError`` and the kernel lives); ``processes`` the
    number of processes and threads; ``file_size`` the largest file it may
    write; ``tmp_size`` the size of its ``/tmp``; ``output_bytes`` the output
    kept per cell (the rest is dropped with a note, so a print loop cannot
    exhaust the grader's memory).
    """

    cell_timeout: float = 30.0
    notebook_timeout: float = 600.0
    memory: int = 4 * 2**30
    processes: int = 256
    file_size: int = 256 * 2**20
    tmp_size: int = 256 * 2**20
    output_bytes: int = 512 * 2**10

    def __post_init__(self):
        for name in ("cell_timeout", "notebook_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {getattr(self, name)!r}")
        for name in ("memory", "processes", "file_size", "tmp_size", "output_bytes"):
            if not int(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")

    @property
    def cpu_seconds(self) -> int:
        """CPU-time limit per process: a backstop behind the wall-clock limits."""
        return int(self.notebook_timeout * 2 + 60)

    def but(self, **changes) -> "Limits":
        return replace(self, **changes)


class SandboxUnavailable(RuntimeError):
    """The bubblewrap sandbox cannot run here; the message says why and what to do."""


def _is_root() -> bool:
    return os.geteuid() == 0


def _own_process_count() -> int:
    uid, n = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                n += len(os.listdir(f"/proc/{entry.name}/task")) if entry.stat().st_uid == uid else 0
            except OSError:
                pass
    return n


def _under(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _minimal(paths) -> list[Path]:
    """Existing absolute paths with those inside another one removed, shortest first."""
    out: list[Path] = []
    for p in sorted({Path(os.path.realpath(p)) for p in paths if p and os.path.exists(p)},
                    key=lambda q: (len(q.parts), str(q))):
        if not any(_under(p, q) for q in out):
            out.append(p)
    return out


def package_root() -> Path:
    """The directory that holds the ``cnnlab`` package the grader itself uses."""
    import cnnlab

    return Path(cnnlab.__file__).resolve().parent.parent


def runtime_paths(extra=()) -> list[Path]:
    """What a sandboxed Python needs read-only: the interpreter, its
    environment and the ``cnnlab`` package (nothing of the course)."""
    import site

    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  Path(os.path.realpath(sys.executable)).parent.parent, package_root()]
    candidates += [p for p in site.getsitepackages() if os.path.isdir(p)]
    candidates += list(extra)
    return _minimal(candidates)


SYSTEM_RO = ["/usr", "/etc", "/sys", "/opt/conda"]
SYSTEM_LINKS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]


@dataclass
class Sandbox:
    """Builds the command line that runs a program in the sandbox.

    ``secrets`` are paths (course, gradebook, submissions, grading state)
    that must stay invisible even if they lie inside a path the sandbox
    needs; ``extra_ro`` are further read-only paths (``--expose``).
    ``unsafe=True`` runs without bubblewrap (limits only): never for real
    submissions unless the TA said ``--unsafe``.
    """

    limits: Limits = field(default_factory=Limits)
    secrets: tuple = ()
    extra_ro: tuple = ()
    unsafe: bool = False

    @functools.cached_property
    def ro_paths(self) -> list[Path]:
        return runtime_paths(self.extra_ro)

    def home_inside(self, home: Path) -> str:
        return str(home) if self.unsafe else HOME

    def environment(self, home: Path, extra: dict | None = None) -> dict[str, str]:
        h = self.home_inside(home)
        venv_bin = str(Path(sys.executable).parent)
        env = {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": h, "USER": "student", "LOGNAME": "student",
            "TMPDIR": "/tmp" if not self.unsafe else str(Path(home) / ".tmp"),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "PYTHONPATH": str(package_root()),
            "PYTHONDONTWRITEBYTECODE": "1",
            "NUMBA_CACHE_DIR": f"{h}/.cache/numba",
            "MPLCONFIGDIR": f"{h}/.config/matplotlib",
            # one thread per student: the grader runs students in parallel instead
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1", "NUMEXPR_MAX_THREADS": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
        env.update(extra or {})
        return env

    def _prlimit(self) -> list[str]:
        if not shutil.which("prlimit"):
            return []
        lim = self.limits
        # RLIMIT_NPROC counts every process of the real uid: as root the
        # sandbox has a uid of its own; as an ordinary user it shares the TA's
        nproc = lim.processes if _is_root() else _own_process_count() + lim.processes
        return ["prlimit", f"--as={lim.memory}", f"--fsize={lim.file_size}", "--core=0",
                f"--cpu={lim.cpu_seconds}", "--nofile=1024", f"--nproc={nproc}", "--"]

    def _mounts(self, binds) -> list[str]:
        """bwrap's mount arguments: a fresh /dev, /proc, /tmp; the operating
        system and the Python environment read-only; ``binds``: (host path,
        sandbox path, writable) on top; the secrets hidden wherever they fall."""
        args: list[str] = []
        bound: list[Path] = []
        made: set[str] = set()

        def ancestors(p: Path):
            for a in reversed(p.parents):
                if str(a) == "/" or str(a) in made or any(_under(a, b) for b in bound):
                    continue
                made.add(str(a))
                args.extend(["--perms", "0755", "--dir", str(a)])

        # fresh /tmp and /dev first: what is bound below may live under /tmp
        args += ["--dev", "/dev", "--proc", "/proc",
                 "--size", str(self.limits.tmp_size), "--perms", "1777", "--tmpfs", "/tmp",
                 "--size", str(self.limits.tmp_size), "--perms", "1777", "--tmpfs", "/dev/shm"]
        made.update({"/tmp", "/dev", "/proc"})
        for link in SYSTEM_LINKS:
            if os.path.islink(link):
                args.extend(["--symlink", os.readlink(link), link])
            elif os.path.isdir(link):
                args.extend(["--ro-bind", link, link])
        for p in _minimal([*SYSTEM_RO, *self.ro_paths]):
            if any(_under(p, b) for b in bound):
                continue
            ancestors(p)
            args.extend(["--ro-bind", str(p), str(p)])
            bound.append(p)
        # secrets that happen to lie inside something bound above stay hidden
        for s in self.secrets:
            s = Path(os.path.realpath(s))
            if any(_under(s, b) for b in bound) and os.path.exists(s):
                args.extend(["--tmpfs", str(s)] if s.is_dir() else ["--ro-bind", "/dev/null", str(s)])
        for host, inside, writable in binds:
            inside = Path(inside)
            ancestors(inside)
            if host is None:
                args.extend(["--perms", "0755", "--dir", str(inside)])
            else:
                args.extend(["--bind" if writable else "--ro-bind", str(host), str(inside)])
            made.add(str(inside))
        args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 "--hostname", "sandbox", "--die-with-parent", "--new-session", "--clearenv"]
        return args

    def command(self, cmd: list[str], home: Path, *, uid: int | None = None, rw=(),
                env: dict | None = None) -> list[str]:
        """The argv that runs ``cmd`` in the sandbox with ``home`` (a host
        directory) as its home and working directory; ``rw`` are host paths
        bound read-write at the same place (the kernel's socket directory)."""
        home = Path(home)
        environment = self.environment(home, env)
        if self.unsafe:
            return ["env", "-i", *[f"{k}={v}" for k, v in environment.items()], *self._prlimit(), *cmd]
        args = [BWRAP, *self._mounts([(home, HOME, True), *((p, p, True) for p in rw)])]
        for k, v in environment.items():
            args.extend(["--setenv", k, v])
        args += ["--chdir", HOME]
        if _is_root():
            if uid is None:
                raise ValueError("uid: running as root, the sandbox needs an unprivileged uid (use uid_slot())")
            args += ["--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                     "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all"]
        else:
            args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL", "--"]
        return args + self._prlimit() + list(cmd)

    def zygote_command(self, cmd: list[str], *, stage: Path, runtime: Path, seed: Path | None) -> list[str]:
        """The argv of a kernel zygote (:mod:`.zygote`): the same sandbox, but
        run as root inside it (it isolates each kernel it forks further and
        drops to the student's uid there); the student's files arrive through
        ``stage`` (read-only), the kernels' sockets live in ``runtime``."""
        if not _is_root():
            raise SandboxUnavailable("the kernel zygote needs root; use a sandbox per kernel instead")
        binds = [(None, HOME, False), (stage, "/run/cnnlab/stage", False), (runtime, runtime, True)]
        if seed is not None and Path(seed).is_dir():
            binds.append((seed, "/run/cnnlab/seed", False))
        args = [BWRAP, *self._mounts(binds)]
        for k, v in self.environment(Path(HOME)).items():
            args.extend(["--setenv", k, v])
        return args + ["--chdir", "/", "--", *cmd]


# ---------------------------------------------------------------------------
# availability


@functools.lru_cache(maxsize=None)
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
    missing = [tool for tool in (["setpriv", "prlimit"] if _is_root() else ["prlimit"])
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
    if problem and not unsafe:
        raise SandboxUnavailable(
            f"Refusing to grade: {problem}.\nWithout the sandbox, student code runs as you, can read the "
            "solutions and the gradebook and can change its own grade. Fix the above, or pass --unsafe "
            "to grade anyway (only for submissions you trust).")


# ---------------------------------------------------------------------------
# user ids and homes

UID_BASE = int(os.environ.get("CNNLAB_SANDBOX_UID_BASE", "2000000000"))
UID_SLOTS = 4096
NOBODY = 65534


def _uid_range_mapped(base: int, n: int) -> bool:
    try:
        lines = Path("/proc/self/uid_map").read_text().split()
    except OSError:
        return False
    nums = [int(x) for x in lines]
    for inside, _outside, count in zip(nums[0::3], nums[1::3], nums[2::3]):
        if inside <= base and base + n <= inside + count:
            return True
    return False


def _lock_dir() -> Path:
    d = Path(tempfile.gettempdir()) / f"cnnlab-grade-{os.geteuid()}" / "uid-locks"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


@contextmanager
def uid_slot():
    """Reserve an unprivileged uid for one sandbox (root only; else the TA's uid).

    The reservation is an exclusive lock file, so concurrent workers, Dask
    workers on one machine and concurrent runs never share a uid (and so
    never share a process limit)."""
    if not _is_root():
        yield os.getuid()
        return
    if not _uid_range_mapped(UID_BASE, UID_SLOTS):
        yield NOBODY  # shared: fork bombs are still bounded, but per machine
        return
    d = _lock_dir()
    start = os.getpid() % UID_SLOTS
    for i in range(UID_SLOTS):
        uid = UID_BASE + (start + i) % UID_SLOTS
        fh = open(d / f"{uid}.lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        try:
            yield uid
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
        return
    raise RuntimeError(f"all {UID_SLOTS} sandbox uids are in use")


#: files and directories a student may not place beside the notebook: they
#: would shadow the modules the tests import
SHADOWING_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".so", ".pth", ".egg-link")


def is_shadowing(name: str) -> bool:
    return name.lower().endswith(SHADOWING_SUFFIXES) or name.startswith(".")


def prepare_home(home: Path, files: dict[str, bytes], *, uid: int | None, seeds: dict[str, Path] | None = None):
    """Fill a scratch directory: ``files`` (relative path -> bytes) and seed
    caches (``{"relative/dir": host_dir}``, copied), owned by ``uid``."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        dest = (home / rel).resolve()
        if not _under(dest, home.resolve()):
            raise ValueError(f"file name {rel!r} escapes the scratch directory")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    for rel, src in (seeds or {}).items():
        if src and Path(src).is_dir():
            shutil.copytree(src, home / rel, dirs_exist_ok=True, symlinks=False)
    for rel in (".cache/numba", ".config/matplotlib", ".tmp"):
        (home / rel).mkdir(parents=True, exist_ok=True)
    if uid is not None and _is_root() and uid != 0:
        for root, dirs, fnames in os.walk(home):
            os.chown(root, uid, uid)
            for n in dirs + fnames:
                os.lchown(os.path.join(root, n), uid, uid)
    os.chmod(home, 0o755)
