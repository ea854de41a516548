"""cnnlab.ref -- the numba reference implementation of convolution, pooling and normalisation.

NumPy arrays in, NumPy arrays out; float32 stays float32, everything else
(integers included) computes in float64.  Semantics and argument names are
those of ``torch.nn.functional``: convolution is cross-correlation, sizes that
do not fit are floored.  Every forward op has a ``*_backward`` that returns
the gradients with respect to its inputs, in the style of CS231n's
``layers.py``.

This package never imports torch.  :mod:`cnnlab.ref.naive` holds the
plain-loop definitions the fast kernels are tested against.
"""

from ._conv import (col2im, conv1d, conv1d_backward, conv2d, conv2d_backward, convolve2d,
                    correlate2d, im2col)
from ._norm import batch_norm2d, batch_norm2d_backward, local_response_norm, local_response_norm_backward
from ._pool import (adaptive_avg_pool1d, adaptive_avg_pool1d_backward, adaptive_avg_pool2d,
                    adaptive_avg_pool2d_backward, avg_pool1d, avg_pool1d_backward, avg_pool2d,
                    avg_pool2d_backward, global_avg_pool2d, global_avg_pool2d_backward, max_pool1d,
                    max_pool1d_backward, max_pool2d, max_pool2d_backward)

__all__ = [
    "conv1d", "conv1d_backward", "conv2d", "conv2d_backward",
    "im2col", "col2im", "correlate2d", "convolve2d",
    "max_pool1d", "max_pool1d_backward", "max_pool2d", "max_pool2d_backward",
    "avg_pool1d", "avg_pool1d_backward", "avg_pool2d", "avg_pool2d_backward",
    "adaptive_avg_pool1d", "adaptive_avg_pool1d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward",
    "local_response_norm", "local_response_norm_backward",
    "batch_norm2d", "batch_norm2d_backward",
]
