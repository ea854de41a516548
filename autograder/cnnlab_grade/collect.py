"""From an LMS export (zip) or a folder of notebooks to nbgrader's ``submitted/``.

This is nbgrader's own ``zip_collect`` (archives are extracted into
``downloaded/<assignment>/extracted``, files are copied to
``submitted/<student>/<assignment>/``, duplicates keep the newest) with a
collector plugin that understands the usual layouts without a regular
expression and forgives the usual naming slips:

* ``<student>/<notebook>.ipynb`` (a folder per student; files beside the
  notebook are collected too, so the grader can judge them);
* ``<student>_<notebook>.ipynb`` and ``<student>_<YYYYmmddTHHMMSSZ>_<notebook>.ipynb``;
* ``PS1.ipynb``, ``ps1 (1).ipynb``, ``ps1-2.ipynb`` -> ``ps1.ipynb``; a single
  unrecognised notebook of a student (``Untitled.ipynb``) is taken as the
  assignment's notebook when the assignment has one notebook -- each such
  rename is reported;
* submission times from the file name (above) or from a ``timestamps.csv``
  (``student_id,timestamp``) at the top of the export;
* nbgrader's own ``submitted/`` folder, as ``nbgrader collect`` leaves it on a
  JupyterHub (``<student>/<assignment>/<notebook>.ipynb`` with the exchange's
  ``timestamp.txt`` and ``submission_secret.txt``): only this assignment's
  folder of each student is taken (:func:`exchange_layout`), its files as
  collected, the time from its ``timestamp.txt``; the secret stays beside the
  notebook in the grading directory's ``submitted/``, for returning the
  feedback through the exchange (:mod:`cnnlab_grade.exchange`).

A TA with another layout passes ``--regex`` (nbgrader's ``named_regexp``:
groups ``student_id``, ``file_id`` and optionally ``timestamp``; it must match
the whole path, e.g. ``'.*/(?P<student_id>[^/]+)_(?P<file_id>ps1\\.ipynb)'``).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import zipfile
from pathlib import Path

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Dict, List, Unicode

from .intake import CnnlabExtractor, _mark, copy_export, refusal

_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|[-_ ]\d{1,2}|[-_ ]copy\d*|[-_ ]?v\d+)$", re.IGNORECASE)
_TS = r"\d{8}T\d{6}Z?"
_PREFIX = re.compile(rf"^(?P<student>[^_/]+?)_(?:(?P<timestamp>{_TS})_)?(?P<rest>.+)$")
_STUDENT_OK = re.compile(r"[^A-Za-z0-9._@+-]+")
IGNORED = {"timestamps.csv", ".ds_store", "thumbs.db", "desktop.ini"}
EXCHANGE = "exchange"  # CnnlabCollector.layout of nbgrader's submitted/ folder


def clean_student_id(text: str) -> str:
    return _STUDENT_OK.sub("_", text.strip()).strip("._") or "unknown"


def normalise_name(stem: str) -> str:
    stem = stem.strip().lower()
    while True:
        new = _COPY_SUFFIX.sub("", stem).strip()
        if new == stem or not new:
            return stem
        stem = new


class CnnlabCollector(FileNameCollectorPlugin):
    """nbgrader collector plugin; see the module docstring."""

    notebooks = List(Unicode(), help="notebook names (without .ipynb) of the assignment").tag(config=True)
    root = Unicode("", help="the extracted directory (paths are read relative to it)").tag(config=True)
    single_assignment = List(help="[True] when only this assignment is being graded").tag(config=True)
    timestamps = Dict(help="student id -> timestamp, from timestamps.csv").tag(config=True)
    assignment = Unicode("", help="the assignment being collected").tag(config=True)
    elsewhere = List(Unicode(), help="notebook names of the other assignments (skipped quietly)").tag(config=True)
    layout = Unicode("", help="'exchange': nbgrader's submitted/ (<student>/<assignment>/<file>)").tag(config=True)

    def __init__(self, **kw):
        super().__init__(**kw)
        self.notes: dict[str, list[str]] = {}
        self.unmatched: list[str] = []
        self.refused: dict[str, list[str]] = {}
        self._seen_notebooks: dict[str, list[str]] = {}

    def _note(self, student, text):
        self.notes.setdefault(student, [])
        if text not in self.notes[student]:
            self.notes[student].append(text)

    def _class_root(self) -> str:
        """The folder that holds the students: the extracted folder, or the one
        folder inside it that wraps everything (a zip's own top folder)."""
        if not hasattr(self, "_root"):
            root = self.root
            if self.layout == EXCHANGE:    # <student>/<assignment>/..., even with a single student
                self._root = root
                return root
            while True:
                entries = [e for e in os.listdir(root) if e.lower() not in IGNORED and e != "__MACOSX"]
                if len(entries) == 1 and os.path.isdir(os.path.join(root, entries[0])):
                    inner = os.path.join(root, entries[0])
                    if not any(f.endswith(".ipynb") for f in os.listdir(inner)):
                        root = inner
                        continue
                break
            self._root = root
        return self._root

    def collect(self, submitted_file: str):
        """nbgrader's question: whose file is this, and which file of the assignment? A file
        that is not the submission's own regular file (see :mod:`cnnlab_grade.intake`) is
        never taken; it is recorded, as refused, for the student it belongs to."""
        why = refusal(submitted_file)
        if not why:
            return self._place(submitted_file)
        rel = os.path.relpath(submitted_file, self._class_root())
        owner = self._owner(submitted_file, rel)
        if owner:
            self.refused.setdefault(owner, []).append(f"{rel}: {why}")
        else:
            self.unmatched.append(f"{rel}: {why}; not read")
        return None

    def _owner(self, submitted_file: str, rel: str) -> str | None:
        """Whose entry this is, from its path alone (the file itself is never read)."""
        if self.named_regexp:
            m = re.match(self.named_regexp, submitted_file)
            return clean_student_id(m.group("student_id")) if m and m.groupdict().get("student_id") else None
        parts = [p for p in rel.split(os.sep) if p not in ("", ".")]
        if len(parts) > 1:
            return clean_student_id(parts[0])
        m = _PREFIX.match(os.path.splitext(parts[0])[0]) if parts else None
        return clean_student_id(m["student"]) if m else None

    def _place(self, submitted_file: str):
        if self.named_regexp:
            info = super().collect(submitted_file)
            if info and info.get("file_id", "").endswith(".ipynb"):
                info["file_id"] = self._notebook(info["student_id"], info["file_id"], submitted_file) or info["file_id"]
            return info
        rel = os.path.relpath(submitted_file, self._class_root())
        parts = [p for p in rel.split(os.sep) if p not in ("", ".")]
        name = parts[-1]
        if name.lower() in IGNORED or name.startswith("._") or "__MACOSX" in parts or parts[0] == "..":
            return None
        stem, ext = os.path.splitext(name)
        if self.layout == EXCHANGE:
            return self._place_exchange(parts, submitted_file)
        if len(parts) == 1:
            # <student>_[<timestamp>_]<notebook>.ipynb
            m = _PREFIX.match(stem)
            if ext != ".ipynb" or not m:
                self.unmatched.append(f"{name}: cannot tell whose submission this is (expected "
                                      "<student>/<notebook>.ipynb or <student>_<notebook>.ipynb)")
                return None
            nb = self._notebook(m["student"], m["rest"] + ext, submitted_file)
            if nb is None:
                if normalise_name(m["rest"]) not in self.elsewhere:
                    self.unmatched.append(f"{name}: cannot tell which notebook of the assignment this is")
                return None
            info = {"student_id": m["student"], "file_id": nb, "timestamp": m["timestamp"]}
        else:
            # <student>/[<assignment>/]<file>: the first folder names the student
            student, inner = parts[0], parts[1:]
            if len(inner) > 1 and normalise_name(inner[0]) in (self.assignment, *self.notebooks):
                inner = inner[1:]
            if ext == ".ipynb" and len(inner) == 1:
                nb = self._notebook(student, name, submitted_file)
                if nb is None:
                    if normalise_name(stem) not in self.elsewhere:
                        self.unmatched.append(f"{'/'.join(parts)}: not a notebook of this assignment")
                    return None
                info = {"student_id": student, "file_id": nb}
            else:
                info = {"student_id": student, "file_id": "/".join(inner)}
        info["student_id"] = clean_student_id(info["student_id"])
        if not info.get("timestamp"):
            info.pop("timestamp", None)
            ts = self.timestamps.get(info["student_id"])
            if ts:
                info["timestamp"] = ts
        return info

    def _place_exchange(self, parts: list[str], submitted_file: str):
        """<student>/<assignment>/<file> of nbgrader's submitted/ (only this assignment's
        folders were staged): every file as collected, ``timestamp.txt`` and
        ``submission_secret.txt`` included; the time from ``timestamp.txt``."""
        if len(parts) < 3 or parts[1] != self.assignment:
            self.unmatched.append(f"{'/'.join(parts)}: not in <student>/{self.assignment}/")
            return None
        student, inner = parts[0], parts[2:]
        file_id = "/".join(inner)
        if len(inner) == 1 and inner[0].endswith(".ipynb"):
            file_id = self._notebook(student, inner[0], submitted_file) or file_id
        info = {"student_id": clean_student_id(student), "file_id": file_id}
        ts = self._exchange_timestamp(os.path.join(self.root, student, self.assignment, "timestamp.txt"))
        if ts:
            info["timestamp"] = ts
        return info

    @staticmethod
    def _exchange_timestamp(path: str) -> str | None:
        """The time in nbgrader's ``timestamp.txt`` (None when there is none, it is not a
        regular file of the submission's own, or it is not a time)."""
        from nbgrader.utils import parse_utc

        if not os.path.lexists(path) or refusal(path):
            return None
        with open(path) as fh:
            text = fh.read(200).strip()
        try:
            parse_utc(text)
        except Exception:
            return None
        return text

    def _notebook(self, student: str, filename: str, path: str) -> str | None:
        """The assignment notebook a submitted notebook file stands for."""
        stem = os.path.splitext(os.path.basename(filename))[0]
        norm = normalise_name(stem)
        sid = clean_student_id(student)
        if norm in self.notebooks:
            if stem != norm:
                self._note(sid, f"submitted as {os.path.basename(filename)!r}, graded as {norm}.ipynb")
            return norm + ".ipynb"
        if len(self.notebooks) == 1 and self.single_assignment:
            folder = os.path.dirname(path)
            others = [f for f in os.listdir(folder) if f.endswith(".ipynb")] if os.path.isdir(folder) else []
            known = [f for f in others if normalise_name(os.path.splitext(f)[0]) in self.notebooks]
            if len(others) == 1 or (not known and len(others) >= 1 and
                                    os.path.basename(path) == sorted(others)[0]):
                self._note(sid, f"submitted as {os.path.basename(filename)!r}, graded as {self.notebooks[0]}.ipynb")
                return self.notebooks[0] + ".ipynb"
        return None


def read_timestamps(folder: Path) -> dict:
    """``timestamps.csv`` (student_id,timestamp) anywhere at the top of the export."""
    out = {}
    for path in [folder / "timestamps.csv", *folder.glob("*/timestamps.csv")]:
        if path.is_file():
            with open(path, newline="") as fh:
                for row in csv.DictReader(fh):
                    sid = clean_student_id(row.get("student_id") or row.get("student") or "")
                    ts = (row.get("timestamp") or "").strip()
                    if sid and ts:
                        out[sid] = ts
    return out


def _visible(folder: Path) -> list[Path]:
    return sorted(e for e in folder.iterdir() if not e.name.startswith(".") and e.name.lower() not in IGNORED
                  and e.name != "__MACOSX")


def exchange_layout(folder: Path, assignment: str) -> bool:
    """Whether ``folder`` is nbgrader's ``submitted/`` (what ``nbgrader collect`` or
    ``zip_collect`` leave): every entry a student's folder that holds folders only
    (``<student>/<assignment>/``), and at least one student's ``<assignment>/`` folder
    with nbgrader's ``timestamp.txt`` or a notebook.  Links count as entries (they are
    refused later), never as folders, and nothing is read through them."""
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return False
    found = False
    for student in _visible(folder):
        if student.is_symlink():
            continue
        if not student.is_dir():
            return False
        for entry in _visible(student):
            if entry.is_symlink():
                continue
            if not entry.is_dir():
                return False
            if entry.name == assignment and not found:
                found = any(not f.is_symlink() and f.is_file() and (f.name == "timestamp.txt" or f.suffix == ".ipynb")
                            for f in entry.iterdir())
    return found


def stage_exchange(folder: Path, archive: Path, assignment: str) -> None:
    """Stage this assignment's folder of each student of nbgrader's ``submitted/``
    (``<student>/<assignment>/``, copied by :func:`~cnnlab_grade.intake.copy_export`);
    their other assignments stay behind.  A student's folder or assignment folder that is
    a link becomes a marker (refused, never followed)."""
    for student in _visible(folder):
        why = refusal(student) if student.is_symlink() or not student.is_dir() else None
        if why:
            _mark(archive / student.name / assignment, why)
            continue
        src = student / assignment
        if not os.path.lexists(src):
            continue
        why = refusal(src) or (None if src.is_dir() else f"{assignment} is not a folder")
        if why:
            _mark(archive / student.name / assignment, why)
        else:
            copy_export(src, archive / student.name / assignment)


def stage_input(submissions: Path, archive: Path, assignment: str | None = None) -> bool:
    """Put the TA's export where nbgrader's zip_collect looks for it.  True when it is
    nbgrader's ``submitted/`` folder (:func:`exchange_layout`): then only ``assignment``'s
    folders are staged."""
    if archive.exists():
        shutil.rmtree(archive)
    archive.mkdir(parents=True)
    if submissions.is_dir() and assignment and exchange_layout(submissions, assignment):
        stage_exchange(submissions, archive, assignment)
        return True
    if submissions.is_dir():
        copy_export(submissions, archive)
    elif zipfile.is_zipfile(submissions):
        shutil.copy(submissions, archive / submissions.name)
    else:
        raise ValueError(f"submissions: {submissions} is neither a folder nor a zip file; give the LMS export "
                         "(.zip) or a folder of notebooks")
    return False


def timestamps_from(submissions: Path) -> dict:
    if submissions.is_dir():
        return read_timestamps(submissions)
    out = {}
    with zipfile.ZipFile(submissions) as zf:
        for name in zf.namelist():
            if os.path.basename(name) == "timestamps.csv" and name.count("/") <= 1:
                tmp = io.StringIO(zf.read(name).decode("utf-8", "replace"))
                for row in csv.DictReader(tmp):
                    sid = clean_student_id(row.get("student_id") or row.get("student") or "")
                    if sid and (row.get("timestamp") or "").strip():
                        out[sid] = row["timestamp"].strip()
    return out


def collect(coursedir_config, assignment: str, notebooks: list[str], submissions: Path, *, single: bool,
            regex: str | None = None, log=None, elsewhere=()) -> dict:
    """Run nbgrader's zip_collect for one assignment.  Returns
    ``{"notes": {student: [...]}, "refused": {student: [...]}, "unmatched": [...]}``."""
    from nbgrader.apps import ZipCollectApp
    from traitlets.config import Config

    root = Path(coursedir_config.CourseDirectory.root)
    archive = root / "downloaded" / assignment / "archive"
    extracted = root / "downloaded" / assignment / "extracted"
    exchange = stage_input(submissions, archive, assignment)
    cfg = Config(coursedir_config)
    cfg.ZipCollectApp.force = True
    cfg.ExtractorPlugin.force = True
    cfg.ZipCollectApp.collector_plugin = CnnlabCollector
    cfg.ZipCollectApp.extractor_plugin = CnnlabExtractor
    cfg.CourseDirectory.assignment_id = assignment
    cfg.CnnlabCollector.notebooks = list(notebooks)
    cfg.CnnlabCollector.root = str(extracted)
    cfg.CnnlabCollector.single_assignment = [True] if single else []
    cfg.CnnlabCollector.timestamps = {} if exchange else timestamps_from(submissions)
    cfg.CnnlabCollector.layout = EXCHANGE if exchange else ""
    cfg.CnnlabCollector.assignment = assignment
    cfg.CnnlabCollector.elsewhere = [n for n in elsewhere if n not in notebooks]
    if regex:
        cfg.CnnlabCollector.named_regexp = regex
    app = ZipCollectApp(config=cfg)
    if log is not None:
        app.log = log
    app.initialize([])
    app.start()
    plugin = app.collector_plugin_inst
    return {"notes": plugin.notes, "refused": plugin.refused, "unmatched": plugin.unmatched}
