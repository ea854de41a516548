"""The grader's parts on a toy course (tests/support/toy_course.py): the referee,
the notebook runner's fault handling, feedback, collecting, static checks, the CLI."""

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

import toy_course as toy
from cnnlab.checks.detect import source_findings
from cnnlab.checks.policy import Policy
from cnnlab_grade import feedback as fb
from cnnlab_grade.collect import CnnlabCollector, normalise_name
from cnnlab_grade.records import Limits
from cnnlab_grade.referee import Referee, RefereeSpec, SpecError, mirror_calls
from cnnlab_grade.sandbox import Sandbox, prepare_home, run_notebook, uid_slot
from cnnlab_grade.scan import split_files, suspicious_code

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- the referee

@pytest.fixture(scope="module")
def referee(tmp_path_factory):
    course = toy.make_course(tmp_path_factory.mktemp("toy"))
    spec = RefereeSpec.load(course / "autograder" / "referee" / "toy.toml", "toy")
    return Referee(spec, secret=1234, sandbox=Sandbox(Limits(cell_timeout=3, notebook_timeout=30)))


WRONG = "def double(x):\n    return 3 * np.asarray(x)\n"


@pytest.mark.parametrize("body, extra, passed, reason", [
    (None, [], True, None),
    (WRONG, [], False, "values off"),
    # the cheats do not reach the referee: it compares in its own process
    (WRONG, [(2, "import numpy\nnumpy.allclose = lambda *a, **k: True\nnumpy.isclose = lambda *a, **k: True")],
     False, "values off"),
    (WRONG, [(2, "get_ipython().ast_transformers.append(None)")], False, "values off"),
    ("class Liar(float):\n    def __eq__(self, o):\n        return True\n\ndef double(x):\n    return Liar(0)\n",
     [], False, "shape"),
    ("def double(x):\n    while True:\n        pass\n", [], False, "time limit"),
    ("def double(x):\n    import os\n    os._exit(3)\n", [], False, "crashed"),
    ("def double(x):\n    from cnnlab import ref\n    return 2 * x\n", [], False, "without cnnlab"),
    ("def dbl(x):\n    return 2 * x\n", [], False, "not defined"),
    # a line that continues a statement and starts with % is Python, not an IPython magic
    ("def double(x):\n    k = (2\n         % 3)\n    return k * np.asarray(x)\n", [], True, None),
    ("import cnnlab.ref as r  # a student comparing their work with the reference is fine\n\n"
     "def double(x):\n    return 2 * np.asarray(x)\n", [], True, None),
    # what the code says about itself does not count, only what it calls
    ('def double(x):\n    """Not cnnlab.ref, not scipy.signal.correlate2d: plain NumPy."""\n'
     '    # scipy.signal would be overkill\n    return 2 * np.asarray(x)\n', [], True, None),
])
def test_the_referee_judges_the_function_not_what_the_kernel_says(referee, tmp_path, body, extra, passed, reason):
    nb = toy.submission(body, extra)
    with uid_slot() as uid:
        verdict = referee.judge(nb, tmp_path / "ref", uid)["test_double"]
    assert (verdict.passed == verdict.total) is passed, verdict
    if reason:
        assert reason in verdict.reason
        assert "3.25" not in verdict.reason and "1234" not in verdict.reason  # no hidden values


LEAKY = ("def double(x):\n    x = np.asarray(x)\n    if x.size > 1:\n"
         "        raise ValueError('inputs: ' + ' '.join(str(int(v * 1000)) for v in x.ravel()))\n"
         "    return 2 * x\n")


