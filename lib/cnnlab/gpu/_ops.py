"""The public ops of :mod:`cnnlab.gpu`: check the arguments, then call the
autograd Functions of :mod:`cnnlab.gpu._functions`."""

from __future__ import annotations

import torch

from .._args import (adaptive_output_size, as_tensor, batch_norm_arguments, batched, check_fold_windows,
                     conv_arguments, divisor_override_value, fold_arguments, like, lrn_arguments, ntuple,
                     pool_arguments)
from .._errors import ShapeError, fmt_shape
from . import _functions as fn

__all__ = [
    "conv1d", "conv2d", "im2col", "col2im", "correlate2d", "convolve2d",
    "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "global_avg_pool2d",
    "local_response_norm", "batch_norm2d",
]


# --------------------------------------------------------------------------
# convolution
# --------------------------------------------------------------------------

def _conv(x, w, b, stride, padding, dilation, groups, spatial):
    x = as_tensor(x, "x")
    xb, unbatched = batched(x, "x", spatial)
    w = like(w, "w", x)
    if w.ndim != spatial + 2:
        layout = "(K, C/groups, R, S)" if spatial == 2 else "(K, C/groups, L)"
        raise ShapeError(f"w must have {spatial + 2} dimensions {layout}, got shape {fmt_shape(w.shape)}")
    if b is not None:
        b = like(b, "b", x)
        if tuple(b.shape) != (w.shape[0],):
            raise ShapeError(f"b must have shape ({w.shape[0]},), one bias per filter in w, "
                             f"got shape {fmt_shape(b.shape)}")
    if spatial == 1:
        xb, w = xb.unsqueeze(2), w.unsqueeze(2)
    a = conv_arguments(xb.shape, w.shape, stride, padding, dilation, groups, spatial=spatial)
    y = fn.Conv2d.apply(xb, w, b, a)
    if spatial == 1:
        y = y.squeeze(2)
    return y[0] if unbatched else y


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : tensor (N, C, H, W), or (C, H, W) for a single image
    w : tensor (K, C/groups, R, S) -- K filters of size R x S
    b : tensor (K,) or None
    stride, dilation : int or (int, int), positive
    padding : int, (int, int), ``'valid'`` or ``'same'`` (zero padding; 'same' needs stride 1)
    groups : int dividing C and K; ``groups=C`` is a depthwise convolution

    Returns
    -------
    y : tensor (N, K, OH, OW), ``OH = (H + 2*pad_h - dilation_h*(R-1) - 1)//stride_h + 1``,
        on the device and in the dtype of x. Computed as im2col + matrix product;
        differentiable in x, w and b.
    """
    return _conv(x, w, b, stride, padding, dilation, groups, 2)


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution, as ``torch.nn.functional.conv1d``.

    x : (N, C, L) or (C, L);  w : (K, C/groups, F);  b : (K,) or None.
    Returns y : (N, K, (L + 2*padding - dilation*(F-1) - 1)//stride + 1).
    """
    return _conv(x, w, b, stride, padding, dilation, groups, 1)


