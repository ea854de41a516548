"""Checks of ps2 (pooling and backpropagation): max and average pooling,
forward and backward, and the backward pass of a convolution.

Pooling here is PyTorch's without padding: a ``pool_size x pool_size``
window moved by ``stride``; ties in max pooling send the gradient to the
first maximum (row by row), as torch and :mod:`cnnlab.ref` do.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import ref
from ._core import public
from ._run_cases import run_cases
from .cases import ConvCase, PoolCase
from .conv import _conv_inputs, _when
from .diagnose import Mistake
from .guard import Guard
from . import variants_backward, variants_pool


def _pool_inputs(case: PoolCase, seed, i):
    return dict(x=case.array(seed, i), dout=case.dout(seed, i), k=case.pool_size, s=case.stride, case=case)


def _windows(inp):
    x = inp["x"]
    k, s = inp["k"], inp["s"]
    oh, ow = inp["case"].out_hw
    for i in range(oh):
        for j in range(ow):
            yield i, j, slice(i * s, i * s + k), slice(j * s, j * s + k)


def _overlap(inp):
    return inp["s"] < inp["k"]


# ------------------------------------------------------------------ forward

def max_pool_mistakes():
    return [
        Mistake("avg_instead_of_max", "you take the average of each window instead of its maximum",
                "Max pooling keeps the largest value of each window: np.max(window) (over the last two axes).",
                lambda inp: ref.avg_pool2d(inp["x"], inp["k"], inp["s"])),
        Mistake("pool_stride_is_size", "the window moves by pool_size instead of stride",
                "Window (i, j) starts at row i*stride and column j*stride; stride may differ from pool_size.",
                lambda inp: _when(inp["s"] != inp["k"], lambda: ref.max_pool2d(inp["x"], inp["k"], inp["k"]))),
        Mistake("pool_stride_ignored", "the window moves by 1 instead of stride",
                "Window (i, j) starts at row i*stride and column j*stride.",
                lambda inp: _when(inp["s"] > 1, lambda: ref.max_pool2d(inp["x"], inp["k"], 1))),
        Mistake("max_of_abs", "you take the maximum of the absolute values",
                "Max pooling keeps the largest value, negative values included: np.max(window), not np.abs.",
                lambda inp: ref.max_pool2d(np.abs(inp["x"]), inp["k"], inp["s"])),
    ]


def avg_pool_mistakes():
    k2 = lambda inp: inp["k"] * inp["k"]  # noqa: E731
    return [
        Mistake("max_instead_of_avg", "you take the maximum of each window instead of its average",
                "Average pooling is the mean of each window: np.mean(window).",
                lambda inp: ref.max_pool2d(inp["x"], inp["k"], inp["s"])),
        Mistake("sum_not_mean", "you sum each window without dividing by its size",
                "Divide the window sum by pool_size * pool_size (or use np.mean).",
                lambda inp: _when(k2(inp) > 1, lambda: ref.avg_pool2d(inp["x"], inp["k"], inp["s"]) * k2(inp))),
        Mistake("divided_by_pool_size", "you divide by pool_size instead of pool_size * pool_size",
                "A pool_size x pool_size window holds pool_size**2 values.",
                lambda inp: _when(inp["k"] > 1, lambda: ref.avg_pool2d(inp["x"], inp["k"], inp["s"]) * inp["k"])),
        Mistake("pool_stride_is_size", "the window moves by pool_size instead of stride",
                "Window (i, j) starts at row i*stride and column j*stride.",
                lambda inp: _when(inp["s"] != inp["k"], lambda: ref.avg_pool2d(inp["x"], inp["k"], inp["k"]))),
    ]


def _pool_args(inp):
    return (inp["x"], inp["k"], inp["s"]), {}


@public
def check_max_pool_forward(fn, cases: Sequence[PoolCase], seed: int, fname: str | None = None, *,
                           guard: Guard | None = None):
    """``fn(x, pool_size, stride) -> (N, C, OH, OW)`` agrees with cnnlab.ref.max_pool2d."""
    run_cases(fn, fname or getattr(fn, "__name__", "max_pool_forward"), cases, seed, inputs=_pool_inputs,
              expected=lambda inp: ref.max_pool2d(inp["x"], inp["k"], inp["s"]), args=_pool_args,
              mistakes=max_pool_mistakes, guard=guard, hypotheses=variants_pool.max_pool_hypotheses)


@public
def check_avg_pool_forward(fn, cases: Sequence[PoolCase], seed: int, fname: str | None = None, *,
                           guard: Guard | None = None):
    """``fn(x, pool_size, stride) -> (N, C, OH, OW)`` agrees with cnnlab.ref.avg_pool2d."""
    run_cases(fn, fname or getattr(fn, "__name__", "avg_pool_forward"), cases, seed, inputs=_pool_inputs,
              expected=lambda inp: ref.avg_pool2d(inp["x"], inp["k"], inp["s"]), args=_pool_args,
              mistakes=avg_pool_mistakes, guard=guard, hypotheses=variants_pool.avg_pool_hypotheses)


# ------------------------------------------------------------------ backward

def _max_overwrite(inp):
    """The classic loop with `=`: each window's mask * dout overwrites the window."""
    x, dout = inp["x"], inp["dout"]
    dx = np.zeros_like(x)
    for i, j, rs, cs in _windows(inp):
        win = x[:, :, rs, cs]
        flat = win.reshape(win.shape[0], win.shape[1], -1)
        mask = np.zeros_like(flat)
        np.put_along_axis(mask, flat.argmax(axis=2)[..., None], 1.0, axis=2)
        dx[:, :, rs, cs] = mask.reshape(win.shape) * dout[:, :, i:i + 1, j:j + 1]
    return dx


