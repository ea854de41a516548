"""Test cases of the assignment checks.

A case holds sizes and options only; its arrays are drawn from a seed that
the calling test passes (``case.arrays(seed, index)``), so a hidden test
keeps its seed -- and with it every input value -- to itself.  A case
describes itself (:meth:`text`) without values, for failure messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import shapes
from ._core import shape_text


def rng_for(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index)])


def _randn(rng, shape, dtype, ties=False):
    if ties:  # small integers: many equal values in a window
        return rng.integers(-3, 4, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@dataclass(frozen=True)
class ConvCase:
    """x (N, C, H, W), w (K, C/groups, R, S), b (K,) or None."""
    N: int = 1
    C: int = 1
    H: int = 5
    W: int = 5
    K: int = 1
    R: int = 3
    S: int = 3
    stride: int = 1
    padding: int = 0
    groups: int = 1
    bias: bool = True
    dtype: str = "float64"

    @property
    def out_hw(self):
        oh = shapes.conv_output_size(self.H, self.R, self.stride, self.padding, allow_remainder=True)
        ow = shapes.conv_output_size(self.W, self.S, self.stride, self.padding, allow_remainder=True)
        return oh, ow

    def arrays(self, seed: int, index: int = 0):
        rng = rng_for(seed, index)
        x = _randn(rng, (self.N, self.C, self.H, self.W), self.dtype)
        w = _randn(rng, (self.K, self.C // self.groups, self.R, self.S), self.dtype)
        b = _randn(rng, (self.K,), self.dtype) if self.bias else None
        return x, w, b

    def dout(self, seed: int, index: int = 0):
        rng = rng_for(seed, 10_000 + index)
        return _randn(rng, (self.N, self.K) + self.out_hw, self.dtype)

    def text(self) -> str:
        parts = [f"x {shape_text((self.N, self.C, self.H, self.W))} {self.dtype}",
                 f"w {shape_text((self.K, self.C // self.groups, self.R, self.S))}",
                 f"b {shape_text((self.K,))}" if self.bias else "b=None",
                 f"stride={self.stride}", f"padding={self.padding}"]
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        return ", ".join(parts)


def random_conv_cases(n: int, seed: int, *, stride=(1, 3), padding=(0, 2), groups=False,
                      max_size=9, dtypes=("float64", "float32")) -> list[ConvCase]:
    """``n`` random valid convolution cases (the filter fits the padded input).

    stride, padding : (lowest, highest) ranges, inclusive.
    groups          : also draw grouped and depthwise cases.
    """
    rng = np.random.default_rng([int(seed), 99])
    out = []
    for i in range(n):
        g = 1
        if groups:
            g = int(rng.integers(2, 4))
        if groups and i % 2 == 1:  # depthwise
            C = g
            K = g * int(rng.integers(1, 3))
        else:
            C = g * int(rng.integers(1, 3 if groups else 4))
            K = g * int(rng.integers(1, 3 if groups else 4))
        R = int(rng.integers(1, 5))
        S = R if rng.random() < 0.6 else int(rng.integers(1, 5))
        s = int(rng.integers(stride[0], stride[1] + 1))
        p = int(rng.integers(padding[0], padding[1] + 1))
        H = int(rng.integers(max(1, R - 2 * p), max(R - 2 * p, 1) + max_size))
        W = int(rng.integers(max(1, S - 2 * p), max(S - 2 * p, 1) + max_size))
        out.append(ConvCase(N=int(rng.integers(1, 4)), C=C, H=H, W=W, K=K, R=R, S=S, stride=s, padding=p,
                            groups=g, bias=bool(rng.random() < 0.8), dtype=str(dtypes[i % len(dtypes)])))
    return out


@dataclass(frozen=True)
class PoolCase:
    """x (N, C, H, W) pooled with a pool_size x pool_size window moved by stride."""
    N: int = 1
    C: int = 1
    H: int = 4
    W: int = 4
    pool_size: int = 2
    stride: int = 2
    dtype: str = "float64"
    ties: bool = False

    @property
    def out_hw(self):
        oh = shapes.pool_output_size(self.H, self.pool_size, self.stride, allow_remainder=True)
        ow = shapes.pool_output_size(self.W, self.pool_size, self.stride, allow_remainder=True)
        return oh, ow

    def array(self, seed: int, index: int = 0):
        return _randn(rng_for(seed, index), (self.N, self.C, self.H, self.W), self.dtype, self.ties)

    def dout(self, seed: int, index: int = 0):
        return _randn(rng_for(seed, 10_000 + index), (self.N, self.C) + self.out_hw, self.dtype)

    def text(self) -> str:
        t = (f"x {shape_text((self.N, self.C, self.H, self.W))} {self.dtype}, pool_size={self.pool_size}, "
             f"stride={self.stride}")
        return t + (", with ties (equal values in a window)" if self.ties else "")


def random_pool_cases(n: int, seed: int, *, pool=(1, 4), stride=(1, 3), ties=False, max_size=9,
                      dtypes=("float64", "float32")) -> list[PoolCase]:
    """``n`` random pooling cases; pool, stride: (lowest, highest) ranges, inclusive,
    or ``stride="pool"`` for windows that do not overlap (stride = pool_size)."""
    rng = np.random.default_rng([int(seed), 98])
    out = []
    for i in range(n):
        k = int(rng.integers(pool[0], pool[1] + 1))
        s = k if stride == "pool" else int(rng.integers(stride[0], stride[1] + 1))
        H = int(rng.integers(k, k + max_size))
        W = int(rng.integers(k, k + max_size))
        out.append(PoolCase(N=int(rng.integers(1, 3)), C=int(rng.integers(1, 4)), H=H, W=W, pool_size=k,
                            stride=s, dtype=str(dtypes[i % len(dtypes)]), ties=ties))
    return out


def random_size_cases(n: int, seed: int, *, fits: bool | None = None, max_size: int = 64) -> list[tuple]:
    """``n`` random (N, F, S, P) output-size questions; ``fits`` True keeps only
    those where (N - F + 2P)/S + 1 is a whole number (and F fits in N + 2P),
    False only those where it is not, None both."""
    rng = np.random.default_rng([int(seed), 97])
    out = []
    while len(out) < n:
        F = int(rng.integers(1, 12))
        S = int(rng.integers(1, 5))
        P = int(rng.integers(0, 4))
        N = int(rng.integers(max(1, F - 2 * P), max_size))
        span = N - F + 2 * P
        ok = span >= 0 and span % S == 0
        if fits is None or ok == fits:
            out.append((N, F, S, P))
    return out
