"""Batch normalisation: cnnlab.ref.batch_norm2d (numba), cnnlab.gpu.batch_norm2d and
cnnlab.gpu.nn.BatchNorm2d against torch -- forward, backward, training and evaluation,
running statistics -- on random cases drawn by hypothesis, float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import cnnlab.gpu as G
from cnnlab import ref
from cnnlab._errors import ShapeError
from cnnlab.gpu import nn as gnn
from strategies import DTYPES, assert_close


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@st.composite
def bn_cases(draw):
    """x (N, C, H, W) -- sometimes (N, C) or (N, C, L) -- with per-channel offsets and scales, the
    optional vectors, the mode and the hyper-parameters."""
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.sampled_from([4, 4, 4, 2, 3]))
    N = draw(st.integers(1, 4))
    C = draw(st.integers(1, 5))
    spatial = [draw(st.integers(1, 5)) for _ in range(ndim - 2)]
    training = draw(st.booleans())
    if training and N * int(np.prod(spatial)) < 2:
        N = 2
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    shape = (N, C, *spatial)
    view = (1, C) + (1,) * len(spatial)
    offset = rng.uniform(-3, 3, C).reshape(view)
    scale = rng.uniform(0.2, 4, C).reshape(view)
    x = (rng.standard_normal(shape) * scale + offset).astype(dtype)
    running = draw(st.booleans()) or not training
    rm = rng.standard_normal(C).astype(dtype) if running else None
    rv = rng.uniform(0.3, 3, C).astype(dtype) if running else None
    affine = draw(st.booleans())
    w = rng.uniform(-2, 2, C).astype(dtype) if affine else None
    b = rng.standard_normal(C).astype(dtype) if affine and draw(st.booleans()) else None
    momentum = draw(st.sampled_from([0.1, 0.0, 1.0, 0.37]))
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.5]))
    dy = rng.standard_normal(shape).astype(dtype)
    return dict(x=x, rm=rm, rv=rv, w=w, b=b, training=training, momentum=momentum, eps=eps, dy=dy, dtype=dtype)


def _t(a, grad=False):
    return None if a is None else torch.tensor(a, requires_grad=grad)


def torch_reference(c):
    """torch's output, updated running statistics and gradients (dx, dweight, dbias)."""
    x, w, b = _t(c["x"], True), _t(c["w"], True), _t(c["b"], True)
    rm, rv = _t(c["rm"]), _t(c["rv"])
    y = F.batch_norm(x, rm, rv, w, b, c["training"], c["momentum"], c["eps"])
    y.backward(torch.tensor(c["dy"]))
    grads = [None if t is None else t.grad.numpy() for t in (x, w, b)]
    return y.detach().numpy(), (None if rm is None else rm.numpy(), None if rv is None else rv.numpy()), grads


def assert_dx(dx, expected, dy, weight, eps, dtype, batch_statistics):
    """With the batch's statistics dx = w/std (dy - mean(dy) - xhat mean(dy xhat)) cancels terms of
    size |w| |dy| / sqrt(eps) at most: compare relative to that; otherwise as any other output."""
    if not batch_statistics:
        return assert_close(dx, expected, dtype, "dx")
    size = float(np.abs(np.asarray(dy)).max()) * (1.0 if weight is None else float(np.abs(np.asarray(weight)).max()))
    tol = 3e-5 if np.dtype(dtype) == np.float32 else 1e-11
    np.testing.assert_allclose(dx, expected, atol=tol * size / np.sqrt(eps), rtol=0, err_msg="dx")


def _copy(a):
    return None if a is None else a.copy()


@given(bn_cases())
def test_ref_batch_norm_matches_torch(c):
    dtype = c["dtype"]
    ty, (trm, trv), (tdx, tdw, tdb) = torch_reference(c)
    rm, rv = _copy(c["rm"]), _copy(c["rv"])
    y = ref.batch_norm2d(c["x"], rm, rv, c["w"], c["b"], c["training"], c["momentum"], c["eps"])
    assert y.dtype == dtype
    assert_close(y, ty, dtype, "y")
    if rm is not None:   # updated in place in training mode, untouched in evaluation mode
        assert_close(rm, trm, dtype, "running_mean")
        assert_close(rv, trv, dtype, "running_var")
    # the backward pass takes the forward's arguments and never changes the running statistics
    rm0, rv0 = _copy(c["rm"]), _copy(c["rv"])
    dx, dw, db = ref.batch_norm2d_backward(c["dy"], c["x"], rm0, rv0, c["w"], c["b"], c["training"],
                                           c["momentum"], c["eps"])
    if rm0 is not None:
        np.testing.assert_array_equal(rm0, c["rm"])
        np.testing.assert_array_equal(rv0, c["rv"])
    assert_dx(dx, tdx, c["dy"], c["w"], c["eps"], dtype, c["training"])
    if tdw is not None:
        assert_close(dw, tdw, dtype, "dweight")
    if tdb is not None:
        assert_close(db, tdb, dtype, "dbias")


