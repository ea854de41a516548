"""cnnlab.ref pooling and LRN against torch.nn.functional and torch autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlab.ref as ref
from cnnlab.ref import naive
from strategies import DTYPES, assert_close, pool_cases


def _torch_grad(fn, x, dy, **kw):
    tx = torch.tensor(x, requires_grad=True)
    y = fn(tx, **kw)
    if isinstance(y, tuple):
        y = y[0]
    y.backward(torch.tensor(dy))
    return tx.grad.numpy()


@given(pool_cases(), st.booleans())
def test_max_pool2d_matches_torch(case, ties):
    x = case.array(ties=ties)
    kw = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
              dilation=case.dilation, ceil_mode=case.ceil_mode)
    ty, tidx = F.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    y, idx = ref.max_pool2d(x, return_indices=True, **kw)
    assert y.dtype == case.dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())  # ties: the first maximum, as torch
    if np.isneginf(y).any():
        return  # a window entirely in the padding has no arg-max (torch writes its gradient out of bounds)
    dy = np.random.default_rng(case.seed).standard_normal(y.shape).astype(case.dtype)
    expected = _torch_grad(F.max_pool2d, x, dy, **kw)
    assert_close(ref.max_pool2d_backward(dy, x, **kw), expected, case.dtype)
    # given the forward pass's indices, the backward pass only scatters: same result
    assert_close(ref.max_pool2d_backward(dy, x, indices=idx, **kw), expected, case.dtype)


@given(pool_cases(dilation=False), st.booleans(), st.sampled_from([None, 1, 3]))
def test_avg_pool2d_matches_torch(case, count_include_pad, divisor):
    x = case.array()
    kw = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
              ceil_mode=case.ceil_mode, count_include_pad=count_include_pad, divisor_override=divisor)
    y = ref.avg_pool2d(x, **kw)
    assert_close(y, F.avg_pool2d(torch.tensor(x), **kw).numpy(), case.dtype, "y")
    dy = np.random.default_rng(case.seed).standard_normal(y.shape).astype(case.dtype)
    assert_close(ref.avg_pool2d_backward(dy, x, **kw), _torch_grad(F.avg_pool2d, x, dy, **kw), case.dtype, "dx")


@given(pool_cases())
@settings(max_examples=25)
def test_pool1d_matches_torch(case):
    x = np.ascontiguousarray(case.array()[:, :, 0, :])
    k, p, d = case.kernel_size[1], case.padding[1], case.dilation[1]
    s = case.stride[1] if isinstance(case.stride, tuple) else case.stride
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=case.ceil_mode)
    y = ref.max_pool1d(x, dilation=d, **kw)
    np.testing.assert_array_equal(y, F.max_pool1d(torch.tensor(x), dilation=d, **kw).numpy())
    dy = np.random.default_rng(case.seed).standard_normal(y.shape).astype(case.dtype)
    expected = _torch_grad(F.max_pool1d, x, dy, dilation=d, **kw)
    assert_close(ref.max_pool1d_backward(dy, x, dilation=d, **kw), expected, case.dtype)
    _, idx = ref.max_pool1d(x, dilation=d, return_indices=True, **kw)
    assert_close(ref.max_pool1d_backward(dy, x, dilation=d, indices=idx, **kw), expected, case.dtype)
    ya = ref.avg_pool1d(x, **kw)
    assert_close(ya, F.avg_pool1d(torch.tensor(x), **kw).numpy(), case.dtype)
    dya = np.random.default_rng(case.seed).standard_normal(ya.shape).astype(case.dtype)
    assert_close(ref.avg_pool1d_backward(dya, x, **kw), _torch_grad(F.avg_pool1d, x, dya, **kw), case.dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 2, 3, (2, 5), (4, None), (7, 10), (9, 3)])
def test_adaptive_avg_pool_matches_torch(dtype, size):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 10)).astype(dtype)
    y = ref.adaptive_avg_pool2d(x, size)
    assert_close(y, F.adaptive_avg_pool2d(torch.tensor(x), size).numpy(), dtype)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    assert_close(ref.adaptive_avg_pool2d_backward(dy, x),
                 _torch_grad(F.adaptive_avg_pool2d, x, dy, output_size=size), dtype)
    x1 = np.ascontiguousarray(x[:, :, 0, :])
    s1 = size[0] if isinstance(size, tuple) else size
    assert_close(ref.adaptive_avg_pool1d(x1, s1), F.adaptive_avg_pool1d(torch.tensor(x1), s1).numpy(), dtype)
    dy1 = np.ones((2, 3, s1), dtype)
    assert_close(ref.adaptive_avg_pool1d_backward(dy1, x1),
                 _torch_grad(F.adaptive_avg_pool1d, x1, dy1, output_size=s1), dtype)


def test_global_average_pooling_is_the_channel_mean():
    x = np.random.default_rng(2).standard_normal((4, 5, 6, 7))
    g = ref.global_avg_pool2d(x)
    assert g.shape == (4, 5)
    assert_close(g, x.mean(axis=(2, 3)), np.float64)
    dx = ref.global_avg_pool2d_backward(np.ones((4, 5)), x)
    assert_close(dx, np.full(x.shape, 1 / 42), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 2.0), (2, 0.1, 0.5, 1.0), (1, 1e-2, 1.0, 0.5),
                                               (8, 1.0, 0.75, 1.0)])
def test_local_response_norm_matches_torch(dtype, size, alpha, beta, k):
    x = (3 * np.random.default_rng(size).standard_normal((2, 6, 4, 5))).astype(dtype)
    y = ref.local_response_norm(x, size, alpha, beta, k)
    assert_close(y, F.local_response_norm(torch.tensor(x), size, alpha, beta, k).numpy(), dtype, "y")
    dy = np.random.default_rng(3).standard_normal(x.shape).astype(dtype)
    dx = ref.local_response_norm_backward(dy, x, size, alpha, beta, k)
    assert_close(dx, _torch_grad(F.local_response_norm, x, dy, size=size, alpha=alpha, beta=beta, k=k),
                 dtype, "dx")


def test_lecture_max_and_average_pool_example():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])[None, None]
    np.testing.assert_array_equal(ref.max_pool2d(x, 2)[0, 0], [[6, 8], [3, 4]])
    np.testing.assert_array_equal(ref.avg_pool2d(x, 2)[0, 0], [[3.25, 5.25], [2, 2]])
    np.testing.assert_array_equal(naive.max_pool2d(x, 2)[0, 0], [[6, 8], [3, 4]])


@given(pool_cases(dilation=False, max_size=6))
@settings(max_examples=15)
def test_naive_pooling_agrees_with_fast(case):
    if case.ceil_mode:
        return
    x = case.array()
    kw = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding)
    assert_close(ref.max_pool2d(x, **kw), naive.max_pool2d(x, **kw), case.dtype)
    assert_close(ref.avg_pool2d(x, **kw), naive.avg_pool2d(x, **kw), case.dtype)


def test_nan_propagates_through_max_pool_like_torch():
    x = np.random.default_rng(4).standard_normal((1, 1, 6, 6))
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 4, 5] = np.nan
    y, idx = ref.max_pool2d(x, 3, 2, 1, return_indices=True)
    ty, tidx = F.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ty.numpy()))
    np.testing.assert_array_equal(idx, tidx.numpy())


@pytest.mark.parametrize("case", ["max 2x2", "max 3x3 s2", "avg 2x2"])
def test_benchmark_pool_cases(case):
    from bench_ref import POOL_CASES
    op, k, s = POOL_CASES[case]
    x = np.random.default_rng(5).standard_normal((2, 4, 56, 56)).astype(np.float32)
    rf, tf = (ref.max_pool2d, F.max_pool2d) if op == "max" else (ref.avg_pool2d, F.avg_pool2d)
    rb = ref.max_pool2d_backward if op == "max" else ref.avg_pool2d_backward
    y = rf(x, k, s)
    assert_close(y, tf(torch.tensor(x), k, s).numpy(), np.float32)
    dy = np.random.default_rng(6).standard_normal(y.shape).astype(np.float32)
    assert_close(rb(dy, x, k, s), _torch_grad(tf, x, dy, kernel_size=k, stride=s), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,s", [(3, 2), (3, 1), (2, 1), ((3, 2), (2, 1)), (2, 2)])
def test_max_pool_arg_max_paths_keep_torch_rules(dtype, k, s):
    """Ties (first maximum), NaN (the last one wins), -0.0 against 0.0 and all -inf
    windows, on the phase-split path (overlapping windows inside the image) and the row loops."""
    rng = np.random.default_rng(7)
    x = rng.integers(-1, 2, (2, 3, 9, 11)).astype(dtype)
    x[0, 0][rng.random((9, 11)) < 0.15] = np.nan
    x[0, 1][rng.random((9, 11)) < 0.5] = -0.0
    x[1, 0] = -np.inf
    x[1, 1, :4] = -np.inf
    ty, tidx = F.max_pool2d(torch.tensor(x), k, s, return_indices=True)
    y, idx = ref.max_pool2d(x, k, s, return_indices=True)
    np.testing.assert_array_equal(idx, tidx.numpy())
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(np.signbit(y), np.signbit(ty.numpy()))
    np.testing.assert_array_equal(ref.max_pool2d(x, k, s), ty.numpy())
