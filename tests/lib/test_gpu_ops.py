"""cnnlab.gpu ops against torch.nn.functional (forward and autograd) and against
cnnlab.ref, on the random cases of tests/strategies.py; gradcheck in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlab.gpu as G
import cnnlab.ref as ref
from cnnlab.gpu import _functions
from strategies import DTYPES, assert_agree, assert_close, conv_cases, pool_cases, torch_grads, torch_magnitudes

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """These tensors are tiny: a second OpenMP thread only adds waiting, which on a busy
    2-core machine made gradcheck 20x slower. The thread count is restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _t(a, grad=False):
    return None if a is None else torch.tensor(a, requires_grad=grad)


# --------------------------------------------------------------------------- convolution

@given(conv_cases())
def test_conv2d_forward_and_gradients_match_torch_and_ref(case):
    x, w, b = case.arrays()
    kw = case.kwargs
    ty = F.conv2d(_t(x), _t(w), _t(b), **kw).numpy()
    dy = np.random.default_rng(case.seed + 1).standard_normal(ty.shape).astype(case.dtype)
    y, grads = torch_grads(lambda x, w, b: G.conv2d(x, w, b, **kw), (x, w, b), dy)
    assert y.dtype == case.dtype and all(g.dtype == case.dtype for g in grads if g is not None)
    _, tgrads = torch_grads(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b), dy)
    ry, rgrads = ref.conv2d(x, w, b, **kw), ref.conv2d_backward(dy, x, w, **kw)
    my, mgrads = torch_magnitudes(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b), dy)
    for what, ours, theirs, refs, mag in zip(("y", "dx", "dw", "db"), (y, *grads), (ty, *tgrads),
                                             (ry, *rgrads), (my, *mgrads)):
        if mag is None:
            continue  # no bias
        assert_agree(ours, theirs, mag, case.dtype, f"{what} vs torch")
        assert_agree(ours, refs, mag, case.dtype, f"{what} vs ref")


@given(conv_cases())
@settings(max_examples=20)
def test_conv1d_matches_torch_and_ref(case):
    x2, w2, b = case.arrays()
    x = np.ascontiguousarray(x2[:, :, 0, :])
    w = np.ascontiguousarray(w2[:, :, 0, :])
    pad = case.padding if isinstance(case.padding, (int, str)) else case.padding[1]
    kw = dict(stride=case.stride[1], padding=pad, dilation=case.dilation[1], groups=case.groups)
    ty = F.conv1d(_t(x), _t(w), _t(b), **kw).numpy()
    dy = np.random.default_rng(case.seed).standard_normal(ty.shape).astype(case.dtype)
    y, (dx, dw, _) = torch_grads(lambda x, w, b: G.conv1d(x, w, b, **kw), (x, w, b), dy)
    _, (tdx, tdw, _) = torch_grads(lambda x, w, b: F.conv1d(x, w, b, **kw), (x, w, b), dy)
    my, (mdx, mdw, _) = torch_magnitudes(lambda x, w, b: F.conv1d(x, w, b, **kw), (x, w, b), dy)
    assert_agree(y, ty, my, case.dtype, "y")
    assert_agree(y, ref.conv1d(x, w, b, **kw), my, case.dtype, "y vs ref")
    assert_agree(dx, tdx, mdx, case.dtype, "dx")
    assert_agree(dw, tdw, mdw, case.dtype, "dw")


@pytest.mark.parametrize("name", ["a", "b", "c", "e", "f", "g"])
def test_benchmark_shapes_in_several_chunks(name, monkeypatch):
    """The benchmark's shapes (batch cut to 3) with a chunk budget so small that
    every image is its own im2col chunk: the chunked loops of forward and backward."""
    from bench_ref import CONV_SHAPES
    monkeypatch.setitem(_functions._CHUNK_BYTES, "cpu", 1)
    (N, C, H, W), (K, R, S), stride, pad, groups = CONV_SHAPES[name]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C // groups, R, S)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    args = (stride, pad, 1, groups)
    ty = F.conv2d(_t(x), _t(w), _t(b), *args).numpy()
    dy = rng.standard_normal(ty.shape).astype(np.float32)
    y, grads = torch_grads(lambda x, w, b: G.conv2d(x, w, b, *args), (x, w, b), dy)
    _, tgrads = torch_grads(lambda x, w, b: F.conv2d(x, w, b, *args), (x, w, b), dy)
    assert_close(y, ty, np.float32, "y")
    for g, tg, what in zip(grads, tgrads, ("dx", "dw", "db")):
        assert_close(g, tg, np.float32, what)


