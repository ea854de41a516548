"""The website, tested in a real browser (Debian's headless Chromium, driven by Playwright).

The session fixture builds the book with the same command as ``make book``
(``jupyter-book build -W -n --keep-going book/``) when ``book/_build/html`` is
missing or older than its sources (the execution cache keeps a rebuild short),
serves it on 127.0.0.1 and visits every page.  On each page nothing may go
wrong: no console error, no uncaught exception, no failed request, no request
leaving 127.0.0.1 (such requests are blocked and reported), every image loaded,
the math typeset by MathJax (no raw ``\\(`` left), every internal link pointing
to an existing page and anchor.  A full-page screenshot of each page is saved
under ``book/_build/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
BUILD = BOOK / "_build"
HTML = BUILD / "html"
SHOTS = BUILD / "screenshots"
STAMP = BUILD / ".site-built"          # written after a successful build by this test
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
HOST = "127.0.0.1"
# Pages Sphinx writes besides the ones in the table of contents.
GENERATED_PAGES = ["genindex", "search"]


def toc_pages() -> list[str]:
    """Docnames in book/_toc.yml, in reading order."""
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(str(Path(entry["file"]).with_suffix("")))
            walk(entry.get("sections"))
            walk(entry.get("chapters"))
    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return pages


PAGES = toc_pages() + GENERATED_PAGES


# --------------------------------------------------------------------------- build and serve

def _newest_source_mtime() -> float:
    newest = 0.0
    for base in (BOOK, ROOT / "lib" / "cnnlab"):
        for path in base.rglob("*"):
            if path.is_file() and BUILD not in path.parents and "__pycache__" not in path.parts:
                newest = max(newest, path.stat().st_mtime)
    return newest


def build_book() -> None:
    """Build like `make book` does, with this checkout's cnnlab on the kernels' path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "lib"), env.get("PYTHONPATH")]))
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", "-W", "-n", "--keep-going", str(BOOK)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"the book does not build (exit {proc.returncode}):\n"
                    f"{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}", pytrace=False)
    STAMP.touch()


@pytest.fixture(scope="session")
def site_dir() -> Path:
    if not (HTML / "index.html").is_file() or not STAMP.is_file() \
            or STAMP.stat().st_mtime < _newest_source_mtime():
        build_book()
    return HTML


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="session")
def base_url(site_dir):
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail("Debian's chromium is needed for the website tests: run `make test` as root "
                    "(it installs it) or `sudo apt-get install chromium`", pytrace=False)
    from playwright.sync_api import sync_playwright
    # Playwright gives the browser a fresh temporary profile itself.
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


# --------------------------------------------------------------------------- what a page is made of