def _max_overwrite_argmax(inp):
    """The same with `=` at the arg-max only: a later window's gradient replaces an earlier one's."""
    x, dout = inp["x"], inp["dout"]
    dx = np.zeros_like(x)
    N, C = x.shape[:2]
    n, c = np.indices((N, C))
    k = inp["k"]
    for i, j, rs, cs in _windows(inp):
        idx = x[:, :, rs, cs].reshape(N, C, -1).argmax(axis=2)
        r, s = np.unravel_index(idx, (k, k))
        dx[n, c, rs.start + r, cs.start + s] = dout[:, :, i, j]
    return dx


def _max_all_ties(inp):
    x, dout = inp["x"], inp["dout"]
    dx = np.zeros_like(x)
    for i, j, rs, cs in _windows(inp):
        win = x[:, :, rs, cs]
        mask = win == win.max(axis=(2, 3), keepdims=True)
        dx[:, :, rs, cs] += mask * dout[:, :, i:i + 1, j:j + 1]
    return dx


def _max_last_tie(inp):
    x, dout = inp["x"], inp["dout"]
    dx = np.zeros_like(x)
    for i, j, rs, cs in _windows(inp):
        win = x[:, :, rs, cs]
        flat = win.reshape(win.shape[0], win.shape[1], -1)[:, :, ::-1]
        idx = flat.shape[2] - 1 - flat.argmax(axis=2)
        mask = np.zeros_like(flat)
        np.put_along_axis(mask, idx[..., None], 1.0, axis=2)
        dx[:, :, rs, cs] += mask.reshape(win.shape) * dout[:, :, i:i + 1, j:j + 1]
    return dx


def _has_ties(inp):
    return bool(inp["case"].ties)


