"""cnnlab.gpu -- the reference ops written with PyTorch tensor operations.

The same ops, arguments and semantics as :mod:`cnnlab.ref` and
``torch.nn.functional``, built by hand from tensor operations (a window view
of the padded input, copies, matrix products, maxima, sums) instead of
calling torch's convolution and pooling: one call runs on CUDA tensors when
there is a GPU, on Apple's MPS, or on the CPU. Tensors in, tensors out, on
the device and in the dtype of the input.

Every op is a ``torch.autograd.Function`` whose backward is written out
(see :mod:`cnnlab.gpu._functions`), so ``loss.backward()`` works through it.
:mod:`cnnlab.gpu.nn` has the matching layers and :func:`use_cnnlab_layers`,
which swaps them into any model.

>>> import torch, cnnlab, cnnlab.gpu as G
>>> dev = cnnlab.device()                 # CUDA, else MPS, else CPU; prints which
>>> x = torch.randn(8, 3, 32, 32, device=dev, requires_grad=True)
>>> w = torch.randn(6, 3, 5, 5, device=dev, requires_grad=True)
>>> G.max_pool2d(G.conv2d(x, w, padding=2), 2).sum().backward()
"""

from ._device import describe_device, device
from ._ops import (adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d, batch_norm2d, col2im, conv1d,
                   conv2d, convolve2d, correlate2d, global_avg_pool2d, im2col, local_response_norm, max_pool1d,
                   max_pool2d)

__all__ = [
    "device", "describe_device",
    "conv1d", "conv2d", "im2col", "col2im", "correlate2d", "convolve2d",
    "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "global_avg_pool2d",
    "local_response_norm", "batch_norm2d",
]
