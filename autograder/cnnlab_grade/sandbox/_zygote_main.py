"""The kernel zygote: runs inside the bubblewrap sandbox, forks one warm kernel per student.

Started from its source text (``python -P -c SOURCE IN_FD OUT_FD PRELOAD_JSON``)
by :mod:`cnnlab_grade.sandbox.zygote`, as root *inside* a sandbox that already has
no network, no course files and a read-only system.  It imports the kernel
machinery and the modules the notebooks import (numpy, the check library...)
once; for each student it forks, and the fork isolates itself further before
any student code runs:

* a new mount, PID, IPC and UTS namespace: a fresh tmpfs as the home, ``/tmp``
  and ``/dev/shm``, a ``/proc`` of its own; the staging folder the student's
  files came through is unmounted;
* an init process (PID 1 of the student's namespace) that reaps orphans and,
  when it goes, takes every process of the student with it;
* the kernel itself: resource limits, no capabilities (bounding set
  emptied), ``no_new_privs``, the student slot's unprivileged uid, then
  ipykernel on the connection file the grader wrote.

The zygote never reads a student's files (only the fork does, after it left
the zygote's mount namespace), so nothing of one student is in the memory the
next student's fork inherits.  Requests and replies are one JSON line each.
"""

import ctypes
import json
import os
import re
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x04000000, 0x08000000, 0x20000000
CLONE_NEWCGROUP = 0x02000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_MOVE, MS_REC, MS_PRIVATE = 1, 2, 4, 8192, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
HOME = "/home/student"
STAGE = "/run/cnnlab/stage"
WARM = "/run/cnnlab/warm"
CGROUPS = "/run/cnnlab/cgroup"

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), flags,
                       data and data.encode()), f"mount {target}")


def _copy_tree(src, dst, uid):
    for root, dirs, files in os.walk(src):
        rel = os.path.relpath(root, src)
        out = os.path.normpath(os.path.join(dst, rel))
        os.makedirs(out, exist_ok=True)
        os.chown(out, uid, uid)
        for name in files:
            path = os.path.join(out, name)
            with open(os.path.join(root, name), "rb") as fi, open(path, "wb") as fo:
                while True:
                    chunk = fi.read(1 << 20)
                    if not chunk:
                        break
                    fo.write(chunk)
            os.chown(path, uid, uid)