def test_the_referees_inputs_are_drawn_per_student_and_run_and_never_echoed(referee, tmp_path):
    """What the student's code says about the hidden inputs (an exception's message, its class's
    name) never reaches the verdict; and the inputs differ between students and between runs."""
    nb = toy.submission(LEAKY)
    seeds = {}
    with uid_slot() as uid:
        for draw in ("ann:run1", "ann:run2", "ben:run1"):
            verdict = referee.judge(nb, tmp_path / draw.replace(":", "-"), uid, draw=draw)["test_double"]
            seeds[draw] = referee.input_seed("test_double")
            assert verdict.passed < verdict.total and "ValueError" in verdict.reason, verdict
            assert "inputs:" not in verdict.reason, verdict.reason
            check = referee.spec.checks["test_double"]
            for i in range(len(getattr(check, "cases", []))):
                for v in referee.case(check, i).values():
                    if isinstance(v, np.ndarray) and v.size > 1:
                        assert str(int(v.ravel()[0] * 1000)) not in verdict.reason
    assert len(set(seeds.values())) == 3, seeds


def test_a_spec_error_names_the_entry():
    with pytest.raises(SpecError, match="checks.t case 0: `x` must be a shape"):
        RefereeSpec.from_toml({"checks": {"t": {"call": "f(x)", "reference": "x", "arrays": ["x"],
                                                "cases": [{"x": 3}]}}}, "a", {})
    with pytest.raises(SpecError, match="unknown keys"):
        RefereeSpec.from_toml({"chekcs": {}}, "a", {})


def test_a_spec_names_its_policy_and_check_functions_that_take_a_guard():
    with pytest.raises(SpecError, match="forbid = 'numpi' is not a policy"):
        RefereeSpec.from_toml({"forbid": "numpi"}, "a", {})
    assert RefereeSpec.from_toml({"forbid": "numpy"}, "a", {}).policy.forbids("scipy.signal.correlate2d")
    assert RefereeSpec.from_toml({"forbid": ["cnnlab"]}, "a", {}).policy.modules == ("cnnlab",)
    test = "check_x(f, [1])\n### BEGIN HIDDEN TESTS\ncheck_x(f, [2], seed=3)\n### END HIDDEN TESTS"
    with pytest.raises(SpecError, match="'expect' has no `guard` argument"):
        RefereeSpec.from_toml({"imports": ["from cnnlab.checks import expect"],
                               "mirror": {"grade_ids": ["t"], "functions": ["expect"]}}, "a", {"t": test}, None, ["f"])
    with pytest.raises(SpecError, match="'check_nothing' is not a name"):
        RefereeSpec.from_toml({"mirror": {"grade_ids": ["t"], "functions": ["check_nothing"]}}, "a", {"t": test})


def test_mirrored_calls_get_the_referees_seed_and_skip_what_needs_the_tests_variables():
    src = ("k = np.ones(3)\ncheck_x(f, [k])\ncheck_x(f, cases(4, seed=7), seed=52361)\n"
           "### BEGIN HIDDEN TESTS\ncheck_y(g, [(1, 2)], seed=3)\n### END HIDDEN TESTS")
    calls, functions = mirror_calls(src, ["check_x", "check_y"], {"np", "cases", "check_x", "check_y"}, ["f", "g"])
    assert calls == ["check_x(f, cases(4, seed=7), seed=__seed__)", "check_y(g, [(1, 2)], seed=__seed__)"]
    assert functions == ["f", "g"]


def test_forbidden_calls_are_found_in_the_function_and_its_helpers_only():
    cells = [(0, "import numpy as np\nfrom torch.nn import functional as Q\nimport cnnlab.ref as r"),
             (1, "def helper(x, w):\n    return Q.conv2d(x, w)\n\ndef conv(x, w):\n    return helper(x, w)\n"),
             (2, "def clean(x, w):\n    return np.sum(x * w)\n"),
             (3, "print(r.conv2d(x, w))  # comparing with the reference, outside the answer: allowed")]
    forbidden = Policy.of_modules(["cnnlab", "torch.nn.functional"])
    assert source_findings(cells, "conv", forbidden) == ["torch.nn.functional"]
    assert source_findings(cells, "clean", forbidden) == []
    inner = [(0, "def f(x):\n    import cnnlab.ref\n    return cnnlab.ref.conv2d(x, x)\n")]
    assert source_findings(inner, "f", forbidden) == ["cnnlab"]


# ---------------------------------------------------------------- running notebooks

