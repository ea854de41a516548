"""Small fixes to the generated pages of the CNN Lab website (a local Sphinx extension).

* Inline scripts added by extensions during ``env-before-read-docs`` end up in
  each page twice with Sphinx 7 (sphinx-thebe's ``const THEBE_JS_URL = ...``
  then throws "Identifier has already been declared" in the browser): keep the
  first copy of every script.
* Thebe is off (its code would come from a CDN), so its loader and settings
  are dropped from the pages altogether.
"""

from __future__ import annotations


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
    # after the themes and extensions have filled the page context
    app.connect("html-page-context", clean_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