def test_conv2d_only_computes_the_gradients_asked_for():
    rng = np.random.default_rng(8)
    x = torch.tensor(rng.standard_normal((2, 3, 7, 7)))
    w = torch.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    G.conv2d(x, w, padding=1).sum().backward()
    assert x.grad is None
    tw = w.detach().clone().requires_grad_(True)
    F.conv2d(x, tw, padding=1).sum().backward()
    assert_close(w.grad.numpy(), tw.grad.numpy(), np.float64)


def test_conv2d_keeps_dtype_and_takes_any_layout_without_touching_inputs():
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.standard_normal((2, 4, 10, 9)), dtype=torch.float32)
    w = torch.tensor(rng.standard_normal((3, 4, 3, 3)), dtype=torch.float32)
    views = [x.to(memory_format=torch.channels_last), x.transpose(2, 3).contiguous().transpose(2, 3),
             torch.tensor(rng.standard_normal((2, 4, 20, 9)), dtype=torch.float32)[:, :, ::2]]
    for inp in views:
        before = inp.clone()
        y = G.conv2d(inp, w.flip(2), padding=1)  # a flipped (copied) w and a strided x
        assert y.dtype == torch.float32
        assert_close(y.numpy(), F.conv2d(inp, w.flip(2), padding=1).numpy(), np.float32)
        assert torch.equal(inp, before)
    y16 = G.conv2d(x.bfloat16(), w.bfloat16(), padding=1)
    assert y16.dtype == torch.bfloat16
    expected = F.conv2d(x, w, padding=1)
    assert (y16.float() - expected).abs().max() <= 0.05 * expected.abs().max()


def test_unbatched_input_like_torch():
    rng = np.random.default_rng(4)
    x, w = torch.tensor(rng.standard_normal((3, 7, 7))), torch.tensor(rng.standard_normal((2, 3, 3, 3)))
    y = G.conv2d(x, w, stride=2)
    assert y.shape == (2, 3, 3)
    assert_close(y.numpy(), F.conv2d(x, w, stride=2).numpy(), np.float64)
    yp, idx = G.max_pool2d(x, 2, return_indices=True)
    typ, tidx = F.max_pool2d(x, 2, return_indices=True)
    assert torch.equal(yp, typ) and torch.equal(idx, tidx)
    assert_close(G.avg_pool2d(x, 3).numpy(), F.avg_pool2d(x, 3).numpy(), np.float64)
    assert_close(G.adaptive_avg_pool2d(x, 2).numpy(), F.adaptive_avg_pool2d(x, 2).numpy(), np.float64)


def test_nan_and_inf_propagate_like_torch():
    x = torch.tensor(np.random.default_rng(5).standard_normal((1, 2, 6, 6)))
    x[0, 0, 2, 3] = float("nan")
    x[0, 1, 0, 0] = float("inf")
    w = torch.tensor(np.random.default_rng(6).standard_normal((3, 2, 3, 3)))
    y, ty = G.conv2d(x, w, padding=1), F.conv2d(x, w, padding=1)
    assert torch.equal(y.isnan(), ty.isnan()) and torch.equal(y.isinf(), ty.isinf())
    assert_close(y[ty.isfinite()].numpy(), ty[ty.isfinite()].numpy(), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,s,p,d", [(3, 1, 0, 1), (3, 2, 1, 1), ((2, 3), (2, 1), (1, 0), (1, 2)), (1, 1, 0, 1)])
def test_im2col_col2im_match_unfold_fold_and_ref(dtype, k, s, p, d):
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8)).astype(dtype)
    kw = dict(stride=s, padding=p, dilation=d)
    tcols = F.unfold(_t(x), k, **kw)
    dcols = np.random.default_rng(1).standard_normal(tuple(tcols.shape)).astype(dtype)
    cols, (dx,) = torch_grads(lambda x: G.im2col(x, k, **kw), (x,), dcols)
    assert_close(cols, tcols.numpy(), dtype, "im2col")
    assert_close(cols, ref.im2col(x, k, **kw), dtype, "im2col vs ref")
    assert_close(dx, F.fold(_t(dcols), (9, 8), k, **kw).numpy(), dtype, "im2col backward = fold")
    back, (dc,) = torch_grads(lambda c: G.col2im(c, (9, 8), k, **kw), (cols,), x)
    assert_close(back, F.fold(tcols, (9, 8), k, **kw).numpy(), dtype, "col2im")
    assert_close(back, ref.col2im(cols, (9, 8), k, **kw), dtype, "col2im vs ref")
    assert_close(dc, tcols.numpy(), dtype, "col2im backward = unfold")