def max_pool_backward_mistakes():
    return [
        Mistake("max_grad_not_accumulated", "the gradient is not accumulated where windows overlap: a later "
                "window overwrites an earlier one",
                "A value of x can be the maximum of several overlapping windows; it gets the sum of their "
                "gradients. Add into dx (dx[...] += ...) instead of assigning.",
                lambda inp: _when(_overlap(inp), lambda: _max_overwrite(inp))),
        Mistake("max_grad_not_accumulated", "the gradient is not accumulated where windows overlap: a later "
                "window overwrites an earlier one",
                "A value of x can be the maximum of several overlapping windows; it gets the sum of their "
                "gradients. Add into dx (dx[...] += ...) instead of assigning.",
                lambda inp: _when(_overlap(inp), lambda: _max_overwrite_argmax(inp))),
        Mistake("max_grad_all_ties", "the gradient goes to every maximum of a window when several values tie",
                "Send each window's gradient to one position only: the first maximum (np.argmax), as "
                "PyTorch does; a mask `window == window.max()` marks every tied value.",
                lambda inp: _when(_has_ties(inp), lambda: _max_all_ties(inp))),
        Mistake("max_grad_last_tie", "the gradient goes to the last of several tied maxima instead of the first",
                "Use the first maximum (np.argmax returns the first), as PyTorch does.",
                lambda inp: _when(_has_ties(inp), lambda: _max_last_tie(inp))),
        Mistake("max_grad_spread", "the gradient is spread evenly over the window (that is average pooling's "
                "backward pass)",
                "Only the maximum of each window influenced the output, so only it gets the gradient.",
                lambda inp: ref.avg_pool2d_backward(inp["dout"], inp["x"], inp["k"], inp["s"])),
        Mistake("max_grad_no_dout", "dout is not multiplied in: the result is just the mask of the maxima",
                "dx at the maximum of window (i, j) is dout[n, c, i, j] (chain rule), not 1.",
                lambda inp: ref.max_pool2d_backward(np.ones_like(inp["dout"]), inp["x"], inp["k"], inp["s"])),
    ]


def _avg_overwrite(inp):
    x, dout, k = inp["x"], inp["dout"], inp["k"]
    dx = np.zeros_like(x)
    for i, j, rs, cs in _windows(inp):
        dx[:, :, rs, cs] = dout[:, :, i:i + 1, j:j + 1] / (k * k)
    return dx


def avg_pool_backward_mistakes():
    ref_bwd = lambda inp: ref.avg_pool2d_backward(inp["dout"], inp["x"], inp["k"], inp["s"])  # noqa: E731
    return [
        Mistake("avg_grad_not_divided", "the gradient is not divided by the window size",
                "Each of the pool_size**2 values contributed 1/pool_size**2 of the average: "
                "dx gets dout / pool_size**2 at every position of the window.",
                lambda inp: _when(inp["k"] > 1, lambda: ref_bwd(inp) * inp["k"] ** 2)),
        Mistake("avg_grad_divided_by_pool_size", "the gradient is divided by pool_size instead of pool_size**2",
                "A pool_size x pool_size window holds pool_size**2 values.",
                lambda inp: _when(inp["k"] > 1, lambda: ref_bwd(inp) * inp["k"])),
        Mistake("avg_grad_not_accumulated", "the gradient is not accumulated where windows overlap: a later "
                "window overwrites an earlier one",
                "Add into dx (dx[...] += ...) instead of assigning.",
                lambda inp: _when(_overlap(inp), lambda: _avg_overwrite(inp))),
        Mistake("avg_grad_max_rule", "the gradient goes to the maximum of each window (max pooling's rule)",
                "Every value of the window contributed equally to the average: spread dout over the window.",
                lambda inp: ref.max_pool2d_backward(inp["dout"], inp["x"], inp["k"], inp["s"])),
    ]


def _pool_bwd_args(inp):
    return (inp["dout"], inp["x"], inp["k"], inp["s"]), {}


@public
def check_max_pool_backward(fn, cases: Sequence[PoolCase], seed: int, fname: str | None = None, *,
                            guard: Guard | None = None):
    """``fn(dout, x, pool_size, stride) -> dx`` agrees with cnnlab.ref.max_pool2d_backward."""
    run_cases(fn, fname or getattr(fn, "__name__", "max_pool_backward"), cases, seed, inputs=_pool_inputs,
              expected=lambda inp: ref.max_pool2d_backward(inp["dout"], inp["x"], inp["k"], inp["s"]),
              args=_pool_bwd_args, mistakes=max_pool_backward_mistakes, guard=guard,
              hypotheses=variants_pool.max_pool_backward_hypotheses, layout="NCHW_in")