def test_faults_are_graded_as_far_as_they_go(tmp_path):
    """A dead kernel costs its cell; the cells after it run in a fresh kernel;
    a flood of output is cut; a notebook past its time limit has its test cells marked."""
    nb = toy.source_notebook()
    cells = nb.cells
    cells.insert(3, nbformat.v4.new_code_cell("print('x' * 3_000_000)"))
    cells.insert(4, nbformat.v4.new_code_cell("import os; os.kill(os.getpid(), 9)"))
    cells.append(nbformat.v4.new_code_cell("import time; time.sleep(60)"))  # runs into the notebook limit
    late_test = nbformat.v4.new_code_cell("assert True")
    late_test.metadata.nbgrader = {"grade": True, "solution": False, "locked": True, "grade_id": "late",
                                   "points": 1, "schema_version": 3}
    cells.append(late_test)
    sb = Sandbox(Limits(cell_timeout=30, notebook_timeout=12, output_bytes=100_000))
    with uid_slot() as uid:
        prepare_home(tmp_path / "home", {}, uid=uid)
        faults = run_notebook(nb, sandbox=sb, home=tmp_path / "home", uid=uid, rundir=tmp_path / "run")
    kinds = [f.kind for f in faults]
    assert kinds[:3] == ["output-truncated", "kernel-died", "kernel-restarted"]
    # the test after the dead kernel ran, in the fresh kernel, with the earlier cells replayed
    assert not [o for o in cells[5].outputs if o.get("output_type") == "error"], cells[5].outputs
    assert kinds[-2:] == ["cell-timeout", "notebook-timeout"]  # the sleep used up the notebook's time
    assert [o.get("ename") for o in cells[-1].outputs] == ["NotRun"]  # so the last test scores 0


# ---------------------------------------------------------------- feedback

def test_feedback_shows_scores_and_hides_hidden_tests():
    graded = toy.source_notebook()
    test = graded.cells[3]
    test.outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="hidden-secret-message",
        traceback=["\x1b[0;31mAssertionError\x1b[0m", "Cell In[4], line 4", toy.hidden_lines()[1]])]
    reason = fb.failure_reason(test, toy.hidden_lines())
    assert reason == "a hidden test failed (AssertionError)"
    q = {"test_double": {"score": 0.0, "max": 2.0, "reason": reason}}
    html = fb.render(fb.feedback_notebook(graded, q, ["late by 2 h"], toy.hidden_lines()), notebook="toy",
                     score=0.0, max_score=2.0)
    assert "Score: 0.0 / 2.0" in html and "a hidden test failed" in html and "late by 2 h" in html
    for line in toy.hidden_lines() + ["hidden-secret-message", "3.25"]:
        assert line not in html
    # an error on a visible line is shown (redacted of hidden lines, if its message quotes one)
    test.outputs[0]["traceback"] = ["Cell In[4], line 1"]
    test.outputs[0]["evalue"] = "oops " + toy.hidden_lines()[0]
    assert fb.failure_reason(test, toy.hidden_lines()) == "line 1 of the test: AssertionError: oops [hidden test]"


# ---------------------------------------------------------------- collecting

@pytest.mark.parametrize("path, student, file_id", [
    ("alice/toy.ipynb", "alice", "toy.ipynb"),
    ("alice/toy/toy.ipynb", "alice", "toy.ipynb"),
    ("alice/data/points.csv", "alice", "data/points.csv"),
    ("bob_toy.ipynb", "bob", "toy.ipynb"),
    ("bob_20251007T093000Z_toy.ipynb", "bob", "toy.ipynb"),
    ("carol/TOY (2).ipynb", "carol", "toy.ipynb"),
    ("Jane Doe/toy-1.ipynb", "Jane_Doe", "toy.ipynb"),
    ("readme.txt", None, None),
])
def test_the_collector_reads_the_usual_layouts(tmp_path, path, student, file_id):
    root = tmp_path / "extracted"
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text("{}")
    (root / "zed").mkdir(exist_ok=True)  # a second entry, so the root is the class
    plugin = CnnlabCollector(notebooks=["toy"], root=str(root), assignment="toy")
    info = plugin.collect(str(root / path))
    if student is None:
        assert info is None and plugin.unmatched
    else:
        assert (info["student_id"], info["file_id"]) == (student, file_id)
    assert normalise_name("Toy (1)") == "toy"


