"""Wrong implementations outside the catalogue get a message that says what
or where (issue: feedback that finds the error in any wrong answer).

Each student below is written the way a student writes it (loops over the
arrays), with one plausible bug that no fingerprint of the catalogue
describes.  The message must name the bug's family or its place, and never
show a hidden value."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from cnnlab import ref
from cnnlab.checks import (GradingFailure, check_avg_pool_backward, check_avg_pool_forward, check_conv2d,
                           check_conv2d_backward, check_max_pool_backward, check_max_pool_forward)
from cnnlab.checks.cases import ConvCase, PoolCase
from cnnlab.checks.guard import Guard
from cnnlab.checks.policy import NOTHING

GUARD = Guard(NOTHING)
SEED = 424242
CONV_CASES = [ConvCase(N=2, C=3, H=7, W=6, K=2, R=3, S=3, stride=2, padding=1),
              ConvCase(N=2, C=3, H=6, W=6, K=3, R=3, S=2, stride=1, padding=1, dtype="float32"),
              ConvCase(N=1, C=2, H=8, W=7, K=2, R=2, S=3, stride=3, padding=2)]
POOL_CASES = [PoolCase(N=2, C=2, H=6, W=7, pool_size=2, stride=2), PoolCase(N=1, C=3, H=7, W=7, pool_size=3,
                                                                              stride=2)]
_VALUE = re.compile(r"\d\.\d{3,}")


def conv_loop(x, w, b=None, stride=1, padding=0, *, rows_stride=True, cols_stride=True, rows_pad=True,
              cols_pad=True, pad_twice=False, channels=None, out_order="C", filter_order=None, rows_short=0,
              tap_scale=1, flip_rows=False, x_channel=None, image=None, bias_sign=1):
    """A student's loop convolution with one of several bugs switched on."""
    N, C, H, Wd = x.shape
    K, _, R, S = w.shape
    OH = (H + 2 * padding - R) // stride + 1
    OW = (Wd + 2 * padding - S) // stride + 1
    p = 2 * padding if pad_twice else padding
    xp = np.pad(x, ((0, 0), (0, 0), (p if rows_pad else 0,) * 2, (p if cols_pad else 0,) * 2))
    y = np.zeros((N, K, OH, OW), dtype=x.dtype)
    chans = list(range(C)) if channels is None else channels(C)
    for n in range(N):
        for k in range(K):
            kk = k if filter_order is None else filter_order(K, k)
            plane = []
            for i in range(OH - rows_short):
                for j in range(OW):
                    r0 = i * stride if rows_stride else i
                    c0 = j * stride if cols_stride else j
                    acc = 0.0
                    for c in chans:
                        for r in range(R):
                            for s in range(S):
                                rr, ss = r0 + tap_scale * r, c0 + tap_scale * s
                                if rr < xp.shape[2] and ss < xp.shape[3]:
                                    xc = c if x_channel is None else x_channel(C, c)
                                    nn = n if image is None else image(N, n)
                                    acc += xp[nn, xc, rr, ss] * w[kk, c, R - 1 - r if flip_rows else r, s]
                    plane.append(acc + (0 if b is None else bias_sign * b[k]))
            if out_order == "F":
                plane += [0.0] * (OH * OW - len(plane))
                y[n, k] = np.array(plane).reshape((OH, OW), order="F")
            else:
                y[n, k, :OH - rows_short] = np.array(plane).reshape((OH - rows_short, OW))
    return y


def _student(**bug):
    def conv2d(x, w, b=None, stride=1, padding=0):
        return conv_loop(x, w, b, stride, padding, **bug)
    return conv2d


#: (name, bug, words the message must contain)
CONV_BUGS = [
    ("first channel only", dict(channels=lambda C: [0]), "from input channel 0 alone"),
    ("last channel skipped", dict(channels=lambda C: list(range(C - 1))), "without input channel 2"),
    ("padded twice, output sized right", dict(pad_twice=True), "padded twice"),
    ("stride on rows only", dict(cols_stride=False), "stride applied to the columns too"),
    ("padding on rows only", dict(cols_pad=False), "along the columns"),
    ("column-major output", dict(out_order="F"), "column-major"),
    ("filters in reverse order", dict(filter_order=lambda K, k: K - 1 - k), "filters in reverse order"),
    ("last output row unwritten", dict(rows_short=1), "last output row"),
    ("tap offset times stride", dict(tap_scale=2), "taps spread"),
    ("first channel skipped", dict(channels=lambda C: list(range(1, C))), "without input channel 0"),
    ("filter flipped upside down only", dict(flip_rows=True), "flipped upside down"),
    ("input channels reversed", dict(x_channel=lambda C, c: C - 1 - c), "input channels in reverse order"),
    ("images reversed", dict(image=lambda N, n: N - 1 - n), "images in reverse order"),
    ("bias subtracted", dict(bias_sign=-1), "bias subtracted"),
]


