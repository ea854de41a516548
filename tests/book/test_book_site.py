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

Accessibility: axe-core (the copy inside ``axe-playwright-python``, injected
into the page, so nothing comes from outside) finds no serious or critical
violation on any page; every image has alt text that says what it shows; the
keyboard alone (Tab, and Enter on a menu button) reaches every link and button.

The site offers the whole book as a PDF (``make pdf``: the single-page build
printed by the same Chromium); the PDF holds every chapter, its figures and
its math typeset.
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
PDF = HTML / "cnnlab-book.pdf"          # `make pdf`; the footer of every page links it
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
    # The PDF the site links to, as `make book` makes it (reusing the execution cache).
    proc = subprocess.run(["make", "--no-print-directory", "pdf"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"`make pdf` failed (exit {proc.returncode}):\n"
                    f"{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}", pytrace=False)
    STAMP.touch()


@pytest.fixture(scope="session")
def site_dir() -> Path:
    if not (HTML / "index.html").is_file() or not PDF.is_file() or not STAMP.is_file() \
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


# module scope: Playwright's sync API keeps an event loop running in this thread until it
# stops, and the grader's tests after this module run asyncio code of their own
@pytest.fixture(scope="module")
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
        complete: i.complete, width: i.naturalWidth, alt: i.getAttribute("alt")})),
    mathSource: document.querySelectorAll(".math").length,
    mathRendered: document.querySelectorAll("mjx-container").length,
    mathErrors: Array.from(document.querySelectorAll("mjx-merror")).map(e => e.textContent),
    text: clone.innerText,
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
    footer: (document.querySelector(".extra_footer") || {innerText: ""}).innerText,
    footerLinks: Array.from(document.querySelectorAll(".extra_footer a[href]")).map(a => a.href),
  };
}
"""

# Keyboard: number every link and button a reader can see (and what else takes focus),
# then record which of them receive focus while Tab is pressed.
_KEYBOARD_SETUP = """
(scope) => {
  const sel = 'a[href], button, summary, input, select, textarea, [tabindex]:not([tabindex="-1"])';
  const root = scope ? document.querySelector(scope) : document;
  const shown = el => el.checkVisibility({checkVisibilityCSS: true}) && el.getClientRects().length > 0
      && !el.closest('[inert], [aria-hidden="true"]') && !el.disabled;
  const els = Array.from(root.querySelectorAll(sel)).filter(shown);
  window.__kbd = {reached: new Set(), els};
  if (!window.__kbdListening) {
    document.addEventListener("focusin", e => window.__kbd.reached.add(e.target), true);
    window.__kbdListening = true;
  }
  return els.length;
}
"""
_KEYBOARD_MISSED = """
() => window.__kbd.els.filter(el => !window.__kbd.reached.has(el))
        .map(el => el.outerHTML.slice(0, 160))
"""


def keyboard_check(page) -> list[str]:
    """Links and buttons the keyboard does not reach: Tab through the page, then open
    each menu button with Enter and Tab through its items."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    n = page.evaluate(_KEYBOARD_SETUP, None)
    for _ in range(n + 3):
        page.keyboard.press("Tab")
    missed = page.evaluate(_KEYBOARD_MISSED)
    toggles = page.locator(".dropdown-toggle")
    for i in range(toggles.count()):
        toggle = toggles.nth(i)
        if not toggle.is_visible():
            continue
        toggle.focus()
        page.keyboard.press("Enter")
        menu_id = f"kbd-menu-{i}"
        page.evaluate("([t, id]) => t.parentElement.querySelector('.dropdown-menu').id = id",
                      [toggle.element_handle(), menu_id])
        m = page.evaluate(_KEYBOARD_SETUP, f"#{menu_id}")
        if m == 0:
            missed.append(f"the menu of {toggle.get_attribute('aria-label')!r} does not open with Enter")
        for _ in range(m):
            page.keyboard.press("Tab")
        missed += page.evaluate(_KEYBOARD_MISSED)
        page.keyboard.press("Escape")
    return missed


def axe_check(page) -> list[dict]:
    """axe-core's violations on the page (the copy of axe-core inside axe-playwright-python)."""
    from axe_playwright_python.sync_playwright import Axe
    return Axe().run(page).response["violations"]


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
        info["problems"] = list(problems)     # what loading the page did (axe fetches more itself)
        info["axe"] = axe_check(page)
        info["keyboard_missed"] = keyboard_check(page)
    finally:
        context.close()
    return info


@pytest.fixture(scope="module")
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
        # every figure cell of the chapter's source (the cells with alt text for myst-nb) shows its figure
        source = (ROOT / "book" / f"{page_name}.md").read_text()
        cells = len(re.findall(r"^mystnb:\n(?:[ ].*\n)*?  image:\n    alt:", source, re.M))
        figures = {i["src"] for i in info["images"] if "/_images/" in i["src"]}
        assert cells >= 1 and len(figures) >= cells, f"{cells} figure cells in the source, {len(figures)} figures shown"


SERIOUS = ("serious", "critical")