@public
def check_avg_pool_backward(fn, cases: Sequence[PoolCase], seed: int, fname: str | None = None, *,
                            guard: Guard | None = None):
    """``fn(dout, x, pool_size, stride) -> dx`` agrees with cnnlab.ref.avg_pool2d_backward."""
    run_cases(fn, fname or getattr(fn, "__name__", "avg_pool_backward"), cases, seed, inputs=_pool_inputs,
              expected=lambda inp: ref.avg_pool2d_backward(inp["dout"], inp["x"], inp["k"], inp["s"]),
              args=_pool_bwd_args, mistakes=avg_pool_backward_mistakes, guard=guard,
              hypotheses=variants_pool.avg_pool_backward_hypotheses, layout="NCHW_in")


# ------------------------------------------------------- convolution backward

def _conv_bwd_inputs(case: ConvCase, seed, i):
    inp = _conv_inputs(case, seed, i)
    inp["dout"] = case.dout(seed, i)
    return inp


def _ref_bwd(inp, **over):
    a = dict(inp)
    a.update(over)
    return ref.conv2d_backward(a["dout"], a["x"], a["w"], stride=a["stride"], padding=a["padding"])


def _pad(x, p):
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def _dx_overwrite(inp):
    """The CS231n loop (n, k, i, j) with `=` instead of `+=` into the padded dx."""
    x, w, dout, s, p = inp["x"], inp["w"], inp["dout"], inp["stride"], inp["padding"]
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    dxp = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=x.dtype)
    for n in range(N):
        for k in range(K):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    dxp[n, :, i * s:i * s + R, j * s:j * s + S] = w[k] * dout[n, k, i, j]
    return dxp[:, :, p:p + H, p:p + W]


def _dw_overwrite(inp):
    x, w, dout, s, p = inp["x"], inp["w"], inp["dout"], inp["stride"], inp["padding"]
    xp = _pad(x, p)
    K, _, R, S = w.shape
    dw = np.zeros_like(w)
    N, _, OH, OW = dout.shape
    for n in range(N):
        for k in range(K):
            for i in range(OH):
                for j in range(OW):
                    dw[k] = xp[n, :, i * s:i * s + R, j * s:j * s + S] * dout[n, k, i, j]
    return dw


