"""The package installs and imports as promised (the lock and environment.yml: test_lock.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_import_cnnlab_is_light():
    out = _run("import sys, cnnlab; print('torch' in sys.modules, 'numba' in sys.modules)")
    assert out == "False False"


def test_import_cnnlab_ref_does_not_import_torch():
    out = _run("import sys, numpy as np, cnnlab.ref as r; r.conv2d(np.ones((1,1,4,4)), np.ones((1,1,2,2))); "
               "print('torch' in sys.modules)")
    assert out == "False"


def test_numba_uses_a_threading_layer_that_parks_its_threads():
    """The default layers spin after a parallel region and slow the user's
    NumPy/torch down (measured on the 2-core machines); cnnlab selects 'workqueue' unless told otherwise."""
    code = ("import numpy as np, numba, cnnlab.ref as r; r.max_pool2d(np.ones((2,2,8,8)), 2); "
            "print(numba.threading_layer())")
    assert _run(code) == "workqueue"


@pytest.mark.parametrize("name", ["pyproject.toml", "environment.yml", "Makefile", "README.md", ".ci/run"])
def test_layout_files_exist(name):
    assert (ROOT / name).is_file()


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci/run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_first_kernel_call_does_not_import_scipy_linalg():
    """numba's BLAS probe is answered from the installed files (cnnlab.ref._numba):
    the first call stays 0.2-0.3 s faster, and BLAS in numba code still works."""
    code = ("import sys, numpy as np, numba, cnnlab.ref as r; r.conv2d(np.ones((1,1,4,4)), np.ones((1,1,2,2))); "
            "import numba.np.arraymath as am, numba.np.linalg as nl; "
            "before = 'scipy.linalg' in sys.modules; "
            "d = numba.njit(lambda a, b: np.dot(a, b)); "
            "print(before, am._HAVE_BLAS, am.ensure_blas is nl.ensure_blas, d(np.ones(3), np.ones(3)))")
    assert _run(code) == "False True True 3.0"
