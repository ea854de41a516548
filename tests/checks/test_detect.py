"""One forbidden-call detector for the notebooks' test cells and the referee:
the same walker reads a live function (in a kernel) and a notebook's source
(never run, in the referee); what the code calls counts, its text does not."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from cnnlab.checks import ConvCase, GradingFailure, Guard, check_vectorised
from cnnlab.checks.detect import source_findings, source_names, static_findings
from cnnlab.checks.policy import NOTHING, NUMPY, POLICIES, TORCH, Policy


def _live(src: str, name: str = "f"):
    ns = {"__name__": "__main__"}
    exec(compile(textwrap.dedent(src), "<cell 0>", "exec"), ns)  # noqa: S102 - a student's cell
    return ns[name]


def _both(src: str, policy: Policy = NUMPY, name: str = "f"):
    """(live findings, source findings) of the function ``name`` of a cell."""
    return static_findings(_live(src, name), policy), source_findings([(0, textwrap.dedent(src))], name, policy)


# forbidden use that both readings must see: (source, the module the referee names)
FORBIDDEN = {
    "module alias": ("""
        import cnnlab.ref as r
        def f(x, w):
            return r.conv2d(x, w)
        """, "cnnlab"),
    "from-import alias": ("""
        from torch.nn import functional as Q
        def f(x, w):
            return Q.conv2d(x, w)
        """, "torch.nn.functional"),
    "function alias": ("""
        from scipy.signal import correlate2d as c
        def f(x, w):
            return c(x, w, 'valid')
        """, "scipy.signal"),
    "import inside": ("""
        def f(x, w):
            import scipy.ndimage
            return scipy.ndimage.correlate(x, w)
        """, "scipy.ndimage"),
    "from-import inside": ("""
        def f(x, w):
            from cnnlab import ref
            return ref.conv2d(x, w)
        """, "cnnlab"),
    "a helper": ("""
        from cnnlab import ref
        def helper(x, w):
            return ref.correlate2d(x, w)
        def f(x, w):
            return helper(x, w)
        """, "cnnlab"),
    "a dotted alias": ("""
        import scipy.signal
        corr = scipy.signal.correlate2d
        def f(x, w):
            return corr(x, w, 'valid')
        """, "scipy.signal"),
    "a name looked up from a string": ("""
        import importlib
        def f(x, w):
            return importlib.import_module('cnnlab.ref').conv2d(x, w)
        """, "cnnlab"),
    "a torch method": ("""
        import torch
        def f(x, w):
            return torch.from_numpy(x).unfold(2, 3, 1)
        """, "torch"),
}


@pytest.mark.parametrize("name", FORBIDDEN)
def test_both_readings_find_forbidden_use(name):
    src, module = FORBIDDEN[name]
    live, source = _both(src)
    assert live, name
    assert module in source, (name, source)


# honest work that neither reading may flag, whatever its text says
HONEST = {
    "a docstring naming forbidden functions": '''
        import numpy as np
        def f(x, w):
            """Correlation with loops. Not torch.nn.functional.conv2d, not scipy.signal.correlate2d,
            not cnnlab.ref.conv2d: those are what this question asks to write."""
            out = np.zeros((x.shape[0] - w.shape[0] + 1, x.shape[1] - w.shape[1] + 1))
            for i in range(out.shape[0]):
                for j in range(out.shape[1]):
                    out[i, j] = np.sum(x[i:i + w.shape[0], j:j + w.shape[1]] * w)
            return out
        ''',
    "comments and messages naming them": '''
        import numpy as np
        def f(x, w):
            # same result as scipy.signal.correlate2d(x, w, 'valid') and torch.nn.functional.conv2d
            if x.ndim != 2:
                raise ValueError("cnnlab.ref.conv2d takes 4-D input; this takes 2-D, like scipy.signal")
            print("checked against scipy.signal.correlate2d in the cell below")
            return np.zeros(2)
        ''',
    "a string constant that is not looked up": '''
        import numpy as np
        NAME = "scipy.signal.correlate2d"
        def f(x, w):
            label = "torch.nn.functional.conv2d"
            return np.zeros(len(label))
        ''',
    "the reference used outside the answer": '''
        import numpy as np
        import cnnlab.ref as r
        def f(x, w):
            return np.zeros(2)
        check = r.correlate2d(np.ones((3, 3)), np.ones((2, 2)))
        ''',
}


@pytest.mark.parametrize("name", HONEST)
def test_neither_reading_flags_honest_work_whatever_its_text_says(name):
    assert _both(HONEST[name]) == ([], [])


def test_source_names_are_what_imports_and_aliases_bind():
    cells = [(0, "import numpy as np\nfrom torch.nn import functional as F\nimport cnnlab.ref as r"),
             (1, "fft = np.fft.fft\nx = np.zeros(3)\ndef g():\n    pass")]
    assert source_names(cells) == {"np": "numpy", "F": "torch.nn.functional", "r": "cnnlab.ref",
                                   "fft": "numpy.fft.fft"}


def test_policies_are_plain_values():
    assert POLICIES == {"numpy": NUMPY, "torch": TORCH}
    assert NUMPY.module("scipy.signal.windows") == "scipy.signal" and NUMPY.module("scipy.linalg") is None
    mine = Policy.of_modules(["cnnlab", "scipy.signal"])
    assert mine.forbids("cnnlab.ref.conv2d") and not mine.forbids("torch.nn.functional")
    assert not NOTHING.forbids("cnnlab")
    src, _ = FORBIDDEN["module alias"]
    assert _both(src, NOTHING) == ([], [])


def _loops(x, w, b=None, stride=1, padding=0):
    from cnnlab import ref  # forbidden under NUMPY: the local guard refuses it before it runs

    y = ref.conv2d(x, w, b, stride=stride, padding=padding)
    for n in range(y.shape[0]):
        for k in range(y.shape[1]):
            for i in range(y.shape[2]):
                y[n, k, i] = y[n, k, i] + 0
    return y


def test_a_guard_says_where_the_function_runs():
    """Guard(policy) checks a function of this process (static check,
    tripwires, its lines counted); Guard(policy, local=False) is the referee's,
    for a stand-in of a function that runs elsewhere and whose source it has
    already read: those parts are left to where the function runs."""
    case = ConvCase(N=4, C=4, H=8, W=8, K=8, R=3, S=3, padding=1)
    with pytest.raises(GradingFailure, match="asks you to write yourself"):
        check_vectorised(_loops, case, seed=0)
    with pytest.raises(GradingFailure, match="is not vectorised"):
        check_vectorised(_loops, case, seed=0, guard=Guard(NOTHING))
    remote = Guard(NUMPY, local=False)
    check_vectorised(_loops, case, seed=0, guard=remote)
    assert remote.count_lines(_loops, (np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)))) is None
    assert Guard(NUMPY).count_lines(len, ([1],)) == 0