def test_python_files_beside_the_notebook_are_quarantined():
    assert split_files(["numpy.py", "cnnlab/checks.py", "data.csv", ".pth", "lib.so"]) == (
        ["data.csv"], [".pth", "cnnlab/checks.py", "lib.so", "numpy.py"])


@pytest.mark.parametrize("code, finding", [
    ("get_ipython().ast_transformers.append(t)", "AST transformer"),
    ("get_ipython().input_transformers_cleanup.append(t)", "input transformer"),
    ("import numpy as np\nnp.allclose = lambda *a: True", "replaces np.allclose"),
    ("import cnnlab.checks as g\nsetattr(g, 'check_x', None)", "replaces an attribute of g"),
    ("open('../../../source/ps1/ps1.ipynb')", "course files"),
    ("class A:\n    def __eq__(self, o):\n        return True", "defines __eq__"),
    ("import sys\ndel sys.modules['cnnlab']", "removes modules"),
    ("raise SystemExit", "SystemExit"),
])
def test_suspicious_code_is_pointed_out(code, finding):
    found = suspicious_code([(3, code)])
    assert found and finding in found[0] and "cell 3" in found[0]


def test_ordinary_code_is_not_suspicious():
    assert suspicious_code([(0, "import numpy as np\ndef f(x):\n    return np.sum(x == 1)\nprint(f(np.ones(3)))")]) == []


# ---------------------------------------------------------------- the command

def _cli(*args, env=None, cwd=None):
    e = dict(os.environ)
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e.get('PATH', '')}"
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "cnnlab_grade.cli", *args], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=600)


def test_help_speaks_to_a_ta():
    out = _cli("--help").stdout
    for word in ("LMS export", "--workers", "--dask", "--force", "--unsafe", "--due", "grades.csv", "feedback"):
        assert word in out


def test_bad_arguments_are_named(tmp_path):
    course = toy.make_course(tmp_path / "course")
    res = _cli(str(tmp_path / "nowhere.zip"), "toy", "--course", str(course), "-o", str(tmp_path / "g"))
    assert res.returncode == 2 and "nowhere.zip does not exist" in res.stderr
    (tmp_path / "subs").mkdir()
    res = _cli(str(tmp_path / "subs"), "ps9", "--course", str(course), "-o", str(tmp_path / "g"))
    assert res.returncode == 2 and "ps9 not found" in res.stderr and "known: toy" in res.stderr
    res = _cli(str(tmp_path / "subs"), "--memory", "lots", "--course", str(course))
    assert res.returncode == 2 and "--memory" in res.stderr


def test_without_the_sandbox_grading_refuses_unless_unsafe(tmp_path):
    course = toy.make_course(tmp_path / "course")
    subs = tmp_path / "subs"
    (subs / "ann").mkdir(parents=True)
    nbformat.write(toy.submission(), str(subs / "ann" / "toy.ipynb"))
    (subs / "ben").mkdir()
    nbformat.write(toy.submission(WRONG), str(subs / "ben" / "toy.ipynb"))
    env = {"CNNLAB_GRADE_BWRAP": "/nonexistent/bwrap"}
    res = _cli(str(subs), "toy", "--course", str(course), "-o", str(tmp_path / "g"), env=env)
    assert res.returncode == 3
    assert "Refusing to grade: bubblewrap is not installed" in res.stderr and "--unsafe" in res.stderr
    assert not (tmp_path / "g" / "gradebook.db").exists()
    res = _cli(str(subs), "toy", "--course", str(course), "-o", str(tmp_path / "g"), "--unsafe", "--quiet", env=env)
    assert res.returncode == 0, res.stderr
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "g" / "export" / "toy" / "grades.csv"))}
    assert (rows["ann"]["test_double"], rows["ben"]["test_double"]) == ("2", "0")


