"""Checks of ps1 (convolution): output size, loop and im2col convolution,
grouped convolution, true convolution vs correlation.

Every check compares the student's function with :mod:`cnnlab.ref` (or
:mod:`cnnlab.shapes`) on cases whose inputs come from a seed the caller
passes, and explains a mismatch with the fingerprints below.
"""

from __future__ import annotations

import numbers
import sys
from typing import Sequence

import numpy as np

from .. import ref, shapes
from .._errors import ShapeError
from ._core import GradingFailure, call, guarded, public, shape_text
from ._runner import run_cases
from .cases import ConvCase, rng_for
from .diagnose import Mistake
from .forbid import assert_own_work

# --------------------------------------------------------------------------
# output size
# --------------------------------------------------------------------------

RAISES = "raises ValueError"


def _size_rule(span, plus_one=1, check_remainder=True, divide=True):
    """The outcome of an output-size formula: an int, or RAISES."""
    def outcome(n, k, s, p):
        sp = span(n, k, s, p)
        if sp < 0 or (check_remainder and sp % s):
            return RAISES
        return (sp // s if divide else sp) + plus_one
    return outcome


def _size_correct(n, k, s, p):
    try:
        return shapes.conv_output_size(n, k, s, p)
    except ShapeError:
        return RAISES


#: (key, title, hint, outcome(n, f, s, p) -> int or RAISES)
SIZE_MISTAKES = [
    ("size_off_by_one", "the +1 is missing from (N - F + 2P)/S + 1",
     "The +1 counts the first position of the filter: with N = F there is exactly one output.",
     _size_rule(lambda n, k, s, p: n - k + 2 * p, plus_one=0)),
    ("size_padding_once", "the padding is counted once instead of on both sides",
     "Padding P adds P zeros at the start and P at the end: the padded size is N + 2P.",
     _size_rule(lambda n, k, s, p: n - k + p)),
    ("size_padding_ignored", "the padding is ignored",
     "The padded input has N + 2P entries: use (N - F + 2P)/S + 1.",
     _size_rule(lambda n, k, s, p: n - k)),
    ("size_stride_ignored", "the stride is ignored",
     "The filter moves by S entries: divide (N - F + 2P) by S before adding 1.",
     _size_rule(lambda n, k, s, p: n - k + 2 * p, divide=False)),
    ("size_plus_filter", "the filter size is added instead of subtracted",
     "The last filter position starts F - 1 entries before the end: N - F, not N + F.",
     _size_rule(lambda n, k, s, p: n + k + 2 * p)),
    ("size_no_error", "a size is returned when the filter does not fit (the remainder is floored away)",
     "When (N - F + 2P) % S != 0 the last positions hang over the edge: raise ValueError "
     "(PyTorch silently floors; here we want to know).",
     _size_rule(lambda n, k, s, p: n - k + 2 * p, check_remainder=False)),
]


@public
def check_output_size(fn, cases: Sequence[tuple], fname: str = "output_size"):
    """``cases``: (N, F, S, P) tuples. ``fn(N, F, S, P)`` must return the output
    size as an int when the filter fits, and raise ValueError when it does not.

    A wrong answer is diagnosed by comparing the student's outcomes on all
    cases (a size, or an error) with those of typical wrong formulas."""
    assert_own_work(fn, fname)
    got, first_bad = [], None
    for n, k, s, p in cases:
        text = f"N={n}, F={k}, S={s}, P={p}"
        want = _size_correct(n, k, s, p)
        value, error, calls, _ = guarded(fn, (n, k, s, p))
        if calls or isinstance(error, NotImplementedError):
            call(fn, (n, k, s, p), fname=fname, case=text)  # raises the right message
        if isinstance(error, ValueError):
            outcome = RAISES
        elif error is not None:
            if want == RAISES:
                raise GradingFailure(
                    f"{fname} raises {type(error).__name__} when the filter does not fit ({text}). Raise "
                    "ValueError instead, with a message that says what does not fit.", "size_wrong_error")
            call(fn, (n, k, s, p), fname=fname, case=text)
        elif isinstance(value, bool) or not isinstance(value, numbers.Integral):
            if value is None:
                raise GradingFailure(f"{fname} returned None for {text}. Did you forget `return`?")
            if isinstance(value, numbers.Real) and want != RAISES and float(value) == want:
                raise GradingFailure(f"{fname} returns a {type(value).__name__} for {text}; a size must be an "
                                     "int. Use integer division // (after checking the remainder), or int(...).",
                                     "size_float")
            outcome = ("not an int", type(value).__name__)
        else:
            outcome = int(value)
        got.append(outcome)
        if outcome != want and first_bad is None:
            first_bad = (text, want, outcome)
    if first_bad is None:
        return
    text, want, outcome = first_bad
    wrong = sum(g != _size_correct(*c) for g, c in zip(got, cases))
    if want == RAISES:
        head = (f"{fname} returns a size for {text}, but the filter does not fit: (N - F + 2P)/S + 1 is not a "
                "whole number (or the filter is larger than the padded input).")
    elif outcome == RAISES:
        head = f"{fname} raises ValueError for {text}, but the filter fits there."
    else:
        head = f"{fname} gives a wrong size for {text}."
    head += f" (wrong on {wrong} of {len(cases)} test cases)"
    for key, title, hint, rule in SIZE_MISTAKES:
        pattern = [rule(*c) for c in cases]
        if pattern == got:
            raise GradingFailure(f"{head}\nMost likely: {title}.\n{hint}", key)
    if want == RAISES:
        raise GradingFailure(head + "\nRaise ValueError when (N - F + 2P) % S != 0 or F > N + 2P.",
                             "size_no_error")
    raise GradingFailure(head + "\nRecompute (N - F + 2P)/S + 1 by hand for these numbers.")


# --------------------------------------------------------------------------
# convolution forward
# --------------------------------------------------------------------------

def _conv_inputs(case: ConvCase, seed, i):
    x, w, b = case.arrays(seed, i)
    return dict(x=x, w=w, b=b, stride=case.stride, padding=case.padding, groups=case.groups, case=case)


def _ref_conv(inp, **over):
    a = dict(inp)
    a.update(over)
    return ref.conv2d(a["x"], a["w"], a["b"], stride=a["stride"], padding=a["padding"], groups=a["groups"])


def _bias_term(inp, times=1):
    b = inp["b"]
    return 0 if b is None else times * b[None, :, None, None]


def _when(cond, fn):
    return fn() if cond else None


def conv_mistakes():
    """Fingerprints of a 2-D convolution forward pass (loop or im2col)."""

    def flip(inp):
        return _ref_conv(inp, w=inp["w"][:, :, ::-1, ::-1])

    def transposed(inp):
        w = inp["w"]
        return _when(w.shape[2] == w.shape[3], lambda: _ref_conv(inp, w=w.transpose(0, 1, 3, 2)))

    def no_bias(inp):
        return _when(inp["b"] is not None, lambda: _ref_conv(inp, b=None))

    def bias_per_pixel(inp):
        w = inp["w"]
        n = w.shape[1] * w.shape[2] * w.shape[3]
        return _when(inp["b"] is not None and n > 1, lambda: _ref_conv(inp, b=None) + _bias_term(inp, n))

    def bias_per_channel(inp):
        c = inp["w"].shape[1]
        return _when(inp["b"] is not None and c > 1, lambda: _ref_conv(inp, b=None) + _bias_term(inp, c))

    def pad_ignored(inp):
        return _when(inp["padding"] > 0, lambda: _ref_conv(inp, padding=0))

    def pad_twice(inp):
        return _when(inp["padding"] > 0, lambda: _ref_conv(inp, padding=2 * inp["padding"]))

    def pad_one_side(inp):
        p = inp["padding"]
        return _when(p > 0, lambda: _ref_conv(inp, x=np.pad(inp["x"], ((0, 0), (0, 0), (p, 0), (p, 0))),
                                              padding=0))

    def stride_ignored(inp):
        return _when(inp["stride"] > 1, lambda: _ref_conv(inp, stride=1))

    def stride_window(inp):
        def go():
            y = _ref_conv(inp)
            return _ref_conv(inp, stride=1)[:, :, :y.shape[2], :y.shape[3]]
        return _when(inp["stride"] > 1, go)

    def last_channel(inp):
        x, w = inp["x"], inp["w"]
        return _when(w.shape[1] > 1 and inp["groups"] == 1,
                     lambda: _ref_conv(inp, x=x[:, -1:], w=w[:, -1:]))

    def channels_last(inp):
        return _ref_conv(inp).transpose(0, 2, 3, 1)

    def hw_swapped(inp):
        return _ref_conv(inp).transpose(0, 1, 3, 2)

    def one_short(inp):
        y = _ref_conv(inp)
        return _when(y.shape[2] > 1 and y.shape[3] > 1, lambda: y[:, :, :-1, :-1])

    def first_image(inp):
        y = _ref_conv(inp)
        return _when(y.shape[0] > 1, lambda: np.repeat(y[:1], y.shape[0], axis=0))

    def reshape_no_transpose(inp):
        y = _ref_conv(inp)
        N, K = y.shape[:2]
        return _when(N > 1 and K > 1, lambda: np.ascontiguousarray(y.transpose(1, 0, 2, 3)).reshape(y.shape))

    def flatten_mismatch_a(inp):
        w = inp["w"]
        K, C, R, S = w.shape
        return _when(C > 1 and R * S > 1, lambda: _ref_conv(inp, w=np.ascontiguousarray(
            w.reshape(K, R, S, C).transpose(0, 3, 1, 2))))

    def flatten_mismatch_b(inp):
        w = inp["w"]
        K, C, R, S = w.shape
        return _when(C > 1 and R * S > 1, lambda: _ref_conv(inp, w=np.ascontiguousarray(
            w.transpose(0, 2, 3, 1)).reshape(K, C, R, S)))

    pad_hint = ("Pad x once, by P on each side: np.pad(x, ((0, 0), (0, 0), (P, P), (P, P))), and compute "
                "the output size with (H - R + 2P)/S + 1.")
    return [
        Mistake("flipped_kernel", "the filter is flipped: you computed a true convolution, but deep-learning "
                "'convolution' is cross-correlation",
                "Multiply x[..., i*S + r, j*S + s] by w[..., r, s] with the same r and s; do not reverse "
                "the filter (w[..., ::-1, ::-1]).", flip),
        Mistake("kernel_transposed", "the filter's rows and columns are swapped (w[k, c, s, r] instead of "
                "w[k, c, r, s])",
                "Index the filter as w[k, c, r, s] with r moving down the rows (height) and s along "
                "the columns (width), matching x[n, c, i*S + r, j*S + s].", transposed),
        Mistake("bias_missing", "the bias is missing",
                "Add b[k] once to every output of filter k: y[n, k, i, j] = sum(...) + b[k].", no_bias),
        Mistake("bias_per_pixel", "the bias is added once per multiplied pixel (inside the sum over c, r, s) "
                "instead of once per output",
                "Add b[k] after the sum over the window, not inside the innermost loop.", bias_per_pixel),
        Mistake("bias_per_channel", "the bias is added once per input channel instead of once per output",
                "Add b[k] after summing over all channels, not inside the loop over c.", bias_per_channel),
        Mistake("padding_ignored", _TITLE["padding_ignored"], pad_hint, pad_ignored),
        Mistake("padding_twice", _TITLE["padding_twice"], pad_hint, pad_twice),
        Mistake("padding_one_side", "the padding is added on one side only (top and left)", pad_hint,
                pad_one_side),
        Mistake("stride_ignored", _TITLE["stride_ignored"],
                "Output (i, j) reads the window starting at row i*S and column j*S, and there are "
                "(H - R + 2P)//S + 1 rows of outputs.", stride_ignored),
        Mistake("stride_not_applied_to_window", "the output size uses the stride but the window does not move "
                "by it",
                "The window of output (i, j) starts at row i*S and column j*S, not at (i, j).", stride_window),
        Mistake("channels_overwrite", "only the last input channel counts: each channel overwrites the sum "
                "instead of adding to it",
                "Sum over all input channels c: accumulate with +=, or sum the product over the whole "
                "(C, R, S) window at once.", last_channel),
        Mistake("output_channels_last", "the output axes are (N, OH, OW, K) instead of (N, K, OH, OW)",
                "Create the output as np.zeros((N, K, OH, OW)) and write y[n, k, i, j].", channels_last),
        Mistake("output_hw_swapped", "the output's height and width are swapped",
                "The output has shape (N, K, OH, OW): rows (from H and R) first, then columns.", hw_swapped),
        Mistake("output_one_short", "the last output row and column are missing: the output size is one too "
                "small", "Compute OH = (H - R + 2P)//S + 1 (and OW alike), and loop over range(OH), "
                "range(OW).", one_short),
        Mistake("batch_first_image", "every image of the batch gets the result of the first image",
                "Index the input with the loop variable n: x[n, ...], and write y[n, ...].", first_image),
        Mistake("reshape_without_transpose", "the images and filters are mixed up: the (K, N*OH*OW) product "
                "was reshaped straight to (N, K, OH, OW)",
                "Reshape the product to (K, N, OH, OW) first, then transpose to (N, K, OH, OW) "
                "(or build the product per image).", reshape_no_transpose),
        Mistake("flatten_order_mismatch", "the rows of your columns and the flattened filters are in different "
                "orders",
                "w.reshape(K, -1) orders each filter as (c, r, s): build each column of cols in the same "
                "(c, r, s) order, or reorder the filters to match.", flatten_mismatch_a),
        Mistake("flatten_order_mismatch", "the rows of your columns and the flattened filters are in different "
                "orders",
                "w.reshape(K, -1) orders each filter as (c, r, s): build each column of cols in the same "
                "(c, r, s) order, or reorder the filters to match.", flatten_mismatch_b),
    ]


def _conv_args(inp):
    return (inp["x"], inp["w"], inp["b"]), dict(stride=inp["stride"], padding=inp["padding"])


@public
def check_conv2d(fn, cases: Sequence[ConvCase], seed: int, fname: str | None = None):
    """``fn(x, w, b, stride=S, padding=P) -> y (N, K, OH, OW)`` agrees with cnnlab.ref.conv2d."""
    fname = fname or getattr(fn, "__name__", "conv2d")
    run_cases(fn, fname, cases, seed, inputs=_conv_inputs, expected=_ref_conv, args=_conv_args,
              mistakes=conv_mistakes)


def grouped_mistakes():
    def mod_groups(inp):
        x, w, b, G = inp["x"], inp["w"], inp["b"], inp["groups"]
        K, Cg = w.shape[:2]
        Kg = K // G
        if G == 1 or Kg == 1:
            return None
        out = []
        for k in range(K):
            g = k % G
            out.append(ref.conv2d(x[:, g * Cg:(g + 1) * Cg], w[k:k + 1], None if b is None else b[k:k + 1],
                                  stride=inp["stride"], padding=inp["padding"]))
        return np.concatenate(out, axis=1)

    def first_group(inp):
        x, w, b, G = inp["x"], inp["w"], inp["b"], inp["groups"]
        Cg = w.shape[1]
        return _when(G > 1, lambda: ref.conv2d(x[:, :Cg], w, b, stride=inp["stride"], padding=inp["padding"]))

    return [
        Mistake("group_mapping", "filter k reads the wrong group of channels (group k % groups instead of "
                "k // (K/groups))",
                "The K filters are split into groups in order: filters 0 .. K/groups - 1 belong to group 0, "
                "the next K/groups to group 1, and so on; group g reads channels g*C/groups .. "
                "(g+1)*C/groups - 1.", mod_groups),
        Mistake("group_first_only", "every filter reads the channels of the first group",
                "Filter group g must read the input channels of group g: x[:, g*Cg:(g+1)*Cg].", first_group),
    ] + conv_mistakes()


@public
def check_conv2d_grouped(fn, cases: Sequence[ConvCase], seed: int, fname: str | None = None):
    """``fn(x, w, b, stride=S, padding=P, groups=G)`` agrees with cnnlab.ref.conv2d."""
    fname = fname or getattr(fn, "__name__", "conv2d_grouped")

    def args(inp):
        return (inp["x"], inp["w"], inp["b"]), dict(stride=inp["stride"], padding=inp["padding"],
                                                    groups=inp["groups"])
    run_cases(fn, fname, cases, seed, inputs=_conv_inputs, expected=_ref_conv, args=args,
              mistakes=grouped_mistakes)


# --------------------------------------------------------------------------
# im2col
# --------------------------------------------------------------------------

_TITLE = {"padding_ignored": "the padding is ignored",
          "padding_twice": "the padding is applied twice (2P zeros on each side)",
          "stride_ignored": "the stride is ignored (the filter moves by 1)"}


def _ref_im2col(inp, **over):
    a = dict(inp)
    a.update(over)
    w = a["w"]
    return ref.im2col(a["x"], (w.shape[2], w.shape[3]), stride=a["stride"], padding=a["padding"])


def im2col_mistakes():
    def rows_rsc(inp):
        cols = _ref_im2col(inp)
        N, CRS, P = cols.shape
        _, C, R, S = inp["w"].shape
        return _when(C > 1 and R * S > 1,
                     lambda: cols.reshape(N, C, R, S, P).transpose(0, 2, 3, 1, 4).reshape(N, CRS, P))

    def rows_csr(inp):
        cols = _ref_im2col(inp)
        N, CRS, P = cols.shape
        _, C, R, S = inp["w"].shape
        return _when(R > 1 and S > 1,
                     lambda: cols.reshape(N, C, R, S, P).transpose(0, 1, 3, 2, 4).reshape(N, CRS, P))

    def cols_colmajor(inp):
        cols = _ref_im2col(inp)
        N, CRS, P = cols.shape
        oh, ow = inp["case"].out_hw
        return _when(oh > 1 and ow > 1,
                     lambda: cols.reshape(N, CRS, oh, ow).transpose(0, 1, 3, 2).reshape(N, CRS, P))

    def transposed(inp):
        return _ref_im2col(inp).transpose(0, 2, 1)

    def cs231n(inp):
        cols = _ref_im2col(inp)
        N, CRS, P = cols.shape
        return cols.transpose(1, 0, 2).reshape(CRS, N * P)

    def pad_ignored(inp):
        return _when(inp["padding"] > 0, lambda: _ref_im2col(inp, padding=0))

    def pad_twice(inp):
        return _when(inp["padding"] > 0, lambda: _ref_im2col(inp, padding=2 * inp["padding"]))

    def stride_ignored(inp):
        return _when(inp["stride"] > 1, lambda: _ref_im2col(inp, stride=1))

    layout = ("Row (c*R + r)*S + s of column i*OW + j holds x_padded[n, c, i*S + r, j*S + s]: "
              "the same (c, r, s) order as w.reshape(K, -1).")
    return [
        Mistake("im2col_rows_channels_last", "the rows of each column are in (r, s, c) order instead of "
                "(c, r, s)", layout, rows_rsc),
        Mistake("im2col_rows_transposed", "the rows of each column are in (c, s, r) order: the window is "
                "read column by column", layout, rows_csr),
        Mistake("im2col_columns_column_major", "the windows are numbered column by column (j*OH + i) instead "
                "of row by row (i*OW + j)", layout, cols_colmajor),
        Mistake("im2col_transposed", "the result is (N, OH*OW, C*R*S): windows as rows instead of columns",
                "Return (N, C*R*S, OH*OW), one column per window, as torch's F.unfold does.", transposed),
        Mistake("im2col_cs231n_layout", "the result is the (C*R*S, N*OH*OW) layout of CS231n; this assignment "
                "uses torch's (N, C*R*S, OH*OW)",
                "Keep the images apart: cols[n] is the (C*R*S, OH*OW) matrix of image n.", cs231n),
        Mistake("padding_ignored", _TITLE["padding_ignored"], "Pad x by P on each side before taking windows.",
                pad_ignored),
        Mistake("padding_twice", _TITLE["padding_twice"], "Pad x once, by P on each side.", pad_twice),
        Mistake("stride_ignored", _TITLE["stride_ignored"], "Window (i, j) starts at row i*S, column j*S.",
                stride_ignored),
    ]


def _im2col_args(inp):
    w = inp["w"]
    return (inp["x"], w.shape[2], w.shape[3]), dict(stride=inp["stride"], padding=inp["padding"])


@public
def check_im2col(fn, cases: Sequence[ConvCase], seed: int, fname: str | None = None):
    """``fn(x, R, S, stride=S, padding=P) -> cols (N, C*R*S, OH*OW)`` agrees with cnnlab.ref.im2col
    (torch's F.unfold layout).  Only x and the filter size of each case are used."""
    fname = fname or getattr(fn, "__name__", "im2col")
    run_cases(fn, fname, cases, seed, inputs=_conv_inputs, expected=_ref_im2col, args=_im2col_args,
              mistakes=im2col_mistakes, layout="NCL")


# --------------------------------------------------------------------------
# vectorisation
# --------------------------------------------------------------------------

def count_lines(fn, args, kwargs=None) -> int:
    """Number of Python lines executed in the student's own code (not in
    NumPy or any installed library) while ``fn(*args, **kwargs)`` runs."""
    from .forbid import _library_dirs

    libs = _library_dirs()
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def tracer(frame, event, arg):
        if frame.f_code.co_filename.startswith(libs):
            return None
        return local

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn(*args, **(kwargs or {}))
    finally:
        sys.settrace(old)
    return count


@public
def check_vectorised(fn, case: ConvCase, seed: int, fname: str | None = None, per_window: int = 6):
    """``fn`` (a convolution with x, w, b, stride, padding) runs at most
    ``per_window * (OH*OW + R*S) + 60`` lines of Python on ``case``: loops over
    the output positions or the filter offsets are fine, loops over images,
    channels or filters on top of them are not."""
    fname = fname or getattr(fn, "__name__", "conv2d_im2col")
    assert_own_work(fn, fname)
    inp = _conv_inputs(case, seed, 0)
    pos, kw = _conv_args(inp)
    call(fn, pos, kw, fname=fname, case=case.text())  # errors and forbidden calls first
    oh, ow = case.out_hw
    budget = per_window * (oh * ow + case.R * case.S) + 60
    lines = count_lines(fn, pos, kw)
    if lines > budget:
        raise GradingFailure(
            f"{fname} is not vectorised: on the test case {case.text()} it ran {lines} lines of Python, "
            f"more than {budget} = {per_window} x (OH*OW + R*S) + 60.\nMost likely: it still loops over images, "
            "channels or filters (or over every element). Build cols with one loop over the R*S filter "
            "offsets (or the OH*OW windows) using slicing on all images and channels at once, then compute "
            "every output with one matrix product: w.reshape(K, -1) @ cols.", "not_vectorised")


# --------------------------------------------------------------------------
# true convolution vs correlation
# --------------------------------------------------------------------------

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
def check_convolve2d(fn, sizes: Sequence[tuple], seed: int, fname: str | None = None):
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
              args=lambda inp: ((inp["image"], inp["kernel"]), {}), mistakes=convolve_mistakes, layout="HW")


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
def check_flip_invariant(fn, kernels: Sequence, fname: str | None = None):
    """``fn(kernel) -> bool``: True exactly when convolution with ``kernel``
    equals correlation with it for every image (kernel == kernel[::-1, ::-1])."""
    fname = fname or getattr(fn, "__name__", "is_flip_invariant")
    assert_own_work(fn, fname)
    kernels = [np.asarray(k) for k in kernels]
    answers, want = [], []
    for k in kernels:
        got = call(fn, (k,), fname=fname, case=f"a kernel of shape {shape_text(k.shape)}")
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


__all__ = ["check_output_size", "check_conv2d", "check_conv2d_grouped", "check_im2col", "check_vectorised",
           "check_convolve2d", "check_flip_invariant", "conv_mistakes", "grouped_mistakes", "im2col_mistakes",
           "convolve_mistakes", "count_lines", "SIZE_MISTAKES"]
