"""cnnlab.checks: the forbidden-call detector, the diagnosis, the self-check."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cnnlab import ref
from cnnlab.checks import (ConvCase, GradingFailure, Guard, PoolCase, check_avg_pool_backward, check_avg_pool_forward,
                           check_conv2d, check_conv2d_backward, check_im2col, check_max_pool_backward,
                           check_max_pool_forward, numerical_gradient, random_conv_cases, random_pool_cases,
                           rel_error, static_findings)
from cnnlab.checks import conv as gconv
from cnnlab.checks import im2col as gim2col
from cnnlab.checks import pool as gpool
from cnnlab.checks import selfcheck
from cnnlab.checks.policy import NOTHING
from cnnlab.checks.tripwires import Tripwires


def _student(src: str, name: str):
    """Define a student's function from source, as a notebook cell would."""
    ns = {"__name__": "__main__"}
    exec(compile(textwrap.dedent(src), f"<cell {name}>", "exec"), ns)  # noqa: S102
    return ns[name]


def _conv_ok(x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    OH, OW = (H - R + 2 * padding) // stride + 1, (W - S + 2 * padding) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.stack([xp[:, :, r:r + stride * OH:stride, s:s + stride * OW:stride]
                     for r in range(R) for s in range(S)], axis=2)      # (N, C, R*S, OH, OW)
    y = np.einsum("kcq,ncqij->nkij", w.reshape(K, C, R * S), cols).astype(x.dtype)
    return y if b is None else y + b[:, None, None]


def test_import_does_not_import_torch():
    code = "import sys, cnnlab.checks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---------------------------------------------------------------- static detector

CHEATS = {
    "module alias": """
        import cnnlab.ref as r
        def f(x, w):
            return r.conv2d(x, w)
        """,
    "from-import alias": """
        from torch.nn import functional as Q
        def f(x, w):
            return Q.conv2d(x, w)
        """,
    "function alias": """
        from scipy.signal import correlate2d as c
        def f(x, w):
            return c(x, w, 'valid')
        """,
    "import inside": """
        def f(x, w):
            import scipy.ndimage
            return scipy.ndimage.correlate(x, w)
        """,
    "local torch import": """
        def f(x, w):
            import torch
            return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy()
        """,
    "default argument": """
        import torch.nn.functional as F
        def f(x, w, _conv=F.conv2d):
            return _conv(x, w)
        """,
    "helper function": """
        from cnnlab import ref
        def helper(x, w):
            return ref.correlate2d(x, w)
        def f(x, w):
            return helper(x, w)
        """,
    "partial": """
        import functools
        from cnnlab.ref import conv2d
        c = functools.partial(conv2d, stride=1)
        def f(x, w):
            return c(x, w)
        """,
    "closure": """
        def make():
            import cnnlab.ref
            g = cnnlab.ref.conv2d
            def f(x, w):
                return g(x, w)
            return f
        f = make()
        """,
    "getattr of a built string": """
        import torch
        def f(x, w):
            F = getattr(torch.nn, 'func' + 'tional')
            return getattr(F, 'con' + 'v2d')(x, w)
        """,
    "importlib": """
        import importlib
        def f(x, w):
            return importlib.import_module('cnnlab.ref').conv2d(x, w)
        """,
    "torch ops": """
        import torch
        def f(x, w):
            return torch.ops.aten.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
        """,
    "Tensor.unfold": """
        import torch
        def f(x, w):
            return torch.from_numpy(x).unfold(2, 3, 1)
        """,
    "the grader's numerical gradient": """
        from cnnlab.checks import numerical_gradient as ng
        def f(x, w):
            return ng(lambda v: v, x, w)
        """,
    "tampering with tracing": """
        import sys
        def f(x, w):
            sys.setprofile(None)
            return x
        """,
}


@pytest.mark.parametrize("name", CHEATS)
def test_static_check_finds_forbidden_use(name):
    fn = _student(CHEATS[name], "f")
    assert static_findings(fn), name


