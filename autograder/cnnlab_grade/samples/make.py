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
  handler.

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
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from cnnlab.checks.questions import questions

from .cheats import (ALWAYS_EQUAL, AST_TRANSFORMER, CUSTOM_EXC, FAKE_CHECKS, INPUT_TRANSFORMER, PATCH_NUMPY,
                     READ_LINKED, READ_SOURCE, TRIPWIRE_OFF_SCIPY, WRITE_FILES, WRITE_GRADEBOOK, ZEROS_CONV)
from .mistakes import PS1
from .notebooks import ROOT, nbg, submission

DUE = "2025-10-06T23:59:00+00:00"
ON_TIME = "2025-10-05T18:00:00+00:00"
LATE = "2025-10-07T09:30:00+00:00"


@dataclass
class Sample:
    student: str
    what: str
    notebook: object | None          # NotebookNode, bytes (a broken file) or None (no notebook)
    fails: tuple = ()                # questions that score 0
    flags: tuple = ()                # flag kinds the grader must raise (exactly these)
    name: str = "ps1.ipynb"          # file name as submitted
    files: dict = field(default_factory=dict)  # other files beside the notebook
    links: dict = field(default_factory=dict)  # symbolic links beside the notebook: name -> target
    timestamp: str = ON_TIME
    flat: bool = False               # <student>_ps1.ipynb at the top instead of <student>/ps1.ipynb


def solution(**patches) -> nbformat.NotebookNode:
    return submission("ps1", patches={k: v for k, v in patches.items()})


def _cell(nb, grade_id):
    return next(c for c in nb.cells if nbg(c).get("grade_id") == grade_id)


def with_code(nb, grade_id: str, code: str, *, replace: bool = False):
    """Append ``code`` to the solution cell ``grade_id`` (or replace its source)."""
    cell = _cell(nb, grade_id)
    cell.source = code if replace else cell.source.rstrip() + "\n\n\n" + code.strip() + "\n"
    return nb


def with_cell(nb, grade_id: str, code: str, *, before: bool = False):
    """A new code cell of the student's own (no nbgrader metadata) after (or
    before) the cell ``grade_id``."""
    i = nb.cells.index(_cell(nb, grade_id))
    cell = nbformat.v4.new_code_cell(code)
    cell.id = f"own-{'before' if before else 'after'}-{grade_id}"  # fixed: the samples are generated exactly
    nb.cells.insert(i if before else i + 1, cell)
    return nb


_COMPARE_FIRST = (
    "# first: does my im2col agree with the course's? (cnnlab.ref is allowed outside the answers)\n"
    "from cnnlab.ref import im2col as course_im2col\n"
    "_x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))\n"
    "print('my im2col agrees:', np.allclose(im2col(_x, 3, 3, 1, 1), course_im2col(_x, 3, stride=1, padding=1)))\n"
    "\n\n")

_SLOW_LOOPS = """    N, C, H, W = x.shape
    K, _, R, S = w.shape
    OH = (H - R + 2 * padding) // stride + 1
    OW = (W - S + 2 * padding) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.zeros((N, K, OH, OW), dtype=x.dtype)
    for n in range(N):
        for k in range(K):
            for i in range(OH):
                for j in range(OW):
                    total = 0.0
                    for c in range(C):
                        for r in range(R):
                            for s in range(S):
                                total += xp[n, c, i * stride + r, j * stride + s] * w[k, c, r, s]
                    y[n, k, i, j] = total + (0.0 if b is None else b[k])
    return y
"""


