"""Bad input to cnnlab.gpu gets the same clear errors as cnnlab.ref (naming the
argument and the fix), plus the tensor-specific ones: type, dtype, device."""

import numpy as np
import pytest
import torch

import cnnlab.gpu as G
from cnnlab import ShapeError

X = torch.zeros(2, 4, 8, 8)
W = torch.zeros(6, 4, 3, 3)


@pytest.mark.parametrize("call,exc,needles", [
    # the same checks as cnnlab.ref (tests/lib/test_ref_errors.py)
    (lambda: G.conv2d(torch.zeros(8, 8), W), ShapeError, ["x must have 4 dimensions", "x[None, None]"]),
    (lambda: G.conv2d(X, torch.zeros(6, 4, 3)), ShapeError, ["w must have 4 dimensions", "(K, C/groups, R, S)"]),
    (lambda: G.conv2d(X, torch.zeros(6, 3, 3, 3)), ShapeError, ["channel mismatch", "x has 4 channels"]),
    (lambda: G.conv2d(X, torch.zeros(6, 1, 3, 3), groups=3), ValueError, ["groups=3 must divide the input channels"]),
    (lambda: G.conv2d(X, torch.zeros(6, 4, 11, 3)), ShapeError, ["kernel (height 11)", "larger than the input height"]),
    (lambda: G.conv2d(X, W, stride=0), ValueError, ["stride must be positive"]),
    (lambda: G.conv2d(X, W, padding=-1), ValueError, ["padding must be at least 0"]),
    (lambda: G.conv2d(X, W, stride=2, padding="same"), ValueError, ["padding='same' needs stride=1"]),
    (lambda: G.conv2d(X, W, b=torch.zeros(5)), ShapeError, ["b must have shape (6,)"]),
    (lambda: G.conv1d(torch.zeros(2, 3, 5), torch.zeros(4, 3, 7)), ShapeError, ["larger than the input length"]),
    (lambda: G.max_pool2d(X, 2, padding=2), ValueError, ["padding must be at most half of kernel_size"]),
    (lambda: G.max_pool2d(X, 9), ShapeError, ["pooling window (9)", "larger than the input height"]),
    (lambda: G.avg_pool2d(X, 2, divisor_override=0), ValueError, ["divisor_override must be positive"]),
    (lambda: G.adaptive_avg_pool2d(X, 0), ValueError, ["output_size must be positive"]),
    (lambda: G.local_response_norm(torch.zeros(4, 4), 2), ShapeError, ["at least 3 dimensions"]),
    (lambda: G.local_response_norm(X, 2, alpha=float("nan")), ValueError, ["alpha must be a finite number"]),
    (lambda: G.im2col(torch.zeros(3, 8, 8), 3), ShapeError, ["x must have 4 dimensions"]),
    (lambda: G.col2im(torch.zeros(1, 10, 4), (4, 4), 3), ShapeError, ["not a multiple of 9"]),
    (lambda: G.col2im(torch.zeros(1, 9, 5), (4, 4), 3), ShapeError, ["has 5 columns", "2x2 = 4 windows"]),
    (lambda: G.correlate2d(torch.zeros(4, 4), torch.zeros(3, 3), mode="wrap"), ValueError, ["mode must be one of"]),
    # tensors: type, dtype, device
    (lambda: G.conv2d(np.zeros((2, 4, 8, 8)), W), TypeError, ["x must be a torch.Tensor", "torch.from_numpy(x)"]),
    (lambda: G.max_pool2d([[1.0, 2.0]], 2), TypeError, ["x must be a torch.Tensor"]),
    (lambda: G.conv2d(X.long(), W), TypeError, ["x has dtype torch.int64", "x.float()"]),
    (lambda: G.conv2d(X, W.double()), TypeError, ["w has dtype torch.float64 but x has dtype torch.float32",
                                                  "w.to(x.dtype)"]),
    (lambda: G.conv2d(X, W, torch.zeros(6, dtype=torch.float64)), TypeError, ["b has dtype torch.float64"]),
    (lambda: G.conv2d(X, W.to("meta")), ValueError, ["w is on device meta but x is on cpu", "w.to(x.device)"]),
    (lambda: G.max_pool2d(X.to(torch.complex64), 2), TypeError, ["complex64", "floating point"]),
])
def test_errors_name_the_argument(call, exc, needles):
    with pytest.raises(exc) as err:
        call()
    msg = str(err.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"


NX, NW = np.zeros((2, 4, 8, 8), np.float32), np.zeros((6, 4, 3, 3), np.float32)


@pytest.mark.parametrize("ref_call,gpu_call", [
    (lambda r: r.conv2d(NX, np.zeros((6, 3, 3, 3))), lambda: G.conv2d(X, torch.zeros(6, 3, 3, 3))),
    (lambda r: r.conv2d(NX, NW, stride=(1, 2, 3)), lambda: G.conv2d(X, W, stride=(1, 2, 3))),
    (lambda r: r.conv2d(NX, NW, stride=2.5), lambda: G.conv2d(X, W, stride=2.5)),
    (lambda r: r.conv2d(NX, NW, padding="full"), lambda: G.conv2d(X, W, padding="full")),
    (lambda r: r.max_pool2d(NX, (2, 9)), lambda: G.max_pool2d(X, (2, 9))),
    (lambda r: r.avg_pool2d(NX, 3, padding=2), lambda: G.avg_pool2d(X, 3, padding=2)),
    (lambda r: r.adaptive_avg_pool2d(NX, (1, 2, 3)), lambda: G.adaptive_avg_pool2d(X, (1, 2, 3))),
])
def test_same_message_as_the_reference(ref_call, gpu_call):
    """One place for each check: cnnlab.ref and cnnlab.gpu raise the same error."""
    import cnnlab.ref as ref
    with pytest.raises((ValueError, TypeError)) as ref_err:
        ref_call(ref)
    with pytest.raises((ValueError, TypeError)) as gpu_err:
        gpu_call()
    assert type(gpu_err.value) is type(ref_err.value)
    assert str(gpu_err.value) == str(ref_err.value)


def test_inputs_are_not_converted_behind_the_users_back():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    before = x.clone()
    G.max_pool2d(x, 2)
    G.avg_pool2d(x, 2, padding=1)
    G.conv2d(x, torch.ones(1, 1, 2, 2), padding=1)
    assert torch.equal(x, before)
