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
"""

from __future__ import annotations

from pathlib import Path


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


def setup(app):
    app.connect("doctree-read", _after_read)
    # after the themes and extensions have filled the page context
    app.connect("html-page-context", clean_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
