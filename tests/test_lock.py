"""The locked environment: requirements.lock, what `make setup` installed, environment.yml.

On a fresh clone `make setup` installs exactly the versions of
requirements.lock; these tests compare the running environment (the one
pytest runs in) with the lock, check that the lock covers pyproject.toml
as it is now, and that environment.yml pins the same versions.
"""

from __future__ import annotations

import re
import site
import tomllib
from importlib import metadata
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
# The repository's own packages (installed editable, never locked).
LOCAL = {"cnnlab", "cnnlab-grade"}
# pip name -> conda name(s) where they differ
CONDA_NAMES = {"torch": ["pytorch"], "dask": ["dask", "distributed"], "build": ["python-build"]}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith((" ", "#")):
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) and version.strip(), \
                f"requirements.lock: not an exact pin: {line!r}"
            pins[canonical(name)] = version.strip()
    return pins


def direct_requirements() -> list[Requirement]:
    reqs = []
    for path in [ROOT / "pyproject.toml", *(ROOT / "autograder").glob("pyproject.toml")]:
        project = tomllib.loads(path.read_text())["project"]
        for req in project.get("dependencies", []) + sum(project.get("optional-dependencies", {}).values(), []):
            r = Requirement(req)
            if canonical(r.name) not in LOCAL:
                reqs.append(r)
    return reqs


def test_the_environment_is_exactly_the_lock():
    pins = locked()
    # only what is installed in the environment's site-packages: once setuptools is imported,
    # its vendored packages (setuptools/_vendor/*.dist-info) are on sys.path as well
    have = {canonical(d.metadata["Name"]): d.version
            for d in metadata.distributions(path=site.getsitepackages())}
    missing = sorted(f"{n}=={v}" for n, v in pins.items() if n not in have)
    other = sorted(f"{n} {have[n]} (locked {v})" for n, v in pins.items() if n in have and have[n] != v)
    extra = sorted(f"{n} {v}" for n, v in have.items() if n not in pins and n not in LOCAL)
    assert not (missing or other or extra), (
        "the environment differs from requirements.lock (run `make setup`; on a drifted .venv, "
        f"`rm -rf .venv && make setup`):\nmissing: {missing}\nother version: {other}\nnot locked: {extra}")
    assert "cnnlab" in have


def test_torch_is_the_cpu_build_and_nothing_of_cuda_is_locked():
    import torch
    pins = locked()
    assert pins["torch"].endswith("+cpu")
    assert torch.__version__ == pins["torch"]
    assert not [n for n in pins if n.startswith(("nvidia-", "triton"))]
    pin_in = re.search(r"^torch==(\S+)", (ROOT / "requirements.in").read_text(), re.M)
    assert pin_in and pin_in.group(1) == pins["torch"], "requirements.in and the lock pin different torch"


def test_the_lock_covers_pyproject_as_it_is():
    """A requirement added to pyproject.toml without `make lock` fails here."""
    pins = locked()
    stale = []
    for req in direct_requirements():
        version = pins.get(canonical(req.name))
        if version is None:
            stale.append(f"{req} is not locked")
        elif not req.specifier.contains(version, prereleases=True):
            stale.append(f"{req}: the lock has {version}")
        for extra in req.extras:          # dask[distributed] -> distributed
            if canonical(extra) not in pins and canonical(req.name) == "dask":
                stale.append(f"{req}: {extra} is not locked")
    assert not stale, "run `make lock`:\n" + "\n".join(stale)


def test_environment_yml_pins_the_locked_versions():
    pins = locked()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, {}
    for item in env["dependencies"]:
        if isinstance(item, dict):
            for line in item["pip"]:
                if not line.startswith("-e"):
                    name, _, version = line.partition("==")
                    pip[canonical(name)] = version
            continue
        name, _, version = re.split(r"(==|=)", item, maxsplit=1) if "=" in item else (item, "", "")
        conda[canonical(name)] = version
    python = re.search(r"pip-compile with Python (\d+\.\d+)", LOCK.read_text()).group(1)
    assert conda.pop("python") == python
    assert conda.pop("pip") == ""
    expected = {}
    for req in direct_requirements():
        name = canonical(req.name)
        if name in pip:
            assert pip[name] == pins[name], f"environment.yml pip: {name}=={pip[name]}, locked {pins[name]}"
            continue
        for conda_name in CONDA_NAMES.get(name, [name]):
            expected[conda_name] = pins.get(canonical(conda_name), pins[name]).split("+")[0]
    assert conda == expected, "environment.yml is out of step with the lock: run `make lock`"
    assert set(pip) <= set(pins)
    assert any(line == "-e ." for item in env["dependencies"] if isinstance(item, dict) for line in item["pip"])
