"""The assignments themselves: sources, released notebooks, hidden tests,
fingerprinted mistakes, and a real nbgrader round trip.

Fast tests run the notebooks' cells in this process (as a kernel would);
the slow ones run ``nbgrader generate_assignment`` and ``nbgrader autograde``
in a scratch course, grading many submissions per call.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

import nbharness as h
from cnnlab_grade.samples.mistakes import ALL as MISTAKES

from cnnlab.checks import questions

PS = h.existing()


def test_all_four_assignments_exist():
    assert PS == list(h.ASSIGNMENTS), f"missing source notebooks: {sorted(set(h.ASSIGNMENTS) - set(PS))}"


# ---------------------------------------------------------------- structure

@pytest.mark.parametrize("ps", PS)
@pytest.mark.parametrize("where", ["source", "release"])
def test_notebooks_are_committed_without_outputs(ps, where):
    nb = h.source_nb(ps) if where == "source" else h.released_nb(ps)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{where}/{ps}: a code cell has outputs; clear them before committing"


@pytest.mark.parametrize("ps", PS)
def test_grade_cells_carry_the_points_of_the_spec(ps):
    nb = h.source_nb(ps)
    cells = {h.nbg(c)["grade_id"]: h.nbg(c).get("points") for c in nb.cells if h.nbg(c).get("grade")}
    spec = {q.id: q.points for q in questions(ps)}
    assert cells == spec


@pytest.mark.parametrize("ps", PS)
def test_each_test_cell_has_visible_and_hidden_tests(ps):
    for cell in h.source_nb(ps).cells:
        meta = h.nbg(cell)
        if meta.get("grade") and cell.cell_type == "code":
            assert "### BEGIN HIDDEN TESTS" in cell.source, f"{meta['grade_id']} has no hidden tests"
            visible = h._HIDDEN.sub("", cell.source)
            assert f'@question("{meta["grade_id"]}")' in visible, f"{meta['grade_id']} has no visible test"


def _hidden_lines(ps):
    for cell in h.source_nb(ps).cells:
        for block in h._HIDDEN.finditer(cell.source):
            for line in block.group(0).splitlines():
                line = line.strip()
                if line and not line.startswith("###") and line not in ("])", ")", "],", "cases=["):
                    yield line


@pytest.mark.parametrize("ps", PS)
def test_hidden_tests_never_appear_in_the_released_notebook(ps):
    text = (h.RELEASE / ps / f"{ps}.ipynb").read_text()
    released = "\n".join(c.source for c in h.released_nb(ps).cells)
    lines = {line.strip() for line in released.splitlines()}
    assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    leaked = [line for line in _hidden_lines(ps) if line in lines]
    assert not leaked, f"hidden test lines in the released notebook: {leaked[:3]}"
    for seed in re.findall(r"seed=(\d+)", "\n".join(_hidden_lines(ps))):
        assert f"seed={seed}" not in released


# ---------------------------------------------------------------- in process

@pytest.mark.parametrize("ps", PS)
def test_reference_solution_passes_every_test_in_process(ps):
    res = h.run_in_process(h.submission(ps, graded=True))
    failed = {g: r.output[-800:] for g, r in res.items() if not r.passed}
    assert not failed
    assert set(res) == {q.id for q in questions(ps) if not q.manual}


@pytest.mark.parametrize("ps", PS)
def test_released_notebook_fails_every_test_cleanly_in_process(ps):
    res = h.run_in_process(h.submission(ps, blank=True, graded=True))
    for gid, r in res.items():
        assert not r.passed, gid
        # not written yet, or (for a test of a trained network) the network was never made
        assert r.error in ("NotWritten", "NotImplementedError", "NameError"), (gid, r.output[-500:])


_DECIMAL = re.compile(r"\d\.\d{3,}")


def _hidden_numbers(ps):
    """Seeds of the hidden tests (a message must not print them)."""
    return set(re.findall(r"seed=(\d+)", "\n".join(_hidden_lines(ps))))


def _expected_message(w):
    if w.message:
        return w.message
    return f"Most likely: {_TITLES[w.key]}"


def _titles():
    from cnnlab.checks import conv, convolve, im2col, pool, size
    out = {}
    groups = [conv.conv_mistakes(), conv.grouped_mistakes(), im2col.im2col_mistakes(), convolve.convolve_mistakes(),
              pool.max_pool_mistakes(), pool.avg_pool_mistakes(), pool.max_pool_backward_mistakes(),
              pool.avg_pool_backward_mistakes(), *pool.conv_backward_mistakes().values()]
    for group in groups:
        for m in group:
            out.setdefault(m.key, m.title)
    for key, title, _hint, _rule in size.SIZE_MISTAKES:
        out[key] = title
    for key, title, _hint, _pred in convolve._INVARIANCE_MISTAKES:
        out[key] = title
    try:
        from cnnlab.checks.nets import resnet, sequential
        from cnnlab.models import lenet5
    except ImportError:   # the model zoo is not there: the ps3/ps4 tests fail on their own
        return out
    for group in (sequential._lenet_variants(lenet5()), sequential._vgg_variants(sequential.small_vgg_reference()),
                  resnet._block_variants(resnet.basic_block_reference(4, 8, 2), 2)):
        for key, title, _hint, _fn in group:
            out.setdefault(key, title)
    return out


_TITLES = _titles()


def test_every_fingerprint_has_a_wrong_submission():
    covered = {w.key for w in MISTAKES}
    missing = sorted(set(_TITLES) - covered)
    assert not missing, f"fingerprints without a wrong submission in cnnlab_grade/samples/mistakes.py: {missing}"
    assert len(_TITLES) >= 8


def _exercised(ps):
    """{test cell: solution cells it exercises}, read off the mistakes table:
    a test depends on a cell when a mistake in that cell fails it."""
    dep = {}
    for w in MISTAKES:
        if w.ps == ps:
            for f in w.fails:
                dep.setdefault(f, set()).update({w.cell, *w.extra})
    return dep


def _pack(ps):
    """Wrong submissions of ``ps`` packed into students.  Mistakes share a
    student when they patch different cells, fail different questions, and no
    failing question of one exercises a cell the other patches."""
    dep = _exercised(ps)
    students = []
    ordered = sorted((w for w in MISTAKES if w.ps == ps), key=lambda w: w.key != "forbidden")
    for w in ordered:
        mine = {w.cell, *w.extra}
        my_reach = set().union(*(dep.get(f, set()) for f in w.fails))
        for s in students:
            cells = {c for m in s for c in (m.cell, *m.extra)}
            fails = {f for m in s for f in m.fails}
            reach = set().union(*(dep.get(f, set()) for m in s for f in m.fails))
            if not (mine & cells or fails & set(w.fails) or my_reach & cells or reach & mine):
                s.append(w)
                break
        else:
            students.append([w])
    return students


@pytest.mark.parametrize("ps, i", [(ps, i) for ps in PS for i in range(len(_pack(ps)))],
                         ids=lambda v: str(v))
def test_mistakes_fail_the_intended_questions_with_the_intended_messages(ps, i):
    """Each wrong submission fails exactly its questions (all others keep full marks), and the first
    failing question names the mistake.  Mistakes that cannot interact share one submission."""
    pack = _pack(ps)[i]
    patches = {}
    for w in pack:
        patches[w.cell] = w.patches
        patches.update(w.extra)
    res = h.run_in_process(h.submission(ps, patches, graded=True))
    failed = {g for g, r in res.items() if not r.passed}
    want = {f for w in pack for f in w.fails}
    assert failed == want, ([w.name for w in pack], {g: res[g].output[-600:] for g in failed ^ want})
    for w in pack:
        out = res[w.where or w.fails[0]].output
        assert _expected_message(w) in out, (w.name, out[-1200:])
        for gid in w.fails:   # no failure message prints hidden values or seeds
            text = res[gid].output
            assert not _DECIMAL.search(text.split("expected:")[0]), (w.name, text[-800:])
            assert not any(s in text for s in _hidden_numbers(ps)), (w.name, text[-800:])


# ---------------------------------------------------------------- nbgrader
#
# Every wrong submission above is graded in-process (the notebook's own cells,
# nbgrader's rule: a test cell that raises or writes to stderr scores 0).  The
# real nbgrader round trip below grades, per assignment, the solution, the
# blank release and AUTOGRADED students that each hold several mistakes (in
# different cells, failing different questions): one autograde call per
# assignment, the calls run two at a time.

# students with packed mistakes per assignment (ps3/ps4 train networks: fewer)
AUTOGRADED = {"ps1": 3, "ps2": 3, "ps3": 2, "ps4": 2}


def _write_submission(course, student, ps, nb):
    d = course / "submitted" / student / ps
    d.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(d / f"{ps}.ipynb"))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A scratch course: every assignment released by `nbgrader generate_assignment`,
    submissions written, and `nbgrader autograde` run for every assignment."""
    course = h.make_course(tmp_path_factory.mktemp("nbgrader"))
    r = h.nbgrader(course, "generate_assignment", "*", "--force")
    assert r.returncode == 0, r.stderr[-3000:]
    expected, packs = {}, {}
    for ps in PS:
        spec = {q.id: q.points for q in questions(ps) if not q.manual}
        expected[ps] = {"solution": dict(spec), "blank": {g: 0.0 for g in spec}}
        _write_submission(course, "solution", ps, h.submission(ps))
        _write_submission(course, "blank", ps, h.submission(ps, blank=True))
        packs[ps] = _pack(ps)[:AUTOGRADED.get(ps, 2)]
        for i, pack in enumerate(packs[ps]):
            patches = {}
            for w in pack:
                patches[w.cell] = w.patches
                patches.update(w.extra)
            _write_submission(course, f"wrong{i}", ps, h.submission(ps, patches))
            fails = {f for w in pack for f in w.fails}
            expected[ps][f"wrong{i}"] = {g: (0.0 if g in fails else p) for g, p in spec.items()}
    results = h.autograde_all(course, PS, parallel=2)
    return course, expected, packs, results