def _unfold_args(x_shape, kernel_size, stride, padding, dilation):
    KH, KW = ntuple(kernel_size, 2, "kernel_size", minimum=1)
    return (KH, KW), conv_arguments(x_shape, (1, x_shape[1], KH, KW), stride, padding, dilation, 1)


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Unfold sliding windows into columns (``torch.nn.functional.unfold``).

    x : (N, C, H, W)  ->  cols : (N, C*R*S, OH*OW).  Row ``(c*R + r)*S + s`` of
    column ``oh*OW + ow`` holds ``x[n, c, oh*stride + r*dilation - pad, ...]``,
    so ``w.reshape(K, -1) @ cols`` is the convolution. Differentiable (its
    backward is :func:`col2im`).
    """
    x = as_tensor(x, "x")
    if x.ndim != 4:
        raise ShapeError(f"x must have 4 dimensions (N, C, H, W), got shape {fmt_shape(x.shape)}")
    kernel, a = _unfold_args(x.shape, kernel_size, stride, padding, dilation)
    return fn.Im2col.apply(x, kernel, a)


def col2im(cols, output_size, kernel_size, stride=1, padding=0, dilation=1):
    """Fold columns back into images, summing where windows overlap
    (``torch.nn.functional.fold``; the adjoint of :func:`im2col`).

    cols : (N, C*R*S, L) with L the number of windows; output_size : (H, W).
    Returns x : (N, C, H, W).
    """
    cols = as_tensor(cols, "cols")
    N, C, H, W, KH, KW, L = fold_arguments(tuple(cols.shape), output_size, kernel_size)
    kernel, a = _unfold_args((N, C, H, W), (KH, KW), stride, padding, dilation)
    check_fold_windows(L, (H, W), a.out)
    return fn.Col2im.apply(cols, C, H, W, kernel, a)


_MODES = ("valid", "same", "full")


def correlate2d(image, kernel, mode="valid"):
    """Cross-correlation of one 2-D image with one 2-D kernel (as ``scipy.signal.correlate2d``).

    image : (H, W);  kernel : (R, S);  mode : 'valid', 'same' or 'full'.
    """
    image = as_tensor(image, "image")
    kernel = like(kernel, "kernel", image, "image")
    for t, name in ((image, "image"), (kernel, "kernel")):
        if t.ndim != 2:
            raise ShapeError(f"{name} must be 2-D (rows, columns), got shape {fmt_shape(t.shape)}; "
                             "for batches and channels use conv2d")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    R, S = kernel.shape
    if mode == "valid":
        return conv2d(image[None, None], kernel[None, None])[0, 0]
    full = conv2d(image[None, None], kernel[None, None], padding=(R - 1, S - 1))[0, 0]
    if mode == "full":
        return full
    H, W = image.shape
    r0, s0 = R // 2, S // 2  # scipy's centring of 'same' for correlation
    return full[r0:r0 + H, s0:s0 + W]


def convolve2d(image, kernel, mode="valid"):
    """True (flipped) 2-D convolution of one image with one kernel (``scipy.signal.convolve2d``):
    :func:`correlate2d` with the kernel rotated by 180 degrees."""
    kernel = as_tensor(kernel, "kernel")
    if kernel.ndim != 2:
        raise ShapeError(f"kernel must be 2-D (rows, columns), got shape {fmt_shape(kernel.shape)}")
    flipped = kernel.flip(0, 1)
    if mode == "same":
        image = as_tensor(image, "image")
        full = correlate2d(image, flipped, "full")
        R, S = kernel.shape
        r0, s0 = (R - 1) // 2, (S - 1) // 2
        return full[r0:r0 + image.shape[0], s0:s0 + image.shape[1]]
    return correlate2d(image, flipped, mode)


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------

def _pool_input(x, spatial):
    x = as_tensor(x, "x")
    xb, unbatched = batched(x, "x", spatial)
    if spatial == 1:
        xb = xb.unsqueeze(2)
    return xb, unbatched


def _pool_output(t, spatial, unbatched):
    if spatial == 1:
        t = t.squeeze(2)
    return t[0] if unbatched else t


def _needs_grad(x) -> bool:
    return torch.is_grad_enabled() and x.requires_grad


def _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial):
    x4, unbatched = _pool_input(x, spatial)
    p = pool_arguments(x4.shape, kernel_size, stride, padding, dilation, ceil_mode, spatial)
    if not (return_indices or _needs_grad(x4)):
        return _pool_output(fn.max_pool2d_values(x4, p), spatial, unbatched)
    y, idx = fn.MaxPool2d.apply(x4, p)
    y = _pool_output(y, spatial, unbatched)
    return (y, _pool_output(idx, spatial, unbatched)) if return_indices else y


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``.

    x : (N, C, H, W) or (C, H, W); kernel_size, stride (default: kernel_size),
    padding (implicit -inf, at most kernel_size//2), dilation : int or pair.
    Returns y : (N, C, OH, OW) (ceil instead of floor with ``ceil_mode``), and
    with ``return_indices`` also the flat index ``ih*W + iw`` of each maximum
    (int64; ties: the first maximum), as torch returns it. The gradient goes
    to the arg-max of each window.
    """
    return _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling, as ``torch.nn.functional.max_pool1d``: x (N, C, L) -> (N, C, OL)."""
    return _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, spatial):
    x4, unbatched = _pool_input(x, spatial)
    p = pool_arguments(x4.shape, kernel_size, stride, padding, 1, ceil_mode, spatial)
    div = divisor_override_value(divisor_override)
    y = fn.AvgPool2d.apply(x4, p, bool(count_include_pad), div)
    return _pool_output(y, spatial, unbatched)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    x : (N, C, H, W) or (C, H, W). Zero padding counts in the average
    (``count_include_pad=True``, torch's default) unless switched off;
    ``divisor_override`` divides every window sum by a fixed number.
    Returns y : (N, C, OH, OW).
    """
    return _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling, as ``torch.nn.functional.avg_pool1d``: x (N, C, L) -> (N, C, OL)."""
    return _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def _adaptive(x, output_size, spatial):
    x4, unbatched = _pool_input(x, spatial)
    out = adaptive_output_size(output_size, x4.shape[2:], spatial)
    return _pool_output(fn.AdaptiveAvgPool2d.apply(x4, out), spatial, unbatched)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size (``torch.nn.functional.adaptive_avg_pool2d``).

    x : (N, C, H, W) or (C, H, W); output_size : int or (OH, OW) (None keeps
    that input size). Window ``o`` covers ``floor(o*H/OH) <= h < ceil((o+1)*H/OH)``;
    computed as ``A_h @ x @ A_w^T`` with averaging matrices. Returns (N, C, OH, OW).
    """
    return _adaptive(x, output_size, 2)