def test_conv_is_a_matrix_product_of_im2col():
    rng = np.random.default_rng(1)
    x, w = torch.tensor(rng.standard_normal((2, 3, 8, 8))), torch.tensor(rng.standard_normal((4, 3, 3, 3)))
    y = (w.reshape(4, -1) @ G.im2col(x, 3, padding=1)).reshape(2, 4, 8, 8)
    assert_close(y.numpy(), G.conv2d(x, w, padding=1).numpy(), np.float64)


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("kshape", [(3, 3), (2, 4), (1, 1), (5, 2)])
def test_correlate_and_convolve_match_ref(mode, kshape):
    rng = np.random.default_rng(sum(kshape))
    image, kernel = rng.standard_normal((9, 7)), rng.standard_normal(kshape)
    assert_close(G.correlate2d(_t(image), _t(kernel), mode).numpy(), ref.correlate2d(image, kernel, mode),
                 np.float64, "correlate2d")
    assert_close(G.convolve2d(_t(image), _t(kernel), mode).numpy(), ref.convolve2d(image, kernel, mode),
                 np.float64, "convolve2d")


# --------------------------------------------------------------------------- pooling

def _pool_kw(case):
    return dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                dilation=case.dilation, ceil_mode=case.ceil_mode)


@given(pool_cases(), st.booleans())
def test_max_pool2d_matches_torch_and_ref(case, ties):
    x = case.array(ties=ties)
    kw = _pool_kw(case)
    ty, tidx = F.max_pool2d(_t(x), return_indices=True, **kw)
    y, idx = G.max_pool2d(_t(x), return_indices=True, **kw)
    assert y.dtype == TORCH_DTYPE[case.dtype] and idx.dtype == torch.int64
    assert torch.equal(y, ty)
    assert torch.equal(idx, tidx)  # ties: the first maximum, as torch
    assert torch.equal(G.max_pool2d(_t(x), **kw), ty)  # the values-only path (no grad, no indices)
    if torch.isneginf(ty).any():
        return  # a window entirely in the padding has no arg-max (torch writes its gradient out of bounds)
    dy = np.random.default_rng(case.seed).standard_normal(tuple(ty.shape)).astype(case.dtype)
    _, (dx,) = torch_grads(lambda x: G.max_pool2d(x, **kw), (x,), dy)
    _, (tdx,) = torch_grads(lambda x: F.max_pool2d(x, **kw), (x,), dy)
    # the sums of |dy| routed to each input (same arg-max: x is the same, only widened)
    _, (mdx,) = torch_grads(lambda x: F.max_pool2d(x, **kw), (x.astype(np.float64),), np.abs(dy).astype(np.float64))
    assert_agree(dx, tdx, mdx, case.dtype, "dx vs torch")
    assert_agree(dx, ref.max_pool2d_backward(dy, x, **kw), mdx, case.dtype, "dx vs ref")


@given(pool_cases(dilation=False), st.booleans(), st.sampled_from([None, 1, 3]))
def test_avg_pool2d_matches_torch_and_ref(case, count_include_pad, divisor):
    x = case.array()
    kw = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
              ceil_mode=case.ceil_mode, count_include_pad=count_include_pad, divisor_override=divisor)
    ty = F.avg_pool2d(_t(x), **kw).numpy()
    dy = np.random.default_rng(case.seed).standard_normal(ty.shape).astype(case.dtype)
    y, (dx,) = torch_grads(lambda x: G.avg_pool2d(x, **kw), (x,), dy)
    _, (tdx,) = torch_grads(lambda x: F.avg_pool2d(x, **kw), (x,), dy)
    my, (mdx,) = torch_magnitudes(lambda x: F.avg_pool2d(x, **kw), (x,), dy)
    assert_agree(y, ty, my, case.dtype, "y vs torch")
    assert_agree(y, ref.avg_pool2d(x, **kw), my, case.dtype, "y vs ref")
    assert_agree(dx, tdx, mdx, case.dtype, "dx vs torch")
    assert_agree(dx, ref.avg_pool2d_backward(dy, x, **kw), mdx, case.dtype, "dx vs ref")


