"""A submission brings only its own regular files: links, devices, pipes and
unsafe archive members are never read, followed or extracted, and each is
refused with a reason that names it."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from cnnlab_grade.intake import MARKER, CnnlabExtractor, archive_refusals, copy_export, refusal
from cnnlab_grade.jobs import read_submission

SECRET = b"the instructor's solution"


@pytest.fixture
def export(tmp_path):
    """A class export: alice's own files, and every kind of entry that is not hers."""
    outside = tmp_path / "instructor"
    outside.mkdir()
    (outside / "ps1.ipynb").write_bytes(SECRET)
    (outside / "shared.txt").write_bytes(SECRET)
    root = tmp_path / "export"
    alice = root / "alice"
    alice.mkdir(parents=True)
    (alice / "ps1.ipynb").write_text("{}")
    (alice / "data.csv").write_text("1,2\n")
    os.link(alice / "data.csv", alice / "data-copy.csv")          # two names, both hers
    os.symlink(outside / "ps1.ipynb", alice / "solution.ipynb")    # absolute link
    os.symlink("../../instructor/ps1.ipynb", alice / "friend.ipynb")  # relative link
    os.symlink(outside, alice / "folder")                          # a link to a folder
    os.link(outside / "shared.txt", alice / "hard.txt")             # shares its file with the outside
    os.mkfifo(alice / "pipe")
    return root, outside


def test_refusal_names_each_kind_and_takes_regular_files(export):
    root, _ = export
    alice = root / "alice"
    assert refusal(alice / "ps1.ipynb") is None
    assert "symbolic link" in refusal(alice / "solution.ipynb")
    assert "symbolic link" in refusal(alice / "folder")
    assert "named pipe" in refusal(alice / "pipe")
    assert "hard link" in refusal(alice / "hard.txt")
    # a file with two names, both inside what is being taken, is the submission's own
    from collections import Counter
    st = os.lstat(alice / "data.csv")
    assert refusal(alice / "data.csv", Counter({(st.st_dev, st.st_ino): 2})) is None
    assert "hard link" in refusal(alice / "data.csv")


def test_copying_an_export_reads_nothing_through_a_link(export, tmp_path):
    root, _ = export
    dst = tmp_path / "copy"
    copy_export(root, dst)
    alice = dst / "alice"
    assert (alice / "ps1.ipynb").read_text() == "{}"
    assert (alice / "data.csv").read_text() == "1,2\n" and (alice / "data-copy.csv").is_file()
    for name in ("solution.ipynb", "friend.ipynb", "folder", "hard.txt", "pipe"):
        p = alice / name
        assert p.is_symlink() and os.readlink(p).startswith(MARKER), name
        assert not p.exists(), f"{name}: a marker points nowhere"
        assert refusal(p) == os.readlink(p)[len(MARKER):]
    for p in dst.rglob("*"):
        if p.is_file() and not p.is_symlink():
            assert SECRET not in p.read_bytes(), p
    assert "named pipe" in refusal(alice / "pipe") and "hard link" in refusal(alice / "hard.txt")


def test_reading_submitted_takes_regular_files_and_lists_the_rest(export):
    root, _ = export
    files, timestamp, refused = read_submission(root / "alice")
    assert set(files) == {"ps1.ipynb", "data.csv", "data-copy.csv"}
    assert SECRET not in b"".join(files.values())
    names = {r.split(":")[0] for r in refused}
    assert {"solution.ipynb", "friend.ipynb", "folder", "hard.txt", "pipe"} <= names
    assert timestamp is None


def _zip(path: Path, members: dict[str, bytes], links: dict[str, str] = {}):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in links.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)


def _tar(path: Path, members: dict[str, bytes], links: dict[str, tuple[bytes, str]] = {}):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, (kind, target) in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)


def test_archive_members_that_leave_the_archive_or_link_are_refused(tmp_path):
    z = tmp_path / "class.zip"
    _zip(z, {"alice/ps1.ipynb": b"{}", "/etc/evil": b"x", "alice/../../evil": b"x"},
         {"alice/solution.ipynb": "/srv/course/source/ps1/ps1.ipynb"})
    assert dict(archive_refusals(z)) == {
        "/etc/evil": "an archive member with an absolute path",
        "alice/../../evil": "an archive member whose path leaves the archive (..)",
        "alice/solution.ipynb": "a link in the archive (to /srv/course/source/ps1/ps1.ipynb); "
                                "links are never extracted"}
    t = tmp_path / "class.tar.gz"
    _tar(t, {"bob/ps1.ipynb": b"{}", "../evil": b"x"},
         {"bob/solution.ipynb": (tarfile.SYMTYPE, "../../source/ps1/ps1.ipynb"),
          "bob/hard.ipynb": (tarfile.LNKTYPE, "bob/ps1.ipynb")})
    refused = dict(archive_refusals(t))
    assert set(refused) == {"../evil", "bob/solution.ipynb", "bob/hard.ipynb"}
    assert "../../source/ps1/ps1.ipynb" in refused["bob/solution.ipynb"]


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_extracting_leaves_a_marker_for_each_refused_member_and_writes_nothing_outside(tmp_path, kind):
    archive, extracted = tmp_path / "archive", tmp_path / "work" / "extracted"
    archive.mkdir()
    extracted.mkdir(parents=True)
    path = archive / f"class.{kind}"
    members = {"alice/ps1.ipynb": b"{}", "alice/../../../escaped.txt": b"x"}
    if kind == "zip":
        _zip(path, members, {"alice/solution.ipynb": "/etc/passwd"})
    else:
        _tar(path, members, {"alice/solution.ipynb": (tarfile.SYMTYPE, "ps1.ipynb")})
    os.symlink("/etc/passwd", archive / "stray-link")
    CnnlabExtractor().extract(str(archive), str(extracted))
    top = extracted / "class"
    assert (top / "alice" / "ps1.ipynb").read_bytes() == b"{}"
    assert "link" in refusal(top / "alice" / "solution.ipynb")
    assert not (top / "alice" / "solution.ipynb").exists()
    assert "leaves the archive" in refusal(top / "alice" / "escaped.txt")   # cleaned: still alice's
    assert "symbolic link (to /etc/passwd)" in refusal(extracted / "stray-link")
    assert not list(tmp_path.rglob("escaped.txt"))[1:], "written outside the extracted folder"
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "work" / "escaped.txt").exists()


def test_an_archive_inside_an_archive_is_unpacked_the_same_way(tmp_path):
    inner = tmp_path / "hw.zip"
    _zip(inner, {"ps1.ipynb": b"{}"}, {"solution.ipynb": "../../../source/ps1/ps1.ipynb"})
    archive, extracted = tmp_path / "archive", tmp_path / "extracted"
    archive.mkdir()
    extracted.mkdir()
    _zip(archive / "export.zip", {"bob/hw.zip": inner.read_bytes()})
    CnnlabExtractor().extract(str(archive), str(extracted))
    bob = extracted / "export" / "bob" / "hw"
    assert (bob / "ps1.ipynb").read_bytes() == b"{}"
    assert "link in the archive" in refusal(bob / "solution.ipynb")