def adaptive_avg_pool1d(x, output_size):
    """1-D adaptive average pooling: x (N, C, L) -> (N, C, output_size)."""
    return _adaptive(x, output_size, 1)


def global_avg_pool2d(x):
    """Global average pooling: the mean of each channel, x (N, C, H, W) -> (N, C)."""
    return adaptive_avg_pool2d(x, 1)[..., 0, 0]


# --------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------

def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation (AlexNet), as ``torch.nn.functional.local_response_norm``.

    .. math:: y_c = x_c \\Big/ \\Big(k + \\frac{\\alpha}{n} \\sum_{j=c-\\lfloor n/2\\rfloor}^{c+\\lfloor (n-1)/2\\rfloor} x_j^2\\Big)^{\\beta}

    x : (N, C, ...) ; size n : number of neighbouring channels (AlexNet: 5,
    alpha 1e-4, beta 0.75, k 2). Returns y with the shape of x.
    """
    x = as_tensor(x, "x")
    size, alpha, beta, k = lrn_arguments(x.shape, size, alpha, beta, k)
    return fn.LocalResponseNorm.apply(x, size, alpha, beta, k)


def batch_norm2d(x, running_mean=None, running_var=None, weight=None, bias=None, training=False, momentum=0.1,
                 eps=1e-5):
    """Batch normalisation, as ``torch.nn.functional.batch_norm`` (and :func:`cnnlab.ref.batch_norm2d`).

    x : tensor (N, C, H, W) (or (N, C), (N, C, L)); running_mean, running_var,
    weight, bias : tensors (C,) or None, on the device and in the dtype of x.
    ``training=True`` normalises with the batch's mean and biased variance and
    updates ``running_mean``/``running_var`` in place (when given) with
    ``momentum``, the variance unbiased, as torch does; ``training=False`` uses
    the running statistics. Returns y with the shape of x; differentiable in
    x, weight and bias.
    """
    x = as_tensor(x, "x")
    vectors = [None if v is None else like(v, name, x) for name, v in
               (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias))]
    a = batch_norm_arguments(x.shape, *vectors, training, momentum, eps)
    rm, rv, w, b = vectors
    for name, v in (("running_mean", rm), ("running_var", rv)):
        if v is not None and v.requires_grad:
            raise ValueError(f"{name} is a statistic, not a parameter: it must not require grad; "
                             f"pass {name}.detach() (a buffer)")
    return fn.BatchNorm.apply(x, w, b, rm, rv, a.training, a.momentum, a.eps)