HONEST = {
    "numpy loops": """
        import numpy as np
        def f(x, w):
            out = np.zeros(3)
            for i in range(3):
                out[i] = np.sum(x[i:i + 2, :2] * w)
            return out
        """,
    "own helper named like torch's": """
        import numpy as np
        def conv2d(x, w):
            return np.einsum('ij,ij->', x[:2, :2], w)
        def f(x, w):
            return conv2d(x, w)
        """,
    "numpy's sliding windows and torch tensors": """
        import numpy as np
        import torch
        from numpy.lib.stride_tricks import sliding_window_view
        def f(x, w):
            win = sliding_window_view(x, w.shape)
            t = torch.from_numpy(np.ascontiguousarray(win)).reshape(-1, w.size) @ torch.from_numpy(w.ravel())
            return t.numpy()
        """,
    "a message naming conv2d next to getattr": """
        import numpy as np
        def f(x, w):
            if getattr(x, 'ndim') != 2:
                raise ValueError("conv2d: x must be 2-D")
            return np.zeros(2)
        """,
    "getattr of an attribute": """
        import numpy as np
        def f(x, w):
            dt = getattr(x, 'dtype')
            return np.zeros(2, dtype=dt)
        """,
}


@pytest.mark.parametrize("name", HONEST)
def test_static_check_accepts_honest_code(name):
    fn = _student(HONEST[name], "f")
    assert static_findings(fn) == []
    Tripwires().run(fn, np.ones((4, 4)), np.ones((2, 2)))  # runs


def test_tripwires_catch_lookups_the_static_check_cannot_see():
    fn = _student("""
        def f(x, w):
            mod = __import__(''.join(reversed('langis.ypics')), fromlist=['_'])
            return getattr(mod, ''.join(reversed('d2etalerroc')))(x, w, 'valid')
        """, "f")
    assert static_findings(fn) == []
    tw = Tripwires()
    y = tw.run(fn, np.arange(16.0).reshape(4, 4), np.ones((2, 2)))
    assert y.shape == (3, 3)
    assert tw.calls and "scipy" in tw.calls[0]


def test_tripwires_catch_the_compiled_kernels_of_the_reference():
    """A numba kernel called from Python is invisible to a profile hook; the
    kernels are wrapped while a solution runs."""
    fn = _student("""
        import numpy as np
        def f(x):
            mod = __import__(''.join(reversed('slenrek_.fer.balnnc')), fromlist=['_'])
            out = np.empty(x.shape[:2] + (1, 1))
            getattr(mod, ''.join(reversed('dwf_gva_evitpada')))(x, out)
            return out
        """, "f")
    assert static_findings(fn) == []
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    tw = Tripwires()
    out = tw.run(fn, x)
    assert np.allclose(out[..., 0, 0], x.mean(axis=(2, 3)))
    assert any("adaptive_avg_fwd" in c for c in tw.calls), tw.calls


def test_tripwires_see_torch_aten_operators_by_any_name():
    torch = pytest.importorskip("torch")
    fn = _student("""
        import torch
        def f(x, w):
            ops = getattr(torch, 'o' + 'ps')
            conv = getattr(ops.aten, 'convol' + 'ution')
            return conv(torch.from_numpy(x), torch.from_numpy(w), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
        """, "f")
    tw = Tripwires()
    tw.run(fn, np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)))
    assert any("convolution" in c for c in tw.calls)
    assert torch is not None


def test_check_reports_forbidden_use_with_a_clear_message():
    fn = _student(CHEATS["from-import alias"], "f")
    with pytest.raises(GradingFailure, match="asks you to write yourself") as err:
        check_conv2d(fn, [ConvCase()], seed=1)
    assert "Q.conv2d" in str(err.value) and err.value.key == "forbidden"


# ---------------------------------------------------------------- diagnosis

CASES = [ConvCase(N=2, C=3, H=7, W=6, K=4, R=3, S=3, stride=2, padding=1),
         ConvCase(N=2, C=2, H=6, W=7, K=3, R=2, S=3, stride=1, padding=0, dtype="float32"),
         ConvCase(N=1, C=3, H=8, W=8, K=2, R=3, S=3, stride=3, padding=2, bias=False),
         ConvCase(N=3, C=3, H=5, W=5, K=3, R=3, S=3, stride=1, padding=1)] + random_conv_cases(8, seed=3)


