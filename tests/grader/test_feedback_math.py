"""Feedback pages typeset their formulas offline, with the course website's
own MathJax beside the page, and load nothing from elsewhere."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from cnnlab_grade import feedback as fb
from cnnlab_grade.course import Course

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")


def _page(tmp_path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(r"The output size is $\frac{N - F + 2P}{S} + 1$ and"
                                                  "\n\n$$y_{k,i,j} = \\sum_{c,r,s} x_{c,iS+r,jS+s}\\, w_{k,c,r,s}$$"))
    page = tmp_path / "feedback" / "alice" / "ps1"
    page.mkdir(parents=True)
    (page / "ps1.html").write_text(fb.render(nb, notebook="ps1", score=1, max_score=2))
    assert fb.place_mathjax(page, Course.find(ROOT).mathjax())
    return page / "ps1.html"


def test_the_page_names_no_remote_script_and_mathjax_sits_beside_it(tmp_path):
    html_file = _page(tmp_path)
    text = html_file.read_text()
    assert "cdnjs" not in text and 'src="mathjax/tex-mml-chtml.js"' in text
    assert (html_file.parent / "mathjax" / "tex-mml-chtml.js").stat().st_size > 100_000
    # a second page of the same folder reuses the copy
    assert fb.place_mathjax(html_file.parent, Course.find(ROOT).mathjax())


def test_without_a_mathjax_source_nothing_is_placed(tmp_path):
    assert not fb.place_mathjax(tmp_path, None)
    assert not (tmp_path / "mathjax").exists()


def test_formulas_are_typeset_in_a_browser_without_network(tmp_path):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is needed: run `make test` as root (it installs it) or "
                    "`sudo apt-get install chromium`", pytrace=False)
    from playwright.sync_api import sync_playwright

    html_file = _page(tmp_path)
    remote = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page()
            page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
            page.goto(html_file.as_uri())
            page.wait_for_selector("mjx-container", timeout=20_000)
            n = page.locator("mjx-container").count()
        finally:
            browser.close()
    assert n == 2, n
    assert remote == [], remote
