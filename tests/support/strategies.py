"""Random test cases for convolution and pooling, shared by every test that
compares an implementation with torch (cnnlab.ref now, cnnlab.gpu later).

Each strategy draws a small, valid configuration (the filter always fits the
padded input) covering stride, padding (ints, pairs, 'same', 'valid'),
dilation, groups (depthwise included), non-square inputs and kernels, batch 1,
1x1 kernels and both float dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from hypothesis import strategies as st

DTYPES = (np.float32, np.float64)


def assert_close(actual, expected, dtype, what=""):
    """Max error relative to the largest magnitude of ``expected``:
    1e-5 in float32, 1e-10 in float64 (sums of products cancel, so an
    element-wise relative test near zero would measure rounding, not bugs)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-10
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    err = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64)), initial=0.0))
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol:g} x {scale:.3g}"


def torch_grads(fn, inputs, dy):
    """Output and gradients of fn(*inputs) for the output gradient dy (None where no input)."""
    leaves = [None if a is None else torch.tensor(a, requires_grad=True) for a in inputs]
    y = fn(*leaves)
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), [None if t is None else t.grad.numpy() for t in leaves]


def torch_magnitudes(torch_fn, inputs, dy):
    """torch_fn and its gradients on |inputs| and |dy| in float64. For a linear op these
    bound the sums of |terms| that any rounding error is relative to."""
    absolute = [None if a is None else np.abs(a).astype(np.float64) for a in inputs]
    return torch_grads(torch_fn, absolute, np.abs(dy).astype(np.float64))


def assert_agree(actual, expected, magnitude, dtype, what=""):
    """Two float results of a sum of products agree to rounding: max error within
    2 x (1e-5 in float32, 1e-10 in float64) of the largest sum of |terms|.

    assert_close scales by the largest |expected|, which fails on legitimate float32
    rounding when the terms cancel (a 1x1 weight gradient of 0.009 summed from 24
    terms of size ~5 differs by 1e-7 between torch and any other float32 code)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-10
    scale = max(float(np.max(np.abs(magnitude), initial=0.0)), 1e-30)
    err = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64)), initial=0.0))
    assert err <= 2 * tol * scale, f"{what}: max error {err:.3g} > 2 x {tol:g} x {scale:.3g}"


@dataclass(frozen=True)
class ConvCase:
    N: int
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    stride: tuple
    padding: object
    dilation: tuple
    groups: int
    bias: bool
    dtype: type
    seed: int

    def arrays(self):
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.N, self.C, self.H, self.W)).astype(self.dtype)
        w = rng.standard_normal((self.K, self.C // self.groups, self.R, self.S)).astype(self.dtype)
        b = rng.standard_normal(self.K).astype(self.dtype) if self.bias else None
        return x, w, b

    @property
    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)


@st.composite
def conv_cases(draw, max_size=12):
    groups = draw(st.sampled_from([1, 1, 1, 2, 3, "depthwise"]))
    if groups == "depthwise":
        C = draw(st.integers(1, 6))
        groups = C
        K = C * draw(st.integers(1, 2))
    else:
        C = groups * draw(st.integers(1, 3))
        K = groups * draw(st.integers(1, 4))
    R = draw(st.integers(1, 5))
    S = draw(st.sampled_from([R, R, draw(st.integers(1, 5))]))
    dilation = (draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2])))
    mode = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    stride = (1, 1) if mode == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if mode == "int":
        padding = draw(st.integers(0, 2))
        pads = (padding, padding)
    elif mode == "pair":
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        pads = padding
    else:
        padding = mode
        pads = (0, 0)
    eff = (dilation[0] * (R - 1) + 1, dilation[1] * (S - 1) + 1)
    H = draw(st.integers(max(1, eff[0] - 2 * pads[0]), max(eff[0] - 2 * pads[0], 1) + max_size))
    W = draw(st.integers(max(1, eff[1] - 2 * pads[1]), max(eff[1] - 2 * pads[1], 1) + max_size))
    return ConvCase(N=draw(st.sampled_from([1, 1, 2, 3])), C=C, H=H, W=W, K=K, R=R, S=S,
                    stride=stride, padding=padding, dilation=dilation, groups=groups,
                    bias=draw(st.booleans()), dtype=draw(st.sampled_from(DTYPES)),
                    seed=draw(st.integers(0, 2**31 - 1)))


@dataclass(frozen=True)
class PoolCase:
    N: int
    C: int
    H: int
    W: int
    kernel_size: tuple
    stride: object
    padding: tuple
    dilation: tuple
    ceil_mode: bool
    dtype: type
    seed: int

    def array(self, ties=False):
        rng = np.random.default_rng(self.seed)
        if ties:  # small integers: many equal values in a window
            return rng.integers(-2, 3, (self.N, self.C, self.H, self.W)).astype(self.dtype)
        return rng.standard_normal((self.N, self.C, self.H, self.W)).astype(self.dtype)


@st.composite
def pool_cases(draw, dilation=True, max_size=12):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if draw(st.booleans()):
        kw = kh
    stride = draw(st.sampled_from([None, 1, 2, 3, "pair"]))
    if stride == "pair":
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    dil = (draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2]))) if dilation else (1, 1)
    eff = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
    H = draw(st.integers(max(1, eff[0] - 2 * padding[0]), max(eff[0], 2) + max_size))
    W = draw(st.integers(max(1, eff[1] - 2 * padding[1]), max(eff[1], 2) + max_size))
    return PoolCase(N=draw(st.sampled_from([1, 2])), C=draw(st.integers(1, 3)), H=H, W=W,
                    kernel_size=(kh, kw), stride=stride, padding=padding, dilation=dil,
                    ceil_mode=draw(st.booleans()), dtype=draw(st.sampled_from(DTYPES)),
                    seed=draw(st.integers(0, 2**31 - 1)))