#: The students of the fingerprint tests are the fingerprints themselves,
#: built on cnnlab.ref: they are checked under a guard that forbids nothing.
FINGERPRINT_GUARD = Guard(NOTHING)


def _as_student(mistake, reference, build):
    """A student function whose output is the mistake's output (the reference where it does not apply)."""
    def student(*args, **kwargs):
        inp = build(*args, **kwargs)
        out = mistake.make(inp)
        return reference(inp) if out is None else out
    return student


def _conv_inp(x, w, b=None, stride=1, padding=0):
    case = ConvCase(N=x.shape[0], C=x.shape[1], H=x.shape[2], W=x.shape[3], K=w.shape[0], R=w.shape[2],
                    S=w.shape[3], stride=stride, padding=padding, bias=b is not None, dtype=str(x.dtype))
    return dict(x=x, w=w, b=b, stride=stride, padding=padding, groups=1, case=case)


@pytest.mark.parametrize("mistake", gconv.conv_mistakes(), ids=lambda m: f"{m.key}-{m.make.__name__}")
def test_each_conv_fingerprint_is_recognised(mistake):
    student = _as_student(mistake, gconv._ref_conv, _conv_inp)
    with pytest.raises(GradingFailure) as err:
        check_conv2d(student, CASES, seed=11, fname="conv2d", guard=FINGERPRINT_GUARD)
    assert err.value.key == mistake.key, str(err.value)


def _im2col_inp(x, R, S, stride=1, padding=0):
    inp = _conv_inp(x, np.zeros((1, x.shape[1], R, S), x.dtype), None, stride, padding)
    return inp


@pytest.mark.parametrize("mistake", gim2col.im2col_mistakes(), ids=lambda m: m.key)
def test_each_im2col_fingerprint_is_recognised(mistake):
    student = _as_student(mistake, gim2col._ref_im2col, _im2col_inp)
    with pytest.raises(GradingFailure) as err:
        check_im2col(student, CASES, seed=12, fname="im2col", guard=FINGERPRINT_GUARD)
    assert err.value.key == mistake.key, str(err.value)


POOLS = [PoolCase(N=2, C=2, H=6, W=7, pool_size=3, stride=2), PoolCase(N=1, C=3, H=6, W=6, pool_size=2, stride=2),
         PoolCase(N=2, C=2, H=5, W=5, pool_size=2, stride=1, ties=True),
         PoolCase(N=1, C=2, H=6, W=6, pool_size=2, stride=2, ties=True)] + random_pool_cases(6, seed=5)


def _pool_inp(x, k, s, dout=None):
    case = PoolCase(N=x.shape[0], C=x.shape[1], H=x.shape[2], W=x.shape[3], pool_size=k, stride=s,
                    dtype=str(x.dtype), ties=bool(np.all(x == np.round(x))))
    return dict(x=x, dout=dout, k=k, s=s, case=case)


@pytest.mark.parametrize("which, mistake", [("max", m) for m in gpool.max_pool_mistakes()]
                         + [("avg", m) for m in gpool.avg_pool_mistakes()], ids=lambda v: getattr(v, "key", v))
def test_each_pool_forward_fingerprint_is_recognised(which, mistake):
    reference = (lambda inp: ref.max_pool2d(inp["x"], inp["k"], inp["s"])) if which == "max" else \
        (lambda inp: ref.avg_pool2d(inp["x"], inp["k"], inp["s"]))
    student = _as_student(mistake, reference, _pool_inp)
    check = check_max_pool_forward if which == "max" else check_avg_pool_forward
    with pytest.raises(GradingFailure) as err:
        check(student, POOLS, seed=13, fname="pool", guard=FINGERPRINT_GUARD)
    assert err.value.key == mistake.key, str(err.value)


@pytest.mark.parametrize("which, mistake", [("max", m) for m in gpool.max_pool_backward_mistakes()]
                         + [("avg", m) for m in gpool.avg_pool_backward_mistakes()],
                         ids=lambda v: getattr(v, "key", v))
