"""The sample class (autograder/samples/ps1, made by autograder/make_samples.py)
graded end to end with the one command, as the README's TA section shows:
every student's exact score and flags, the gradebook, feedback without hidden
tests, the export, reruns, interruptions and a Dask cluster.

The class is graded once per session (a module fixture); per-cell limits
are short so that the infinite loop and the fork bomb cost little.
"""

import csv
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnlab_grade.gradebook import snapshot

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "autograder" / "samples" / "ps1"
EXPECTED = json.loads((ROOT / "autograder" / "samples" / "ps1.expected.json").read_text())
STUDENTS = EXPECTED["students"]
# 20 s per cell: an honest cell takes 1-3 s, but up to 10 s on a loaded 2-core machine
LIMITS = ["--cell-timeout", "20", "--notebook-timeout", "120"]

pytestmark = pytest.mark.slow


def cli(*args, timeout=900, **kw):
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([sys.executable, "-m", "cnnlab_grade.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("grading")
    t = time.perf_counter()
    res = cli(SAMPLES, "ps1", "-o", out, "--due", EXPECTED["due"], *LIMITS, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    print(f"\nsample class graded in {time.perf_counter() - t:.0f} s")
    return out, res


def rows(out, assignment="ps1"):
    with open(out / "export" / assignment / "grades.csv") as fh:
        return {r["student_id"]: r for r in csv.DictReader(fh)}


def test_the_sample_class_is_generated_by_its_script(tmp_path):
    """The committed samples are what make_samples.py writes (no hand edits)."""
    res = subprocess.run([sys.executable, str(ROOT / "autograder" / "make_samples.py"), "--out", tmp_path / "ps1"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert res.returncode == 0, res.stderr
    def entries(root):   # files, and links as links (the symlink cheat's point at source/ and a classmate)
        return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() or p.is_symlink())

    made, committed = entries(tmp_path / "ps1"), entries(SAMPLES)
    assert made == committed
    assert any((SAMPLES / rel).is_symlink() for rel in committed)
    for rel in made:
        a, b = tmp_path / "ps1" / rel, SAMPLES / rel
        if a.is_symlink() or b.is_symlink():
            assert a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b), rel
        else:
            assert a.read_bytes() == b.read_bytes(), rel
    assert json.loads((tmp_path / "ps1.expected.json").read_text()) == EXPECTED


@pytest.mark.parametrize("student", sorted(STUDENTS))
def test_each_student_gets_the_expected_score_and_flags(graded, student):
    out, _ = graded
    expected = STUDENTS[student]
    row = rows(out)[student]
    zeros = [q for q in row if q.startswith("q") and float(row[q] or 0) == 0]
    flags = sorted(f for f in row["flags"].split(";") if f)
    assert (float(row["total"]), zeros, flags) == (expected["score"], expected["fails"], expected["flags"]), \
        f"{student} ({expected['what']})"


def test_every_submission_was_graded_once_and_the_gradebook_agrees(graded):
    out, res = graded
    table = rows(out)
    assert sorted(table) == sorted(STUDENTS)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        subs = gb.assignment_submissions("ps1")
        assert sorted(s.student_id for s in subs) == sorted(STUDENTS)
        for s in subs:
            assert float(table[s.student_id]["total"]) == s.score - (s.late_submission_penalty or 0)
    assert f"graded {len(STUDENTS)}," in res.stdout


def test_nbgraders_own_export_works_on_the_grading_directory(graded):
    out, _ = graded
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    res = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", str(out / "nbgrader.csv")], cwd=out,
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    with open(out / "nbgrader.csv") as fh:
        totals = {r["student_id"]: float(r["score"]) for r in csv.DictReader(fh)}
    assert totals == {s: float(r["total"]) for s, r in rows(out).items()}


def test_feedback_has_the_scores_and_no_hidden_test(graded):
    out, _ = graded
    master = snapshot(f"sqlite:///{out / 'gradebook.db'}", "ps1")
    hidden = master.notebooks["ps1"].hidden_lines()
    seeds = set(re.findall(r"seed=(\d+)", " ".join(hidden)))
    assert len(hidden) > 10 and seeds
    table = rows(out)
    for student in STUDENTS:
        page = out / "feedback" / student / "ps1" / "ps1.html"
        if STUDENTS[student]["flags"] in (["empty"], ["invalid-notebook"]):
            assert not page.exists()
            continue
        assert "cdnjs" not in page.read_text() and (page.parent / "mathjax" / "tex-mml-chtml.js").is_file()
        text = html.unescape(re.sub(r"<[^>]+>", " ", page.read_text()))
        assert f"ps1 (Score: {float(table[student]['total'])} / 15.0)" in re.sub(r"\s+", " ", text)
        for line in hidden:
            assert line not in text, (student, line)
        for seed in seeds:
            assert not re.search(rf"\b{seed}\b", text), (student, seed)
    mistake = (out / "feedback" / "mistake-flipped-kernel" / "ps1" / "ps1.html").read_text()
    assert "the filter is flipped" in html.unescape(mistake)  # the fingerprint's diagnosis reaches the student


def test_the_report_lists_the_flagged_submissions(graded):
    out, res = graded
    where = out / "export" / "ps1"
    for name in ("report.html", "histogram.png", "pass_rates.png", "flagged.csv"):
        assert (where / name).stat().st_size > 500
    with open(where / "flagged.csv") as fh:
        flagged = {(r["student_id"], r["flag"]) for r in csv.DictReader(fh)}
    assert flagged == {(s, f) for s, e in STUDENTS.items() for f in e["flags"]}
    report = (where / "report.html").read_text()
    assert "cheat-input-transformer" in report and "tampered" in report
    assert "grades.csv" in res.stdout and "report.html" in res.stdout


def test_a_rerun_is_idempotent_and_force_regrades(graded, tmp_path):
    out, _ = graded
    before = (out / "export" / "ps1" / "grades.csv").read_text()
    res = cli(SAMPLES, "ps1", "-o", out, "--due", EXPECTED["due"], *LIMITS, "--quiet", cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert f"graded 0, already graded {len(STUDENTS)}" in res.stdout
    assert (out / "export" / "ps1" / "grades.csv").read_text() == before
    stamp = (out / ".cnnlab-grade" / "results" / "ps1" / "late.json").stat().st_mtime_ns
    res = cli(SAMPLES, "ps1", "-o", out, "--due", EXPECTED["due"], *LIMITS, "--quiet", "--force",
              "--student", "correct", cwd=ROOT)
    assert res.returncode == 0 and "graded 1," in res.stdout
    assert (out / ".cnnlab-grade" / "results" / "ps1" / "late.json").stat().st_mtime_ns == stamp
    assert (out / "export" / "ps1" / "grades.csv").read_text() == before


def test_planted_copies_rank_above_every_independent_pair_and_nothing_is_deducted(graded):
    """The similarity report of the class: every pair of the copies planted from one honest
    solution (renamed, reordered, reformatted, comments changed) ranks above every pair of
    solutions written independently; the copies are flagged there, no independent pair is,
    and the copies keep full marks and no grading flag."""
    from cnnlab_grade.samples.copies import INDEPENDENT, PLANTED

    out, res = graded
    with open(out / "export" / "ps1" / "similarity.csv") as fh:
        ranked = list(csv.DictReader(fh))
    rank = {frozenset((r["student_a"], r["student_b"])): (int(r["rank"]), r["flagged"]) for r in ranked}
    planted = [frozenset((a, b)) for i, a in enumerate(PLANTED) for b in PLANTED[i + 1:]]
    independent = [frozenset((a, b)) for i, a in enumerate(INDEPENDENT) for b in INDEPENDENT[i + 1:]]
    assert all(rank[p][1] == "yes" for p in planted), "every planted pair is flagged"
    worst_planted = max(rank[p][0] for p in planted)
    for p in independent:
        if p in rank:                    # a pair with nothing in common is not listed at all
            assert rank[p][0] > worst_planted and rank[p][1] == "", (sorted(p), rank[p])
    page = (out / "export" / "ps1" / "similarity.html").read_text()
    assert "never changes a grade" in page and "copy-disguised" in page
    pair_pages = list((out / "export" / "ps1" / "similarity").glob("*copy-disguised*.html"))
    assert pair_pages and "<mark>" in pair_pages[0].read_text()
    assert "similarity:" in res.stdout and "no grade changed" in res.stdout
    graded_rows = rows(out)
    for s in PLANTED + INDEPENDENT:
        assert graded_rows[s]["total"] == graded_rows[s]["max_score"] and graded_rows[s]["flags"] == "", s


SUBSET = ["correct", "mistake-flipped-kernel", "cheat-ast-transformer", "malformed", "late", "partial"]


def _subset(tmp_path):
    subs = tmp_path / "subset"
    for s in SUBSET:
        shutil.copytree(SAMPLES / s, subs / s)
    shutil.copy(SAMPLES / "timestamps.csv", subs / "timestamps.csv")
    return subs


def _start(subs, out, log, marker):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               CNNLAB_TEST_MARKER=marker)
    fh = open(log, "w")
    # one worker: at most one student is in flight when the signal comes, so a run stopped after
    # n results has at most n + 1 (with two, a fast pair could finish the subset before the signal)
    return subprocess.Popen([sys.executable, "-m", "cnnlab_grade.cli", str(subs), "ps1", "-o", str(out),
                             "--due", EXPECTED["due"], *LIMITS, "--quiet", "-j", "1"], cwd=ROOT, env=env, stdout=fh,
                            stderr=subprocess.STDOUT), fh


def test_an_interrupted_run_resumes_without_regrading(tmp_path):
    """Ctrl-C, then kill -9, then a run to the end: no student graded twice, none lost."""
    subs, out = _subset(tmp_path), tmp_path / "out"
    results = out / ".cnnlab-grade" / "results" / "ps1"
    marker = f"interrupted-{os.getpid()}"
    done: dict = {}
    for n, how in ((2, signal.SIGINT), (4, signal.SIGKILL)):
        proc, fh = _start(subs, out, tmp_path / f"run-{how}.log", marker)
        deadline = time.time() + 300
        while time.time() < deadline and len(list(results.glob("*.json"))) < n:
            time.sleep(0.2)
        pids = [pid for pid, _ in _processes_with(marker, pids=True)]
        proc.send_signal(how)
        for _ in range(20):   # Ctrl-C again if the first one went unnoticed, as a TA would
            try:
                proc.wait(timeout=120 if how == signal.SIGKILL else 3)
                break
            except subprocess.TimeoutExpired:
                proc.send_signal(how)
        proc.wait(timeout=120)
        fh.close()
        now = {p.stem: p.stat().st_mtime_ns for p in results.glob("*.json")}
        assert n <= len(now) < len(SUBSET), "interrupted too late to test anything"
        assert all(now[s] == t for s, t in done.items()), "a student was graded again"
        done = now
        if how == signal.SIGINT:
            assert proc.returncode == 130
            assert "run the same command again" in (tmp_path / f"run-{how}.log").read_text()
        # nothing of the interrupted run is left (workers, fork server, kernel zygotes, sandboxes); on a
        # loaded machine the fork server takes a moment to see that its parent is gone
        left = _processes_with(marker)
        for _ in range(60):
            if not left:
                break
            time.sleep(0.5)
            left = _processes_with(marker)
        assert left == []
        deadline = time.time() + 15   # nor its folders in /run and /tmp, its tmpfs mounts, its cgroups
        while _left_behind(pids) and time.time() < deadline:
            time.sleep(0.5)
        assert _left_behind(pids) == []
    res = cli(subs, "ps1", "-o", out, "--due", EXPECTED["due"], *LIMITS, "--quiet", cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert f"already graded {len(done)}," in res.stdout
    for s, mtime in done.items():
        assert (results / f"{s}.json").stat().st_mtime_ns == mtime, f"{s} was graded again"
    table = rows(out)
    assert sorted(table) == sorted(SUBSET)
    for s in SUBSET:
        assert float(table[s]["total"]) == STUDENTS[s]["score"]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        assert sorted(x.student_id for x in gb.assignment_submissions("ps1")) == sorted(SUBSET)


def _processes_with(marker: str, pids: bool = False) -> list:
    found = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and f"CNNLAB_TEST_MARKER={marker}".encode() in (p / "environ").read_bytes():
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
                found.append((int(p.name), cmd) if pids else cmd)
        except OSError:
            pass
    return found


def _left_behind(pids) -> list[str]:
    """What the grading processes ``pids`` left: zygote and job folders, tmpfs mounts, cgroups."""
    import tempfile

    from cnnlab_grade.sandbox import cgroup

    left = []
    mounts = Path("/proc/self/mountinfo").read_text()
    for pid in pids:
        for place in (Path("/run"), Path(tempfile.gettempdir())):
            left += [str(p) for p in place.glob(f"cnnlab-grade-zygote-{pid}-*")]
            left += [str(p) for p in place.glob(f"cnnlab-grade-job-{pid}-*")]
        if f"cnnlab-grade-zygote-{pid}-" in mounts:
            left.append(f"a tmpfs mount of {pid}")
        h = cgroup.hierarchy()
        for base in (h.bases.values() if h else []):
            left += [str(p) for p in base.glob(f"*{pid}-*") if re.fullmatch(rf"[a-z]+{pid}-[0-9a-f]+-\d+", p.name)]
    return left


def test_a_dask_cluster_grades_the_same(tmp_path):
    from distributed import LocalCluster

    subs, out = _subset(tmp_path), tmp_path / "out"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        res = cli(subs, "ps1", "-o", out, "--due", EXPECTED["due"], *LIMITS, "--quiet", "--dask",
                  cluster.scheduler_address, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    table = rows(out)
    for s in SUBSET:
        flags = sorted(f for f in table[s]["flags"].split(";") if f)
        assert (float(table[s]["total"]), flags) == (STUDENTS[s]["score"], STUDENTS[s]["flags"]), s