def conv_backward_mistakes():
    dx = lambda inp, **o: _ref_bwd(inp, **o)[0]  # noqa: E731
    dw = lambda inp, **o: _ref_bwd(inp, **o)[1]  # noqa: E731
    x_shape = lambda inp: inp["x"].shape  # noqa: E731

    def dx_padded(inp):
        p = inp["padding"]
        return _when(p > 0, lambda: ref.conv2d_backward(inp["dout"], _pad(inp["x"], p), inp["w"],
                                                        stride=inp["stride"])[0])

    def dx_empty(inp):
        N, C = x_shape(inp)[:2]
        return _when(inp["padding"] == 0, lambda: np.zeros((N, C, 0, 0)))

    dx_mistakes = [
        Mistake("dx_not_accumulated", "dx is not accumulated: overlapping windows (and filters) overwrite each "
                "other's contribution instead of adding up",
                "Every input pixel lies in several windows and feeds every filter: add into dx_pad "
                "(dx_pad[n, :, rows, cols] += w[k] * dout[n, k, i, j]).",
                lambda inp: _when(inp["stride"] < max(inp["w"].shape[2:]) or inp["w"].shape[0] > 1,
                                  lambda: _dx_overwrite(inp))),
        Mistake("dx_padded", "dx has the shape of the padded input: the padding was not cut off",
                "The padding is not part of x: return dx_pad[:, :, P:P+H, P:P+W].", dx_padded),
        Mistake("dx_empty_when_unpadded", "dx is empty when padding is 0: dx_pad[:, :, P:-P, P:-P] with P = 0 "
                "is dx_pad[:, :, 0:0, 0:0]",
                "Slice with an explicit end: dx_pad[:, :, P:P+H, P:P+W] works for P = 0 too.", dx_empty),
        Mistake("dx_flipped_kernel", "dx uses the filter flipped",
                "dx_pad[n, :, i*S + r, j*S + s] gets w[k, :, r, s] * dout[n, k, i, j]: the same (r, s), "
                "no flip, when you scatter window by window.",
                lambda inp: dx(inp, w=inp["w"][:, :, ::-1, ::-1])),
    ]
    dw_mistakes = [
        Mistake("dw_last_image_only", "dw counts only the last image of the batch (it is overwritten per "
                "image instead of summed)",
                "Sum the contributions of all N images: dw[k] += x_window * dout[n, k, i, j] for every n.",
                lambda inp: _when(inp["x"].shape[0] > 1, lambda: dw(inp, x=inp["x"][-1:], dout=inp["dout"][-1:]))),
        Mistake("dw_mean_over_batch", "dw is averaged over the batch instead of summed",
                "The loss is whatever dout comes from; its gradient is the sum over images, not the mean.",
                lambda inp: _when(inp["x"].shape[0] > 1, lambda: dw(inp) / inp["x"].shape[0])),
        Mistake("dw_flipped", "dw is flipped (rotated by 180 degrees)",
                "dw[k, c, r, s] = sum of x_pad[n, c, i*S + r, j*S + s] * dout[n, k, i, j]: same (r, s) as "
                "the forward pass.", lambda inp: dw(inp)[:, :, ::-1, ::-1]),
        Mistake("dw_not_accumulated", "dw is not accumulated: each window overwrites dw[k] instead of adding to it",
                "dw[k] += x_window * dout[n, k, i, j] (sum over images and positions).",
                _dw_overwrite),
    ]
    db_mistakes = [
        Mistake("db_mean", "db is a mean instead of a sum",
                "b[k] is added to every output of filter k, so db[k] = dout[:, k].sum() (over images and "
                "positions).", lambda inp: inp["dout"].mean(axis=(0, 2, 3))),
        Mistake("db_first_image", "db counts only the first image", "Sum dout over the images too: "
                "dout.sum(axis=(0, 2, 3)).", lambda inp: _when(inp["x"].shape[0] > 1,
                                                               lambda: inp["dout"][0].sum(axis=(1, 2)))),
        Mistake("db_batch_only", "db sums over the images only, not over the positions",
                "db[k] sums dout[n, k, i, j] over n, i and j: dout.sum(axis=(0, 2, 3)).",
                lambda inp: inp["dout"].sum(axis=0)),
        Mistake("db_positions_only", "db sums over the positions only, not over the images",
                "db[k] sums dout[n, k, i, j] over n, i and j: dout.sum(axis=(0, 2, 3)).",
                lambda inp: inp["dout"].sum(axis=(2, 3))),
    ]
    return {"dx": dx_mistakes, "dw": dw_mistakes, "db": db_mistakes}


@public
def check_conv2d_backward(fn, cases: Sequence[ConvCase], seed: int, outputs=("dx", "dw", "db"),
                          fname: str | None = None, *, guard: Guard | None = None):
    """``fn(dout, x, w, stride=S, padding=P) -> (dx, dw, db)`` agrees with cnnlab.ref.conv2d_backward.

    ``outputs`` picks which of dx, dw, db are checked (the others may be anything),
    so that each can be a question of its own."""
    names = ("dx", "dw", "db")
    picked = [names.index(o) for o in outputs]

    def expected(inp):
        full = _ref_bwd(inp)
        return tuple(full[i] for i in picked)

    run_cases(fn, fname or getattr(fn, "__name__", "conv2d_backward"), cases, seed, inputs=_conv_bwd_inputs,
              expected=expected,
              args=lambda inp: ((inp["dout"], inp["x"], inp["w"]), dict(stride=inp["stride"],
                                                                        padding=inp["padding"])),
              outputs=names, pick=picked, output_mistakes=conv_backward_mistakes(), guard=guard,
              output_hypotheses=variants_backward.conv_backward_hypotheses(),
              output_layouts={"dx": "NCHW_in", "dw": "KCRS"})


__all__ = ["check_max_pool_forward", "check_avg_pool_forward", "check_max_pool_backward",
           "check_avg_pool_backward", "check_conv2d_backward", "max_pool_mistakes", "avg_pool_mistakes",
           "max_pool_backward_mistakes", "avg_pool_backward_mistakes", "conv_backward_mistakes"]