def test_links_in_an_export_are_never_followed_and_every_student_keeps_a_row(tmp_path):
    """A link beside a notebook (to the instructor's source) and a notebook that is itself a link,
    in a folder export and in a zip (link members): none is read; each is flagged by name, and the
    student whose only file was a link still gets a row with 0 points."""
    course = toy.make_course(tmp_path / "course")
    source = next((course / "source").rglob("*.ipynb"))
    folder = tmp_path / "export"
    (folder / "ann").mkdir(parents=True)
    (folder / "carl").mkdir()
    nbformat.write(toy.submission(WRONG), folder / "ann" / "toy.ipynb")
    os.symlink(source, folder / "ann" / "solution.ipynb")
    os.symlink(source, folder / "carl" / "toy.ipynb")
    zipped = tmp_path / "export.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("export/ann/toy.ipynb", nbformat.writes(toy.submission(WRONG)))
        for name in ("export/ann/solution.ipynb", "export/carl/toy.ipynb"):
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777) << 16      # a symbolic link member
            zf.writestr(info, str(source))
    for export in (folder, zipped):
        out = tmp_path / f"g-{export.suffix or 'folder'}"
        res = _cli(str(export), "toy", "--course", str(course), "-o", str(out), "--quiet", "--cell-timeout", "20")
        assert res.returncode == 0, res.stdout + res.stderr
        rows = {r["student_id"]: r for r in csv.DictReader(open(out / "export" / "toy" / "grades.csv"))}
        assert set(rows) == {"ann", "carl"}, rows
        assert rows["ann"]["total"] == "0" and rows["ann"]["flags"] == "refused-file"
        assert rows["carl"]["total"] == "0" and set(rows["carl"]["flags"].split(";")) == {"empty", "refused-file"}
        result = json.loads((out / ".cnnlab-grade" / "results" / "toy" / "carl.json").read_text())
        assert "toy.ipynb" in json.dumps(result) and "link" in json.dumps(result)
        submitted = out / "submitted"
        assert not [p for p in submitted.rglob("*") if p.is_symlink() or p.name == "solution.ipynb"]


FORGED_REPLY = """import os, struct, sys

def double(x):
    try:   # in the referee's worker, argv[2] is its reply pipe: a reply nested too deep to decode
        nested = b"[" * 200000 + b"]" * 200000
        os.write(int(sys.argv[2]), struct.pack(">I", len(nested)) + nested)
    except (IndexError, ValueError, OSError):
        pass
    return 2 * x
"""


def test_a_submission_that_breaks_the_referee_or_its_grading_still_gets_a_row(tmp_path):
    """A forged reply nested too deep to decode costs the question, not the student's row; and a
    submission whose grading fails outright gets 0 points, `could-not-grade` with the reason,
    and is tried again by the next run."""
    from cnnlab_grade.assignment import make_bundle
    from cnnlab_grade.course import Course
    from cnnlab_grade.gradedir import GradingDir
    from cnnlab_grade.jobs import gather_jobs
    from cnnlab_grade.pipeline import EXPORT, could_not_grade
    from cnnlab_grade.records import Job, Options

    course = toy.make_course(tmp_path / "course")
    export = tmp_path / "export"
    for student, body in (("forger", FORGED_REPLY), ("ok", None)):
        (export / student).mkdir(parents=True)
        nbformat.write(toy.submission(body), export / student / "toy.ipynb")
    out = tmp_path / "g"
    res = _cli(str(export), "toy", "--course", str(course), "-o", str(out), "--quiet", "--cell-timeout", "20")
    assert res.returncode == 0, res.stdout + res.stderr
    rows = {r["student_id"]: r for r in csv.DictReader(open(out / "export" / "toy" / "grades.csv"))}
    assert set(rows) == {"forger", "ok"} and rows["ok"]["total"] == "2"
    assert rows["forger"]["total"] == "0"

    gdir = GradingDir(out, Course.find(course))
    opts = Options(limits={"cell_timeout": 20.0})     # as given on the command line above
    bundle = make_bundle(gdir, "toy", opts)
    files = {"toy.ipynb": (export / "ok" / "toy.ipynb").read_bytes()}
    job = Job("toy", "ok", files, None, Job.hash_files(files, None))
    result = could_not_grade(job, bundle, "the worker died")
    assert result["score"] == 0 and [f["flag"] for f in result["flags"]] == ["could-not-grade"]
    assert "the worker died" in result["flags"][0]["reason"]
    assert all(q["score"] == 0 for q in result["notebooks"]["toy"]["questions"].values())
    export_stage = EXPORT(gdir, Options())
    export_stage.record(result, bundle)
    export_stage.close()
    graded = gdir.result_path("toy", "forger")   # graded under this bundle too
    graded.write_text(json.dumps({**json.loads(graded.read_text()), "bundle": bundle.fingerprint()}))
    todo, done = gather_jobs(gdir, "toy", bundle, opts)
    assert [j.student for j in todo] == ["ok"] and done == ["forger"], "a could-not-grade student is graded again"