@given(pool_cases())
@settings(max_examples=20)
def test_pool1d_matches_torch(case):
    x = np.ascontiguousarray(case.array()[:, :, 0, :])
    k, p, d = case.kernel_size[1], case.padding[1], case.dilation[1]
    s = case.stride[1] if isinstance(case.stride, tuple) else case.stride
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=case.ceil_mode)
    y, idx = G.max_pool1d(_t(x), dilation=d, return_indices=True, **kw)
    ty, tidx = F.max_pool1d(_t(x), dilation=d, return_indices=True, **kw)
    assert torch.equal(y, ty) and torch.equal(idx, tidx)
    ya = G.avg_pool1d(_t(x), **kw)
    magnitude = F.avg_pool1d(_t(np.abs(x)), **kw).numpy()
    assert_agree(ya.numpy(), F.avg_pool1d(_t(x), **kw).numpy(), magnitude, case.dtype)
    assert_agree(ya.numpy(), ref.avg_pool1d(x, **kw), magnitude, case.dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 2, 3, (2, 5), (4, None), (7, 10), (9, 3)])
def test_adaptive_avg_pool_matches_torch_and_ref(dtype, size):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 10)).astype(dtype)
    ty = F.adaptive_avg_pool2d(_t(x), size).numpy()
    dy = np.random.default_rng(1).standard_normal(ty.shape).astype(dtype)
    y, (dx,) = torch_grads(lambda x: G.adaptive_avg_pool2d(x, size), (x,), dy)
    _, (tdx,) = torch_grads(lambda x: F.adaptive_avg_pool2d(x, size), (x,), dy)
    assert_close(y, ty, dtype, "y")
    assert_close(y, ref.adaptive_avg_pool2d(x, size), dtype, "y vs ref")
    assert_close(dx, tdx, dtype, "dx")
    x1 = np.ascontiguousarray(x[:, :, 0, :])
    s1 = size[0] if isinstance(size, tuple) else size
    assert_close(G.adaptive_avg_pool1d(_t(x1), s1).numpy(), F.adaptive_avg_pool1d(_t(x1), s1).numpy(), dtype)


def test_global_average_pooling_is_the_channel_mean():
    x = torch.tensor(np.random.default_rng(2).standard_normal((4, 5, 6, 7)), requires_grad=True)
    g = G.global_avg_pool2d(x)
    assert g.shape == (4, 5)
    assert_close(g.detach().numpy(), x.detach().numpy().mean(axis=(2, 3)), np.float64)
    g.sum().backward()
    assert_close(x.grad.numpy(), np.full(x.shape, 1 / 42), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 2.0), (2, 0.1, 0.5, 1.0), (1, 1e-2, 1.0, 0.5),
                                               (8, 1.0, 0.75, 1.0)])
def test_local_response_norm_matches_torch_and_ref(dtype, size, alpha, beta, k):
    x = (3 * np.random.default_rng(size).standard_normal((2, 6, 4, 5))).astype(dtype)
    ty = F.local_response_norm(_t(x), size, alpha, beta, k).numpy()
    dy = np.random.default_rng(3).standard_normal(x.shape).astype(dtype)
    y, (dx,) = torch_grads(lambda x: G.local_response_norm(x, size, alpha, beta, k), (x,), dy)
    _, (tdx,) = torch_grads(lambda x: F.local_response_norm(x, size, alpha, beta, k), (x,), dy)
    assert_close(y, ty, dtype, "y")
    assert_close(y, ref.local_response_norm(x, size, alpha, beta, k), dtype, "y vs ref")
    assert_close(dx, tdx, dtype, "dx")
    assert_close(dx, ref.local_response_norm_backward(dy, x, size, alpha, beta, k), dtype, "dx vs ref")
    x3 = _t(x[:, :, 0, :])  # (N, C, L) works too
    assert_close(G.local_response_norm(x3, size, alpha, beta, k).numpy(),
                 F.local_response_norm(x3, size, alpha, beta, k).numpy(), dtype)


def test_lecture_max_and_average_pool_example():
    x = torch.tensor([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=torch.float64)[None, None]
    assert G.max_pool2d(x, 2)[0, 0].tolist() == [[6, 8], [3, 4]]
    assert G.avg_pool2d(x, 2)[0, 0].tolist() == [[3.25, 5.25], [2, 2]]


def test_max_pool_nan_and_minus_infinity_like_torch():
    x = torch.tensor(np.random.default_rng(4).standard_normal((1, 2, 6, 6)))
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = float("nan")  # two NaNs in one window: torch keeps the last
    x[0, 0, 4, 5] = float("nan")
    x[0, 1, :3, :3] = float("-inf")  # windows of -inf only: torch's first tap inside the input
    for args in ((3, 2, 1), (2, 2, 0), (3, 1, 1)):
        y, idx = G.max_pool2d(x, *args, return_indices=True)
        ty, tidx = F.max_pool2d(x, *args, return_indices=True)
        assert torch.equal(y.isnan(), ty.isnan())
        assert torch.equal(y[~y.isnan()], ty[~ty.isnan()])
        assert torch.equal(idx, tidx)


# --------------------------------------------------------------------------- gradcheck

GRADCHECK_CONV = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2)),
    dict(padding="same", dilation=2),
    dict(padding="same", groups=2),
    dict(stride=3, groups=4),  # depthwise
    dict(padding="valid", bias=False),
]


