"""The similarity report (cnnlab_grade.similarity) on code alone: what hides a copy and what
does not, the starter code left out, odd code, the HTML and CSV. The sample class's planted
copies are checked end to end in test_sample_class.py."""

from __future__ import annotations

import csv

import pytest

from cnnlab_grade import similarity as sim
from cnnlab_grade.samples.copies import CELLS, OWN_A, OWN_B, commented, reformatted, renamed
from cnnlab_grade.samples.notebooks import solution_sources, strip_markers

STARTER_HELPER = '''def show_grid(images, cols=4, title=None):
    """Given by the course: plot a batch of images in a grid."""
    import matplotlib.pyplot as plt
    rows = (len(images) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2 * rows))
    for ax, img in zip(axes.ravel(), images):
        ax.imshow(img, cmap="gray")
        ax.set_axis_off()
    if title is not None:
        fig.suptitle(title)
    return fig
'''


def _code(bodies, order=None):
    return "\n\n".join(f"def {name}(*args):\n{bodies[name]}" for name in (order or list(bodies)))


def _reference():
    src = solution_sources("ps1")
    return "\n\n".join(strip_markers(src[gid]) for gid in CELLS)


def test_renaming_reformatting_and_comments_leave_the_tokens_as_they_were():
    code = _code(OWN_A)
    base = [t.text for t in sim.normalise(code)]
    for edit in (renamed, reformatted, commented, lambda t: commented(reformatted(renamed(t)))):
        assert [t.text for t in sim.normalise(edit(code))] == base
    assert "V" in base and "einsum" in base and "shape" in base       # attributes stay, names go
    assert [t.text for t in sim.normalise(_code(OWN_B))] != base


def test_copies_rank_above_independent_solutions_and_only_copies_are_flagged():
    a = _code(OWN_A)
    codes = {"indep-a": a, "indep-b": _code(OWN_B), "indep-ref": _reference(),
             "copy-renamed": renamed(a), "copy-layout": reformatted(a), "copy-comments": commented(a),
             "copy-reordered": _code(OWN_A, list(reversed(list(OWN_A)))),
             "copy-all": commented(reformatted(renamed(_code(OWN_A, list(reversed(list(OWN_A)))))))}
    pairs = sim.compare(codes)
    copies = {"indep-a", "copy-renamed", "copy-layout", "copy-comments", "copy-reordered", "copy-all"}
    planted = [p for p in pairs if {p.a, p.b} <= copies]
    others = [p for p in pairs if not {p.a, p.b} <= copies]
    assert len(planted) == 15 and all(p.flagged for p in planted)
    assert not any(p.flagged for p in others)
    assert min(p.similarity for p in planted) > max(p.similarity for p in others)
    assert pairs[:15] == sorted(planted, key=lambda p: (-p.similarity, -p.shared, p.a, p.b))


def test_the_starter_code_and_what_most_of_the_class_share_do_not_make_students_alike():
    codes = {"ann": STARTER_HELPER + _code(OWN_A), "ben": STARTER_HELPER + _code(OWN_B),
             "cat": STARTER_HELPER + _reference()}
    with_starter = {frozenset((p.a, p.b)): p for p in sim.compare(codes, starter=STARTER_HELPER)}
    assert not any(p.flagged for p in with_starter.values())
    # the same students without the helper left out share it: each pair's similarity is higher
    without = {frozenset((p.a, p.b)): p for p in sim.compare(codes)}
    for key, p in without.items():
        assert p.shared > (with_starter[key].shared if key in with_starter else 0)
    # in a class of 12, a helper two students share is a copy; one most of the class shares
    # (a lecture's example, not given in the notebook) is an idiom
    two = {f"s{i}": (STARTER_HELPER if i < 2 else "") + _random_code(i) for i in range(12)}
    assert [(p.a, p.b) for p in sim.compare(two) if p.flagged] == [("s0", "s1")]
    most = {f"s{i}": (STARTER_HELPER if i < 9 else "") + _random_code(i) for i in range(12)}
    assert not any(p.flagged for p in sim.compare(most))