@pytest.mark.slow
@pytest.mark.parametrize("ps", PS)
def test_committed_release_is_what_generate_assignment_makes(course, ps):
    course = course[0]
    made = sorted(p.relative_to(course / "assignments" / ps) for p in (course / "assignments" / ps).rglob("*")
                  if p.is_file())
    committed = sorted(p.relative_to(h.RELEASE / ps) for p in (h.RELEASE / ps).rglob("*") if p.is_file())
    assert made == committed
    for rel in made:
        new, old = course / "assignments" / ps / rel, h.RELEASE / ps / rel
        if rel.suffix == ".ipynb":
            assert json.loads(new.read_text()) == json.loads(old.read_text()), (
                f"assignments/{ps}/{rel} differs from what `nbgrader generate_assignment {ps} --force` makes "
                "from source/: regenerate it (see README, For instructors)")
        else:
            assert new.read_bytes() == old.read_bytes(), rel


@pytest.mark.slow
@pytest.mark.parametrize("ps", PS)
def test_autograde_scores_solution_blank_and_mistakes(course, ps):
    course, expected, packs, results = course
    r = results[ps]
    assert r.returncode == 0, h.failure_log(r)
    got = h.grades(course, ps)
    manual = {q.id for q in questions(ps) if q.manual}
    for student, want in expected[ps].items():
        scores = {g: s for g, s in got[student].items() if g not in manual}
        assert scores == want, (student, [w.name for w in packs[ps][int(student[5:])]]
                                if student.startswith("wrong") else student)
    for i, pack in enumerate(packs[ps]):
        outputs = h.autograded_outputs(course, f"wrong{i}", ps)
        for w in pack:
            text = outputs[w.where or w.fails[0]]
            assert _expected_message(w) in text, (w.name, text[-1500:])
            assert not any(s in text.split("Traceback")[0] for s in _hidden_numbers(ps))


