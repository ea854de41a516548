"""Checks of ps1 q2 and q3: convolution forward with loops (channels,
filters, bias, stride, padding) and grouped/depthwise convolution.

Every check compares the student's function with :func:`cnnlab.ref.conv2d`
on cases whose inputs come from a seed the caller passes, and explains a
mismatch with the fingerprints below (also used by :mod:`.im2col`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import ref
from ._core import public
from ._run_cases import run_cases
from .cases import ConvCase
from .diagnose import Mistake
from .guard import Guard
from .variants import conv_hypotheses

#: titles shared by the convolution's and im2col's fingerprints
_TITLE = {"padding_ignored": "the padding is ignored",
          "padding_twice": "the padding is applied twice (2P zeros on each side)",
          "stride_ignored": "the stride is ignored (the filter moves by 1)"}



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
def check_conv2d(fn, cases: Sequence[ConvCase], seed: int, fname: str | None = None, *, guard: Guard | None = None):
    """``fn(x, w, b, stride=S, padding=P) -> y (N, K, OH, OW)`` agrees with cnnlab.ref.conv2d."""
    fname = fname or getattr(fn, "__name__", "conv2d")
    run_cases(fn, fname, cases, seed, inputs=_conv_inputs, expected=_ref_conv, args=_conv_args,
              mistakes=conv_mistakes, guard=guard, hypotheses=conv_hypotheses)


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
def check_conv2d_grouped(fn, cases: Sequence[ConvCase], seed: int, fname: str | None = None, *,
                         guard: Guard | None = None):
    """``fn(x, w, b, stride=S, padding=P, groups=G)`` agrees with cnnlab.ref.conv2d."""
    fname = fname or getattr(fn, "__name__", "conv2d_grouped")

    def args(inp):
        return (inp["x"], inp["w"], inp["b"]), dict(stride=inp["stride"], padding=inp["padding"],
                                                    groups=inp["groups"])
    run_cases(fn, fname, cases, seed, inputs=_conv_inputs, expected=_ref_conv, args=args,
              mistakes=grouped_mistakes, guard=guard, hypotheses=conv_hypotheses)



__all__ = ["check_conv2d", "check_conv2d_grouped", "conv_mistakes", "grouped_mistakes"]
