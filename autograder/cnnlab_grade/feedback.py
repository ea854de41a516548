"""Feedback pages: HTML that shows scores and diagnostics and leaks no hidden test.

nbgrader's ``generate_feedback`` copies the autograded notebook, hidden tests
and their tracebacks included.  Here the feedback notebook is built from the
autograded one by

1. nbgrader's ``ClearHiddenTests`` (the hidden regions leave the sources);
2. dropping every output (an output can carry whatever the student's code
   captured while the hidden tests ran) and giving each test cell one plain
   text result instead: its score and a diagnostic in plain words, where an
   error raised on a hidden line is named but not quoted;
3. redacting any hidden-test line from those texts (they contain pieces of
   exception messages, which the student's code controls);

and rendered with nbgrader's own feedback template, so scores per test cell
and the total look as TAs know them.  Formulas are typeset by MathJax 3 from
a ``mathjax/`` folder beside each page (the course website's own copy), not
from a CDN.
"""

from __future__ import annotations

import copy
import html
import os
import re

import nbformat
from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests
from traitlets.config import Config


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_LINE = re.compile(r"(?:Cell In\s*\[\s*\d*\s*\]|Input In\s*\[\s*\d*\s*\]|<ipython-input-[^>]*>)"
                        r"(?:,\s*line\s*|.*?\n\s*-*>\s*)(\d+)")


def hidden_line_numbers(source: str) -> set[int]:
    """1-based line numbers inside ``### BEGIN/END HIDDEN TESTS`` regions (markers included)."""
    out, inside = set(), False
    for n, line in enumerate(source.splitlines(), 1):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        if inside:
            out.add(n)
        if "END HIDDEN TESTS" in line:
            inside = False
    return out