NOISY = """import sys, warnings

def double(x):
    print("debug: doubling", x, file=sys.stderr)
    warnings.warn("this is fine")
    return 2 * np.asarray(x)
"""


def test_stderr_and_warnings_from_the_students_code_cost_nothing(tmp_path):
    """nbgrader zeroes a test cell with stderr output; here the writer is the student's code,
    and the test passed: full marks, no flag, the text kept in the graded notebook."""
    course = toy.make_course(tmp_path / "course")
    export = tmp_path / "export"
    (export / "noisy").mkdir(parents=True)
    (export / "wrong").mkdir()
    nbformat.write(toy.submission(NOISY), export / "noisy" / "toy.ipynb")
    nbformat.write(toy.submission("import sys\n" + WRONG.replace("return", "print('x', file=sys.stderr)\n    return")),
                   export / "wrong" / "toy.ipynb")
    out = tmp_path / "g"
    res = _cli(str(export), "toy", "--course", str(course), "-o", str(out), "--quiet", "--cell-timeout", "20")
    assert res.returncode == 0, res.stdout + res.stderr
    rows = {r["student_id"]: r for r in csv.DictReader(open(out / "export" / "toy" / "grades.csv"))}
    assert rows["noisy"]["total"] == "2" and rows["noisy"]["flags"] == "", rows["noisy"]
    assert rows["wrong"]["total"] == "0", "a failing test still fails"
    graded = (out / "autograded" / "noisy" / "toy" / "toy.ipynb").read_text()
    assert "debug: doubling" in graded and "this is fine" in graded


def test_a_zip_export_grades_like_the_folder(tmp_path):
    """An LMS zip (with its own top folder and a timestamps.csv), late flags and a renamed file."""
    course = toy.make_course(tmp_path / "course")
    export = tmp_path / "toy-export.zip"
    with zipfile.ZipFile(export, "w") as zf:
        zf.writestr("export/ann/toy.ipynb", nbformat.writes(toy.submission()))
        zf.writestr("export/ben/Toy (1).ipynb", nbformat.writes(toy.submission(WRONG)))
        zf.writestr("export/timestamps.csv", "student_id,timestamp\nann,2025-10-01T10:00:00Z\n"
                                             "ben,2025-10-09T10:00:00Z\n")
    res = _cli(str(export), "toy", "--course", str(course), "-o", str(tmp_path / "g"), "--due",
               "2025-10-06T23:59:00Z", "--quiet", "--cell-timeout", "20")
    assert res.returncode == 0, res.stdout + res.stderr
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "g" / "export" / "toy" / "grades.csv"))}
    assert rows["ann"]["total"] == "2" and rows["ann"]["flags"] == ""
    assert rows["ben"]["total"] == "0" and rows["ben"]["flags"] == "late;renamed"
    result = json.loads((tmp_path / "g" / ".cnnlab-grade" / "results" / "toy" / "ben.json").read_text())
    assert "values off" in result["notebooks"]["toy"]["questions"]["test_double"]["reason"]