@pytest.mark.parametrize("cfg", GRADCHECK_CONV, ids=str)
def test_gradcheck_conv2d(cfg):
    cfg = dict(cfg)
    bias = cfg.pop("bias", True)
    groups = cfg.get("groups", 1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(4, 4 // groups, 3, 2, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, generator=g, requires_grad=True) if bias else None
    inputs = (x, w, b) if bias else (x, w)
    assert torch.autograd.gradcheck(lambda x, w, b=None: G.conv2d(x, w, b, **cfg), inputs)


@pytest.mark.parametrize("cfg", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2, groups=3)],
                         ids=str)
def test_gradcheck_conv1d(cfg):
    g = torch.Generator().manual_seed(1)
    groups = cfg.get("groups", 1)
    x = torch.randn(2, 3, 9, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(3, 3 // groups, 3, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: G.conv1d(x, w, b, **cfg), (x, w, b))


POOL_CFGS = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), ceil_mode=True),
    dict(kernel_size=3, stride=1, padding=1),  # overlapping windows
]


@pytest.mark.parametrize("cfg", POOL_CFGS + [dict(kernel_size=2, stride=1, dilation=2)], ids=str)
def test_gradcheck_max_pool2d(cfg):
    # distinct values (a permutation) so that no finite-difference step changes an arg-max
    x = (torch.randperm(2 * 3 * 7 * 6, generator=torch.Generator().manual_seed(2)).to(torch.float64) / 10)
    x = x.reshape(2, 3, 7, 6).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: G.max_pool2d(x, **cfg), (x,))


@pytest.mark.parametrize("cfg", POOL_CFGS + [dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                                             dict(kernel_size=2, divisor_override=3)], ids=str)
def test_gradcheck_avg_pool2d(cfg):
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3),
                    requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: G.avg_pool2d(x, **cfg), (x,))


@pytest.mark.parametrize("size", [1, 3, (2, 4), (7, 5)])
def test_gradcheck_adaptive_avg_pool2d(size):
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4),
                    requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: G.adaptive_avg_pool2d(x, size), (x,))


@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-2, 0.75, 2.0), (2, 0.5, 0.5, 1.0), (4, 1.0, 1.5, 0.5)])
def test_gradcheck_local_response_norm(size, alpha, beta, k):
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5),
                    requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: G.local_response_norm(x, size, alpha, beta, k), (x,))


@pytest.mark.parametrize("k,s,p,d", [(3, 1, 0, 1), (3, 2, 1, 1), ((2, 3), (2, 1), (1, 0), (1, 2))])
def test_gradcheck_im2col_col2im(k, s, p, d):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: G.im2col(x, k, stride=s, padding=p, dilation=d), (x,))
    cols = G.im2col(x.detach(), k, stride=s, padding=p, dilation=d).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda c: G.col2im(c, (7, 6), k, stride=s, padding=p, dilation=d), (cols,))


@pytest.mark.parametrize("op,torch_op", [
    (lambda x: G.conv2d(x, x[:1, :, :3, :3]), "conv2d"),
    (lambda x: G.max_pool2d(x, 2), "max_pool2d"),
    (lambda x: G.avg_pool2d(x, 2), "avg_pool2d"),
    (lambda x: G.adaptive_avg_pool2d(x, 2), "adaptive_avg_pool2d"),
    (lambda x: G.local_response_norm(x, 2), "local_response_norm"),
    (lambda x: G.im2col(x, 2), "unfold"),
])
def test_second_derivatives_are_refused_clearly(op, torch_op):
    """A gradient that autograd cannot differentiate again must not pass for one."""
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match=f"first derivatives only.*torch.nn.functional.{torch_op}"):
        torch.autograd.grad(op(x).pow(2).sum(), x, create_graph=True)


def test_benchmark_script_runs(capsys):
    """bench_gpu.py runs end to end on a tiny budget (its timings are not asserted)."""
    from bench_gpu import main as bench_gpu_main
    assert bench_gpu_main(["--device", "cpu", "--reps", "1", "--rounds", "1", "--only", "a", "--no-pool"]) == 0
    out = capsys.readouterr().out
    assert "device: cpu" in out and "\na " in out
