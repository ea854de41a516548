"""cnnlab.ref convolution against torch.nn.functional (forward) and torch
autograd (backward), the lecture's worked examples, and the naive loops."""

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlab.ref as ref
from cnnlab.ref import naive
from strategies import DTYPES, assert_agree, assert_close, conv_cases, torch_grads, torch_magnitudes

LECTURE_IMAGE = np.array([[3, 0, 1, 2, 7, 4],
                          [1, 5, 8, 9, 3, 1],
                          [2, 7, 2, 5, 1, 3],
                          [0, 1, 3, 1, 7, 8],
                          [4, 2, 1, 6, 2, 8],
                          [2, 4, 5, 2, 3, 9]])
VERTICAL_EDGE = np.array([[1, 0, -1]] * 3)


def torch_conv(case, x, w, b, dy=None):
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True) if b is not None else None
    y = F.conv2d(tx, tw, tb, **case.kwargs)
    if dy is None:
        return y.detach().numpy()
    y.backward(torch.tensor(dy))
    db = tb.grad.numpy() if tb is not None else torch.tensor(dy).sum((0, 2, 3)).numpy()
    return y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), db


@given(conv_cases())
def test_conv2d_forward_matches_torch(case):
    x, w, b = case.arrays()
    y = ref.conv2d(x, w, b, **case.kwargs)
    assert y.dtype == case.dtype
    magnitude = torch_magnitudes(lambda x, w, b: F.conv2d(x, w, b, **case.kwargs), (x, w, b),
                                 np.ones(y.shape))[0]
    assert_agree(y, torch_conv(case, x, w, b), magnitude, case.dtype, "y")


@given(conv_cases())
def test_conv2d_backward_matches_autograd(case):
    x, w, b = case.arrays()
    y_shape = torch_conv(case, x, w, b).shape
    dy = np.random.default_rng(case.seed + 1).standard_normal(y_shape).astype(case.dtype)
    fn = lambda x, w, b: F.conv2d(x, w, b, **case.kwargs)  # noqa: E731
    _, (tdx, tdw, _) = torch_grads(fn, (x, w, b), dy)
    _, (mdx, mdw, _) = torch_magnitudes(fn, (x, w, b), dy)
    dx, dw, db = ref.conv2d_backward(dy, x, w, **case.kwargs)
    assert dx.dtype == dw.dtype == db.dtype == case.dtype
    assert_agree(dx, tdx, mdx, case.dtype, "dx")
    assert_agree(dw, tdw, mdw, case.dtype, "dw")
    assert_agree(db, dy.astype(np.float64).sum((0, 2, 3)), np.abs(dy).astype(np.float64).sum((0, 2, 3)),
                 case.dtype, "db")


@given(conv_cases(), st.integers(1, 8))
@settings(max_examples=25)
def test_conv1d_matches_torch(case, length_extra):
    x2, w2, b = case.arrays()
    # a 1-D case from the 2-D one: the last axis only
    x = np.ascontiguousarray(x2[:, :, 0, :])
    w = np.ascontiguousarray(w2[:, :, 0, :])
    pad = case.padding if isinstance(case.padding, (int, str)) else case.padding[1]
    kw = dict(stride=case.stride[1], padding=pad, dilation=case.dilation[1], groups=case.groups)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = F.conv1d(tx, tw, None if b is None else torch.tensor(b), **kw)
    y = ref.conv1d(x, w, b, **kw)
    assert_close(y, ty.detach().numpy(), case.dtype, "y")
    dy = np.random.default_rng(case.seed).standard_normal(ty.shape).astype(case.dtype)
    ty.backward(torch.tensor(dy))
    dx, dw, db = ref.conv1d_backward(dy, x, w, **kw)
    assert_close(dx, tx.grad.numpy(), case.dtype, "dx")
    assert_close(dw, tw.grad.numpy(), case.dtype, "dw")
    assert_close(db, dy.sum((0, 2)), case.dtype, "db")


def test_lecture_vertical_edge_example_is_exact():
    expected = np.array([[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]])
    out = ref.correlate2d(LECTURE_IMAGE, VERTICAL_EDGE)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)
    # the same through conv2d with an integer batch
    y = ref.conv2d(LECTURE_IMAGE[None, None], VERTICAL_EDGE[None, None])
    np.testing.assert_array_equal(y[0, 0], expected)


def test_lecture_step_image_gives_edge_in_the_middle():
    step = np.array([[10, 10, 10, 0, 0, 0]] * 6)
    out = ref.correlate2d(step, VERTICAL_EDGE)
    np.testing.assert_array_equal(out, np.tile([0, 30, 30, 0], (4, 1)))


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("kshape", [(3, 3), (2, 4), (4, 1), (1, 1), (5, 2)])
def test_correlate_and_convolve_match_scipy(mode, kshape):
    rng = np.random.default_rng(sum(kshape))
    image = rng.standard_normal((9, 7))
    kernel = rng.standard_normal(kshape)
    assert_close(ref.correlate2d(image, kernel, mode), scipy.signal.correlate2d(image, kernel, mode),
                 np.float64, "correlate2d")
    assert_close(ref.convolve2d(image, kernel, mode), scipy.signal.convolve2d(image, kernel, mode),
                 np.float64, "convolve2d")


