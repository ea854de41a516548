"""Bad input to cnnlab.ref gets a clear error naming the argument and the fix,
never a numba typing traceback."""

import numpy as np
import pytest

import cnnlab.ref as ref
from cnnlab import ShapeError

X = np.zeros((2, 4, 8, 8), np.float32)
W = np.zeros((6, 4, 3, 3), np.float32)


@pytest.mark.parametrize("call,exc,needles", [
    (lambda: ref.conv2d(np.zeros((8, 8)), W), ShapeError, ["x must have 4 dimensions", "x[None, None]"]),
    (lambda: ref.conv2d(np.zeros((1, 2, 3, 8, 8)), W), ShapeError, ["x must have 4 dimensions", "(1, 2, 3, 8, 8)"]),
    (lambda: ref.conv2d(X, np.zeros((6, 4, 3))), ShapeError, ["w must have 4 dimensions", "(K, C/groups, R, S)"]),
    (lambda: ref.conv2d(X, np.zeros((6, 3, 3, 3))), ShapeError, ["channel mismatch", "x has 4 channels", "(6, 4, ...)"]),
    (lambda: ref.conv2d(X, np.zeros((6, 1, 3, 3)), groups=3), ValueError, ["groups=3 must divide the input channels"]),
    (lambda: ref.conv2d(X, np.zeros((5, 2, 3, 3)), groups=2), ValueError, ["groups=2 must divide the number of filters"]),
    (lambda: ref.conv2d(X, np.zeros((6, 4, 11, 3))), ShapeError, ["kernel (height 11)", "larger than the input height of size 8"]),
    (lambda: ref.conv2d(X, W, stride=0), ValueError, ["stride must be positive"]),
    (lambda: ref.conv2d(X, W, dilation=-2), ValueError, ["dilation must be positive"]),
    (lambda: ref.conv2d(X, W, padding=-1), ValueError, ["padding must be at least 0"]),
    (lambda: ref.conv2d(X, W, stride=2, padding="same"), ValueError, ["padding='same' needs stride=1"]),
    (lambda: ref.conv2d(X, W, b=np.zeros(5)), ShapeError, ["b must have shape (6,)"]),
    (lambda: ref.conv2d(X.astype(np.float16), W), TypeError, ["float16", "astype(np.float32)"]),
    (lambda: ref.conv2d(X.astype(complex), W), TypeError, ["complex", "float32 or float64"]),
    (lambda: ref.conv2d([[1, 2], [3]], W), TypeError, ["x must be a numeric array"]),
    (lambda: ref.conv2d_backward(np.zeros((2, 6, 7, 7)), X, W), ShapeError, ["dy has shape (2, 6, 7, 7)", "(2, 6, 6, 6)"]),
    (lambda: ref.conv1d(np.zeros((2, 3, 5)), np.zeros((4, 3, 7))), ShapeError, ["larger than the input length"]),
    (lambda: ref.max_pool2d(X, 2, padding=2), ValueError, ["padding must be at most half of kernel_size"]),
    (lambda: ref.max_pool2d(X, 0), ValueError, ["kernel_size must be positive"]),
    (lambda: ref.max_pool2d(X, 9), ShapeError, ["pooling window (9)", "larger than the input height"]),
    (lambda: ref.max_pool2d_backward(np.zeros((2, 4, 3, 3)), X, 2), ShapeError, ["dy has shape (2, 4, 3, 3)", "(2, 4, 4, 4)"]),
    (lambda: ref.max_pool2d_backward(np.zeros((2, 4, 4, 4)), X, 2, indices=np.zeros((2, 4, 4), int)), ShapeError,
     ["indices has shape (2, 4, 4)", "same forward call"]),
    (lambda: ref.max_pool2d_backward(np.zeros((2, 4, 4, 4)), X, 2, indices=np.full((2, 4, 4, 4), 64)), ValueError,
     ["indices must lie in [0, 64)"]),
    (lambda: ref.max_pool2d_backward(np.zeros((2, 4, 4, 4)), X, 2, indices=np.zeros((2, 4, 4, 4))), TypeError,
     ["indices must be an integer array"]),
    (lambda: ref.avg_pool2d(X, 2, divisor_override=0), ValueError, ["divisor_override must be positive"]),
    (lambda: ref.adaptive_avg_pool2d(X, 0), ValueError, ["output_size must be positive"]),
    (lambda: ref.local_response_norm(np.zeros((4, 4)), 2), ShapeError, ["at least 3 dimensions"]),
    (lambda: ref.correlate2d(np.zeros((4, 4, 3)), np.zeros((3, 3))), ShapeError, ["image must be 2-D"]),
    (lambda: ref.correlate2d(np.zeros((4, 4)), np.zeros((3, 3)), mode="wrap"), ValueError, ["mode must be one of"]),
    (lambda: ref.im2col(np.zeros((3, 8, 8)), 3), ShapeError, ["x must have 4 dimensions"]),
    (lambda: ref.col2im(np.zeros((1, 10, 4)), (4, 4), 3), ShapeError, ["not a multiple of 9"]),
    (lambda: ref.col2im(np.zeros((1, 9, 5)), (4, 4), 3), ShapeError, ["has 5 columns", "2x2 = 4 windows"]),
])
def test_errors_name_the_argument(call, exc, needles):
    with pytest.raises(exc) as err:
        call()
    msg = str(err.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    assert "numba" not in msg.lower()


def test_nan_is_not_an_error():
    x = np.full((1, 1, 4, 4), np.nan)
    assert np.isnan(ref.conv2d(x, np.ones((1, 1, 2, 2)))).all()
    assert np.isnan(ref.max_pool2d(x, 2)).all()
    assert np.isnan(ref.avg_pool2d(x, 2)).all()