def redact(text: str, hidden_lines: list[str], limit: int = 400) -> str:
    for line in hidden_lines:
        if line and line in text:
            text = text.replace(line, "[hidden test]")
    text = _ANSI.sub("", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failure_reason(cell, hidden_lines: list[str]) -> str | None:
    """Why a test cell failed, in plain words, or None if it did not."""
    hidden = hidden_line_numbers(cell.source)
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            ename, evalue = out.get("ename", "Error"), out.get("evalue", "")
            if ename == "CellTimeoutError":
                return "the test ran longer than the time limit and was interrupted"
            if ename in ("NotRun", "DeadKernelError", "RefereeCheckFailed"):
                return redact(evalue, hidden_lines)
            tb = _ANSI.sub("", "\n".join(out.get("traceback", [])))
            m = _CELL_LINE.search(tb)
            line = int(m.group(1)) if m else None
            if line is None or line in hidden:
                return f"a hidden test failed ({ename})"
            msg = f"{ename}: {evalue}" if evalue else ename
            return redact(f"line {line} of the test: {msg}", hidden_lines, 1000)
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            first = next((ln for ln in out.get("text", "").splitlines() if ln.strip()), "")
            return redact("the test wrote to stderr, which nbgrader counts as a failure: " + first, hidden_lines)
    return None


_EXPORTER = None


def _cached(fn, takes_context: bool):
    """Markdown and code of the instructor's cells are the same for every
    student: render each text once per worker."""
    cache: dict = {}

    if takes_context:
        @pass_context
        def filt(context, source, *a, **k):
            key = (source, context.get("cell", {}).get("cell_type"), bool(context.get("cell", {}).get("attachments")))
            if key[2]:
                return fn(context, source, *a, **k)
            if key not in cache:
                cache[key] = fn(context, source, *a, **k)
            return cache[key]
    else:
        def filt(source, *a, **k):
            key = (source, repr(a), repr(sorted(k.items(), key=str)))
            if key not in cache:
                cache[key] = fn(source, *a, **k)
            return cache[key]
    return filt


def _exporter() -> HTMLExporter:
    """nbgrader's feedback template on nbconvert's HTML exporter (as
    ``generate_feedback`` sets it up), with cached filters."""
    global _EXPORTER
    if _EXPORTER is None:
        import nbgrader

        base = os.path.dirname(nbgrader.__file__)
        c = Config()
        c.HTMLExporter.template_name = "feedback"
        c.HTMLExporter.extra_template_basedirs = [os.path.join(base, "server_extensions", "formgrader", "templates")]
        c.HTMLExporter.extra_template_paths = [os.path.join(
            base, "server_extensions", "formgrader", "static", "node_modules", "bootstrap", "dist", "css")]
        exp = HTMLExporter(config=c)
        exp.register_preprocessor(CSSHTMLHeaderPreprocessor(), enabled=True)
        exp.register_filter("markdown2html", _cached(exp.markdown2html, True))
        exp.register_filter("highlight_code", _cached(Highlight2HTML(pygments_lexer="ipython3", parent=exp), False))
        _EXPORTER = exp
    return _EXPORTER


#: what a withheld page says instead of the hidden tests' results
WITHHELD = {"after_due": "the hidden tests' results are shown after the due date",
            "never": "the hidden tests' results are not shown"}


def _visible_failure(cell, hidden_lines: list[str]) -> str | None:
    """The failure of a test cell at one of its visible lines (the student can see it by running the
    tests), or None: a failure at a hidden line, or from the referee, is not the visible tests'."""
    reason = failure_reason(cell, hidden_lines)
    return reason if reason and reason.startswith("line ") else None


def feedback_notebook(graded, questions: dict, notes: list[str], hidden_lines: list[str],
                      withheld: str | None = None):
    """The notebook the student sees.  ``questions``: grade_id -> dict with
    ``score``, ``max`` and ``reason`` (plain words, may be None).

    ``withheld`` (``"after_due"`` or ``"never"``): the hidden tests' results are
    held back -- no score per test cell and no total (both reveal them), only
    whether the visible tests passed, as the student's own run shows it."""
    nb = copy.deepcopy(graded)
    visible = {}
    if withheld:
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in questions and cell.cell_type == "code":
                visible[gid] = _visible_failure(cell, hidden_lines)
    nb, _ = ClearHiddenTests().preprocess(nb, {})
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if withheld and gid in questions and meta.get("grade"):
            meta["grade"] = False     # no score shown for it
            if cell.cell_type == "code" and not meta.get("solution"):
                why = visible.get(gid)
                text = (f"failed a visible test: {redact(why, hidden_lines, 1000)}" if why
                        else "the visible tests passed") + f"; {WITHHELD[withheld]}"
                cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": text})]
            continue
        if gid in questions and meta.get("grade"):
            q = questions[gid]
            meta["score"], meta["points"] = q["score"], q["max"]
            if cell.cell_type == "code" and not meta.get("solution"):
                mark = "passed" if q["score"] >= q["max"] else ("partly passed" if q["score"] > 0 else "failed")
                text = f"{mark}: {q['score']:g} / {q['max']:g}"
                if q.get("reason"):
                    text += "\n" + redact(q["reason"], hidden_lines, 1000)
                if q.get("diagnosis"):
                    text += "\nhint: " + redact(q["diagnosis"], hidden_lines, 600)
                cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": text})]
    if notes:
        body = "\n".join("- " + html.escape(redact(n, hidden_lines, 600)).replace("`", "'") for n in notes)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell("**Grading notes**\n\n" + body))
    return nb


#: the folder, next to each feedback page, that serves MathJax 3 to it (never a CDN: a student may read
#: the page offline, and the page must not tell a third party who opened it)
MATHJAX_DIR = "mathjax"
MATHJAX_ENTRY = "tex-mml-chtml.js"
_MATHJAX_V2 = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_REMOTE_SCRIPT = re.compile(r"<script[^>]*\ssrc=[\"']?(?:https?:)?//[^>]*>\s*</script>", re.I)
_MATHJAX_V3 = (r"""<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], """
               r"""displayMath: [['$$', '$$'], ['\\[', '\\]']], processEscapes: true, tags: 'ams'}};</script>"""
               f"\n<script defer src=\"{MATHJAX_DIR}/{MATHJAX_ENTRY}\"></script>")