def test_convolution_is_correlation_with_flipped_kernel():
    rng = np.random.default_rng(3)
    image, kernel = rng.integers(0, 9, (8, 8)), rng.integers(-3, 4, (3, 3))
    np.testing.assert_array_equal(ref.convolve2d(image, kernel), ref.correlate2d(image, kernel[::-1, ::-1]))
    assert not np.array_equal(ref.convolve2d(image, kernel), ref.correlate2d(image, kernel))


@given(conv_cases(max_size=5))
@settings(max_examples=15)
def test_naive_definition_agrees_with_fast_kernels(case):
    if isinstance(case.padding, str):
        return  # the naive version takes numeric padding only
    x, w, b = case.arrays()
    fast = ref.conv2d(x, w, b, **case.kwargs)
    slow = naive.conv2d(x, w, b, **case.kwargs)
    assert_close(fast, slow, case.dtype, "naive vs fast")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,s,p,d", [(3, 1, 0, 1), (3, 2, 1, 1), ((2, 3), (2, 1), (1, 0), (1, 2)), (1, 1, 0, 1)])
def test_im2col_col2im_match_unfold_fold(dtype, k, s, p, d):
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8)).astype(dtype)
    cols = ref.im2col(x, k, stride=s, padding=p, dilation=d)
    tcols = F.unfold(torch.tensor(x), k, dilation=d, padding=p, stride=s).numpy()
    assert_close(cols, tcols, dtype, "im2col")
    back = ref.col2im(cols, (9, 8), k, stride=s, padding=p, dilation=d)
    tback = F.fold(torch.tensor(tcols), (9, 8), k, dilation=d, padding=p, stride=s).numpy()
    assert_close(back, tback, dtype, "col2im")


def test_conv_is_a_matrix_product_of_im2col():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    cols = ref.im2col(x, 3, padding=1)
    y = (w.reshape(4, -1) @ cols).reshape(2, 4, 8, 8)
    assert_close(y, ref.conv2d(x, w, padding=1), np.float64)


def test_any_memory_layout_and_inputs_untouched():
    rng = np.random.default_rng(2)
    x = np.asfortranarray(rng.standard_normal((2, 4, 10, 9)).astype(np.float32))
    w = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)[:, :, ::-1, :]  # negative strides
    xs = rng.standard_normal((2, 4, 20, 9)).astype(np.float32)[:, :, ::2]     # non-contiguous view
    x_copy, w_copy = x.copy(), w.copy()
    for inp in (x, xs):
        y = ref.conv2d(inp, w, padding=1)
        expected = F.conv2d(torch.tensor(np.ascontiguousarray(inp)), torch.tensor(w.copy()), padding=1)
        assert_close(y, expected.numpy(), np.float32)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(w, w_copy)


def test_unbatched_input_like_torch():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((3, 7, 7)), rng.standard_normal((2, 3, 3, 3))
    y = ref.conv2d(x, w, stride=2)
    assert y.shape == (2, 3, 3)
    assert_close(y, F.conv2d(torch.tensor(x), torch.tensor(w), stride=2).numpy(), np.float64)
    dx, dw, db = ref.conv2d_backward(np.ones_like(y), x, w, stride=2)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == (2,)


def test_integer_input_computes_in_float64_and_mixed_dtypes_promote():
    x = np.arange(2 * 1 * 5 * 5).reshape(2, 1, 5, 5)
    w = np.ones((1, 1, 2, 2), dtype=np.int32)
    y = ref.conv2d(x, w)
    assert y.dtype == np.float64
    assert y[0, 0, 0, 0] == 0 + 1 + 5 + 6
    assert ref.conv2d(x.astype(np.float32), w.astype(np.float64)).dtype == np.float64
    assert ref.conv2d(x.astype(np.float32), w.astype(np.float32)).dtype == np.float32


def test_nan_and_inf_propagate_like_torch():
    x = np.random.default_rng(5).standard_normal((1, 2, 6, 6))
    x[0, 0, 2, 3] = np.nan
    x[0, 1, 0, 0] = np.inf
    w = np.random.default_rng(6).standard_normal((3, 2, 3, 3))
    y = ref.conv2d(x, w, padding=1)
    ty = F.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ty))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(ty))
    finite = np.isfinite(ty)
    assert_close(y[finite], ty[finite], np.float64)


@pytest.mark.parametrize("name", ["a", "b", "e", "f", "g"])
def test_benchmark_shapes_forward_and_backward(name):
    """The shapes of the benchmark (scaled down in batch) take every code path:
    direct loops, im2col + BLAS in chunks, pointwise matrix products."""
    from bench_ref import CONV_SHAPES
    (N, C, H, W), (K, R, S), stride, pad, groups = CONV_SHAPES[name]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C // groups, R, S)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = F.conv2d(tx, tw, torch.tensor(b), stride, pad, 1, groups)
    assert_close(ref.conv2d(x, w, b, stride, pad, 1, groups), ty.detach().numpy(), np.float32, "y")
    dy = rng.standard_normal(ty.shape).astype(np.float32)
    ty.backward(torch.tensor(dy))
    dx, dw, _ = ref.conv2d_backward(dy, x, w, stride, pad, 1, groups)
    assert_close(dx, tx.grad.numpy(), np.float32, "dx")
    assert_close(dw, tw.grad.numpy(), np.float32, "dw")


def test_benchmark_script_runs():
    """The benchmark runs end to end on a tiny budget (its timings are not asserted)."""
    from bench_ref import main as bench_main
    assert bench_main(["--reps", "1", "--only", "a", "--no-pool"]) == 0
