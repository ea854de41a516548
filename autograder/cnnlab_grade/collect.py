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
  (``student_id,timestamp``) at the top of the export.

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

from .intake import CnnlabExtractor, copy_export, refusal

_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|[-_ ]\d{1,2}|[-_ ]copy\d*|[-_ ]?v\d+)$", re.IGNORECASE)
_TS = r"\d{8}T\d{6}Z?"
_PREFIX = re.compile(rf"^(?P<student>[^_/]+?)_(?:(?P<timestamp>{_TS})_)?(?P<rest>.+)$")
_STUDENT_OK = re.compile(r"[^A-Za-z0-9._@+-]+")
IGNORED = {"timestamps.csv", ".ds_store", "thumbs.db", "desktop.ini"}


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


def stage_input(submissions: Path, archive: Path) -> None:
    """Put the TA's export where nbgrader's zip_collect looks for it."""
    if archive.exists():
        shutil.rmtree(archive)
    archive.mkdir(parents=True)
    if submissions.is_dir():
        copy_export(submissions, archive)
    elif zipfile.is_zipfile(submissions):
        shutil.copy(submissions, archive / submissions.name)
    else:
        raise ValueError(f"submissions: {submissions} is neither a folder nor a zip file; give the LMS export "
                         "(.zip) or a folder of notebooks")


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
    stage_input(submissions, archive)
    cfg = Config(coursedir_config)
    cfg.ZipCollectApp.force = True
    cfg.ExtractorPlugin.force = True
    cfg.ZipCollectApp.collector_plugin = CnnlabCollector
    cfg.ZipCollectApp.extractor_plugin = CnnlabExtractor
    cfg.CourseDirectory.assignment_id = assignment
    cfg.CnnlabCollector.notebooks = list(notebooks)
    cfg.CnnlabCollector.root = str(extracted)
    cfg.CnnlabCollector.single_assignment = [True] if single else []
    cfg.CnnlabCollector.timestamps = timestamps_from(submissions)
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
