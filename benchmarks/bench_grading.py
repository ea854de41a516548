"""Grading throughput: ``cnnlab-grade`` against plain ``nbgrader autograde``, in the same run.

    .venv/bin/python benchmarks/bench_grading.py            # 100 ps1 submissions
    .venv/bin/python benchmarks/bench_grading.py --n 20     # a quick look

Makes ``--n`` ps1 submissions (the reference solution, a partly done one and
the assignment's fingerprinted mistakes, in turn: a class of honest students)
and grades them twice:

* **plain nbgrader**: ``nbgrader autograde ps1`` in a scratch course, all
  students in one process -- the fastest way plain nbgrader grades a class
  (a process per student pays about 2.5 s for importing nbgrader each time),
  one student after the other, without sandbox, referee, feedback or export
  (``generate_assignment`` and copying the files into ``submitted/`` are not
  timed);
* **cnnlab-grade**: the one command on the folder of submissions, everything
  included and timed: collecting, generating the assignment, checking the
  instructor's solution in the sandbox (the first run on a machine), the
  sandboxed kernels, the referee, feedback, the gradebook and the export.

It prints submissions per minute, seconds per submission and the ratio.  The
machine may be shared: the load average is printed with the result, and the
order of the two runs can be swapped (``--order``) to see the drift.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def make_class(n: int, where: Path) -> list[str]:
    from cnnlab_grade.samples.make import samples

    honest = [s for s in samples() if s.student in ("correct", "partial") or s.student.startswith("mistake-")]
    names = []
    for i in range(n):
        s = honest[i % len(honest)]
        student = f"s{i:03d}"
        (where / student).mkdir(parents=True)
        nbformat.write(s.notebook, str(where / student / "ps1.ipynb"))
        names.append(student)
    return names


def _env():
    env = dict(os.environ)
    import cnnlab

    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(Path(cnnlab.__file__).resolve().parents[1]),
                                         env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def plain_nbgrader(subs: Path, students: list[str], work: Path, timeout: float) -> float:
    course = work / "plain"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.source_directory = {str(ROOT / 'source')!r}\n"
        "c.CourseDirectory.course_id = 'bench'\n"
        f"c.Execute.timeout = {int(timeout)}\n")
    env = _env()
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run(nbgrader + ["generate_assignment", "ps1", "--force"], cwd=course, env=env, check=True,
                   capture_output=True)
    for s in students:
        dest = course / "submitted" / s / "ps1"
        dest.mkdir(parents=True)
        shutil.copy(subs / s / "ps1.ipynb", dest / "ps1.ipynb")
    t = time.perf_counter()
    res = subprocess.run(nbgrader + ["autograde", "ps1", "--force"], cwd=course, env=env, capture_output=True,
                         text=True)
    seconds = time.perf_counter() - t
    graded = len(list((course / "autograded").glob("*/ps1/ps1.ipynb")))
    if graded != len(students):
        sys.exit(f"plain nbgrader graded {graded} of {len(students)} (exit {res.returncode}):\n{res.stderr[-3000:]}")
    return seconds


def tool(subs: Path, students: list[str], work: Path, timeout: float, workers: int) -> float:
    out = work / "tool"
    cmd = [sys.executable, "-m", "cnnlab_grade.cli", str(subs), "ps1", "--course", str(ROOT), "-o", str(out),
           "--quiet", "--cell-timeout", str(timeout)]
    if workers:
        cmd += ["--workers", str(workers)]
    t = time.perf_counter()
    res = subprocess.run(cmd, cwd=work, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - t
    graded = len(list((out / ".cnnlab-grade" / "results" / "ps1").glob("*.json")))
    if res.returncode != 0 or graded != len(students):
        sys.exit(f"cnnlab-grade graded {graded} of {len(students)} (exit {res.returncode}):\n"
                 f"{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
    return seconds


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100, help="number of submissions (default 100)")
    p.add_argument("--workers", type=int, default=0, help="cnnlab-grade workers (default: the cores)")
    p.add_argument("--cell-timeout", type=float, default=60, help="per-cell limit for both (default 60 s)")
    p.add_argument("--order", choices=["plain-first", "tool-first"], default="plain-first")
    p.add_argument("--keep", type=Path, default=None, help="keep the scratch directories here")
    args = p.parse_args(argv)
    if not (ROOT / "source" / "ps1" / "ps1.ipynb").is_file():
        sys.exit("source/ps1/ps1.ipynb not found: the benchmark grades ps1")
    work = Path(tempfile.mkdtemp(prefix="bench-grading-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    subs = work / "submissions"
    try:
        students = make_class(args.n, subs)
        load0 = os.getloadavg()
        runs = {}
        order = ["plain", "tool"] if args.order == "plain-first" else ["tool", "plain"]
        for which in order:
            if which == "plain":
                runs["plain"] = plain_nbgrader(subs, students, work, args.cell_timeout)
            else:
                runs["tool"] = tool(subs, students, work, args.cell_timeout, args.workers)
            print(f"  {which:5} done in {runs[which]:.1f} s", flush=True)
        load1 = os.getloadavg()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    n = len(students)
    cores = os.cpu_count()
    print(f"\n{n} ps1 submissions on {cores} cores (load average {load0[0]:.1f} before, {load1[0]:.1f} after)")
    print(f"{'':28}{'seconds':>9}{'s/submission':>14}{'submissions/min':>17}")
    for key, label in (("plain", "nbgrader autograde (1 proc)"), ("tool", "cnnlab-grade (all steps)")):
        s = runs[key]
        print(f"{label:28}{s:9.1f}{s / n:14.2f}{60 * n / s:17.1f}")
    ratio = runs["plain"] / runs["tool"]
    print(f"ratio: cnnlab-grade is {ratio:.2f}x plain nbgrader (target >= 2.3x)")
    return ratio


if __name__ == "__main__":
    main()
