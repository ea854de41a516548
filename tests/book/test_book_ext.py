"""book/_ext/cnnlab_site.py: the fix that keeps the downloadable notebooks executed."""

import importlib.util
from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("cnnlab_site", ROOT / "book" / "_ext" / "cnnlab_site.py")
site_ext = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(site_ext)


def _notebook(source):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell(source)]
    return nb


def _cache_executed(cache_dir, source, text):
    executed = _notebook(source)
    executed.cells[1].execution_count = 1
    executed.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    get_cache(str(cache_dir)).cache_notebook_bundle(CacheBundleIn(executed, "chapter.md"),
                                                   check_validity=False)


def test_outputs_come_back_from_the_cache(tmp_path):
    _cache_executed(tmp_path / "cache", "print(6 * 7)", "42\n")
    written = tmp_path / "chapter.ipynb"
    nbformat.write(_notebook("print(6 * 7)"), written)           # what myst-nb writes on a cache hit
    assert site_ext.restore_cached_outputs(written, tmp_path / "cache") is True
    nb = nbformat.read(written, as_version=4)
    assert nb.cells[1].outputs[0]["text"] == "42\n"
    assert nb.cells[0].source == "# title"                        # the markdown is kept
    assert site_ext.restore_cached_outputs(written, tmp_path / "cache") is False   # nothing left to do


def test_a_notebook_the_cache_does_not_hold_is_left_alone(tmp_path):
    _cache_executed(tmp_path / "cache", "print(6 * 7)", "42\n")
    written = tmp_path / "chapter.ipynb"
    nbformat.write(_notebook("print(6 * 9)"), written)           # different code: no match
    before = written.read_text()
    assert site_ext.restore_cached_outputs(written, tmp_path / "cache") is False
    assert written.read_text() == before
    assert site_ext.restore_cached_outputs(tmp_path / "missing.ipynb", tmp_path / "cache") is False