@pytest.mark.parametrize("page_name", PAGES)
def test_axe_finds_no_serious_accessibility_violation(visited, page_name):
    violations = [v for v in visited(page_name)["axe"] if v["impact"] in SERIOUS]
    assert not violations, "\n".join(
        f"[{v['impact']}] {v['id']}: {v['help']}: " + "; ".join(n["html"][:120] for n in v["nodes"][:3])
        for v in violations)


@pytest.mark.parametrize("page_name", PAGES)
def test_every_image_has_alt_text_that_says_what_it_shows(visited, page_name):
    missing = [i["src"] for i in visited(page_name)["images"]
               if not (i["alt"] or "").strip() or i["alt"].strip() == i["src"]
               or re.search(r"\.(png|jpe?g|svg|gif)$", i["alt"].strip())]
    assert not missing, f"images without alt text: {missing}"
    for img in visited(page_name)["images"]:
        if "/_images/" in img["src"]:             # a figure of the chapter: a sentence, not a label
            assert len(img["alt"].split()) >= 8, f"alt text too short to describe a figure: {img['alt']!r}"


def test_no_two_figures_share_their_alt_text(visited):
    seen: dict[str, str] = {}
    for page_name in PAGES:
        for img in visited(page_name)["images"]:
            if "/_images/" in img["src"]:
                assert img["alt"] not in seen or seen[img["alt"]] == img["src"], \
                    f"{page_name}: same alt text as a figure of {seen[img['alt']]}: {img['alt']!r}"
                seen.setdefault(img["alt"], img["src"])


@pytest.mark.parametrize("page_name", PAGES)
def test_the_keyboard_reaches_every_link_and_button(visited, page_name):
    missed = visited(page_name)["keyboard_missed"]
    assert not missed, "not reached with Tab:\n" + "\n".join(missed)


@pytest.mark.parametrize("page_name", PAGES)
def test_footer_shows_version_licences_and_the_pdf(visited, base_url, page_name):
    from cnnlab import __version__
    info = visited(page_name)
    assert f"CNN Lab {__version__}" in info["footer"]
    assert "CC BY 4.0" in info["footer"] and "MIT" in info["footer"]
    assert base_url + "cnnlab-book.pdf" in info["footerLinks"]


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
    # Colab opens an .ipynb of the repository (never the .md), which installs cnnlab first
    colab = re.findall(rf'href="({re.escape(buttons["colab_url"].rstrip("/"))}[^"]*)"', html)
    path = f"book/{page_name}.ipynb"
    assert colab == [f"{buttons['colab_url'].rstrip('/')}/github/{repo}/blob/"
                     f"{config['repository']['branch']}/{path}"], colab
    first = nbformat.read(ROOT / path, as_version=4).cells[0]
    assert first.cell_type == "code" and f"git+{config['repository']['url']}" in first.source


def test_pdf_of_the_whole_book(site_dir):
    """Every chapter's title, its figures and typeset math (no TeX source left)."""
    from pypdf import PdfReader
    reader = PdfReader(PDF)
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    flat = re.sub(r"\s+", " ", text)
    titles = []
    for name in PAGES[:-len(GENERATED_PAGES)]:
        heading = next(line for line in (BOOK / f"{name}.md").read_text().splitlines() if line.startswith("# "))
        titles.append(heading[2:].strip())
    missing = [t for t in titles if re.sub(r"\s+", " ", t) not in flat]
    assert not missing, f"chapter titles missing from the PDF: {missing}"
    figures = sum(len(re.findall(r'<img[^>]+src="[^"]*_images/', (site_dir / f"{c}.html").read_text()))
                  for c in CHAPTERS)
    images = sum(len(page.images) for page in reader.pages)
    assert images >= figures, f"the PDF holds {images} images, the chapters show {figures} figures"
    raw = re.findall(r"\\\(|\\\[|\$\$|\\frac|\\sum", text)
    assert not raw, f"untypeset TeX in the PDF: {raw[:5]}"
    # MathJax draws formulas with its own web fonts, which Chromium embeds as Type 3 fonts
    # (the text is in TrueType fonts): no Type 3 font, no typeset math.
    type3 = {str(f.get_object().get("/Name", f)) for page in reader.pages
             for f in (page.get("/Resources", {}).get_object().get("/Font", {}) or {}).get_object().values()
             if f.get_object().get("/Subtype") == "/Type3"}
    assert type3, "no formula was typeset in the PDF (MathJax's fonts are missing)"
    assert len(reader.pages) >= 2 * len(CHAPTERS)
    from cnnlab import __version__
    assert f"CNN Lab {__version__}" in flat


@pytest.mark.parametrize("page_name", CHAPTERS)
def test_chapter_source_opens_as_a_python_notebook(page_name):
    """The launch buttons open the .md source: Jupyter (with jupytext) must read it as a
    notebook with code cells and the python3 kernel."""
    import jupytext
    nb = jupytext.read(BOOK / f"{page_name}.md")
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert sum(c.cell_type == "code" for c in nb.cells) >= 5
