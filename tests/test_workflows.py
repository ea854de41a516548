"""The GitHub workflows: valid (actionlint), and doing what the README says.

* ``pages.yml`` builds the book with the README's command and deploys it to
  GitHub Pages with the official actions, on every push to main;
* ``tests.yml`` runs the README's test command on every pull request.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def actionlint() -> str:
    exe = Path(sys.executable).with_name("actionlint")
    if not exe.is_file():
        pytest.fail("actionlint is missing from the environment: `make setup` installs it (dev extra)",
                    pytrace=False)
    return str(exe)


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))     # YAML 1.1 reads the key `on` as True
    return data


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(job: dict) -> list[str]:
    return [s["uses"].split("@")[0] for s in steps(job) if "uses" in s]


def runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


def test_actionlint_passes_on_every_workflow():
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert {f.name for f in files} >= {"pages.yml", "tests.yml"}
    proc = subprocess.run([actionlint(), "-no-color", *map(str, files)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    """The check can fail: a misspelt trigger and an unknown input are reported."""
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(WORKFLOWS / "tests.yml", repo / ".github" / "workflows" / "tests.yml")
    text = (WORKFLOWS / "pages.yml").read_text().replace("branches: [main]", "branch: [main]")
    text = text.replace("path: book/_build/html", "paht: book/_build/html")
    (repo / ".github" / "workflows" / "pages.yml").write_text(text)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    proc = subprocess.run([actionlint(), "-no-color"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 1
    assert 'unexpected key "branch"' in proc.stdout
    assert 'input "paht" is not defined' in proc.stdout
    assert "tests.yml" not in proc.stdout


def test_pages_workflow_builds_the_book_and_deploys_it_on_push_to_main():
    wf = load("pages.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    assert wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    assert "make book" in runs(build)                        # the README's command: site and PDF
    assert uses(build)[0] == "actions/checkout"
    assert "actions/upload-pages-artifact" in uses(build)
    upload = next(s for s in steps(build) if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "book/_build/html"
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    assert uses(deploy) == ["actions/deploy-pages"]


def test_tests_workflow_runs_make_test_on_pull_requests():
    wf = load("tests.yml")
    assert "pull_request" in wf["on"]
    (job,) = wf["jobs"].values()
    command = runs(job)
    assert ".ci/run" in command or "make test" in command
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert job.get("timeout-minutes", 360) <= 90


def test_workflows_do_not_name_the_repository():
    """The repository is named in one place, book/_config.yml; the workflows take it from GitHub."""
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    slug = config["repository"]["url"].removeprefix("https://github.com/")
    for path in WORKFLOWS.glob("*.y*ml"):
        assert slug not in path.read_text(), f"{path.name} names the repository {slug}"