def _message(check, fn, cases, **kw):
    with pytest.raises(GradingFailure) as err:
        check(fn, cases, seed=SEED, guard=GUARD, **kw)
    return str(err.value), err.value.key


@pytest.mark.parametrize("name, bug, words", CONV_BUGS, ids=[c[0] for c in CONV_BUGS])
def test_uncatalogued_conv_bugs_are_located(name, bug, words):
    text, key = _message(check_conv2d, _student(**bug), CONV_CASES)
    assert words in text, text
    assert key is not None and key.startswith("located:"), (key, text)
    assert not _VALUE.search(text) and str(SEED) not in text, text


def test_only_the_last_row_is_not_blamed_on_the_padding():
    text, _ = _message(check_conv2d, _student(rows_short=1), CONV_CASES)
    assert "padding" not in text.split("\n", 1)[1], text
    assert "one short" in text, text


def test_where_the_wrong_entries_are_is_said_when_nothing_explains_them():
    def conv2d(x, w, b=None, stride=1, padding=0):
        y = ref.conv2d(x, w, b, stride=stride, padding=padding)
        y[:, 1, 1:3] += 0.5 * np.sign(y[:, 1, 1:3])  # a random-looking error in filter 1, rows 1-2
        return y
    text, key = _message(check_conv2d, conv2d, CONV_CASES)
    assert key is None
    assert "only in channel 1" in text and "output rows 1\u20132" in text, text
    assert not _VALUE.search(text), text


def _pool_student(op, size_fix=0, pos=None, stride_cols=True):
    def pool(x, pool_size, stride):
        N, C, H, W = x.shape
        OH = (H - pool_size) // stride + 1
        OW = (W - pool_size) // stride + 1
        y = np.zeros((N, C, OH, OW), x.dtype)
        for i in range(OH):
            for j in range(OW):
                c0 = j * stride if stride_cols else j
                win = x[:, :, i * stride:i * stride + pool_size + size_fix, c0:c0 + pool_size + size_fix]
                y[:, :, i, j] = win[:, :, pos[0], pos[1]] if pos else op(win, axis=(2, 3))
        return y
    return pool


POOL_BUGS = [
    ("window one short", dict(op=np.max, size_fix=-1), check_max_pool_forward, "windows"),
    ("top-left of each window", dict(op=np.max, pos=(0, 0)), check_max_pool_forward, "row 0, column 0"),
    ("min instead of max", dict(op=np.min), check_max_pool_forward, "min of each window"),
    ("avg stride on rows only", dict(op=np.mean, stride_cols=False), check_avg_pool_forward,
     "1 along the columns"),
]


@pytest.mark.parametrize("name, kw, check, words", POOL_BUGS, ids=[c[0] for c in POOL_BUGS])
def test_uncatalogued_pool_bugs_are_located(name, kw, check, words):
    text, key = _message(check, _pool_student(**kw), POOL_CASES)
    assert words in text and key.startswith("located:"), text


def _max_bwd_student(rule):
    def max_pool_backward(dout, x, pool_size, stride):
        dx = np.zeros_like(x)
        N, C, OH, OW = dout.shape
        for n in range(N):
            for c in range(C):
                for i in range(OH - (rule == "short")):
                    for j in range(OW):
                        win = x[n, c, i * stride:i * stride + pool_size, j * stride:j * stride + pool_size]
                        r, s = (0, 0) if rule == "corner" else np.unravel_index(
                            np.argmin(win) if rule == "min" else np.argmax(win), win.shape)
                        dx[n, c, i * stride + r, j * stride + s] += dout[n, c, i, j]
        return dx
    return max_pool_backward


@pytest.mark.parametrize("rule, words", [("corner", "row 0, column 0"), ("min", "minimum"),
                                         ("short", "last row of windows")])
def test_uncatalogued_max_pool_backward_bugs_are_located(rule, words):
    text, key = _message(check_max_pool_backward, _max_bwd_student(rule), POOL_CASES)
    assert words in text and key.startswith("located:"), text


def test_avg_pool_backward_located():
    def avg_pool_backward(dout, x, pool_size, stride):
        dx = np.zeros_like(x)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                dx[:, :, i * stride:i * stride + pool_size, j:j + pool_size] += \
                    dout[:, :, i:i + 1, j:j + 1] / pool_size ** 2
        return dx
    text, key = _message(check_avg_pool_backward, avg_pool_backward, POOL_CASES)
    assert "1 along the columns" in text and key.startswith("located:"), text


