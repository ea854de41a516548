"""Properties of convolution and pooling that hold for any input."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlab.ref as ref
from strategies import assert_close


@given(st.integers(0, 2**31 - 1), st.integers(1, 4), st.integers(1, 4), st.integers(1, 5))
@settings(max_examples=30)
def test_translation_equivariance(seed, dy, dx, k):
    """Shift the image, and the feature map shifts by the same amount (away from the border)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((1, 2, 24, 24))
    x[:, :, 4:14, 4:14] = rng.standard_normal((1, 2, 10, 10))   # content away from the border
    w = rng.standard_normal((3, 2, k, k))
    shifted = np.roll(x, (dy, dx), axis=(2, 3))
    y, ys = ref.conv2d(x, w), ref.conv2d(shifted, w)
    assert_close(ys, np.roll(y, (dy, dx), axis=(2, 3)), np.float64)


@given(st.integers(0, 2**31 - 1), st.floats(-3, 3), st.floats(-3, 3))
@settings(max_examples=30)
def test_linearity(seed, a, b):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.standard_normal((2, 2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 3, 2))
    lhs = ref.conv2d(a * x1 + b * x2, w, stride=2, padding=1)
    rhs = a * ref.conv2d(x1, w, stride=2, padding=1) + b * ref.conv2d(x2, w, stride=2, padding=1)
    assert_close(lhs, rhs, np.float64)


@given(st.integers(0, 2**31 - 1), st.sampled_from([(2, 2), (3, 2), (3, 1), (2, 1)]))
@settings(max_examples=30)
def test_max_pool_gradient_routes_only_to_the_argmax(seed, ks):
    k, s = ks
    rng = np.random.default_rng(seed)
    x = rng.permutation(2 * 3 * 8 * 8).reshape(2, 3, 8, 8).astype(np.float64)   # no ties
    y, idx = ref.max_pool2d(x, k, s, return_indices=True)
    dy = rng.standard_normal(y.shape)
    dx = ref.max_pool2d_backward(dy, x, k, s)
    flat = dx.reshape(2, 3, -1)
    expected = np.zeros_like(flat)
    for n in range(2):
        for c in range(3):
            np.add.at(expected[n, c], idx[n, c].ravel(), dy[n, c].ravel())
    np.testing.assert_allclose(flat, expected, rtol=1e-12, atol=1e-12)
    # every position that is no window's arg-max gets exactly zero
    hit = np.zeros_like(flat, dtype=bool)
    for n in range(2):
        for c in range(3):
            hit[n, c, idx[n, c].ravel()] = True
    assert np.all(flat[~hit] == 0)


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=20)
def test_backward_is_the_adjoint_of_forward(seed):
    """<conv(x, w), dy> = <x, dx(dy)> = <w, dw(dy)>: the gradient identities."""
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((2, 4, 9, 7)), rng.standard_normal((6, 2, 3, 2))
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    y = ref.conv2d(x, w, **kw)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = ref.conv2d_backward(dy, x, w, **kw)
    lhs = float(np.sum(y * dy))
    assert abs(lhs - float(np.sum(x * dx))) <= 1e-9 * (1 + abs(lhs))
    assert abs(lhs - float(np.sum(w * dw))) <= 1e-9 * (1 + abs(lhs))


def test_max_pool_is_invariant_to_a_small_shift_inside_its_window():
    x = np.zeros((1, 1, 8, 8))
    x[0, 0, 2, 2] = 1.0
    shifted = np.roll(x, 1, axis=3)  # (2, 2) -> (2, 3): same 2x2 window
    np.testing.assert_array_equal(ref.max_pool2d(x, 2), ref.max_pool2d(shifted, 2))
