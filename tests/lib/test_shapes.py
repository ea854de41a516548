"""cnnlab.shapes: the lecture arithmetic, checked against the lectures and torch."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import cnnlab
from cnnlab import ShapeError, shapes


@pytest.mark.parametrize("stride,expected", [(1, 5), (2, 3)])
def test_lecture_7x7_examples(stride, expected):
    assert cnnlab.conv_output_size(7, 3, stride=stride) == expected


def test_filter_that_does_not_fit_shows_the_arithmetic():
    with pytest.raises(ShapeError) as err:
        cnnlab.conv_output_size(7, 3, stride=3)
    msg = str(err.value)
    assert "(7 - 3 + 2*0)/3 + 1 = 2.33" in msg
    assert "floor it to 2" in msg and "last 1 row(s)/column(s)" in msg
    assert "allow_remainder=True" in msg
    assert cnnlab.conv_output_size(7, 3, stride=3, allow_remainder=True) == 2
    assert isinstance(err.value, ValueError)


def test_padding_one_makes_stride_three_fit_and_same_padding_keeps_size():
    assert cnnlab.conv_output_size(7, 3, stride=3, padding=1) == 3
    for f in (3, 5, 7):
        assert cnnlab.conv_output_size(32, f, padding=(f - 1) // 2) == 32
    assert cnnlab.conv_output_size(32, 5, padding="same") == 32
    assert cnnlab.conv_output_size((32, 28), (5, 3)) == (28, 26)


def test_lecture_parameter_counts():
    assert cnnlab.conv_params(3, 10, 5) == 760
    assert cnnlab.conv_params(3, 96, 11) == 34_944
    assert cnnlab.conv_params(3, 96, 11, bias=False) == 34_848
    assert cnnlab.linear_params(200 * 200 * 3, 1000, bias=False) == 120_000_000
    assert cnnlab.conv_output_size(32, 5, stride=1, padding=2) == 32


def test_receptive_fields():
    assert cnnlab.receptive_field([3, 3, 3]) == 7
    assert cnnlab.receptive_field([3, 3]) == 5
    assert cnnlab.receptive_field([(11, 4), (3, 2)]) == 19
    assert cnnlab.receptive_field([dict(kernel_size=3, dilation=2)]) == 5
    assert cnnlab.receptive_field([torch.nn.Conv2d(1, 1, 3), torch.nn.MaxPool2d(2), torch.nn.Conv2d(1, 1, 3)]) == 8
    assert cnnlab.receptive_field([(3, 1), ((1, 3), 1)]) == (3, 5)


@given(st.integers(1, 3), st.integers(1, 8), st.integers(1, 5), st.integers(1, 3),
       st.booleans(), st.integers(1, 3))
def test_conv_params_agree_with_torch(cin_g, cout_g, k, groups, bias, kw):
    cin, cout = cin_g * groups, cout_g * groups
    layer = torch.nn.Conv2d(cin, cout, (k, kw), groups=groups, bias=bias)
    assert cnnlab.conv_params(cin, cout, (k, kw), bias=bias, groups=groups) == \
        sum(p.numel() for p in layer.parameters())


@given(st.integers(1, 30), st.integers(1, 6), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3))
def test_conv_output_size_agrees_with_torch(n, k, s, p, d):
    if n + 2 * p < d * (k - 1) + 1:
        with pytest.raises(ShapeError):
            cnnlab.conv_output_size(n, k, s, p, d, allow_remainder=True)
        return
    y = torch.nn.functional.conv2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1), stride=s, padding=(p, 0),
                                   dilation=d)
    assert cnnlab.conv_output_size(n, k, s, p, d, allow_remainder=True) == y.shape[2]
    exact = (n + 2 * p - d * (k - 1) - 1) % s == 0
    if not exact:
        with pytest.raises(ShapeError):
            cnnlab.conv_output_size(n, k, s, p, d)


@given(st.integers(1, 30), st.integers(1, 6), st.integers(1, 4), st.integers(0, 3), st.booleans())
def test_pool_output_size_agrees_with_torch(n, k, s, p, ceil_mode):
    if 2 * p > k or n + 2 * p < k:
        with pytest.raises((ShapeError, ValueError)):
            cnnlab.pool_output_size(n, k, s, p, ceil_mode=ceil_mode, allow_remainder=True)
        return
    y = torch.nn.functional.max_pool2d(torch.zeros(1, 1, n, 1), (k, 1), (s, 1), (p, 0), ceil_mode=ceil_mode)
    assert cnnlab.pool_output_size(n, k, s, p, ceil_mode=ceil_mode, allow_remainder=True) == y.shape[2]


def test_pool_lecture_examples():
    assert cnnlab.pool_output_size(4, 2) == 2           # 2x2 stride 2 on 4x4
    assert cnnlab.pool_output_size(55, 3, stride=2) == 27   # AlexNet POOL1
    assert cnnlab.pool_output_size(224, 2) == 112


@pytest.mark.parametrize("call,needle", [
    (lambda: cnnlab.conv_output_size(7, 0), "kernel_size must be positive"),
    (lambda: cnnlab.conv_output_size(7, 3, stride=0), "stride must be positive"),
    (lambda: cnnlab.conv_output_size(7, 3, stride=-1), "stride must be positive"),
    (lambda: cnnlab.conv_output_size(7, 3, dilation=0), "dilation must be positive"),
    (lambda: cnnlab.conv_output_size(7, 3, padding=-1), "padding must be at least 0"),
    (lambda: cnnlab.conv_output_size(2, 5), "larger than the input"),
    (lambda: cnnlab.conv_output_size(7, 3.5), "kernel_size must be an integer"),
    (lambda: cnnlab.conv_output_size(7, 3, stride=2, padding="same"), "padding='same' needs stride=1"),
    (lambda: cnnlab.conv_output_size(7, 3, padding="full"), "padding must be an int"),
    (lambda: cnnlab.pool_output_size(7, 2, padding=2), "at most half of kernel_size"),
    (lambda: cnnlab.conv_params(4, 6, 3, groups=4), "groups=4 must divide"),
    (lambda: cnnlab.receptive_field([]), "layers is empty"),
    (lambda: cnnlab.receptive_field(["3x3"]), "layers[0]"),
])
def test_bad_arguments_are_named(call, needle):
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    assert needle in str(err.value)


def test_shapes_module_does_not_need_numpy_arrays():
    assert shapes.conv_output_size(np.int64(7), np.int32(3)) == 5
