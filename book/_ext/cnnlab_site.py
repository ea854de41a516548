"""Small fixes to the generated CNN Lab website (a local Sphinx extension).

* **Executed notebooks after a cached rebuild.** myst-nb writes each chapter's
  notebook to ``_build/jupyter_execute`` (the page's download button offers
  that file). When the outputs come from the execution cache, myst-nb 1.4
  writes the notebook *without* them (it saves the parsed notebook, not the one
  merged with the cache), so after a cached rebuild readers would download
  empty notebooks. :func:`restore_cached_outputs` puts the cached outputs back
  right after each chapter is read.
* **Duplicated inline scripts.** Inline scripts added by extensions during
  ``env-before-read-docs`` end up in each page twice with Sphinx 7
  (sphinx-thebe's ``const THEBE_JS_URL = ...`` then throws "Identifier has
  already been declared" in the browser): keep the first copy of every
  script. Thebe is off (its code would come from a CDN), so its loader and
  settings are dropped from the pages altogether.
* **Version, licence and the PDF.** The version comes from its one place,
  ``cnnlab.__version__`` (``lib/cnnlab/_version.py``), into Sphinx's
  ``version``/``release`` and the footer of every page, which also states
  the licences and links the whole book as a PDF (``make pdf`` writes
  ``cnnlab-book.pdf`` next to the pages). Each page's download menu offers
  that PDF too.
* **The single-page build** (``--builder singlehtml``, printed to the PDF):
  Sphinx looks up node visitors by builder name before format, and since
  another extension registers visitors for "singlehtml", the HTML visitors of
  myst-nb (its folded code cells) were not found there ("unknown node type:
  HideCodeCellNode"). Every HTML builder gets the "html" visitors it lacks.
* **Alt text.** Every image of a page must have alt text that says what it
  shows; a figure made by a code cell gets it from the cell's metadata
  (``mystnb: {image: {alt: "..."}}`` beside its ``figure`` caption). An image
  without one is a warning, so ``-W`` fails the build.
* **Accessibility of the theme's output** (axe-core, run by the browser test,
  finds no serious or critical violation): docutils marks the entries of the
  bibliography with the deprecated ARIA role ``doc-biblioentry`` inside a
  ``role="list"``, which then has no list items; they become ``listitem``.
  ``_assets/cnnlab.css`` darkens the link colour so that links keep a 4.5:1
  contrast on the tinted backgrounds of admonitions and exercises.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
PDF_NAME = "cnnlab-book.pdf"          # written by `make pdf` (.ci/book_pdf.py) into the site
CC_BY = "https://creativecommons.org/licenses/by/4.0/"


def _has_outputs(nb) -> bool:
    return any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


def restore_cached_outputs(ipynb_path, cache_path) -> bool:
    """If the notebook at ``ipynb_path`` has no outputs but the jupyter-cache
    at ``cache_path`` holds an executed copy of it, write the merged notebook
    back. Returns True when it did."""
    import nbformat
    from jupyter_cache import get_cache

    ipynb_path, cache_path = Path(ipynb_path), Path(cache_path)
    if not ipynb_path.is_file() or not cache_path.is_dir():
        return False
    nb = nbformat.read(ipynb_path, as_version=4)
    if _has_outputs(nb) or not any(c.cell_type == "code" for c in nb.cells):
        return False
    try:
        _, merged = get_cache(str(cache_path)).merge_match_into_notebook(nb)
    except KeyError:            # not in the cache: nothing to restore
        return False
    if not _has_outputs(merged):
        return False
    ipynb_path.write_text(nbformat.writes(merged), encoding="utf-8")
    return True


def _after_read(app, doctree):
    config = getattr(app.env, "mystnb_config", None)
    if config is None or config.execution_mode != "cache":
        return
    ipynb = Path(config.output_folder).joinpath(*(app.env.docname + ".ipynb").split("/"))
    restore_cached_outputs(ipynb, config.execution_cache_path)


def _script_key(js) -> tuple:
    attrs = getattr(js, "attributes", {}) or {}
    # inline scripts come once with filename None and once with ''
    return (str(getattr(js, "filename", js) or ""), tuple(sorted((k, str(v)) for k, v in attrs.items())))


def _is_thebe(js) -> bool:
    name = str(getattr(js, "filename", "") or "")
    body = str((getattr(js, "attributes", {}) or {}).get("body", ""))
    return name.rsplit("/", 1)[-1].startswith("sphinx-thebe") or "THEBE_JS_URL" in body


def clean_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    thebe_on = bool(app.config.html_theme_options.get("launch_buttons", {}).get("thebe"))
    seen, kept = set(), []
    for js in scripts:
        key = _script_key(js)
        if key in seen or (not thebe_on and _is_thebe(js)):
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept


def share_html_visitors(app) -> None:
    """Builders of the HTML format that have visitors of their own (singlehtml) also get
    the visitors registered for "html" that they lack."""
    handlers = app.registry.translation_handlers
    name = app.builder.name
    if app.builder.format == "html" and name != "html" and name in handlers:
        for node, visitors in handlers.get("html", {}).items():
            handlers[name].setdefault(node, visitors)


def set_version(app, config) -> None:
    from cnnlab import __version__
    config.version = config.release = __version__


def _is_meaningful_alt(alt: str | None, uri: str) -> bool:
    alt = (alt or "").strip()
    return bool(alt) and alt != uri and not re.search(r"\.(png|jpe?g|svg|gif)$", alt, re.I) \
        and len(alt.split()) >= 3


def check_alt_text(app, doctree, docname) -> None:
    """Warn (an error under -W) about every image without meaningful alt text."""
    for image in doctree.findall(nodes.image):
        if not _is_meaningful_alt(image.get("alt"), image.get("uri", "")):
            LOGGER.warning("image %s has no alt text: give the code cell `mystnb: {image: {alt: ...}}` "
                           "(a sentence on what the figure shows) beside its figure caption",
                           image.get("uri"), location=image)


def footer_html(pathto, config) -> str:
    repo = (config.html_theme_options.get("repository_url") or "").rstrip("/")
    branch = config.html_theme_options.get("repository_branch") or "main"
    licence = f"{repo}/blob/{branch}/LICENSE-BOOK.md" if repo else CC_BY
    code = f"{repo}/blob/{branch}/LICENSE" if repo else "https://opensource.org/license/mit"
    return (f'<p>CNN Lab {config.release} · <a href="{pathto(PDF_NAME, 1)}" download>'
            f'The whole book as a PDF</a></p>'
            f'<p>Text and figures: <a rel="license" href="{CC_BY}">CC BY 4.0</a> '
            f'(<a href="{licence}">terms</a>); code: <a href="{code}">MIT licence</a>.</p>')


def add_version_licence_and_pdf(app, pagename, templatename, context, doctree) -> None:
    pathto = context["pathto"]
    context["theme_extra_footer"] = footer_html(pathto, app.config)
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].append({
                "type": "link",
                "url": pathto(PDF_NAME, 1),
                "text": "book .pdf",
                "tooltip": "Download the whole book as a PDF",
                "icon": "fas fa-book",
                "label": "download-book-pdf-button",
            })


def fix_bibliography_roles(app, pagename, templatename, context, doctree) -> None:
    """role="list" whose items say role="doc-biblioentry" (deprecated): make them list items."""
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app):
    app.connect("config-inited", set_version)
    app.connect("builder-inited", share_html_visitors)
    app.connect("doctree-read", _after_read)
    app.connect("doctree-resolved", check_alt_text)
    # after the themes and extensions have filled the page context
    app.connect("html-page-context", clean_scripts, priority=900)
    app.connect("html-page-context", add_version_licence_and_pdf, priority=900)
    app.connect("html-page-context", fix_bibliography_roles, priority=900)
    app.add_css_file("cnnlab.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
