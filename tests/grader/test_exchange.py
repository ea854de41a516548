"""A course on a JupyterHub, end to end through nbgrader's exchange (a local exchange folder):
the instructor releases, two students fetch and submit, the instructor collects,
``cnnlab-grade <course>/submitted`` grades and releases the feedback, and each student
fetches their own page.  The commands are the ones autograder/HUB.md gives the TA."""

import csv
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

import toy_course as toy
from cnnlab_grade.collect import exchange_layout
from cnnlab_grade.exchange import check_exchange, course_exchange, release_feedback

BIN = Path(sys.executable).parent
COURSE_ID = "toy101"
WRONG = "def double(x):\n    return 3 * np.asarray(x)\n"
RIGHT = "def double(x):\n    return 2 * np.asarray(x)\n"


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    return env


def _run(cmd, home: Path, cwd: Path, timeout=120):
    res = subprocess.run(cmd, cwd=cwd, env=_env(home), capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))}:\n{res.stdout}\n{res.stderr}"
    return res


def _nbgrader(*args, home, cwd):
    return _run([str(BIN / "nbgrader"), *args], home, cwd)


def _config(path: Path, exchange: Path, **more):
    lines = ["c = get_config()", f"c.CourseDirectory.course_id = {COURSE_ID!r}", f"c.Exchange.root = {str(exchange)!r}"]
    lines += [f"c.{k} = {v!r}" for k, v in more.items()]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def hub(tmp_path):
    """Released, fetched, submitted (ann right, ben wrong) and collected."""
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o777)
    course = toy.make_course(tmp_path / "course")
    _config(course / "nbgrader_config.py", exchange, **{"CourseDirectory.root": str(course)})
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    _nbgrader("generate_assignment", "toy", home=teacher, cwd=course)
    _nbgrader("release_assignment", "toy", home=teacher, cwd=course)
    homes = {s: tmp_path / "home" / s for s in ("ann", "ben")}

    def student(name, body):
        home = homes[name]
        home.mkdir(parents=True)
        _config(home / "nbgrader_config.py", exchange, **{"CourseDirectory.student_id": name})
        _nbgrader("fetch_assignment", "toy", home=home, cwd=home)
        path = home / "toy" / "toy.ipynb"
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = body
        nbformat.write(nb, path)
        _nbgrader("submit", "toy", home=home, cwd=home)

    with ThreadPoolExecutor(2) as pool:   # the two students at once: nbgrader's start-up is the slow part
        list(pool.map(student, ["ann", "ben"], [RIGHT, WRONG]))
    _nbgrader("collect", "toy", home=teacher, cwd=course)
    return {"exchange": exchange, "course": course, "homes": homes, "tmp": tmp_path}


def test_a_hub_round_trip_grades_the_collected_work_and_returns_each_students_feedback(hub):
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    course, exchange = hub["course"], hub["exchange"]
    submitted = course / "submitted"
    # another assignment's folder of the same student, and a submission that is a link: neither is graded as toy
    (submitted / "ann" / "ps0").mkdir()
    nbformat.write(toy.submission(), submitted / "ann" / "ps0" / "ps0.ipynb")
    (submitted / "ann" / "ps0" / "timestamp.txt").write_text("2025-01-01 00:00:00.000000 UTC")
    (submitted / "cat" / "toy").mkdir(parents=True)
    os.symlink(course / "source" / "toy" / "toy.ipynb", submitted / "cat" / "toy" / "toy.ipynb")
    assert exchange_layout(submitted, "toy")
    assert course_exchange(course) == str(exchange)   # --exchange's default
    stamps = {s: (submitted / s / "toy" / "timestamp.txt").read_text() for s in ("ann", "ben")}

    grading = hub["tmp"] / "grading"
    res = _run([sys.executable, "-m", "cnnlab_grade.cli", str(submitted), "toy", "--course", str(course),
                "-o", str(grading), "--quiet", "--due", "2000-01-01T00:00:00Z",
                "--release-feedback", "--exchange", str(exchange)], hub["tmp"], hub["tmp"], timeout=300)
    assert "feedback released for 2 students" in res.stdout, res.stdout
    assert "cat: no feedback page" in res.stdout, res.stdout   # nothing of cat's was read

    rows = {r["student_id"]: r for r in csv.DictReader(open(grading / "export" / "toy" / "grades.csv"))}
    assert set(rows) == {"ann", "ben", "cat"}
    assert (rows["ann"]["test_double"], rows["ben"]["test_double"], rows["cat"]["test_double"]) == ("2", "0", "0")
    assert "late" in rows["ann"]["flags"] and "refused-file" in rows["cat"]["flags"]
    # the submission as collected, with nbgrader's bookkeeping; nothing of ps0
    assert sorted(p.name for p in (grading / "submitted" / "ann" / "toy").iterdir()) == [
        "submission_secret.txt", "timestamp.txt", "toy.ipynb"]
    assert (grading / "submitted" / "ann" / "toy" / "toy.ipynb").read_bytes() == \
        (submitted / "ann" / "toy" / "toy.ipynb").read_bytes()
    assert not (grading / "submitted" / "ann" / "ps0").exists()
    assert not any("ps0" in str(p) for p in (grading / "submitted").rglob("*"))
    with Gradebook(f"sqlite:///{grading / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for s in ("ann", "ben"):
            sub = gb.find_submission("toy", s)
            assert sub.timestamp == parse_utc(stamps[s]).replace(tzinfo=None), (s, sub.timestamp, stamps[s])

    def fetch_feedback(student):
        home = hub["homes"][student]
        _nbgrader("fetch_feedback", "toy", home=home, cwd=home)
        return sorted((home / "toy" / "feedback").rglob("*.html"))

    with ThreadPoolExecutor(2) as pool:
        fetched = dict(zip(["ann", "ben"], pool.map(fetch_feedback, ["ann", "ben"])))
    for student, score in (("ann", 2), ("ben", 0)):
        pages = fetched[student]
        assert [p.name for p in pages] == ["toy.html"], pages
        assert pages[0].parent.name == stamps[student]
        assert pages[0].read_bytes() == (grading / "feedback" / student / "toy" / "toy.html").read_bytes()
        assert f"toy (Score: {score:.1f} / 2.0)" in pages[0].read_text()


def test_the_exchange_must_exist_and_be_writable(tmp_path):
    with pytest.raises(ValueError, match="--exchange: .* does not exist"):
        check_exchange(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="--exchange"):
        release_feedback(tmp_path, "toy", tmp_path / "nowhere", COURSE_ID)


@pytest.mark.parametrize("files, expected", [
    (["ann/toy/toy.ipynb", "ann/toy/timestamp.txt", "ben/ps0/ps0.ipynb"], True),    # nbgrader collect
    (["ann/toy/toy.ipynb", "ben/toy/toy.ipynb"], True),                                # zip_collect, no times
    (["ann/toy.ipynb", "ben/toy.ipynb"], False),                                       # a folder per student
    (["export/ann/toy.ipynb", "export/ben/toy.ipynb"], False),                         # a wrapping folder
    (["ann/ps0/ps0.ipynb", "ann/ps0/timestamp.txt"], False),                           # no toy at all
    (["ann/toy/toy.ipynb", "timestamps.csv", "notes.txt"], False),                     # a file at the top
])
def test_nbgraders_submitted_folder_is_told_from_an_lms_export(tmp_path, files, expected):
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("{}")
    assert exchange_layout(tmp_path, "toy") is expected
