"""The student's scratch home: the files it starts with, owned by the sandbox's uid."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .uids import is_root

#: files and directories a student may not place beside the notebook: they
#: would shadow the modules the tests import
SHADOWING_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".so", ".pth", ".egg-link")


def is_shadowing(name: str) -> bool:
    return name.lower().endswith(SHADOWING_SUFFIXES) or name.startswith(".")


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """``files`` (relative path -> bytes) into ``folder``; a name that would land outside it is refused."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        dest = (folder / rel).resolve()
        if folder.resolve() not in dest.parents:
            raise ValueError(f"file name {rel!r} escapes the scratch directory")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


def prepare_home(home: Path, files: dict[str, bytes], *, uid: int | None, warm: dict[str, Path] | None = None):
    """Fill a scratch directory: ``files`` (relative path -> bytes) and the
    warm caches (``{"relative/dir": host_dir}``, copied), owned by ``uid``."""
    home = Path(home)
    write_files(home, files)
    for rel, src in (warm or {}).items():
        if src and Path(src).is_dir():
            shutil.copytree(src, home / rel, dirs_exist_ok=True, symlinks=False)
    for rel in (".cache/numba", ".config/matplotlib", ".tmp"):
        (home / rel).mkdir(parents=True, exist_ok=True)
    if uid is not None and is_root() and uid != 0:
        for root, dirs, fnames in os.walk(home):
            os.chown(root, uid, uid)
            for n in dirs + fnames:
                os.lchown(os.path.join(root, n), uid, uid)
    os.chmod(home, 0o755)


_libc = None


def _lib():
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def mount_tmpfs(path: Path, size: int) -> bool:
    """A tmpfs of ``size`` bytes on ``path`` (root only); False where it cannot be mounted."""
    if not is_root():
        return False
    opts = f"size={int(size)},mode=0755".encode()
    return _lib().mount(b"tmpfs", str(path).encode(), b"tmpfs", 2 | 4, opts) == 0  # MS_NOSUID | MS_NODEV


def umount(path: Path) -> None:
    _lib().umount2(str(path).encode(), 2)  # MNT_DETACH