def _mounts_under(top):
    """Mount points strictly below ``top``, outermost only (from /proc/self/mountinfo)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if point.startswith(top + "/") and point not in found:
                found.append(point)
    found.sort(key=len)
    return [p for i, p in enumerate(found) if not any(p.startswith(q + "/") for q in found[:i])]


def _fresh_tmp(size):
    """A fresh tmpfs on /tmp that keeps what the sandbox bound below /tmp (the
    Python environment or the package may live there, e.g. a checkout in /tmp,
    and the kernels' socket folder): those mounts are moved aside into the new
    home, the tmpfs goes on, and they are moved back (MS_MOVE keeps their
    flags, read-only included, and what is mounted inside them)."""
    held = []
    for i, point in enumerate(_mounts_under("/tmp")):
        hold = os.path.join(HOME, ".hold", str(i))
        os.makedirs(hold)
        _mount(point, hold, None, MS_MOVE)
        held.append((hold, point))
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    for hold, point in held:
        os.makedirs(point, mode=0o755, exist_ok=True)
        _mount(hold, point, None, MS_MOVE)
        os.rmdir(hold)
    if held:
        os.rmdir(os.path.join(HOME, ".hold"))


def _student(req):
    """In the fork: isolate, set up the home, then become init + kernel."""
    uid, limits = req["uid"], req["limits"]
    joined = True
    for procs in req.get("cgroup") or ():  # first of all: every process of the student is born in its cgroup
        try:
            with open(procs, "w") as fh:
                fh.write("0")
        except OSError as e:
            joined = False
            print(f"cgroup {procs}: {e}", file=sys.stderr, flush=True)
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    _check(_libc.unshare(flags | (CLONE_NEWCGROUP if req.get("cgroup") and joined else 0)), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    size = int(limits["tmp_size"])
    _mount("tmpfs", HOME, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=0755")
    _fresh_tmp(size)
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    os.chown(HOME, uid, uid)
    _copy_tree(os.path.join(STAGE, req["stage"]), HOME, uid)
    if os.path.isdir(WARM):
        for rel in os.listdir(WARM):
            _copy_tree(os.path.join(WARM, rel), os.path.join(HOME, rel), uid)
    for path in (STAGE, WARM, *_mounts_under(CGROUPS)):
        if os.path.isdir(path):
            _check(_libc.umount2(path.encode(), MNT_DETACH), f"umount {path}")
    _mount("tmpfs", os.path.dirname(STAGE), "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0755")
    _libc.sethostname(b"sandbox", 7)
    init = os.fork()
    if init:
        _, status = os.waitpid(init, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    # PID 1 of the student's namespace
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV)
    kernel = os.fork()
    if kernel == 0:
        _kernel(req)
    while True:  # reap orphans until the kernel is gone; then the namespace goes with us
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if pid == kernel:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _kernel(req):
    uid, limits = req["uid"], req["limits"]
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.setsid()
    for rlim, value in ((resource.RLIMIT_AS, limits["memory"]), (resource.RLIMIT_FSIZE, limits["file_size"]),
                        (resource.RLIMIT_CORE, 0), (resource.RLIMIT_CPU, limits["cpu_seconds"]),
                        (resource.RLIMIT_NOFILE, 1024), (resource.RLIMIT_NPROC, limits["processes"])):
        resource.setrlimit(rlim, (int(value), int(value)))
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capabilities")
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if os.getuid() == 0 or os.geteuid() == 0:
        os._exit(70)
    os.chdir(HOME)
    os.environ.clear()
    os.environ.update(req["env"])
    log = os.open(os.path.join(os.path.dirname(req["connection_file"]), "kernel.log"),
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 1 << 16)
    sys.argv = ["ipykernel_launcher", "-f", req["connection_file"], "--HistoryManager.hist_file=:memory:"]
    try:
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
    finally:
        os._exit(0)


def _warm_numba():
    """Load every compiled function the warm cache holds for the imported
    ``cnnlab`` modules (from the cache: nothing is compiled or run), so that no
    kernel loads them again.  numba's workqueue threading layer is fork-safe."""
    try:
        from numba.core.registry import CPUDispatcher
    except Exception:  # noqa: BLE001
        return
    for name, module in list(sys.modules.items()):
        if not (name == "cnnlab" or name.startswith("cnnlab.")) or module is None:
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, CPUDispatcher) and getattr(obj, "_cache", None) is not None:
                try:
                    for key in obj._cache._cache_file._load_index():
                        obj.compile(key[0])
                except Exception:  # noqa: BLE001 - an internal of numba moved: kernels load on first use
                    pass


def main():
    fd_in, fd_out = int(sys.argv[1]), int(sys.argv[2])
    # the warm caches, where numba finds them (the kernels get their own copy)
    if os.path.isdir(WARM):
        for rel in os.listdir(WARM):
            _copy_tree(os.path.join(WARM, rel), os.path.join(HOME, rel), 0)
    for name in json.loads(sys.argv[3]):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a module that fails imports again, and fails, in the kernel
            pass
    import ipykernel.debugger  # noqa: F401 - what a kernel imports when it starts (debugpy: 0.2 s)
    import ipykernel.kernelapp  # noqa: F401 - the point of the zygote

    _warm_numba()

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    reader = os.fdopen(fd_in, "r")
    writer = os.fdopen(fd_out, "w", buffering=1)
    children = {}
    writer.write(json.dumps({"ready": True}) + "\n")
    for line in reader:
        req = json.loads(line)
        op = req.get("op")
        try:
            if op == "spawn":
                pid = os.fork()
                if pid == 0:
                    try:
                        reader.close()
                        writer.close()
                        _student(req)
                    except BaseException:  # noqa: BLE001 - tell the log why the kernel never came
                        import traceback

                        traceback.print_exc()
                        sys.stderr.flush()
                    finally:
                        os._exit(71)
                children[pid] = None
                reply = {"pid": pid}
            elif op == "poll":
                pid = req["pid"]
                if children.get(pid) is None:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        children[pid] = os.waitstatus_to_exitcode(status)
                reply = {"returncode": children.get(pid)}
            elif op == "signal":
                pid = req["pid"]
                if children.get(pid) is None:
                    os.kill(pid, req["signal"])
                reply = {}
            elif op == "forget":
                children.pop(req["pid"], None)
                reply = {}
            else:
                reply = {"error": f"unknown op {op!r}"}
        except OSError as e:
            reply = {"error": str(e)}
        writer.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
