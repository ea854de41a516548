"""Unprivileged user ids for the sandboxes, one per concurrent sandbox.

Run as root, every sandbox drops to a uid of its own slot: the process limit
(``RLIMIT_NPROC``) counts the processes of a uid, so one student's fork bomb
does not use up the limit of another student graded at the same time.  Run
as an ordinary user, every sandbox runs under the TA's own uid.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def is_root() -> bool:
    return os.geteuid() == 0


def own_process_count() -> int:
    uid, n = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                n += len(os.listdir(f"/proc/{entry.name}/task")) if entry.stat().st_uid == uid else 0
            except OSError:
                pass
    return n



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
    if not is_root():
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