@pytest.mark.slow
@pytest.mark.parametrize("ps", PS)
def test_summary_cell_reports_each_question(course, ps):
    course = course[0]
    auto = [q for q in questions(ps) if not q.manual]
    good = h.autograded_outputs(course, "solution", ps)["summary"]
    points = sum(q.points for q in auto)
    assert f"visible tests pass for {points:g} of {points:g} points" in good, good
    assert all(f"✓ {q.id}" in good for q in auto), good
    blank = h.autograded_outputs(course, "blank", ps)["summary"]
    assert f"visible tests pass for 0 of {points:g} points" in blank, blank
    assert all(f"✗ {q.id}" in blank for q in auto), blank
    assert "not written yet" in blank


@pytest.mark.slow
def test_nbgrader_validate_checks_released_notebooks_for_students(tmp_path):
    """What a student runs before submitting, with no course set up: an answered
    notebook passes, an unanswered one is reported cell by cell.  (All four
    notebooks run through nbgrader in the autograde tests.)"""
    nbformat.write(h.submission("ps1"), str(tmp_path / "ps1.ipynb"))
    nbformat.write(h.submission("ps2", blank=True), str(tmp_path / "ps2.ipynb"))
    r = h.nbgrader(tmp_path, "validate", "ps1.ipynb", "ps2.ipynb", merge=True)
    assert r.returncode == 0, r.stdout[-2000:]
    parts = re.split(r"Validating '", r.stdout)
    report = {p.split("'")[0].rsplit("/", 1)[-1]: p for p in parts[1:]}
    assert "Success! Your notebook passes all the tests." in report["ps1.ipynb"]
    n_tests = sum(1 for q in questions("ps2") if not q.manual)
    assert f"VALIDATION FAILED ON {n_tests} CELL(S)" in report["ps2.ipynb"]
