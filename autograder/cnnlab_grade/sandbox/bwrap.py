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

The reason behind each option is written down in ``autograder/README.md``
("The sandbox, option by option").
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..records import Limits
from .uids import is_root, own_process_count

#: where the student's scratch directory appears inside the sandbox
HOME = "/home/student"
#: where the host folder the home starts from is bound (read-only) while it is copied
HOME_STAGE = "/run/cnnlab/home"
#: where the zygote sees its cgroup's folders
CGROUP_INSIDE = "/run/cnnlab/cgroup"
#: the bubblewrap executable (``CNNLAB_GRADE_BWRAP`` overrides it, e.g. for a build of one's own)
BWRAP = os.environ.get("CNNLAB_GRADE_BWRAP", "bwrap")


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


def foreign_site_packages(keep=()) -> list[Path]:
    """Package folders of other Python environments inside what the sandbox binds: the base
    interpreter's ``site-packages`` (a venv needs its standard library, not its packages) and the
    system's ``dist-packages``.  A student who put one on ``sys.path`` could import a second
    copy of a library the grading environment leaves out (a ``scipy`` the referee hides), so each
    is covered by an empty tmpfs.  The running environment's own folders and ``keep`` stay."""
    import glob
    import site

    found = set(site.getsitepackages([sys.base_prefix, sys.base_exec_prefix]))
    for root in {sys.base_prefix, sys.base_exec_prefix, "/usr", "/usr/local", "/opt/conda"}:
        for pattern in ("lib/python3*/site-packages", "lib/python3*/dist-packages", "lib/python3/dist-packages",
                        "lib64/python3*/site-packages"):
            found.update(glob.glob(os.path.join(root, pattern)))
    own = {Path(os.path.realpath(p)) for p in [*site.getsitepackages(), *keep, package_root()]}
    out = []
    for p in sorted({Path(os.path.realpath(p)) for p in found if os.path.isdir(p)}):
        if not any(_under(p, o) or _under(o, p) for o in own):
            out.append(p)
    return out


SYSTEM_RO = ["/usr", "/etc", "/sys", "/opt/conda"]
SYSTEM_LINKS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]


@dataclass
class Sandbox:
    """Builds the command line that runs a program in the sandbox.

    ``hidden`` are paths (course, gradebook, submissions, grading state)
    that must stay invisible even if they lie inside a path the sandbox
    needs; ``extra_ro`` are further read-only paths (``--expose``).
    ``unsafe=True`` runs without bubblewrap (limits only): never for real
    submissions unless the TA said ``--unsafe``.
    """

    limits: Limits = field(default_factory=Limits)
    hidden: tuple = ()
    extra_ro: tuple = ()
    unsafe: bool = False
    home_on_host: bool = False  # True: the home is the host folder itself (the warm run keeps its caches)

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
        nproc = lim.processes if is_root() else own_process_count() + lim.processes
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
        # hidden paths that happen to lie inside something bound above stay hidden, and so do
        # other environments' packages
        for s in (*self.hidden, *foreign_site_packages(self.extra_ro)):
            s = Path(os.path.realpath(s))
            if any(_under(s, b) for b in bound) and os.path.exists(s):
                args.extend(["--tmpfs", str(s)] if s.is_dir() else ["--ro-bind", "/dev/null", str(s)])
        for host, inside, writable in binds:
            inside = Path(inside)
            ancestors(inside)
            if host == "tmpfs":
                args.extend(["--size", str(self.limits.tmp_size), "--perms", "0755", "--tmpfs", str(inside)])
            elif host is None:
                args.extend(["--perms", "0755", "--dir", str(inside)])
            else:
                args.extend(["--bind" if writable else "--ro-bind", str(host), str(inside)])
            made.add(str(inside))
        args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                 "--hostname", "sandbox", "--die-with-parent", "--new-session", "--clearenv"]
        return args

    def command(self, cmd: list[str], home: Path, *, uid: int | None = None, rw=(),
                env: dict | None = None, cgroup=None) -> list[str]:
        """The argv that runs ``cmd`` in the sandbox with ``home`` (a host
        directory) as its home and working directory; ``rw`` are host paths
        bound read-write at the same place (the kernel's socket directory);
        ``cgroup`` (:class:`.cgroup.Cgroup`): the group every process of the
        sandbox is born in.

        The home is a tmpfs of ``limits.tmp_size`` that starts as a copy of
        ``home`` (read-only at ``/run/cnnlab/home``): what the student's code
        writes stays in memory, bounded, and goes with the sandbox; only with
        ``home_on_host`` (the instructor's warm run) is ``home`` itself bound."""
        home = Path(home)
        environment = self.environment(home, env)
        joined = cgroup.join_command if cgroup is not None else list
        if self.unsafe:
            return joined(["env", "-i", *[f"{k}={v}" for k, v in environment.items()], *self._prlimit(), *cmd])
        homes = ([(home, HOME, True)] if self.home_on_host else
                 [(home, HOME_STAGE, False), ("tmpfs", HOME, True)])
        args = [BWRAP, *self._mounts([*homes, *((p, p, True) for p in rw)]), "--unshare-cgroup-try"]
        for k, v in environment.items():
            args.extend(["--setenv", k, v])
        args += ["--chdir", HOME, "--"]
        copy = f"cp -R --preserve=mode,timestamps {HOME_STAGE}/. {HOME}/"
        if is_root():
            if uid is None:
                raise ValueError("uid: running as root, the sandbox needs an unprivileged uid (use uid_slot())")
            if not self.home_on_host:   # as root, before the uid drops: the copy belongs to the student's uid
                args += ["/bin/sh", "-c", f'{copy} && chown -R {uid}:{uid} {HOME} && exec "$@"', "sh"]
            args += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                     "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all"]
        else:
            args[-1:-1] = ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
            if not self.home_on_host:
                args += ["/bin/sh", "-c", f'{copy} && exec "$@"', "sh"]
        return joined(args + self._prlimit() + list(cmd))

    def zygote_command(self, cmd: list[str], *, stage: Path, runtime: Path, warm: Path | None,
                       cgroup=None) -> list[str]:
        """The argv of a kernel zygote (:mod:`.zygote`): the same sandbox, but
        run as root inside it (it isolates each kernel it forks further and
        drops to the student's uid there); the student's files arrive through
        ``stage`` (read-only), the kernels' sockets live in ``runtime``.
        ``cgroup``: the zygote's group; it runs in its child ``zygote`` and
        sees the group's folders at ``/run/cnnlab/cgroup/<controller>``, where
        it moves each kernel it forks into the kernel's own child group."""
        if not is_root():
            from .availability import SandboxUnavailable

            raise SandboxUnavailable("the kernel zygote needs root; use a sandbox per kernel instead")
        binds = [(None, HOME, False), (stage, "/run/cnnlab/stage", False), (runtime, runtime, True)]
        if warm is not None and Path(warm).is_dir():
            binds.append((warm, "/run/cnnlab/warm", False))
        if cgroup is not None:
            binds += [(d, f"{CGROUP_INSIDE}/{ctrl or 'unified'}", True) for ctrl, d in cgroup.dirs.items()]
        args = [BWRAP, *self._mounts(binds)]
        for k, v in self.environment(Path(HOME)).items():
            args.extend(["--setenv", k, v])
        args += ["--chdir", "/", "--", *cmd]
        return cgroup.child("zygote", leaf=True).join_command(args) if cgroup is not None else args
