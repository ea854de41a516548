"""The vectorisation check counts the loops a student hides from it.

A loop is a loop whether its lines are written out, compiled under a
library's file name, run with the line counter switched off, or compiled
with numba; an honest vectorised answer passes."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from cnnlab.checks import GradingFailure, check_vectorised
from cnnlab.checks.cases import ConvCase

CASE = ConvCase(N=4, C=4, H=8, W=8, K=8, R=3, S=3, padding=1)

LOOP = textwrap.dedent("""
    def conv_loop(x, w, b=None, stride=1, padding=0):
        N, C, H, W = x.shape
        K, _, R, S = w.shape
        OH = (H - R + 2 * padding) // stride + 1
        OW = (W - S + 2 * padding) // stride + 1
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        y = np.zeros((N, K, OH, OW), dtype=x.dtype)
        for n in range(N):
            for k in range(K):
                for i in range(OH):
                    for j in range(OW):
                        y[n, k, i, j] = np.sum(xp[n, :, i*stride:i*stride+R, j*stride:j*stride+S] * w[k])
        return y if b is None else y + b[None, :, None, None]
""")


def _compiled(filename):
    ns = {"np": np}
    exec(compile(LOOP, filename, "exec"), ns)
    return ns["conv_loop"]


def vectorised(x, w, b=None, stride=1, padding=0):
    from numpy.lib.stride_tricks import sliding_window_view
    K, _, R, S = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = sliding_window_view(xp, (R, S), axis=(2, 3))[:, :, ::stride, ::stride]
    y = np.einsum("nchwrs,kcrs->nkhw", win, w)
    return y if b is None else y + b[None, :, None, None]


def test_an_honest_vectorised_answer_passes():
    check_vectorised(vectorised, CASE, seed=0)


def test_a_plain_loop_fails():
    with pytest.raises(GradingFailure, match="not vectorised"):
        check_vectorised(_compiled("<ipython-input-1>"), CASE, seed=0)


def test_a_loop_compiled_under_numpys_file_name_is_still_counted():
    with pytest.raises(GradingFailure, match="not vectorised"):
        check_vectorised(_compiled(np.__file__), CASE, seed=0)


def test_a_loop_that_switches_the_counter_off_fails():
    loop = _compiled("<ipython-input-2>")

    def sneaky(*args, **kwargs):  # the hook reached by a name the source does not show
        hook = vars(sys)["set" + "trace"]
        hook(None)
        return loop(*args, **kwargs)
    with pytest.raises(GradingFailure, match="switched off the line counter|switching off the forbidden-call detector"):
        check_vectorised(sneaky, CASE, seed=0)


def test_a_replaced_settrace_does_not_switch_the_counter_off():
    loop = _compiled("<ipython-input-3>")
    original = sys.settrace
    sys.settrace = lambda *a, **k: None  # what a notebook could do in an earlier cell
    try:
        with pytest.raises(GradingFailure, match="not vectorised"):
            check_vectorised(loop, CASE, seed=0)
    finally:
        sys.settrace = original


def test_a_loop_in_another_thread_is_counted():
    loop = _compiled("<ipython-input-4>")

    def threaded(*args, **kwargs):
        import threading
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("y", loop(*args, **kwargs)))
        t.start()
        t.join()
        return out["y"]
    with pytest.raises(GradingFailure, match="not vectorised"):
        check_vectorised(threaded, CASE, seed=0)


def test_a_numba_loop_is_forbidden():
    src = "import numba\n" + LOOP.replace("def conv_loop", "@numba.njit\ndef _inner") + textwrap.dedent("""
        def conv_numba(x, w, b=None, stride=1, padding=0):
            return _inner(x, w, b, stride, padding)
    """)
    ns = {"np": np}
    exec(compile(src, "<ipython-input-5>", "exec"), ns)
    with pytest.raises(GradingFailure, match="numba"):
        check_vectorised(ns["conv_numba"], CASE, seed=0)


def test_the_tripwires_survive_a_replaced_setprofile_and_see_scipy():
    """The "tripwires off, then scipy.signal" cheat: sys.setprofile replaced in
    an earlier cell, scipy reached by a name the source does not show."""
    from cnnlab.checks import check_conv2d

    def conv2d(x, w, b=None, stride=1, padding=0):
        sig = __import__(bytes(c ^ 1 for c in b"rbhqx/rhfo`m").decode(), fromlist=["x"])  # scipy.signal
        N, C = x.shape[:2]
        K = w.shape[0]
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        y = np.stack([np.stack([sum(sig.correlate(xp[n, c], w[k, c], mode="valid") for c in range(C))
                                [::stride, ::stride] for k in range(K)]) for n in range(N)]).astype(x.dtype)
        return y if b is None else y + b[None, :, None, None]
    original = sys.setprofile
    sys.setprofile = lambda *a, **k: None
    try:
        with pytest.raises(GradingFailure, match="scipy.signal|scipy/signal|correlate"):
            check_conv2d(conv2d, [ConvCase(N=1, C=2, H=5, W=5, K=2, R=3, S=3)], seed=0)
    finally:
        sys.setprofile = original
