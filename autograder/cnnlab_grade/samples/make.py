"""Generate the sample class: ``autograder/samples/<ps>/`` and its expected grades.

    python autograder/make_samples.py            # writes autograder/samples/ps1/

Every submission is built from the course's own notebooks: the released
notebook filled in with the reference solution (``source/``), then changed the
way the student it stands for would have changed it.  The sample class has

* a correct, a partly done and an untouched (blank) submission;
* one submission per fingerprinted mistake of :mod:`.mistakes`
  (the assignment's own table of typical mistakes and the test cells each must
  fail -- the one place those facts are written down);
* faults: an exception, an infinite loop, a memory hog, a killed kernel, a
  fork bomb, huge output, a malformed notebook, an empty submission,
  duplicated and deleted test cells, a wrongly named file, a late submission;
* the cheats a grader must defeat (:mod:`.cheats`): reading the course's files, writing the gradebook,
  monkeypatching the reference and NumPy, a module beside the notebook that
  shadows the checks, IPython AST and input transformers, files written at run
  time, "assert tricks", edited test cells, SystemExit and a custom exception
  handler;
* honest but unusual work (:mod:`.honest`), and two solutions written
  independently of the reference and five copies planted from one of them
  (:mod:`.copies`), for the similarity report.

``ps1.expected.json`` holds, for each student, the questions that must score 0,
the resulting score (from the points in :mod:`cnnlab.checks.questions`) and the flags the
grader must raise -- all stated here, by design, not copied from a run.
The files are generated: do not edit them by hand, change this module.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import shutil
from pathlib import Path

import nbformat

from cnnlab.checks.questions import questions

from .build import DUE, LATE, Sample, _cell, blank_except, solution, with_code
from .cheats import (ALWAYS_EQUAL, AST_TRANSFORMER, CUSTOM_EXC, FAKE_CHECKS, INPUT_TRANSFORMER, PATCH_NUMPY,
                     READ_LINKED, READ_SOURCE, TRIPWIRE_OFF_SCIPY, WRITE_FILES, WRITE_GRADEBOOK, ZEROS_CONV)
from .copies import copies
from .honest import honest
from .mistakes import PS1
from .notebooks import ROOT, nbg, submission

def samples() -> list[Sample]:
    conv_qs = ("q2a", "q2b", "q3")
    out = [
        Sample("correct", "the reference solution", solution()),
        Sample("partial", "output_size and the loop convolutions done, the rest not started",
               with_code(with_code(with_code(solution(), "im2col", _stub("im2col"), replace=True),
                                   "conv2d_im2col", _stub("conv2d_im2col"), replace=True),
                         "convolve2d", _stub("convolve2d"), replace=True),
               fails=("q4", "q5a", "q5b", "q6a", "q6b")),
        Sample("blank", "the released notebook, untouched", submission("ps1", blank=True),
               fails=tuple(q.id for q in questions("ps1"))),
    ]
    seen = set()
    for w in PS1:
        if w.key in seen:
            continue
        seen.add(w.key)
        nb = submission("ps1", patches={w.cell: list(w.patches), **{k: list(v) for k, v in w.extra.items()}})
        out.append(Sample(f"mistake-{w.key.replace('_', '-')}", f"fingerprinted mistake {w.key} in {w.cell}",
                          nb, fails=tuple(w.fails)))

    # ---- faults
    out += [
        Sample("exception", "output_size raises", with_code(
            solution(), "output_size",
            'def output_size(n, f, stride=1, padding=0):\n    raise RuntimeError("not finished")\n', replace=True),
            fails=("q1a", "q1b")),
        Sample("infinite-loop", "is_flip_invariant never returns", with_code(
            solution(), "convolve2d", "def is_flip_invariant(kernel):\n    while True:\n        pass\n"),
            fails=("q6b",), flags=("cell-timeout",)),
        Sample("memory-hog", "convolve2d allocates memory until it runs out", with_code(
            solution(), "convolve2d",
            "def convolve2d(image, kernel):\n    hog = []\n    while True:\n"
            "        hog.append(np.ones(10**7))\n"),
            fails=("q6a",), flags=("out-of-memory",)),
        Sample("killed-kernel", "convolve2d kills its own process", with_code(
            solution(), "convolve2d",
            "def convolve2d(image, kernel):\n    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n"),
            fails=("q6a",), flags=("kernel-died", "suspicious-code")),
        Sample("fork-bomb", "is_flip_invariant forks until the process limit", with_code(
            solution(), "convolve2d",
            "def is_flip_invariant(kernel):\n    import os, time\n    while True:\n"
            "        if os.fork() == 0:\n            while True:\n                try:\n"
            "                    os.fork()\n                except OSError:\n"
            "                    time.sleep(0.2)\n"),
            fails=("q6b",), flags=("process-limit",)),
        Sample("huge-output", "output_size prints half a megabyte on every call", with_code(
            solution(), "output_size",
            "_output_size = output_size\n\n\ndef output_size(n, f, stride=1, padding=0):\n"
            "    print('spam ' * 100_000)\n    return _output_size(n, f, stride, padding)\n"),
            flags=("output-truncated",)),
        Sample("malformed", "a notebook file cut off in the middle (invalid JSON)",
               nbformat.writes(solution()).encode()[:2000], fails=_all(), flags=("invalid-notebook",)),
        Sample("empty", "no notebook, only a note", None, fails=_all(), flags=("empty",),
               files={"notes.txt": b"I could not finish, sorry.\n"}),
        Sample("duplicate-ids", "a test cell pasted twice", _duplicate_test(solution(), "q1a"),
               flags=("duplicate-ids",)),
        Sample("edited-metadata", "q2a made worth 10 points and the read-only cells unlocked",
               _edit_metadata(solution(), "q2a"), flags=("edited-metadata",)),
        Sample("missing-test", "a test cell deleted", _delete_test(solution(), "q6b"), flags=("missing-tests",)),
        Sample("renamed", "the notebook uploaded as 'PS1 (1).ipynb'", solution(), name="PS1 (1).ipynb",
               flags=("renamed",)),
        Sample("late", "submitted after the due date", solution(), timestamp=LATE, flags=("late",)),
        Sample("prefixed", "a flat <student>_ps1.ipynb file instead of a folder", solution(), flat=True),
    ]

    # ---- honest but unusual: full marks, no flag
    out += honest()
    out += copies()

    # ---- cheats: attempts to get points without the work (samples.cheats)
    im2col_first_image = ("xp[:, :, r:r + stride * OH:stride, s:s + stride * OW:stride]",
                          "xp[:1, :, r:r + stride * OH:stride, s:s + stride * OW:stride]")
    out += [
        Sample("cheat-read-source", "executes the solution cells of source/ps1 found through ../../..",
               blank_except("output_size", READ_SOURCE), fails=_all(), flags=("suspicious-code",)),
        Sample("cheat-symlinks", "runs the code of two links uploaded beside it: to source/ps1 and to a classmate's",
               blank_except("output_size", READ_LINKED), fails=_all(), flags=("refused-file",),
               links={"solution.ipynb": "../../../../source/ps1/ps1.ipynb", "friend.ipynb": "../correct/ps1.ipynb"}),
        Sample("cheat-write-gradebook", "sets extra credit in gradebook.db",
               blank_except("output_size", WRITE_GRADEBOOK), fails=_all(), flags=("suspicious-code",)),
        Sample("cheat-monkeypatch-ref", "a wrong im2col, and cnnlab.ref.im2col replaced by it",
               with_code(solution(im2col=[im2col_first_image]), "im2col",
                         "import cnnlab.ref\ncnnlab.ref.im2col = lambda x, kernel_size, stride=1, padding=0, "
                         "dilation=1: im2col(x, *(kernel_size if isinstance(kernel_size, tuple) else "
                         "(kernel_size, kernel_size)), stride, padding)\n"),
               fails=("q4", "q5a"), flags=("tampered", "suspicious-code")),
        Sample("cheat-monkeypatch-numpy", "a wrong conv2d_loop, and np.max lying to the checks",
               with_code(solution(), "conv2d_loop", ZEROS_CONV + PATCH_NUMPY, replace=True),
               fails=conv_qs, flags=("tampered", "suspicious-code")),
        Sample("cheat-shadow-module", "a wrong conv2d_loop, and a cnnlab/checks.py beside the notebook",
               with_code(solution(), "conv2d_loop", ZEROS_CONV, replace=True), fails=conv_qs,
               flags=("ignored-file",),
               files={"cnnlab/__init__.py": b"", "cnnlab/checks.py": FAKE_CHECKS.encode()}),
        Sample("cheat-ast-transformer", "a wrong conv2d_loop, and an AST transformer that drops checks and asserts",
               with_code(solution(), "conv2d_loop", ZEROS_CONV + AST_TRANSFORMER, replace=True), fails=conv_qs,
               flags=("tampered", "suspicious-code")),
        Sample("cheat-input-transformer", "a wrong conv2d_loop, and an input transformer that blanks test cells",
               with_code(solution(), "conv2d_loop", ZEROS_CONV + INPUT_TRANSFORMER, replace=True), fails=conv_qs,
               flags=("tampered", "suspicious-code")),
        Sample("cheat-write-files", "a wrong conv2d_loop, and a fake cnnlab.checks written and imported at run time",
               with_code(solution(), "conv2d_loop", ZEROS_CONV + WRITE_FILES, replace=True), fails=conv_qs,
               flags=("tampered", "suspicious-code")),
        Sample("cheat-assert-trick", "output_size returns an int that equals everything",
               with_code(solution(), "output_size", ALWAYS_EQUAL, replace=True), fails=("q1a", "q1b"),
               flags=("suspicious-code",)),
        Sample("cheat-edit-tests", "a wrong conv2d_loop, and its test cells replaced by `pass`",
               _edit_tests(with_code(solution(), "conv2d_loop", ZEROS_CONV, replace=True), ("q2a", "q2b")),
               fails=conv_qs, flags=("edited-tests",)),
        Sample("cheat-system-exit", "conv2d_loop raises SystemExit",
               with_code(solution(), "conv2d_loop",
                         "def conv2d_loop(x, w, b=None, stride=1, padding=0):\n    raise SystemExit(0)\n",
                         replace=True), fails=conv_qs, flags=("suspicious-code",)),
        Sample("cheat-custom-exc", "a wrong conv2d_loop, and a custom exception handler that hides errors",
               with_code(solution(), "conv2d_loop", ZEROS_CONV + CUSTOM_EXC, replace=True), fails=conv_qs,
               flags=("suspicious-code",)),
        Sample("cheat-tripwire-off", "sys.setprofile replaced (the detector off), then scipy.signal by a hidden name",
               with_code(solution(), "conv2d_loop", TRIPWIRE_OFF_SCIPY, replace=True), fails=conv_qs,
               flags=("suspicious-code",)),
    ]
    return out


def _all():
    return tuple(q.id for q in questions("ps1"))


def _stub(grade_id):
    blank = submission("ps1", blank=True)
    return _cell(blank, grade_id).source


def _duplicate_test(nb, grade_id):
    twin = copy.deepcopy(_cell(nb, grade_id))
    twin["id"] = "pasted-twice"
    nb.cells.append(twin)
    return nb


def _delete_test(nb, grade_id):
    nb.cells = [c for c in nb.cells if nbg(c).get("grade_id") != grade_id]
    return nb


def _edit_metadata(nb, grade_id):
    """The test cell ``grade_id`` worth 10 points, and every read-only cell unlocked."""
    nbg(_cell(nb, grade_id))["points"] = 10
    for cell in nb.cells:
        if nbg(cell).get("locked"):
            nbg(cell)["locked"] = False
    return nb


def _edit_tests(nb, grade_ids):
    for gid in grade_ids:
        _cell(nb, gid).source = "pass\n"
    return nb











def write(out: Path, items: list[Sample]) -> dict:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    points = {q.id: q.points for q in questions("ps1")}
    total = sum(points.values())
    expected, stamps = {}, []
    for s in sorted(items, key=lambda s: s.student):
        folder = out if s.flat else out / s.student
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{s.student}_{s.name}" if s.flat else s.name
        if isinstance(s.notebook, bytes):
            (folder / name).write_bytes(s.notebook)
        elif s.notebook is not None:
            nbformat.write(s.notebook, str(folder / name))
        for rel, data in s.files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        for rel, target in s.links.items():
            os.symlink(target, folder / rel)
        stamps.append((s.student, s.timestamp))
        fails = sorted(set(s.fails), key=list(points).index)
        expected[s.student] = {"what": s.what, "score": total - sum(points[q] for q in fails), "max_score": total,
                               "fails": fails, "flags": sorted(set(s.flags))}
    with open(out / "timestamps.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student_id", "timestamp"])
        w.writerows(stamps)
    expected_file(out).write_text(json.dumps({"due": DUE, "students": expected}, indent=1) + "\n")
    return expected


def expected_file(out: Path) -> Path:
    """``samples/ps1`` -> ``samples/ps1.expected.json`` (beside the class, not in it)."""
    return out.with_name(out.name + ".expected.json")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "autograder" / "samples" / "ps1",
                   help="where to write the sample class (default: autograder/samples/ps1)")
    args = p.parse_args(argv)
    expected = write(args.out, samples())
    print(f"wrote {len(expected)} submissions to {args.out}")


if __name__ == "__main__":
    main()
