"""Checks of ps1 q6: true convolution against cross-correlation, and which
kernels give the same result with both.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import ref
from ._core import GradingFailure, public, shape_text
from ._run_cases import run_cases
from .cases import rng_for
from .conv import _when
from .diagnose import Mistake
from .guard import Guard, call

def _corr(image, kernel):
    return ref.correlate2d(image, kernel, "valid")


def convolve_mistakes():
    def k(inp):
        return inp["kernel"]
    return [
        Mistake("no_flip", "the kernel is not flipped: this is cross-correlation, not convolution",
                "A true convolution flips the kernel in both directions (rotates it by 180 degrees): "
                "kernel[::-1, ::-1].", lambda inp: _corr(inp["image"], k(inp))),
        Mistake("flip_rows_only", "the kernel is flipped upside down only",
                "Flip both axes: kernel[::-1, ::-1] (a 180-degree rotation).",
                lambda inp: _corr(inp["image"], k(inp)[::-1, :])),
        Mistake("flip_columns_only", "the kernel is flipped left-right only",
                "Flip both axes: kernel[::-1, ::-1] (a 180-degree rotation).",
                lambda inp: _corr(inp["image"], k(inp)[:, ::-1])),
        Mistake("transpose_not_rotate", "the kernel is transposed (kernel.T) instead of rotated by 180 degrees",
                "Transposing mirrors along the diagonal; convolution needs kernel[::-1, ::-1].",
                lambda inp: _when(k(inp).shape[0] == k(inp).shape[1], lambda: _corr(inp["image"], k(inp).T))),
        Mistake("full_mode", "the result is the 'full' convolution (padded by R-1, S-1)",
                "Return only the positions where the whole kernel lies inside the image ('valid'): "
                "shape (H - R + 1, W - S + 1).", lambda inp: ref.convolve2d(inp["image"], k(inp), "full")),
        Mistake("same_mode", "the result is padded to the size of the image ('same')",
                "Return only the 'valid' positions: shape (H - R + 1, W - S + 1).",
                lambda inp: ref.convolve2d(inp["image"], k(inp), "same")),
    ]


@public
def check_convolve2d(fn, sizes: Sequence[tuple], seed: int, fname: str | None = None, *, guard: Guard | None = None):
    """``fn(image (H, W), kernel (R, S)) -> (H-R+1, W-S+1)``: true convolution, as cnnlab.ref.convolve2d.
    ``sizes``: (H, W, R, S) tuples; float64 values from ``seed``."""
    fname = fname or getattr(fn, "__name__", "convolve2d")

    class _Case:
        dtype = "float64"

        def __init__(self, H, W, R, S):
            self.H, self.W, self.R, self.S = H, W, R, S

        def text(self):
            return f"image {shape_text((self.H, self.W))}, kernel {shape_text((self.R, self.S))}"

    def inputs(case, seed, i):
        rng = rng_for(seed, i)
        return dict(image=rng.standard_normal((case.H, case.W)), kernel=rng.standard_normal((case.R, case.S)))

    run_cases(fn, fname, [_Case(*s) for s in sizes], seed, inputs=inputs,
              expected=lambda inp: ref.convolve2d(inp["image"], inp["kernel"], "valid"),
              args=lambda inp: ((inp["image"], inp["kernel"]), {}), mistakes=convolve_mistakes, layout="HW",
              guard=guard)


def _rot_invariant(k):
    return bool(np.array_equal(k, k[::-1, ::-1]))


_INVARIANCE_MISTAKES = [
    ("symmetric_not_rotation", "you test whether the kernel is symmetric (kernel == kernel.T)",
     "Convolution and correlation agree when the kernel equals its 180-degree rotation, kernel[::-1, ::-1]; "
     "a transpose is a different mirror.", lambda k: k.shape[0] == k.shape[1] and np.array_equal(k, k.T)),
    ("left_right_only", "you test only the left-right mirror (kernel[:, ::-1])",
     "Both axes are flipped: compare the kernel with kernel[::-1, ::-1].",
     lambda k: np.array_equal(k, k[:, ::-1])),
    ("up_down_only", "you test only the up-down mirror (kernel[::-1, :])",
     "Both axes are flipped: compare the kernel with kernel[::-1, ::-1].",
     lambda k: np.array_equal(k, k[::-1, :])),
    ("always_true", "your function says True for every kernel",
     "Convolution flips the kernel; only kernels equal to their 180-degree rotation give the same result.",
     lambda k: True),
    ("always_false", "your function says False for every kernel",
     "Kernels equal to their 180-degree rotation (e.g. a box blur) give the same result.",
     lambda k: False),
]


@public
def check_flip_invariant(fn, kernels: Sequence, fname: str | None = None, *, guard: Guard | None = None):
    """``fn(kernel) -> bool``: True exactly when convolution with ``kernel``
    equals correlation with it for every image (kernel == kernel[::-1, ::-1])."""
    fname = fname or getattr(fn, "__name__", "is_flip_invariant")
    guard = guard or Guard()
    guard.own_work(fn, fname)
    kernels = [np.asarray(k) for k in kernels]
    answers, want = [], []
    for k in kernels:
        got = call(fn, (k,), fname=fname, case=f"a kernel of shape {shape_text(k.shape)}", guard=guard)
        if not isinstance(got, (bool, np.bool_)):
            raise GradingFailure(f"{fname} returned {type(got).__name__}; return True or False "
                                 "(bool(...) of a NumPy comparison, e.g. with np.array_equal).", "not_bool")
        answers.append(bool(got))
        want.append(_rot_invariant(k))
    if answers == want:
        return
    wrong = [i for i, (a, b) in enumerate(zip(answers, want)) if a != b]
    for key, title, hint, pred in _INVARIANCE_MISTAKES:
        pattern = [bool(pred(k)) for k in kernels]
        if pattern == answers and pattern != want:
            raise GradingFailure(f"{fname} answers wrongly for {len(wrong)} of {len(kernels)} test kernels.\n"
                                 f"Most likely: {title}.\n{hint}", key)
    raise GradingFailure(f"{fname} answers wrongly for {len(wrong)} of {len(kernels)} test kernels "
                         f"(kernels of shapes {', '.join(shape_text(kernels[i].shape) for i in wrong[:4])}). "
                         "Convolution flips the kernel in both directions.")



__all__ = ["check_convolve2d", "check_flip_invariant", "convolve_mistakes"]