def _random_code(seed: int) -> str:
    """A student's own code that shares no structure with another seed's."""
    import random

    rng = random.Random(seed)
    lines = []
    for i in range(1):
        expr = "x"
        for _ in range(rng.randint(2, 5)):
            op = rng.choice(["+", "-", "*", "//", "%", "**"])
            expr = rng.choice([f"({expr} {op} {rng.randint(1, 99)})", f"np.{rng.choice(['abs', 'sqrt', 'exp'])}({expr})",
                               f"{rng.choice(['min', 'max'])}({expr}, {rng.randint(1, 9)})"])
        lines.append(f"    x = {expr}" if rng.random() < 0.7 else f"    if x > {rng.randint(1, 9)}:\n        x = {expr}")
    return f"def own_{seed}(x):\n" + "\n".join(lines) + "\n    return x\n"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_in_a_generated_class_only_the_planted_copies_are_flagged(seed):
    """60 students: six independent answers, planted copies of one (renamed, reflowed with trailing
    commas, reordered, commented), and honest students each assembled from their own choices of
    approach, padding, loops and names (tests/support/similarity_class.py)."""
    import random

    import similarity_class as sc

    codes, planted = sc.make_class(60, seed)
    pairs = sim.compare(codes, sc.STARTER)
    planted = {frozenset(p) for p in planted}
    mine = [p for p in pairs if frozenset((p.a, p.b)) in planted]
    honest = [p for p in pairs if frozenset((p.a, p.b)) not in planted]
    assert len(mine) == len(planted) and all(p.flagged for p in mine)
    assert not [(p.a, p.b, p.similarity) for p in honest if p.flagged]
    assert min(p.similarity for p in mine) > max(p.similarity for p in honest)
    # a black-formatted copy (trailing commas, one argument a line) reads as the same code
    code = codes["s_im2col"] if "s_im2col" in codes else next(iter(codes.values()))
    black = sc.disguise(code, random.Random(seed))
    assert sim.compare({"a": code, "b": black})[0].similarity > 0.9


def test_odd_code_does_not_stop_the_report():
    tokens = sim.normalise("%timeit f(x)\n!pip install numpy\nx = (1,\n")
    assert [t.text for t in tokens] == ["V", "=", "(", "1", ","]
    assert sim.normalise("def f(:\n  return") and sim.normalise("") == []
    pairs = sim.compare({"a": "x = (", "b": "", "c": _code(OWN_A), "d": _code(OWN_A)})
    assert [(p.a, p.b, p.flagged) for p in pairs] == [("c", "d", True)]


def test_the_report_marks_the_matches_in_both_columns_and_escapes_the_code(tmp_path):
    a = _code(OWN_A) + "\nassert 1 < 2  # <script>alert(1)</script>\n"
    codes = {"ann": a, "ben": renamed(a), "cat": _code(OWN_B)}
    pairs = sim.compare(codes)
    paths = sim.write_report(pairs, codes, tmp_path, "ps1", top=1)
    with open(paths["csv"]) as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["rank", "student_a", "student_b", "similarity", "shared_fingerprints", "flagged"]
    assert (table[0]["student_a"], table[0]["student_b"], table[0]["flagged"]) == ("ann", "ben", "yes")
    assert float(table[0]["similarity"]) == pytest.approx(1.0)
    page = (tmp_path / sim.pair_file(pairs[0])).read_text()
    left, right = page.split("<h2>ben</h2>")
    for side, code in ((left, codes["ann"]), (right, codes["ben"])):   # nearly all of each is marked
        marked = "".join(part.split("</mark>")[0] for part in side.split("<mark>")[1:])
        assert len(marked) > 0.8 * len(code.split("\nassert")[0])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "never changes a grade" in paths["html"].read_text()
    assert "http" not in page.replace("&quot;", "")   # a page of its own: no external script or font


def test_the_benchmark_runs_end_to_end(capsys):
    """bench_similarity.py on a small class (its timings are not asserted)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_similarity import main

    assert main(["--students", "40"]) == 0
    out = capsys.readouterr().out
    assert "counts agree: True" in out and "planted pairs rank 1..15" in out
