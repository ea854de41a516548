"""A submission brings only its own regular files.

Symbolic links (to anywhere), hard links that share their file with
something outside the submission, device files, pipes and sockets, and
archive members with an absolute or ``..`` path or that are links, are never
followed, copied or extracted. Each one is *refused*: the grader records it
for the student it belongs to, and the Collect stage flags it
(``refused-file``) with its name and why.

Between the TA's export and nbgrader's ``submitted/`` folder a refused entry
travels as a *marker*: a dangling symbolic link at the entry's place whose
target is ``cnnlab-refused: <why>`` (nbgrader's collector then sees it at the
right path, so the right student is flagged, and nothing can read through it).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath

from nbgrader.plugins import ExtractorPlugin

MARKER = "cnnlab-refused: "

_KINDS = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFIFO: "a named pipe",
          stat.S_IFSOCK: "a socket"}


def refusal(path, inside: Counter | None = None) -> str | None:
    """Why ``path`` is not taken (None: a regular file of the submission's own).

    ``inside`` counts the (device, inode) pairs of the files being taken
    together; a regular file with more names than that is a hard link to a
    file elsewhere."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        if target.startswith(MARKER):
            return target[len(MARKER):]
        return f"a symbolic link (to {target}); links are never followed"
    if stat.S_ISDIR(st.st_mode):
        return None
    if not stat.S_ISREG(st.st_mode):
        return f"{_KINDS.get(stat.S_IFMT(st.st_mode), 'not a regular file')}, not a regular file"
    names_here = (inside or Counter()).get((st.st_dev, st.st_ino), 1)
    if st.st_nlink > names_here:
        return "a hard link to a file outside the submission; only the submission's own files are read"
    return None


def _mark(dest: Path, why: str) -> None:
    """A marker at ``dest``, in place of whatever was written there."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.is_dir():
        shutil.rmtree(dest)
    os.symlink(MARKER + why, dest)


def inode_counts(root: Path) -> Counter:
    """How many names each regular file below ``root`` has there."""
    seen = Counter()
    for folder, dirs, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            if stat.S_ISREG(st.st_mode):
                seen[(st.st_dev, st.st_ino)] += 1
    return seen


def copy_export(src: Path, dst: Path) -> None:
    """Copy a folder export: regular files as they are, everything else as a marker."""
    src, dst = Path(src), Path(dst)
    inside = inode_counts(src)
    for folder, dirs, files in os.walk(src):
        here = Path(folder)
        out = dst / here.relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        for name in list(dirs):
            if (here / name).is_symlink():        # os.walk lists a link to a folder among the folders
                dirs.remove(name)
                files.append(name)
        for name in files:
            why = refusal(here / name, inside)
            if why:
                _mark(out / name, why)
            else:
                shutil.copy2(here / name, out / name)


def _safe_parts(name: str) -> list[str]:
    return [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("/", ".", "..")]


def archive_refusals(path: Path) -> list[tuple[str, str]]:
    """(member, why) for each member of a zip or tar archive that is never extracted."""
    out = []

    def check(name: str, link: str | None):
        p = PurePosixPath(name.replace("\\", "/"))
        if p.is_absolute() or name[1:3] == ":\\" or name[1:3] == ":/":
            out.append((name, "an archive member with an absolute path"))
        elif ".." in p.parts:
            out.append((name, "an archive member whose path leaves the archive (..)"))
        elif link is not None:
            out.append((name, f"a link in the archive (to {link}); links are never extracted"))

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                is_link = stat.S_ISLNK(info.external_attr >> 16)
                check(info.filename, zf.read(info).decode("utf-8", "replace") if is_link else None)
    elif tarfile.is_tarfile(path):
        with tarfile.open(path) as tf:
            for m in tf.getmembers():
                if m.isdev() or m.isfifo():
                    out.append((m.name, "a device or pipe in the archive, not a regular file"))
                else:
                    check(m.name, m.linkname if (m.issym() or m.islnk()) else None)
    return out


def _archive_folder(path: Path) -> Path:
    """Where an archive is unpacked: a folder named after it (``hw.tar.gz`` -> ``hw``), as nbgrader does."""
    stem, _ = os.path.splitext(path.name)
    own, ext = os.path.splitext(stem)
    return path.parent / (own if ext == ".tar" else stem)


def extract(path: Path, zip_ext=(".zip", ".gz")) -> None:
    """Unpack the zip or tar archive ``path`` into its own folder beside it: regular members
    only, each refused member a marker at its (cleaned) place; archives inside are unpacked
    the same way. Nothing is written outside that folder."""
    path = Path(path)
    folder = _archive_folder(path)
    folder.mkdir(parents=True, exist_ok=True)
    refused = dict(archive_refusals(path))

    def place(name: str) -> Path | None:
        parts = _safe_parts(name)
        return folder.joinpath(*parts) if parts else None

    def write(name: str, data: bytes) -> None:
        dest = place(name)
        if dest is not None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename not in refused and not info.is_dir():
                    write(info.filename, zf.read(info))
    elif tarfile.is_tarfile(path):
        with tarfile.open(path) as tf:
            for m in tf.getmembers():
                if m.name not in refused and m.isreg():
                    write(m.name, tf.extractfile(m).read())
    for name, why in refused.items():
        dest = place(name)
        if dest is not None:
            _mark(dest, why)
    for inner in sorted(folder.rglob("*")):
        if inner.suffix in zip_ext and inner.is_file() and not inner.is_symlink():
            extract(inner, zip_ext)


class CnnlabExtractor(ExtractorPlugin):
    """nbgrader's extractor, except that it reads no link and unpacks only regular
    members (:func:`extract`): a marker is recreated as a marker, and each archive
    member that is never extracted leaves a marker where it would have gone."""

    def extract(self, archive_path: str, extracted_path: str) -> None:
        for root, _, files in os.walk(archive_path):
            to = Path(extracted_path) / os.path.relpath(root, archive_path)
            to.mkdir(parents=True, exist_ok=True)
            for name in files:
                src = Path(root) / name
                why = refusal(src)
                if why:
                    _mark(to / name, why)
                elif os.path.splitext(name)[1] in self.zip_ext:
                    shutil.copy(src, to / name)
                    extract(to / name, tuple(self.zip_ext))
                    (to / name).unlink()
                else:
                    shutil.copy(src, to / name)
