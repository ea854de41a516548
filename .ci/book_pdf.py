#!/usr/bin/env python3
"""Print the single-page build of the book to one PDF (``make pdf``).

``jupyter-book build --builder singlehtml book/`` writes every chapter into one
page, ``book/_build/singlehtml/<root>.html`` (``root:`` of ``book/_toc.yml``;
``index.html`` only redirects there. The notebooks' outputs come from
the execution cache of ``make book``.) This script serves that folder on
127.0.0.1, opens it in Debian's headless Chromium (the browser the tests use),
waits until every image has loaded and MathJax has typeset every formula, and
prints it to ``book/_build/html/cnnlab-book.pdf``: A4, page numbers, a PDF
outline (bookmarks) from the headings, tagged for screen readers. The site
links to that file; ``make release`` copies it into ``dist/``.

Nothing is fetched from outside: any request leaving 127.0.0.1 is blocked and
fails the build, as does a MathJax error. When the single page is the same as
at the last print (Sphinx writes it anew on every build, so its content is
compared, not its date), the PDF is kept (``--force`` prints it anyway).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "book" / "_build"
SOURCE = BUILD / "singlehtml"
TARGET = BUILD / "html" / "cnnlab-book.pdf"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

# Print layout: the page's text column only (no navigation bars, buttons, or the
# per-page footer), headings kept with what follows, figures not split.
PRINT_CSS = """
@page { size: A4; margin: 16mm 14mm 18mm 14mm; }
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .header-article, .prev-next-area,
.bd-footer-article, .bd-footer-content, .skip-link, .headerlink, .toggle-secondary-sidebar,
#pst-back-to-top, .search-button-field { display: none !important; }
.bd-main .bd-content .bd-article-container { max-width: 100% !important; }
.bd-page-width { max-width: 100% !important; }
h1, h2, h3 { break-after: avoid; }
figure, .cell_output img, table, .admonition { break-inside: avoid; }
body { font-size: 10.5pt; }
section > h1 { break-before: page; }
.cnnlab-pdf-cover { font-size: 11pt; margin: 0 0 2em 0; color: #333; }
"""

# In the page: load every image now, wait for MathJax, put a cover line first.
PREPARE_JS = """
async (cover) => {
  for (const img of document.images) { img.loading = "eager"; }
  await Promise.all(Array.from(document.images).map(img => img.decode().catch(() => null)));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    if (MathJax.typesetPromise) { await MathJax.typesetPromise(); }
  }
  const first = document.querySelector("article.bd-article, main, body");
  const p = document.createElement("p");
  p.className = "cnnlab-pdf-cover";
  p.textContent = cover;
  first.prepend(p);
  return {
    images: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
    mathSource: document.querySelectorAll(".math").length,
    mathRendered: document.querySelectorAll("mjx-container").length,
    mathErrors: Array.from(document.querySelectorAll("mjx-merror")).map(e => e.textContent),
  };
}
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def root_page() -> str:
    import yaml
    return str(yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())["root"]) + ".html"


def print_pdf(source: Path, target: Path, cover: str) -> dict:
    """Print the single page in ``source`` to ``target``; returns what the page reported."""
    from playwright.sync_api import sync_playwright

    page_name = root_page()
    if not (source / page_name).is_file():
        raise SystemExit(f"{source / page_name} is missing: build the single page first "
                         "(jupyter-book build --builder singlehtml book/, as `make pdf` does)")
    if not CHROMIUM.is_file():
        raise SystemExit("Debian's chromium prints the PDF: `make sysdeps` (as root) or "
                         "`sudo apt-get install chromium`")
    handler = functools.partial(_QuietHandler, directory=str(source))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    outside: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1000, "height": 1400})

            def route(r):
                if r.request.url.startswith((base, "data:", "blob:")):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()
            page.route("**/*", route)
            page.goto(base + page_name, wait_until="load", timeout=120_000)
            page.add_style_tag(content=PRINT_CSS)
            info = page.evaluate(PREPARE_JS, cover)
            page.wait_for_load_state("networkidle")
            target.parent.mkdir(parents=True, exist_ok=True)
            page.pdf(path=str(target), format="A4", print_background=True, outline=True, tagged=True,
                     display_header_footer=True, header_template="<span></span>",
                     footer_template='<div style="font-size:8px;width:100%;text-align:center;">'
                                     '<span class="pageNumber"></span> / <span class="totalPages"></span></div>',
                     margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"})
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    problems = [f"request leaving 127.0.0.1: {u}" for u in outside]
    problems += [f"image did not load: {u}" for u in info["images"]]
    if info["mathRendered"] < info["mathSource"]:
        problems.append(f"{info['mathSource']} formulas but {info['mathRendered']} typeset by MathJax")
    problems += [f"MathJax error: {e}" for e in info["mathErrors"]]
    if problems:
        target.unlink(missing_ok=True)
        raise SystemExit("the PDF was not written:\n  " + "\n  ".join(problems))
    return info


def source_digest(source: Path, page_name: str) -> str:
    """What the PDF is made of: the page, and the names of the images (content-hashed by Sphinx)."""
    digest = hashlib.sha256((source / page_name).read_bytes())
    for image in sorted((source / "_images").glob("*")):
        digest.update(f"{image.name}:{image.stat().st_size}".encode())
    return digest.hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help=f"single-page build (default {SOURCE})")
    parser.add_argument("--output", type=Path, default=TARGET, help=f"the PDF to write (default {TARGET})")
    parser.add_argument("--force", action="store_true", help="print even when the single page has not changed")
    args = parser.parse_args(argv)
    stamp = args.output.with_name(f".{args.output.name}.source")
    digest = source_digest(args.source, root_page()) if (args.source / root_page()).is_file() else None
    if not args.force and digest and args.output.is_file() and stamp.is_file() and stamp.read_text() == digest:
        print(f"{args.output.name} is up to date (the single page has not changed)")
        return 0
    from cnnlab import __version__
    cover = (f"CNN Lab {__version__}: a course kit on convolutional neural networks. Text and figures "
             "CC BY 4.0, code MIT (see LICENSE-BOOK.md and LICENSE). Printed "
             f"{time.strftime('%Y-%m-%d')} from the website's single-page build.")
    start = time.perf_counter()
    info = print_pdf(args.source, args.output, cover)
    stamp.write_text(digest)
    size = args.output.stat().st_size / 1e6
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output} "
          f"({size:.1f} MB, {info['mathRendered']} formulas) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
