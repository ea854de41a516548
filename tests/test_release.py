"""Publishing: the Colab notebooks, `make release`, and the student's one-line install.

* every chapter and assignment has an .ipynb whose first cell installs cnnlab
  (from the repository named in book/_config.yml) when it is missing, and the
  committed notebooks are what `make notebooks` writes;
* `make release VERSION=<the current version>` puts the wheel, the sdist, the
  site, the PDF and a zip per assignment, each named with the version, into
  a fresh dist folder (the book's build and execution cache are reused);
* the wheel, installed into a fresh virtual environment with only its
  declared dependencies (the student's install), runs ps1: its first cells,
  and `nbgrader validate` on a solved copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from unittest import mock

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "assignments").iterdir() if (p / f"{p.name}.ipynb").is_file())
CHAPTERS = sorted(p.stem for p in (ROOT / "book" / "chapters").glob("*.md"))


def current_version() -> str:
    return re.search(r'__version__ = "([^"]+)"', (ROOT / "lib/cnnlab/_version.py").read_text()).group(1)


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return env


# --------------------------------------------------------------------------- Colab notebooks

def test_committed_notebooks_are_what_make_notebooks_writes():
    proc = subprocess.run([sys.executable, ".ci/notebooks.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _starts_with_install_cell(path: Path) -> bool:
    cells = nbformat.read(path, as_version=4).cells
    return bool(cells) and "cnnlab-install" in cells[0].get("metadata", {}).get("tags", [])


# Every chapter, and every assignment's source and released notebook.
@pytest.mark.parametrize("path", [f"book/chapters/{c}.ipynb" for c in CHAPTERS]
                         + [f"{d}/{a}/{a}.ipynb" for d in ("source", "assignments") for a in ASSIGNMENTS])
def test_first_cell_installs_cnnlab_only_when_it_is_missing(path):
    """The cell, as IPython runs it (its %pip magic), with cnnlab there and with it missing."""
    import builtins
    from IPython.core.inputtransformer2 import TransformerManager

    nb = nbformat.read(ROOT / path, as_version=4)
    cell = nb.cells[0]
    assert cell.cell_type == "code"
    code = compile(TransformerManager().transform_cell(cell.source), path, "exec")
    magics = []
    shell = mock.Mock(run_line_magic=lambda name, line: magics.append((name, line)))
    real_import = builtins.__import__

    def run_cell(missing: set[str]):
        def fake_import(name, *args, **kw):
            if name.split(".")[0] in missing:
                raise ImportError(f"No module named {name!r}")
            return real_import(name, *args, **kw)
        with mock.patch("builtins.__import__", fake_import):
            exec(code, {"get_ipython": lambda: shell})

    run_cell(set())
    assert magics == [], "the cell installs although cnnlab is there"
    run_cell({"cnnlab"})
    (name, line), = magics
    assert name == "pip" and line.startswith("install")
    requirement = line.split('"')[1]
    assert requirement.startswith("cnnlab") and requirement.endswith(f"@ git+{REPO_URL}@{BRANCH}"), requirement
    if path.startswith("book/"):   # the chapters also need the book's tools (myst_nb.glue)
        assert requirement.startswith("cnnlab[book]")
        magics.clear()
        run_cell({"myst_nb"})
        assert len(magics) == 1


def test_readme_gives_the_students_one_install_line():
    readme = (ROOT / "README.md").read_text()
    student = readme.split("## For students", 1)[1].split("\n## ", 1)[0]
    lines = [line.strip() for line in student.splitlines() if line.strip().startswith("pip install")]
    assert lines, "the students' section gives no pip install line"
    assert f'"cnnlab[student] @ git+{REPO_URL}@{BRANCH}"' in lines[0], lines[0]


# --------------------------------------------------------------------------- make release

@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """`make release` with the current version into a fresh folder (about a minute when the
    book is built: its execution cache and its single-page build are reused)."""
    dist = tmp_path_factory.mktemp("dist")
    version = current_version()
    before = (ROOT / "lib/cnnlab/_version.py").read_text()
    start = time.perf_counter()
    proc = subprocess.run(["make", "--no-print-directory", "release", f"VERSION={version}", f"DIST={dist}"],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    assert (ROOT / "lib/cnnlab/_version.py").read_text() == before
    print(f"make release took {seconds:.0f} s")
    return dist, version, proc.stdout


def test_release_holds_every_file_named_with_the_version(release):
    dist, v, _ = release
    expected = {f"cnnlab-{v}-py3-none-any.whl", f"cnnlab-{v}.tar.gz", f"cnnlab-site-{v}.zip",
                f"cnnlab-book-{v}.pdf", f"cnnlab-{v}-SHA256SUMS.txt"}
    expected |= {f"cnnlab-{ps}-{v}.zip" for ps in ASSIGNMENTS}
    assert {p.name for p in dist.iterdir()} == expected
    sums = dict(reversed(line.split("  ")) for line in (dist / f"cnnlab-{v}-SHA256SUMS.txt").read_text().splitlines())
    assert set(sums) == expected - {f"cnnlab-{v}-SHA256SUMS.txt"}
    for name, digest in sums.items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest, name


def test_wheel_and_sdist_hold_the_package_its_licence_and_version(release):
    dist, v, _ = release
    with zipfile.ZipFile(dist / f"cnnlab-{v}-py3-none-any.whl") as wheel:
        names = wheel.namelist()
        meta = wheel.read(f"cnnlab-{v}.dist-info/METADATA").decode()
    assert "cnnlab/ref/__init__.py" in names and "cnnlab/weights/resnet20-letters.safetensors" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert f"Version: {v}" in meta and "License-Expression: MIT" in meta
    assert "Provides-Extra: student" in meta
    assert not [n for n in names if n.startswith(("tests/", "book/", "source/", "autograder/"))]
    # the TA's grading tool is a distribution of its own: nothing of it ships to students
    assert "cnnlab/checks/__init__.py" in names
    assert not [n for n in names if n.startswith(("cnnlab_grade/", "cnnlab/autograde/", "cnnlab/grading/"))]
    with tarfile.open(dist / f"cnnlab-{v}.tar.gz") as sdist:
        members = sdist.getnames()
    assert f"cnnlab-{v}/pyproject.toml" in members and f"cnnlab-{v}/LICENSE" in members


def test_site_zip_is_the_website_with_its_pdf(release):
    dist, v, _ = release
    with zipfile.ZipFile(dist / f"cnnlab-site-{v}.zip") as z:
        names = set(z.namelist())
        intro = z.read(f"cnnlab-site-{v}/intro.html").decode()
    prefix = f"cnnlab-site-{v}/"
    assert {prefix + "index.html", prefix + "cnnlab-book.pdf", prefix + "chapters/pooling.html"} <= names
    assert f"CNN Lab {v}" in intro
    assert (dist / f"cnnlab-book-{v}.pdf").read_bytes()[:5] == b"%PDF-"


def test_student_zip_per_assignment(release):
    dist, v, _ = release
    for ps in ASSIGNMENTS:
        with zipfile.ZipFile(dist / f"cnnlab-{ps}-{v}.zip") as z:
            names = set(z.namelist())
            readme = z.read(f"cnnlab-{ps}-{v}/README.txt").decode()
            nb = nbformat.reads(z.read(f"cnnlab-{ps}-{v}/{ps}.ipynb").decode(), as_version=4)
        assert f"cnnlab-{ps}-{v}/cnnlab-{v}-py3-none-any.whl" in names
        assert nb == nbformat.read(ROOT / "assignments" / ps / f"{ps}.ipynb", as_version=4)
        assert f"nbgrader validate {ps}.ipynb" in readme and f"cnnlab-{v}-py3-none-any.whl[student]" in readme
        assert "### BEGIN SOLUTION" not in json.dumps(nb)


def test_release_refuses_a_version_that_is_not_one():
    proc = subprocess.run(["make", "--no-print-directory", "release", "VERSION=next"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "VERSION='next' is not a version number" in proc.stderr
    proc = subprocess.run(["make", "--no-print-directory", "release"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "usage: make release VERSION=x.y.z" in proc.stderr


# --------------------------------------------------------------------------- the student's install

def test_wheel_in_a_fresh_venv_runs_ps1(release, tmp_path):
    """Only the wheel's declared dependencies (the `student` extra), at the locked versions,
    PyTorch's CPU build first; nothing of the repository on the path."""
    dist, v, _ = release
    lock = ROOT / "requirements.lock"
    torch_pin = re.search(r"^torch==\S+", lock.read_text(), re.M).group(0)
    venv, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    env = clean_env()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    py = str(venv / "bin" / "python")
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # as `make setup` does: the CPU build from the configured indexes, else from PyTorch's CPU index
    torch_index = os.environ.get("TORCH_INDEX", "https://download.pytorch.org/whl/cpu")
    for attempts in ([[torch_pin], ["--index-url", torch_index, torch_pin]],
                     [[f"{dist / f'cnnlab-{v}-py3-none-any.whl'}[student]", "-c", str(lock)]]):
        for args in attempts:
            proc = subprocess.run(pip + args, env=env, cwd=work, capture_output=True, text=True)
            if proc.returncode == 0:
                break
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    installed = {re.match(r"[\w.-]+", line).group(0).lower() for line in subprocess.run(
        [py, "-m", "pip", "freeze"], env=env, capture_output=True, text=True, check=True).stdout.splitlines()}
    assert {"cnnlab", "nbgrader", "torch", "numba"} <= installed
    assert not installed & {"jupyter-book", "pytest", "playwright", "dask", "hypothesis"}, "more than declared"
    install_s = time.perf_counter() - start

    # the first cells of the released ps1: the install cell (cnnlab is there: nothing to do), and
    # the setup cell (imports the checks the test cells call)
    released = ROOT / "assignments/ps1/ps1.ipynb"
    nb = nbformat.read(released, as_version=4)
    assert _starts_with_install_cell(released)
    first = [c.source for c in nb.cells if c.cell_type == "code"][:2]
    code = "\n".join(first) + "\nimport cnnlab, sys; print('cnnlab', cnnlab.__version__, cnnlab.__file__)"
    proc = subprocess.run([str(venv / "bin" / "ipython"), "--quick", "-c", code], env=env, cwd=work,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"cnnlab {v} {venv}" in proc.stdout

    # a solved copy (the instructor's source, solutions and hidden tests) passes nbgrader validate
    solved = work / "ps1.ipynb"
    solved.write_text((ROOT / "source/ps1/ps1.ipynb").read_text())
    proc = subprocess.run([str(venv / "bin" / "nbgrader"), "validate", str(solved)], env=env, cwd=work,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "Success! Your notebook passes all the tests." in proc.stdout, \
        proc.stdout[-4000:] + proc.stderr[-3000:]
    # ... and the blank release does not
    blank = work / "blank" / "ps1.ipynb"
    blank.parent.mkdir()
    blank.write_text((ROOT / "assignments/ps1/ps1.ipynb").read_text())
    proc = subprocess.run([str(venv / "bin" / "nbgrader"), "validate", str(blank)], env=env, cwd=work,
                          capture_output=True, text=True, timeout=600)
    assert "Success!" not in proc.stdout and "NotImplementedError" in proc.stdout + proc.stderr
    print(f"fresh venv: install {install_s:.0f} s, whole test {time.perf_counter() - start:.0f} s")