def _honest() -> list[Sample]:
    """Honest but unusual work: full marks and no flag, each."""
    from .notebooks import BODY

    loop = "conv2d_loop"
    return [
        Sample("honest-stderr-warnings", "a debug line to stderr in output_size and a warning in conv2d_im2col",
               solution(output_size=[("    span = n - f + 2 * padding\n",
                                      "    import sys\n    print(f'output_size({n}, {f})', file=sys.stderr)\n"
                                      "    span = n - f + 2 * padding\n")],
                        conv2d_im2col=[("    N, C, H, W = x.shape\n",
                                        "    import warnings\n    warnings.warn('conv2d_im2col: one big matrix')\n"
                                        "    N, C, H, W = x.shape\n")])),
        Sample("honest-docstring", "docstrings that name torch.nn.functional.conv2d and scipy.signal.correlate2d "
                                   "to say they are not used",
               solution(conv2d_im2col=[("    Returns y : (N, K, OH, OW), the same as conv2d_loop.\n",
                                        "    Returns y : (N, K, OH, OW), the same as conv2d_loop.\n"
                                        "    Not torch.nn.functional.conv2d, not scipy.signal.correlate2d: "
                                        "plain NumPy.\n")])),
        Sample("honest-compare-first", "the im2col answer cell first compares im2col with the course's "
                                       "reference, then defines conv2d_im2col",
               with_code(solution(), "conv2d_im2col", _COMPARE_FIRST + strip_def_markers(solution(), "conv2d_im2col"),
                         replace=True)),
        Sample("honest-float32", "its own experiments in float32 throughout, in a cell of its own",
               with_cell(solution(), loop, "x32 = np.ones((1, 2, 6, 6), dtype=np.float32)\n"
                                           "w32 = np.ones((3, 2, 3, 3), dtype=np.float32)\n"
                                           "y32 = conv2d_loop(x32, w32, np.zeros(3, np.float32), stride=1, padding=1)\n"
                                           "print(y32.dtype, y32.shape, y32[0, 0, 1, 1])\n")),
        Sample("honest-unicode", "unicode names (ŷ, Δ) in conv2d_loop",
               solution(conv2d_loop=[("    y = np.zeros((N, K, OH, OW), dtype=x.dtype)\n",
                                      "    Δ = stride\n    ŷ = np.zeros((N, K, OH, OW), dtype=x.dtype)\n"),
                                     ("                    window = xp[n, :, i * stride:i * stride + R, "
                                      "j * stride:j * stride + S]\n",
                                      "                    window = xp[n, :, i * Δ:i * Δ + R, j * Δ:j * Δ + S]\n"),
                                     ("                    y[n, k, i, j] = np.sum(window * w[k])\n",
                                      "                    ŷ[n, k, i, j] = np.sum(window * w[k])\n"),
                                     ("                y[n, k] += b[k]\n    return y\n",
                                      "                ŷ[n, k] += b[k]\n    return ŷ\n")])),
        Sample("honest-slow-loops", "conv2d_loop with a Python loop for every index (slow, within the limits)",
               solution(conv2d_loop=[(BODY, _SLOW_LOOPS)])),
        Sample("honest-self-check", "a cell of its own that asserts a hand-worked example",
               with_cell(solution(), "convolve2d",
                         "# my own check: a 2x2 box filter on a 3x3 ramp\n"
                         "ramp = np.arange(9.0).reshape(3, 3)\n"
                         "assert np.allclose(convolve2d(ramp, np.ones((2, 2))), [[8, 12], [20, 24]])\n"
                         "assert is_flip_invariant(np.ones((3, 3))) and not is_flip_invariant(np.eye(2)[::-1] * [1, 2])\n"
                         "print('my checks pass')\n")),
        Sample("honest-helpers-cell", "a helper in a cell of its own before conv2d_loop, used by conv2d_loop",
               with_cell(solution(conv2d_loop=[
                   ("    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))\n",
                    "    xp = pad_images(x, padding)\n")]), loop,
                   "def pad_images(x, p):\n    \"\"\"Zeros around every image of a batch (N, C, H, W).\"\"\"\n"
                   "    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))\n", before=True)),
        Sample("honest-progress", "conv2d_loop prints its progress on stdout",
               solution(conv2d_loop=[("        for k in range(K):\n",
                                      "        print(f'image {n + 1} of {N}')\n        for k in range(K):\n")])),
        Sample("honest-einsum", "conv2d_im2col with np.einsum instead of the @ operator",
               solution(conv2d_im2col=[("    y = w.reshape(K, -1) @ cols                      # (N, K, OH*OW)\n",
                                        "    y = np.einsum('kp,npq->nkq', w.reshape(K, -1), cols)\n")])),
    ]


def strip_def_markers(nb, grade_id: str) -> str:
    return _cell(nb, grade_id).source


def blank_except(keep: str, code: str):
    """The released stubs everywhere; ``code`` alone in the solution cell ``keep``
    and the other solution cells emptied (so their stubs do not overwrite it)."""
    blank = submission("ps1", blank=True)
    for cell in blank.cells:
        meta = nbg(cell)
        if meta.get("solution") and cell.cell_type == "code":
            cell.source = code if meta["grade_id"] == keep else "# (see the first answer cell)\n"
    return blank





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
    out += _honest()

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
