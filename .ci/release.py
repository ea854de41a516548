#!/usr/bin/env python3
"""``make release VERSION=x.y.z``: everything a course publishes, into ``dist/``.

The Makefile runs three steps:

1. ``release.py set-version x.y.z`` writes the version into its one place,
   ``lib/cnnlab/_version.py`` (the package metadata, ``cnnlab.__version__``,
   the website's footer and the PDF read it from there);
2. ``make book`` builds the website and the PDF with that version (the
   execution cache makes this quick when the chapters have not changed);
3. ``release.py package`` writes, each name carrying the version:

   * ``cnnlab-x.y.z-py3-none-any.whl`` and ``cnnlab-x.y.z.tar.gz``, the
     package students install (built without network from the locked
     setuptools, checked with ``twine check --strict``);
   * ``cnnlab-site-x.y.z.zip``, the website (serve it from any static host);
   * ``cnnlab-book-x.y.z.pdf``, the whole book;
   * ``cnnlab-<ps>-x.y.z.zip`` per assignment: the released notebook, the
     wheel, and a README with the install line and how to check one's work;
   * ``cnnlab-x.y.z-SHA256SUMS.txt``.

Commit the changed ``_version.py`` and tag the commit ``vx.y.z``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.version import InvalidVersion, Version

import notebooks   # .ci/notebooks.py: the repository and the install line

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = ROOT / "lib" / "cnnlab" / "_version.py"
HTML = ROOT / "book" / "_build" / "html"
PDF = HTML / "cnnlab-book.pdf"
VERSION_LINE = re.compile(r'^__version__ = "([^"]*)"$', re.M)

STUDENT_README = """\
CNN Lab {version}: assignment {ps}
{rule}

1. Install the course's package (once, with Python 3.11 or newer), from this folder:

       pip install --extra-index-url https://download.pytorch.org/whl/cpu "./{wheel}[student]"

   or the newest one from the course's repository:

       {install_line}

   (The extra index gives PyTorch's CPU build; without it pip installs a CUDA
   build of several GB on Linux. Leave it out on a machine with an NVIDIA GPU.)

2. Open {ps}.ipynb in Jupyter (`jupyter lab {ps}.ipynb`) and run the cells from
   the top. Write your code where it says `# YOUR CODE HERE`; run the test cell
   under each answer.

3. Before you submit, check the whole notebook the way the grader runs it:

       nbgrader validate {ps}.ipynb

On Colab: upload {ps}.ipynb; its first cell installs the package.

Text: CC BY 4.0; code: MIT ({url}).
"""


def current_version() -> str:
    m = VERSION_LINE.search(VERSION_FILE.read_text())
    if not m:
        raise SystemExit(f"{VERSION_FILE.relative_to(ROOT)} has no line __version__ = \"...\"")
    return m.group(1)


def set_version(version: str) -> None:
    try:
        normal = str(Version(version))
    except InvalidVersion:
        raise SystemExit(f"VERSION={version!r} is not a version number; give one like 1.2.0 "
                         "(PEP 440: https://peps.python.org/pep-0440/)") from None
    if normal != version:
        raise SystemExit(f"VERSION={version!r} is written {normal!r} in normal form; use that")
    old = current_version()
    if old == version:
        print(f"version {version} (unchanged)")
        return
    VERSION_FILE.write_text(VERSION_LINE.sub(f'__version__ = "{version}"', VERSION_FILE.read_text()))
    print(f"version {old} -> {version} in {VERSION_FILE.relative_to(ROOT)}: commit it and tag v{version}")


def _zip_dir(folder: Path, target: Path, prefix: str, extra: dict[str, bytes | Path] | None = None) -> None:
    tmp = target.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                zf.write(path, f"{prefix}/{rel.as_posix()}")
        for name, data in (extra or {}).items():
            if isinstance(data, Path):
                zf.write(data, f"{prefix}/{name}")
            else:
                zf.writestr(f"{prefix}/{name}", data)
    tmp.replace(target)


def build_package(dist: Path, version: str) -> tuple[Path, Path]:
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                   check=True, stdout=subprocess.DEVNULL)
    wheel, sdist = dist / f"cnnlab-{version}-py3-none-any.whl", dist / f"cnnlab-{version}.tar.gz"
    for path in (wheel, sdist):
        if not path.is_file():
            raise SystemExit(f"python -m build did not write {path.name}")
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], check=True)
    return wheel, sdist


def check_site(version: str) -> None:
    index = HTML / "index.html"
    if not index.is_file() or not PDF.is_file():
        raise SystemExit("build the website and the PDF first: `make book` (make release does)")
    page = (HTML / "intro.html").read_text(encoding="utf-8")
    if f"CNN Lab {version}" not in page:
        raise SystemExit(f"the website in {HTML.relative_to(ROOT)} was not built for version {version}: "
                         "run `make book` (make release does)")


def package(dist: Path) -> list[Path]:
    version = current_version()
    check_site(version)
    dist.mkdir(parents=True, exist_ok=True)
    wheel, sdist = build_package(dist, version)
    site = dist / f"cnnlab-site-{version}.zip"
    _zip_dir(HTML, site, f"cnnlab-site-{version}")
    pdf = dist / f"cnnlab-book-{version}.pdf"
    shutil.copyfile(PDF, pdf)
    url, _ = notebooks.repository()
    students = []
    for folder in sorted(p for p in (ROOT / "assignments").iterdir() if p.is_dir()):
        ps = folder.name
        readme = STUDENT_README.format(version=version, ps=ps, rule="=" * (len(version) + len(ps) + 21),
                                       wheel=wheel.name, install_line=notebooks.install_line(), url=url)
        target = dist / f"cnnlab-{ps}-{version}.zip"
        _zip_dir(folder, target, f"cnnlab-{ps}-{version}",
                 {"README.txt": readme.encode(), wheel.name: wheel})
        students.append(target)
    made = [wheel, sdist, site, pdf, *students]
    sums = dist / f"cnnlab-{version}-SHA256SUMS.txt"
    sums.write_text("".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in made))
    made.append(sums)
    width = max(len(p.name) for p in made)
    print(f"release {version} in {dist}:")
    for p in made:
        print(f"  {p.name:<{width}}  {p.stat().st_size / 1e6:8.2f} MB")
    return made


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sv = sub.add_parser("set-version", help="write VERSION into lib/cnnlab/_version.py")
    sv.add_argument("version")
    pk = sub.add_parser("package", help="write the release files of the current version into DIST")
    pk.add_argument("--dist", type=Path, default=ROOT / "dist")
    sub.add_parser("version", help="print the current version")
    args = parser.parse_args(argv)
    if args.command == "set-version":
        set_version(args.version)
    elif args.command == "package":
        package(args.dist.resolve())
    else:
        print(current_version())
    return 0


if __name__ == "__main__":
    sys.exit(main())
