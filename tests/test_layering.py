"""The parts stay apart: what students install never loads the TA's grader,
and the package's layers import only what lies below them."""

import ast
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "cnnlab"


def _run(code: str, timeout=300) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.strip()


def _modules(package_dir: Path, package: str) -> list[str]:
    out = []
    for p in sorted(package_dir.rglob("*.py")):
        parts = list(p.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join([package, *parts]))
    return out


def test_importing_every_cnnlab_module_loads_nothing_of_the_grader():
    """Every module of the package students install, imported in a fresh
    interpreter: neither the grading tool nor nbgrader comes with it."""
    names = _modules(LIB, "cnnlab")
    assert "cnnlab.checks.guard" in names and "cnnlab.pretrain" in names and len(names) > 50
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('cnnlab_grade', 'nbgrader'))))\n")
    assert json.loads(_run(code)) == []


def test_the_student_package_does_not_contain_the_grader(tmp_path):
    """The wheel built from the repository root (what `pip install` of the
    course package gives a student) holds cnnlab only.  (Built from a copy of
    the project's files, as setuptools writes a build/ folder beside them.)"""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "lib", project / "lib", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                          "-q", "-w", str(tmp_path / "dist"), str(project)], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("cnnlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "cnnlab/checks/guard.py" in names and "cnnlab/_args.py" in names
    packages = {n.split("/")[0] for n in names if not n.startswith("cnnlab-")}
    assert packages == {"cnnlab"}, packages
    assert not [n for n in names if "autograde" in n or "cnnlab_grade" in n]
    entry_points = next((n for n in names if n.endswith("entry_points.txt")), None)
    assert entry_points is None or "cnnlab-grade" not in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_make_setup_install_resolves_without_an_index():
    """`make setup` installs the lock, then the two packages of this repository
    without their dependencies; the lock with both packages (the `grade` extra's
    `cnnlab-grade` taken from ./autograder) resolves with no index at all."""
    make = (ROOT / "Makefile").read_text()
    line = next(ln for ln in make.splitlines() if "pip install" in ln.replace("$(PIP)", "pip") and "./autograder" in ln)
    assert "--no-deps" in line and "-e ." in line
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-build-isolation",
                          "-q", "-r", "requirements.lock", "-e", ".[dev,book,grade]", "-e", "./autograder"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]


def _make_var(make: str, name: str) -> str:
    return re.search(rf"^{re.escape(name)}\s*:=\s*(.*)$", make, re.M).group(1).strip()


def test_a_failed_pip_install_fails_make():
    """pip's exit status survives the filter of its "is ignored" noise: the lock's
    install line, run by make's shell with pip replaced by a failing one, fails."""
    make = (ROOT / "Makefile").read_text()
    assert "|| true\n" not in make.replace("{ grep", "")
    recipe = next(ln for ln in make.splitlines() if "install -q -r $(LOCK)" in ln).strip()
    fake = (recipe.replace("$(PIP) install -q -r $(LOCK)",
                           "{ echo 'Location x is ignored'; echo 'ERROR: no such package' >&2; exit 1; }")
            .replace("$(QUIET)", _make_var(make, "QUIET")))
    assert "$(" not in fake, fake
    flags = _make_var(make, ".SHELLFLAGS").split()
    res = subprocess.run([_make_var(make, "SHELL"), *flags, fake], capture_output=True, text=True)
    assert res.returncode != 0 and "no such package" in res.stdout + res.stderr
    assert "is ignored" not in res.stdout


def _imports(path: Path, package: str) -> set[str]:
    """The absolute names of what a module imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    here = package.split(".")
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


@pytest.mark.parametrize("layer, forbidden", [
    ("ref", ("torch",)),
    ("shapes", ("torch",)),
    ("models", ("cnnlab.train", "cnnlab.experiments")),
    ("", ("cnnlab_grade", "nbgrader")),
])
def test_layers_import_only_what_lies_below(layer, forbidden):
    """The brief's layering, read from the import statements (those inside
    functions included): cnnlab.ref and cnnlab.shapes import no torch, the
    models do not depend on the trainer, nothing imports the grader."""
    paths = [LIB / f"{layer}.py"] if (LIB / f"{layer}.py").is_file() else sorted((LIB / layer).rglob("*.py"))
    bad = []
    for p in paths:
        rel = p.relative_to(LIB.parent).with_suffix("")
        for name in _imports(p, ".".join(rel.parts[:-1])):   # the package the module is in
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{rel}: {name}")
    assert paths and not bad, bad


def test_the_torch_free_layers_load_no_torch():
    """cnnlab._args (every argument check) is shared with cnnlab.gpu: its tensor
    checks import torch when they are called, never when it is imported."""
    out = _run("import sys, cnnlab, cnnlab.shapes, cnnlab._args, cnnlab.ref, cnnlab.ref.naive, cnnlab.checks; "
               "print('torch' in sys.modules)")
    assert out == "False"


def test_the_models_load_without_the_trainer():
    names = _modules(LIB / "models", "cnnlab.models")
    out = _run(f"import importlib, sys\nfor n in {names!r}:\n    importlib.import_module(n)\n"
               "print(sorted(m for m in sys.modules if m in ('cnnlab.train', 'cnnlab.experiments')))")
    assert out == "[]"