class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def anchors_of(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def _is_local(url: str, base: str) -> bool:
    return url.startswith(base) or url.startswith(("data:", "blob:", "about:"))


# Runs in the page once it has loaded: load every image now (lazy ones too),
# wait for MathJax, then report what the checks need.
_INSPECT = """
async () => {
  for (const img of document.images) { img.loading = "eager"; }
  await Promise.all(Array.from(document.images).map(
      img => img.decode().catch(() => null)));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll("pre, code, script, style, mjx-container, .highlight").forEach(e => e.remove());
  return {
    images: Array.from(document.images).map(i => ({src: i.currentSrc || i.src,
        complete: i.complete, width: i.naturalWidth})),
    mathSource: document.querySelectorAll(".math").length,
    mathRendered: document.querySelectorAll("mjx-container").length,
    mathErrors: Array.from(document.querySelectorAll("mjx-merror")).map(e => e.textContent),
    text: clone.innerText,
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
  };
}
"""


def visit(browser, base_url: str, page_name: str) -> dict:
    """Load one page, return what happened and what it contains."""
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()

    def route(r):
        url = r.request.url
        if _is_local(url, base_url):
            r.continue_()
        else:
            problems.append(f"request leaving {HOST}: {url}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))
    page.on("requestfailed", lambda r: None if not _is_local(r.url, base_url)
            else problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    try:
        response = page.goto(base_url + page_name + ".html", wait_until="load")
        assert response is not None and response.ok, f"{page_name}.html did not load"
        info = page.evaluate(_INSPECT)
        page.wait_for_load_state("networkidle")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / (page_name.replace("/", "__") + ".png")), full_page=True)
    finally:
        context.close()
    info["problems"] = problems
    return info


@pytest.fixture(scope="session")
def visited(browser, base_url):
    """Each page visited once per session, shared by the checks below."""
    cache: dict[str, dict] = {}

    def get(name):
        if name not in cache:
            cache[name] = visit(browser, base_url, name)
        return cache[name]
    return get


# --------------------------------------------------------------------------- the checks

@pytest.mark.parametrize("page_name", PAGES)
def test_page_loads_cleanly(visited, page_name):
    info = visited(page_name)
    assert not info["problems"], "\n".join(info["problems"])


@pytest.mark.parametrize("page_name", PAGES)
def test_every_image_loaded(visited, page_name):
    info = visited(page_name)
    broken = [i["src"] for i in info["images"] if not i["complete"] or i["width"] == 0]
    assert not broken, f"images that did not load: {broken}"
    if page_name.startswith("chapters/"):
        figures = [i for i in info["images"] if "/_images/" in i["src"]]
        assert len(figures) >= 2, f"a chapter shows its figures, this one shows {len(figures)}"


@pytest.mark.parametrize("page_name", PAGES)
def test_math_is_typeset(visited, page_name):
    info = visited(page_name)
    if info["mathSource"]:
        assert info["mathRendered"] >= info["mathSource"], (
            f"{info['mathSource']} math elements but only {info['mathRendered']} rendered by MathJax")
    assert not info["mathErrors"], f"MathJax errors: {info['mathErrors']}"
    raw = [m.group(0) for m in re.finditer(r"\\\(|\\\[|\$\$", info["text"])]
    assert not raw, f"raw TeX delimiters left in the visible text: {raw[:5]}"


@pytest.mark.parametrize("page_name", PAGES)
def test_internal_links_resolve(visited, base_url, page_name):
    info = visited(page_name)
    dangling = []
    for link in info["links"]:
        if not link.startswith(base_url):
            continue
        parts = urlsplit(link)
        rel = unquote(parts.path)[len(urlsplit(base_url).path):]
        target = HTML / rel
        if rel == "" or rel.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            dangling.append(f"{link} (no file {target.relative_to(HTML)})")
        elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in anchors_of(target):
            dangling.append(f"{link} (no anchor #{parts.fragment} in {target.relative_to(HTML)})")
    assert not dangling, "links that do not resolve:\n" + "\n".join(dangling)


def test_every_built_page_is_visited(site_dir):
    built = {str(p.relative_to(site_dir).with_suffix("")) for p in site_dir.rglob("*.html")
             if not p.relative_to(site_dir).parts[0].startswith("_")}
    built.discard("index")  # the redirect to the root page
    assert built == set(PAGES), f"pages built but not tested: {sorted(built - set(PAGES))}; " \
                                f"tested but not built: {sorted(set(PAGES) - built)}"


def test_html_refers_to_no_external_script_style_or_font(site_dir):
    """Scripts, stylesheets, fonts and images all come from the site itself."""
    pattern = re.compile(r"<(?:script|img|link|source|iframe)\b[^>]*?\b(?:src|href)=\"((?:https?:)?//[^\"]+)\"")
    external = []
    for path in site_dir.rglob("*.html"):
        for tag in re.finditer(r"<(?:script|img|link|source|iframe)\b[^>]*>", path.read_text(errors="replace")):
            text = tag.group(0)
            if text.startswith("<link") and re.search(r'rel="(?:canonical|alternate|author|license)"', text):
                continue
            m = pattern.search(text)
            if m:
                external.append(f"{path.relative_to(site_dir)}: {m.group(1)}")
    assert not external, "\n".join(external[:20])


CHAPTERS = [p for p in PAGES if p.startswith("chapters/")]


@pytest.mark.parametrize("page_name", CHAPTERS)
def test_chapter_offers_its_executed_notebook_and_launch_buttons(site_dir, page_name):
    import nbformat
    html = (site_dir / f"{page_name}.html").read_text()
    stem = Path(page_name).name
    assert f'_sources/{page_name}.ipynb"' in html, "no download link to the chapter's notebook"
    nb = nbformat.read(site_dir / "_sources" / f"{page_name}.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the notebook holds no figure"
    assert not any(o.get("output_type") == "error" for o in outputs), "the notebook holds an error"
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    buttons = config["launch_buttons"]
    for key in ("binderhub_url", "colab_url", "jupyterhub_url"):
        host = buttons[key].rstrip("/")
        links = re.findall(rf'href="({re.escape(host)}[^"]*)"', html)
        assert links, f"no {key} launch button"
        assert any(stem in unquote(link) and repo.split("/")[-1] in unquote(link) for link in links), links


@pytest.mark.parametrize("page_name", CHAPTERS)
def test_chapter_source_opens_as_a_python_notebook(page_name):
    """The launch buttons open the .md source: Jupyter (with jupytext) must read it as a
    notebook with code cells and the python3 kernel."""
    import jupytext
    nb = jupytext.read(BOOK / f"{page_name}.md")
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert sum(c.cell_type == "code" for c in nb.cells) >= 5