def test_each_pool_backward_fingerprint_is_recognised(which, mistake):
    if which == "max":
        def reference(inp):
            return ref.max_pool2d_backward(inp["dout"], inp["x"], inp["k"], inp["s"])
    else:
        def reference(inp):
            return ref.avg_pool2d_backward(inp["dout"], inp["x"], inp["k"], inp["s"])
    student = _as_student(mistake, reference, lambda dout, x, k, s: _pool_inp(x, k, s, dout))
    check = check_max_pool_backward if which == "max" else check_avg_pool_backward
    with pytest.raises(GradingFailure) as err:
        check(student, POOLS, seed=14, fname="pool_backward", guard=FINGERPRINT_GUARD)
    assert err.value.key == mistake.key, str(err.value)


@pytest.mark.parametrize("output, mistake", [(o, m) for o, ms in gpool.conv_backward_mistakes().items() for m in ms],
                         ids=lambda v: getattr(v, "key", v))
def test_each_conv_backward_fingerprint_is_recognised(output, mistake):
    names = ("dx", "dw", "db")

    def student(dout, x, w, stride=1, padding=0):
        inp = _conv_inp(x, w, None, stride, padding)
        inp["dout"] = dout
        full = list(ref.conv2d_backward(dout, x, w, stride=stride, padding=padding))
        wrong = mistake.make(inp)
        if wrong is not None:
            full[names.index(output)] = wrong
        return tuple(full)
    with pytest.raises(GradingFailure) as err:
        check_conv2d_backward(student, CASES, seed=15, outputs=[output], fname="conv2d_backward",
                              guard=FINGERPRINT_GUARD)
    assert err.value.key == mistake.key, str(err.value)


_VALUE = re.compile(r"\d\.\d{3,}")


@pytest.mark.parametrize("wrong", ["noise", "zeros", "border", "scaled", "nan", "channel"])
def test_unrecognised_mistakes_are_described_without_values(wrong):
    rng = np.random.default_rng(7)

    def student(x, w, b=None, stride=1, padding=0):
        y = _conv_ok(x, w, b, stride, padding)
        if wrong == "noise":
            return rng.standard_normal(y.shape).astype(y.dtype)
        if wrong == "zeros":
            return np.zeros_like(y)
        if wrong == "border":
            y[..., 0, :] += 1
            return y
        if wrong == "scaled":
            return y * 0.37
        if wrong == "nan":
            y[0, 0, 0, 0] = np.nan
            return y
        y[:, 1:] *= -1
        return y
    with pytest.raises(GradingFailure) as err:
        check_conv2d(student, CASES[:1], seed=987654)
    text = str(err.value)
    assert not _VALUE.search(text) and "987654" not in text, text
    assert err.value.key is None


def test_correct_work_passes_every_check():
    check_conv2d(_conv_ok, CASES, seed=1)


def test_changing_an_input_in_place_is_reported():
    def student(x, w, b=None, stride=1, padding=0):
        y = _conv_ok(x, w, b, stride, padding)
        x *= 0
        return y
    with pytest.raises(GradingFailure, match="changed its input 'x' in place"):
        check_conv2d(student, CASES[:1], seed=1)


def test_a_missing_return_is_named():
    with pytest.raises(GradingFailure, match="forget the `return`"):
        check_conv2d(lambda x, w, b=None, stride=1, padding=0: None, CASES[:1], seed=1)


def test_a_student_exception_is_reported_without_decimal_values():
    def student(x, w, b=None, stride=1, padding=0):
        raise ValueError(f"bad value {float(x.ravel()[0])!r}")
    with pytest.raises(GradingFailure) as err:
        check_conv2d(student, CASES[:1], seed=1)
    assert "raised ValueError: bad value …" in str(err.value)


def test_vectorisation_check_counts_python_lines():
    case = ConvCase(N=4, C=4, H=8, W=8, K=8, R=3, S=3, padding=1)
    gim2col.check_vectorised(_conv_ok, case, seed=0)

    def loops(x, w, b=None, stride=1, padding=0):
        y = _conv_ok(x, w, b, stride, padding)
        for n in range(y.shape[0]):
            for k in range(y.shape[1]):
                for i in range(y.shape[2]):
                    y[n, k, i] = y[n, k, i] + 0
        return y
    with pytest.raises(GradingFailure, match="is not vectorised"):
        gim2col.check_vectorised(loops, case, seed=0)


# ---------------------------------------------------------------- helpers given to students