@given(bn_cases())
def test_gpu_batch_norm_matches_torch_and_ref(c):
    dtype = c["dtype"]
    ty, (trm, trv), (tdx, tdw, tdb) = torch_reference(c)
    x, w, b = _t(c["x"], True), _t(c["w"], True), _t(c["b"], True)
    rm, rv = _t(c["rm"]), _t(c["rv"])
    y = G.batch_norm2d(x, rm, rv, w, b, c["training"], c["momentum"], c["eps"])
    y.backward(torch.tensor(c["dy"]))
    assert y.dtype == x.dtype
    assert_close(y.detach().numpy(), ty, dtype, "y")
    assert_close(y.detach().numpy(), ref.batch_norm2d(c["x"], _copy(c["rm"]), _copy(c["rv"]), c["w"], c["b"],
                                                       c["training"], c["momentum"], c["eps"]), dtype, "y vs ref")
    if rm is not None:
        assert_close(rm.numpy(), trm, dtype, "running_mean")
        assert_close(rv.numpy(), trv, dtype, "running_var")
    assert_dx(x.grad.numpy(), tdx, c["dy"], c["w"], c["eps"], dtype, c["training"])
    if w is not None:
        assert_close(w.grad.numpy(), tdw, dtype, "dweight")
    if b is not None:
        assert_close(b.grad.numpy(), tdb, dtype, "dbias")


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 4, 5, 2), (4, 3), (2, 3, 5)])
def test_gradcheck_gpu_batch_norm(training, shape):
    g = torch.Generator().manual_seed(7)
    C = shape[1]
    x = torch.randn(shape, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(C, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(C, dtype=torch.float64, generator=g, requires_grad=True)
    rm, rv = torch.randn(C, dtype=torch.float64, generator=g), torch.rand(C, dtype=torch.float64, generator=g) + 0.5
    # momentum 0: gradcheck calls the function many times, the running statistics must not drift
    assert torch.autograd.gradcheck(lambda x, w, b: G.batch_norm2d(x, rm, rv, w, b, training, 0.0, 1e-3), (x, w, b))


def test_second_derivatives_are_refused_clearly():
    x = torch.randn(3, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="first derivatives only.*torch.nn.functional.batch_norm"):
        torch.autograd.grad(G.batch_norm2d(x, training=True).pow(3).sum(), x, create_graph=True)


# --------------------------------------------------------------------------- the layer


@st.composite
def layer_cases(draw):
    return dict(C=draw(st.integers(1, 4)), momentum=draw(st.sampled_from([0.1, None, 0.5])),
                affine=draw(st.booleans()), track=draw(st.booleans()), eps=draw(st.sampled_from([1e-5, 1e-2])),
                dtype=draw(st.sampled_from([torch.float32, torch.float64])), steps=draw(st.integers(1, 3)),
                seed=draw(st.integers(0, 2**31 - 1)), shape=(draw(st.integers(2, 4)), draw(st.integers(1, 4)),
                                                          draw(st.integers(1, 4))))


@given(layer_cases())
def test_layer_trains_and_evaluates_like_torch(c):
    kwargs = dict(num_features=c["C"], eps=c["eps"], momentum=c["momentum"], affine=c["affine"],
                  track_running_stats=c["track"])
    theirs = torch.nn.BatchNorm2d(**kwargs).to(c["dtype"])
    ours = gnn.BatchNorm2d(**kwargs).to(c["dtype"])
    assert isinstance(ours, torch.nn.BatchNorm2d) and "cnnlab.BatchNorm2d" in repr(ours)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    g = torch.Generator().manual_seed(c["seed"])
    if c["affine"]:
        with torch.no_grad():
            theirs.weight.copy_(torch.rand(c["C"], generator=g) + 0.5)
            theirs.bias.copy_(torch.randn(c["C"], generator=g))
    ours.load_state_dict(theirs.state_dict())
    tol = np.float32 if c["dtype"] == torch.float32 else np.float64
    for mode in ["train"] * c["steps"] + ["eval"]:
        ours.train(mode == "train")
        theirs.train(mode == "train")
        N, H, W = c["shape"]
        x = (torch.randn(N, c["C"], H, W, generator=g) * 2 + 1).to(c["dtype"])
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ya, yb = ours(xa), theirs(xb)
        assert_close(ya.detach().numpy(), yb.detach().numpy(), tol, f"y ({mode})")
        dy = torch.randn(ya.shape, generator=g).to(c["dtype"])
        ya.backward(dy)
        yb.backward(dy)
        weight = ours.weight.detach().numpy() if c["affine"] else None
        assert_dx(xa.grad.numpy(), xb.grad.numpy(), dy.numpy(), weight, c["eps"], tol,
                  batch_statistics=mode == "train" or not c["track"])
        for (name, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert_close(a.grad.numpy(), b.grad.numpy(), tol, f"d{name} ({mode})")
            a.grad = b.grad = None
        for (name, a), (_, b) in zip(ours.named_buffers(), theirs.named_buffers()):
            assert_close(a.numpy(), b.numpy(), tol, f"{name} after {mode}")


def test_use_cnnlab_layers_swaps_batch_norm_and_back():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
    reference = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
    reference.load_state_dict(model.state_dict())
    gnn.use_cnnlab_layers(model)
    assert type(model[1]) is gnn.BatchNorm2d
    x = torch.randn(5, 1, 7, 7)
    torch.testing.assert_close(model(x), reference(x))                # training mode: updates the statistics
    torch.testing.assert_close(model[1].running_var, reference[1].running_var)
    gnn.use_torch_layers(model)
    assert type(model[1]) is torch.nn.BatchNorm2d


# --------------------------------------------------------------------------- errors

X = np.zeros((2, 3, 4, 4))


@pytest.mark.parametrize("call,error,words", [
    (lambda: ref.batch_norm2d(np.zeros(4), None, None, training=True), ShapeError, ["at least 2 dimensions"]),
    (lambda: ref.batch_norm2d(X, np.zeros(2), np.ones(2)), ShapeError, ["running_mean must have shape (3,)"]),
    (lambda: ref.batch_norm2d(X, weight=np.ones(4), training=True), ShapeError, ["weight must have shape (3,)"]),
    (lambda: ref.batch_norm2d(X, np.zeros(3), None), ValueError, ["running_var", "both"]),
    (lambda: ref.batch_norm2d(X), ValueError, ["evaluation mode", "training=True"]),
    (lambda: ref.batch_norm2d(np.zeros((1, 3)), training=True), ValueError, ["more than 1 value per channel"]),
    (lambda: ref.batch_norm2d(X, training=True, momentum=1.5), ValueError, ["momentum must lie between 0 and 1"]),
    (lambda: ref.batch_norm2d(X, training=True, eps=0), ValueError, ["eps must be positive"]),
    (lambda: ref.batch_norm2d(X, training="yes"), TypeError, ["training must be True or False"]),
    (lambda: ref.batch_norm2d(X, [0.0] * 3, [1.0] * 3, training=True), TypeError,
     ["running_mean must be a NumPy array", "in place"]),
    (lambda: ref.batch_norm2d(X, np.zeros(3, int), np.ones(3, int), training=True), TypeError,
     ["writable float array"]),
    (lambda: ref.batch_norm2d_backward(np.zeros((2, 3)), X, training=True), ShapeError, ["dy has shape"]),
    (lambda: G.batch_norm2d(torch.zeros(2, 3, 4, 4), torch.zeros(3).double(), torch.ones(3)), TypeError,
     ["running_mean has dtype torch.float64"]),
    (lambda: G.batch_norm2d(torch.zeros(2, 3), torch.zeros(3, requires_grad=True), torch.ones(3)), ValueError,
     ["must not require grad"]),
    (lambda: G.batch_norm2d(torch.zeros(2, 3), bias=torch.zeros(2), training=True), ShapeError,
     ["bias must have shape (3,)"]),
])
def test_bad_arguments_get_clear_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    for w in words:
        assert w in str(info.value), str(info.value)


def test_running_statistics_are_left_alone_when_an_argument_is_wrong():
    rm, rv = np.zeros(3), np.ones(3)
    with pytest.raises(TypeError):
        ref.batch_norm2d(X + 1, rm, (1.0, 1.0, 1.0), training=True)   # running_var cannot be updated
    np.testing.assert_array_equal(rm, np.zeros(3))


def test_lists_work_in_evaluation_mode_and_ints_compute_in_float64():
    y = ref.batch_norm2d(np.arange(24).reshape(2, 3, 2, 2), [0, 0, 0], [1, 1, 1], [1, 1, 1], [0, 0, 0], eps=1e-5)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, np.arange(24).reshape(2, 3, 2, 2) / np.sqrt(1 + 1e-5))