def local_mathjax(page: str) -> str:
    """The page with nbconvert's MathJax 2 from a CDN replaced by MathJax 3
    from ``mathjax/`` beside the page, and no other remote script."""
    page = _MATHJAX_V2.sub(lambda m: _MATHJAX_V3, page, count=1)
    if MATHJAX_DIR + "/" + MATHJAX_ENTRY not in page:
        page = page.replace("</head>", _MATHJAX_V3 + "\n</head>", 1)
    return _REMOTE_SCRIPT.sub("", page)


def place_mathjax(folder, source) -> bool:
    """Put MathJax (the folder ``source``, e.g. the book's ``_assets/mathjax``)
    into ``folder/mathjax`` once, hard-linked where the file system allows (a
    class's pages then share one copy on disk), copied otherwise.  False when
    there is no source: the pages then show the TeX source of the formulas."""
    import shutil
    from pathlib import Path

    if source is None or not (Path(source) / MATHJAX_ENTRY).is_file():
        return False
    dest = Path(folder) / MATHJAX_DIR
    if (dest / MATHJAX_ENTRY).is_file():
        return True
    for f in sorted(Path(source).rglob("*")):
        if f.is_file() and not f.is_symlink():
            target = dest / f.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f, target)
            except OSError:
                shutil.copy2(f, target)
    return True


_HEADER = re.compile(r"(<h4>)(.*?) \(Score: (-?[\d.]+) / ([\d.]+)\)(</h4>)")
LATE_MARK = "<!-- cnnlab-late -->"


def render(nb, *, notebook: str, score: float, max_score: float, late_penalty: float = 0.0,
           withheld: str | None = None) -> str:
    """The page; ``withheld``: the total is not shown either (see :func:`feedback_notebook`)."""
    page = _render(nb, notebook=notebook, score=score, max_score=max_score, late_penalty=late_penalty)
    if withheld:
        page = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)} (score: {WITHHELD[withheld].split(' are ')[-1]})"
                                     f"{m.group(5)}", page, count=1)
    return page


def apply_late(page: str, penalty: float, reason: str) -> str:
    """The page with the late penalty taken off its total and the reason shown under it
    (``penalty``: this notebook's part, in points; ``reason``: the words of :mod:`cnnlab_grade.late`)."""
    if not reason:
        return page
    m = _HEADER.search(page)
    if m and penalty:
        score = float(m.group(3)) - penalty
        page = (page[:m.start()] + f"{m.group(1)}{m.group(2)} (Score: {round(score, 2)} / {m.group(4)}; "
                f"late penalty -{round(penalty, 2)}){m.group(5)}" + page[m.end():])
    note = (f'{LATE_MARK}<div class="alert alert-warning" role="note"><strong>Late policy:</strong> '
            f"{html.escape(reason)}</div>")
    m = re.search(r"</h4>", page)
    at = m.end() if m else page.find(">", page.find("<body")) + 1
    return page[:at] + note + page[at:]


def _render(nb, *, notebook: str, score: float, max_score: float, late_penalty: float = 0.0) -> str:
    resources = {"nbgrader": {"notebook": notebook, "score": score - late_penalty, "max_score": max_score,
                              "late_penalty": late_penalty}}
    exp = _exporter()
    exp.register_filter("filter_data_type", WidgetsDataTypeFilter(notebook_metadata={}, parent=exp, resources={}))
    # HTMLExporter.from_notebook_node would re-parse the page with BeautifulSoup to add alt texts and
    # tab stops to outputs (two thirds of the time here); the feedback has no images and no outputs
    # but our plain-text results, so the template's HTML is used as it is.
    body, _ = TemplateExporter.from_notebook_node(exp, nb, resources=resources)
    return local_mathjax(body)