def test_numerical_gradient_of_a_convolution_matches_the_reference_backward():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((3, 2, 2, 2))
    dout = rng.standard_normal((1, 3, 3, 3))
    num = numerical_gradient(lambda v: ref.conv2d(v, w, stride=2, padding=1), x.copy(), dout)
    dx, _, _ = ref.conv2d_backward(dout, x, w, stride=2, padding=1)
    assert rel_error(num, dx) < 1e-7
    assert rel_error(num, -dx) > 0.5


def test_numerical_gradient_asks_for_float64():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda v: v, np.ones(3, np.float32), np.ones(3))


def test_summary_lists_every_question(capsys):
    selfcheck.start("ps2")

    @selfcheck.question("q1")
    def ok():
        pass

    with pytest.raises(GradingFailure):
        @selfcheck.question("q3")
        def bad():
            raise GradingFailure("avg_pool_forward gives a wrong result.\nMost likely: you take the maximum.")

    selfcheck.summary()
    out = capsys.readouterr().out
    assert "✓ q1" in out and "✗ q3" in out and "Most likely: you take the maximum" in out
    assert "· q5a" in out and "not run yet" in out
    assert "pass for 2 of 14 points" in out
    selfcheck._STATE.update(assignment=None, tests={})


def test_question_rejects_unknown_ids():
    selfcheck.start("ps1")
    with pytest.raises(ValueError, match="not a question of ps1"):
        selfcheck.question("q9")
    selfcheck._STATE.update(assignment=None, tests={})


def test_expect_shows_both_arrays_for_visible_tests():
    with pytest.raises(GradingFailure, match="expected:"):
        selfcheck.expect(np.zeros(2), [1, 2], "f(x)")
    selfcheck.expect(np.array([1.0, 2.0]), [1, 2])


def test_partial_objects_are_followed():
    fn = functools.partial(_student(CHEATS["module alias"], "f"))
    assert static_findings(fn.func)


# ---------------------------------------------------------------- ps3/ps4: PyTorch allowed, the model zoo not

def test_torch_policy_allows_torch_and_the_course_data():
    from cnnlab.checks.policy import TORCH
    fn = _student("""
        import torch
        from torch import nn
        def train(model, data):
            loader = torch.utils.data.DataLoader(data, batch_size=4)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            for x, y in loader:
                opt.zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
            return model
        """, "train")
    torch = pytest.importorskip("torch")
    from cnnlab.data import glyphs
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8 * 8, 10))
    assert static_findings(fn, TORCH) == []
    tw = Tripwires(TORCH)
    tw.run(fn, model, glyphs("train", n=8, size=8))
    assert tw.calls == []


def test_torch_policy_forbids_the_model_zoo_and_its_trainer():
    from cnnlab.checks.policy import TORCH
    sub = _student("""
        from cnnlab.models import LeNet5 as Zoo
        class LeNet5(Zoo):
            pass
        """, "LeNet5")
    assert any("subclass of cnnlab.models" in f for f in static_findings(sub, TORCH))
    fit = _student("""
        import cnnlab
        def train(model, data):
            return getattr(cnnlab, 'tr' + 'ain').fit(model, data)
        """, "train")
    assert static_findings(fit, TORCH)
    caller = _student("""
        def train(model, data):
            mod = __import__(''.join(reversed('niart.balnnc')), fromlist=['_'])
            return mod.accuracy(model, data)
        """, "train")
    torch = pytest.importorskip("torch")
    tw = Tripwires(TORCH)
    tw.run(caller, torch.zeros(2, 3), torch.tensor([0, 1]))
    assert any("cnnlab/train.py" in c for c in tw.calls), tw.calls


def test_an_output_size_that_raises_only_once_is_wrong_not_a_crash():
    """A function whose answer changes between calls (it raised under the guard, then not) gets
    the check's own message, never an error of the check itself."""
    from cnnlab.checks import check_output_size

    calls = {"n": 0}

    def output_size(n, f, stride=1, padding=0):
        calls["n"] += 1
        if calls["n"] == 1:
            raise TypeError("first call")
        return (n - f + 2 * padding) // stride + 1

    with pytest.raises(GradingFailure, match="output_size"):
        check_output_size(output_size, [(5, 3, 1, 0), (7, 3, 2, 1)])