def _conv_bwd_student(which):
    def conv2d_backward(dout, x, w, stride=1, padding=0):
        dx, dw, db = ref.conv2d_backward(dout, x, w, stride=stride, padding=padding)
        if which == "dw_T":
            dw = dw.transpose(0, 1, 3, 2).copy()
        elif which == "db_axes":
            db = dout.sum(axis=(0, 2))[:, 0]
        elif which == "dx_no_dilation":
            K, C, R, S = w.shape
            wt = w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
            full = ref.conv2d(dout, np.ascontiguousarray(wt), None, padding=R - 1 - padding) \
                if R - 1 - padding >= 0 else None
            dx = full
        elif which == "dx_filter0":
            dx = ref.conv2d_backward(dout[:, :1], x, w[:1], stride=stride, padding=padding)[0]
        return dx, dw, db
    return conv2d_backward


BWD_CASES = [ConvCase(N=2, C=2, H=7, W=7, K=3, R=3, S=3, stride=2, padding=1),
             ConvCase(N=2, C=3, H=6, W=6, K=2, R=3, S=3, stride=2, padding=0)]


@pytest.mark.parametrize("which, output, words", [
    ("dw_T", "dw", "transposed"),
    ("db_axes", "db", None),
    ("dx_no_dilation", "dx", "without spreading dout by the stride"),
    ("dx_filter0", "dx", "from filter 0 alone"),
])
def test_conv_backward_bugs_are_located_per_output(which, output, words):
    text, key = _message(check_conv2d_backward, _conv_bwd_student(which), BWD_CASES, outputs=[output])
    if words is None:  # db of the wrong shape: the shape message names the axes
        assert "shape" in text, text
    else:
        assert words in text and key.startswith("located:"), text
    assert not _VALUE.search(text), text


def test_a_failing_visible_check_answers_within_a_second():
    fn = _student(channels=lambda C: list(range(C - 1)))
    ref.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 2)), None)  # compile the reference first
    start = time.perf_counter()
    with pytest.raises(GradingFailure):
        check_conv2d(fn, CONV_CASES, seed=SEED, guard=GUARD)
    assert time.perf_counter() - start < 1.0


# ------------------------------------------------------------ networks (ps3/ps4)

def _lenet(c3_kernel=5, c3_padding=0, fc_in=16 * 5 * 5):
    from torch import nn

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
                                          nn.Conv2d(6, 16, c3_kernel, padding=c3_padding), nn.ReLU(),
                                          nn.MaxPool2d(2))
            self.classifier = nn.Sequential(nn.Linear(fc_in, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                                            nn.Linear(84, 10))

        def forward(self, x):
            return self.classifier(self.features(x).flatten(1))
    return LeNet5


@pytest.mark.parametrize("build, first", [
    (dict(c3_kernel=3, fc_in=16 * 6 * 6), "The first layer that differs is C3"),
    (dict(c3_padding=2, fc_in=16 * 7 * 7), "The first layer that differs is C3"),
    (dict(fc_in=16 * 6 * 6), "C5"),
])
def test_a_network_gets_a_layer_by_layer_trace_naming_the_first_difference(build, first):
    from cnnlab.checks.nets import check_lenet5
    with pytest.raises(GradingFailure) as err:
        check_lenet5(_lenet(**build), seed=3)
    text = str(err.value)
    assert "Layer by layer" in text and first in text, text
    assert "\u2713 C1" in text, text  # the layers before the difference are shown as right
    assert not _VALUE.search(text), text


def test_the_readme_example_of_a_located_error_is_what_the_check_prints():
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("A mistake that is not in the tests' catalogue is located", 1)[1].split("```")[1].strip()
    fn = _student(channels=lambda C: list(range(C - 1)))
    fn.__name__ = "conv2d_loop"
    with pytest.raises(GradingFailure) as err:
        check_conv2d(fn, [ConvCase(N=2, C=3, H=5, W=6, K=4, R=3, S=2)], seed=0)
    assert str(err.value) == block


def test_a_variant_that_explains_most_wrong_entries_is_named_as_the_nearest():
    def conv2d(x, w, b=None, stride=1, padding=0):
        y = conv_loop(x, w, b, stride, padding, channels=lambda C: list(range(C - 1)))
        y[0, 0, 0, 0] += 1.0  # and one more slip elsewhere
        return y
    text, key = _message(check_conv2d, conv2d, CONV_CASES[:1])
    assert "Nearest explanation" in text and "without input channel 2" in text, text
    assert key is None


def test_the_catalogue_is_still_named_first():
    """A catalogued mistake keeps its catalogued message although variants can explain it too."""
    def conv2d(x, w, b=None, stride=1, padding=0):
        return ref.conv2d(x, w[:, :, ::-1, ::-1], b, stride=stride, padding=padding)
    text, key = _message(check_conv2d, conv2d, CONV_CASES)
    assert key == "flipped_kernel" and text.split("\n")[1].startswith("Most likely: the filter is flipped"), text
