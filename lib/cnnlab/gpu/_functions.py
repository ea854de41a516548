"""The ops of :mod:`cnnlab.gpu` as ``torch.autograd.Function`` s, forward and
backward written out with tensor operations.

No ``torch.nn.functional`` convolution, pooling or normalisation is called:
the building block is the *window view* of a padded input (:func:`windows`),
a strided view ``(N, C, R, S, OH, OW)`` whose entry ``[n, c, r, s, oh, ow]``
is the input pixel under tap ``(r, s)`` of the window at ``(oh, ow)``.
Copying it is im2col; a matrix product with the filters is a convolution;
a max or a sum over the taps is a pooling; adding columns back through the
same view is col2im, the adjoint that carries gradients back to the input.

Backward passes (the formulas of the book):

* convolution: ``dw = dy @ cols^T`` (a correlation of the input with the
  output gradient), ``dx = col2im(w^T @ dy)`` (a transposed convolution),
  ``db = dy`` summed over the batch and all positions;
* max pooling: each output gradient goes to the arg-max of its window;
* average pooling: each output gradient is spread evenly over its window;
* adaptive average pooling: ``y = A_h x A_w^T`` with averaging matrices,
  so ``dx = A_h^T dy A_w``;
* local response normalisation: the quotient rule, with the channel window
  transposed;
* batch normalisation: ``dbias = sum(dy)``, ``dweight = sum(dy * xhat)``, and
  in training mode, where the batch's statistics depend on x,
  ``dx = weight / std * (dy - mean(dy) - xhat * mean(dy * xhat))``.

The backward passes give first derivatives (what training needs); asking
to differentiate them again (``create_graph=True``) raises a clear error
instead of silently returning a gradient that is not differentiable.
"""

from __future__ import annotations

import functools

import torch

from .._args import ConvArgs, PoolArgs, adaptive_windows, avg_pool_window_sizes

# Images per matrix product are chosen so that a chunk's im2col matrix stays
# about this large: on a CPU small enough to stay in cache and be reused, on
# a GPU large enough to keep it busy.
_CHUNK_BYTES = {"cpu": 8 << 20}
_CHUNK_BYTES_DEFAULT = 256 << 20


def first_order(op: str, torch_op: str | None = None):
    """Decorate a backward written with plain tensor operations: refuse ``create_graph=True``,
    since autograd could not differentiate it again (torch would silently treat the
    gradient as a constant)."""
    def wrap(backward):
        @functools.wraps(backward)
        def checked(ctx, *grads):
            if torch.is_grad_enabled():
                raise RuntimeError(
                    f"cnnlab.gpu.{op} gives first derivatives only: its backward is written out for "
                    "training (loss.backward()), not for differentiating again. For second derivatives "
                    "(create_graph=True: gradient penalties, Hessian-vector products) use "
                    f"torch.nn.functional.{torch_op or op}")
            return backward(ctx, *grads)
        return checked
    return wrap


def _chunk(n: int, per_image: int, device: torch.device) -> int:
    budget = _CHUNK_BYTES.get(device.type, _CHUNK_BYTES_DEFAULT)
    return int(max(1, min(n, budget // max(per_image, 1))))


# --------------------------------------------------------------------------
# windows: padding, im2col, col2im
# --------------------------------------------------------------------------

def pad(x: torch.Tensor, pads, value: float = 0.0) -> torch.Tensor:
    """``x`` (N, C, H, W) framed by ``pads = ((top, bottom), (left, right))`` rows/columns of ``value``."""
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return x
    N, C, H, W = x.shape
    out = x.new_full((N, C, H + pt + pb, W + pl + pr), value)
    out[:, :, pt:pt + H, pl:pl + W] = x
    return out


def windows(xp: torch.Tensor, kernel, stride, dilation, out) -> torch.Tensor:
    """The sliding windows of a padded input as a view, no copy.

    xp : (N, C, Hp, Wp)  ->  (N, C, R, S, OH, OW) with
    ``[n, c, r, s, oh, ow] = xp[n, c, oh*sh + r*dh, ow*sw + s*dw]``.
    """
    N, C = xp.shape[:2]
    (R, S), (sh, sw), (dh, dw), (OH, OW) = kernel, stride, dilation, out
    sN, sC, sH, sW = xp.stride()
    return xp.as_strided((N, C, R, S, OH, OW), (sN, sC, dh * sH, dw * sW, sh * sH, sw * sW),
                         xp.storage_offset())


def _end_pads(n, pad_lo, pad_hi, k, s, d, n_out):
    """Padding after the input so that every window (ceil_mode included) lies inside the padded input."""
    need = (n_out - 1) * s + d * (k - 1) + 1
    return max(pad_hi, need - n - pad_lo)


def col2im_add(dxp: torch.Tensor, cols: torch.Tensor, kernel, stride, dilation, out) -> None:
    """Add columns ``cols`` (N, C, R, S, OH, OW) back into the padded image ``dxp``
    (N, C, Hp, Wp) through the window view: one strided add per tap (r, s)."""
    win = windows(dxp, kernel, stride, dilation, out)
    R, S = kernel
    for r in range(R):
        for s in range(S):
            win[:, :, r, s] += cols[:, :, r, s]


def _crop(xp: torch.Tensor, pads, H: int, W: int) -> torch.Tensor:
    (pt, _), (pl, _) = pads
    if xp.shape[2] == H and xp.shape[3] == W:
        return xp
    return xp[:, :, pt:pt + H, pl:pl + W].contiguous()


def im2col(x: torch.Tensor, kernel, a: ConvArgs) -> torch.Tensor:
    """(N, C, H, W) -> (N, C*R*S, OH*OW), the layout of ``torch.nn.functional.unfold``."""
    N, C = x.shape[:2]
    R, S = kernel
    win = windows(pad(x, a.pads), kernel, a.stride, a.dilation, a.out)
    return win.reshape(N, C * R * S, a.out[0] * a.out[1])


def col2im(cols: torch.Tensor, C: int, H: int, W: int, kernel, a: ConvArgs) -> torch.Tensor:
    """(N, C*R*S, OH*OW) -> (N, C, H, W), summing where windows overlap (``fold``)."""
    N = cols.shape[0]
    (pt, pb), (pl, pr) = a.pads
    dxp = cols.new_zeros((N, C, H + pt + pb, W + pl + pr))
    col2im_add(dxp, cols.reshape(N, C, *kernel, *a.out), kernel, a.stride, a.dilation, a.out)
    return _crop(dxp, a.pads, H, W)


class Im2col(torch.autograd.Function):
    """im2col; its backward is col2im (and the other way round)."""

    @staticmethod
    def forward(ctx, x, kernel, a):
        ctx.shape, ctx.kernel, ctx.a = x.shape, kernel, a
        return im2col(x, kernel, a)

    @staticmethod
    @first_order("im2col", "unfold")
    def backward(ctx, dcols):
        N, C, H, W = ctx.shape
        return col2im(dcols, C, H, W, ctx.kernel, ctx.a), None, None


class Col2im(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cols, C, H, W, kernel, a):
        ctx.kernel, ctx.a = kernel, a
        return col2im(cols, C, H, W, kernel, a)

    @staticmethod
    @first_order("col2im", "fold")
    def backward(ctx, dx):
        return im2col(dx, ctx.kernel, ctx.a), None, None, None, None, None


# --------------------------------------------------------------------------
# convolution
# --------------------------------------------------------------------------

def _is_pointwise(kernel, a: ConvArgs) -> bool:
    return kernel == (1, 1) and a.stride == (1, 1) and a.pads == ((0, 0), (0, 0))


def conv2d_forward(x, w, b, a: ConvArgs):
    """y[n, k] = sum over c, r, s of w[k, c, r, s] * xpad[n, c, oh*sh + r*dh, ow*sw + s*dw] + b[k],
    computed per group as ``w (Kg, Cg*R*S) @ cols (Cg*R*S, OH*OW)`` for each image."""
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    G, (OH, OW) = a.groups, a.out
    Kg, P = K // G, OH * OW
    if _is_pointwise((R, S), a):  # a 1x1 convolution is a matrix product, no windows needed
        y = torch.matmul(w.reshape(G, Kg, Cg), x.reshape(N, G, Cg, H * W))
    else:
        CgRS = Cg * R * S
        xp = pad(x, a.pads)
        w3 = w.reshape(G, Kg, CgRS)
        y = x.new_empty((N, G, Kg, P))
        m = _chunk(N, C * R * S * P * x.element_size(), x.device)
        buf = x.new_empty((m, C, R, S, OH, OW))
        for n0 in range(0, N, m):
            mm = min(m, N - n0)
            cols = buf[:mm]
            cols.copy_(windows(xp[n0:n0 + mm], (R, S), a.stride, a.dilation, a.out))  # im2col
            torch.matmul(w3, cols.view(mm, G, CgRS, P), out=y[n0:n0 + mm])
    y = y.view(N, K, OH, OW)
    if b is not None:
        y += b.view(1, K, 1, 1)
    return y


def conv2d_backward(dy, x, w, a: ConvArgs, need_dx=True, need_dw=True, need_db=True):
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    G, (OH, OW) = a.groups, a.out
    Kg, P, CgRS = K // G, OH * OW, Cg * R * S
    dy = dy.contiguous()
    dx = dw = db = None
    if need_db:
        db = dy.sum((0, 2, 3))
    if not (need_dx or need_dw):
        return dx, dw, db
    w3 = w.reshape(G, Kg, CgRS)
    if _is_pointwise((R, S), a):
        dy4 = dy.view(N, G, Kg, P)
        if need_dx:
            dx = torch.matmul(w3.transpose(1, 2), dy4).view(N, C, H, W)
        if need_dw:
            x4 = x.reshape(N, G, Cg, P)
            dw = torch.matmul(dy4, x4.transpose(2, 3)).sum(0).view(K, Cg, R, S)
        return dx, dw, db
    xp = pad(x, a.pads) if need_dw else None
    dxp = x.new_zeros((N, C, H + sum(a.pads[0]), W + sum(a.pads[1]))) if need_dx else None
    dw3 = w.new_zeros((G, Kg, CgRS)) if need_dw else None
    m = _chunk(N, C * R * S * P * x.element_size(), x.device)
    buf = x.new_empty((m, C, R, S, OH, OW))
    for n0 in range(0, N, m):
        mm = min(m, N - n0)
        dyc = dy[n0:n0 + mm].view(mm, G, Kg, P)
        cols = buf[:mm]
        if need_dw:  # dw = dy @ cols^T: correlate the input with the output gradient
            cols.copy_(windows(xp[n0:n0 + mm], (R, S), a.stride, a.dilation, a.out))
            dw3 += torch.matmul(dyc, cols.view(mm, G, CgRS, P).transpose(2, 3)).sum(0)
        if need_dx:  # dx = col2im(w^T @ dy): a transposed convolution
            torch.matmul(w3.transpose(1, 2), dyc, out=cols.view(mm, G, CgRS, P))
            col2im_add(dxp[n0:n0 + mm], cols, (R, S), a.stride, a.dilation, a.out)
    if need_dx:
        dx = _crop(dxp, a.pads, H, W)
    if need_dw:
        dw = dw3.view(K, Cg, R, S)
    return dx, dw, db


class Conv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, a):
        ctx.save_for_backward(x, w)
        ctx.a = a
        return conv2d_forward(x, w, b, a)

    @staticmethod
    @first_order("conv2d")
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        need_dx, need_dw, need_db = ctx.needs_input_grad[:3]
        dx, dw, db = conv2d_backward(dy, x, w, ctx.a, need_dx, need_dw, need_db)
        return dx, dw, db, None


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------

def _pool_pads(shape, p: PoolArgs):
    H, W = shape[2:]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = p.kernel_size, p.stride, p.padding, p.dilation
    OH, OW = p.out
    return ((ph, _end_pads(H, ph, ph, kh, sh, dh, OH)), (pw, _end_pads(W, pw, pw, kw, sw, dw, OW)))


def _pool_windows(x, p: PoolArgs, value):
    return windows(pad(x, _pool_pads(x.shape, p), value), p.kernel_size, p.stride, p.dilation, p.out)


def max_over_taps(win):
    """The maxima of the windows ``win`` (N, C, R, S, OH, OW): a running
    ``torch.maximum`` over the taps, which propagates NaN as torch's pooling does."""
    R, S = win.shape[2:4]
    y = win[:, :, 0, 0].clone()
    for r in range(R):
        for s in range(S):
            if r or s:
                torch.maximum(y, win[:, :, r, s], out=y)
    return y


def _first_valid(n_out, n_in, k, s, p, d):
    """Per output position along one axis: torch's starting index (the first tap
    inside the input) and whether the window touches the input at all."""
    first, valid = [], []
    for o in range(n_out):
        start = o * s - p
        i = start
        while i < 0:
            i += d
        first.append(i)
        valid.append(i < n_in and i <= start + d * (k - 1))
    return first, valid


def max_pool2d_forward(x, p: PoolArgs):
    """Maxima and arg-max (flat index ``ih*W + iw`` into each input plane), as torch.

    torch scans a window's taps in order and takes ``v`` when ``v > max or
    isnan(v)``: the first of equal maxima, the last NaN; a window whose
    entries are all -inf keeps its first tap inside the input.
    """
    N, C, H, W = x.shape
    (R, S), (sh, sw), (ph, pw), (dh, dw) = p.kernel_size, p.stride, p.padding, p.dilation
    OH, OW = p.out
    win = _pool_windows(x, p, float("-inf"))
    y = max_over_taps(win)
    # the tap (r*S + s) holding the maximum: scanning backwards, the first equal one wins
    tap = torch.zeros(y.shape, dtype=torch.uint8 if R * S < 256 else torch.int64, device=x.device)
    for t in reversed(range(R * S)):
        tap.masked_fill_(win[:, :, t // S, t % S] == y, t)
    nan = torch.isnan(y)
    if bool(nan.any()):  # NaN windows: torch keeps the last NaN
        for t in range(R * S):
            tap.masked_fill_(nan & torch.isnan(win[:, :, t // S, t % S]), t)
    dev = x.device
    rows = torch.arange(OH, device=dev) * sh - ph
    cols_ = torch.arange(OW, device=dev) * sw - pw
    taps = torch.arange(R * S, device=dev)
    offset = (taps // S) * dh * W + (taps % S) * dw
    idx = (rows[:, None] * W + cols_[None, :]) + offset[tap.long()]
    neg = y == float("-inf")
    if bool(neg.any()):  # all entries -inf (or only padding): torch's first tap inside the input
        fh, _ = _first_valid(OH, H, R, sh, ph, dh)
        fw, _ = _first_valid(OW, W, S, sw, pw, dw)
        first = (torch.tensor(fh, device=dev)[:, None] * W + torch.tensor(fw, device=dev)[None, :])
        idx = torch.where(neg, first, idx)
    return y, idx


def max_pool2d_backward(dy, idx, x_shape, p: PoolArgs):
    """Route each output gradient to the arg-max of its window (summed where windows share it)."""
    N, C, H, W = x_shape
    dy = dy.reshape(N * C, -1)
    idx = idx.reshape(N * C, -1)
    _, vh = _first_valid(p.out[0], H, p.kernel_size[0], p.stride[0], p.padding[0], p.dilation[0])
    _, vw = _first_valid(p.out[1], W, p.kernel_size[1], p.stride[1], p.padding[1], p.dilation[1])
    if not (all(vh) and all(vw)):  # windows entirely in the padding have no arg-max: no gradient
        valid = (torch.tensor(vh, device=dy.device)[:, None] & torch.tensor(vw, device=dy.device)[None, :])
        valid = valid.reshape(1, -1)
        dy = dy * valid
        idx = torch.where(valid, idx, 0)
    dx = dy.new_zeros((N * C, H * W))
    dx.scatter_add_(1, idx, dy)
    return dx.view(N, C, H, W)


def max_pool2d_values(x, p: PoolArgs):
    """The maxima alone, when no gradient and no indices are asked for."""
    return max_over_taps(_pool_windows(x, p, float("-inf")))


class MaxPool2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p):
        y, idx = max_pool2d_forward(x, p)
        ctx.save_for_backward(idx)
        ctx.shape, ctx.p = x.shape, p
        ctx.mark_non_differentiable(idx)
        return y, idx

    @staticmethod
    @first_order("max_pool2d")
    def backward(ctx, dy, _didx):
        (idx,) = ctx.saved_tensors
        return max_pool2d_backward(dy, idx, ctx.shape, ctx.p), None


def _avg_divisor(x_shape, p: PoolArgs, count_include_pad, divisor_override, like):
    if divisor_override is not None:
        return float(divisor_override)
    H, W = x_shape[2:]
    sizes = [avg_pool_window_sizes(n_out, n_in, k, s, pp, count_include_pad)
             for n_out, n_in, k, s, pp in zip(p.out, (H, W), p.kernel_size, p.stride, p.padding)]
    hs = torch.tensor(sizes[0], dtype=like.dtype, device=like.device)
    ws = torch.tensor(sizes[1], dtype=like.dtype, device=like.device)
    den = hs[:, None] * ws[None, :]
    return torch.where(den > 0, den, torch.ones_like(den))  # empty windows sum to 0 and stay 0


def avg_pool2d_forward(x, p: PoolArgs, count_include_pad, divisor_override):
    """The sum over each window's taps (zero padding), divided by torch's divisor.

    One strided add per tap: faster than reducing the 6-D window view at once."""
    win = _pool_windows(x, p, 0.0)
    R, S = p.kernel_size
    y = win[:, :, 0, 0].clone()
    for r in range(R):
        for s in range(S):
            if r or s:
                y += win[:, :, r, s]
    y /= _avg_divisor(x.shape, p, count_include_pad, divisor_override, x)
    return y


def avg_pool2d_backward(dy, x_shape, p: PoolArgs, count_include_pad, divisor_override):
    """Spread each output gradient evenly over its window: dy/divisor added back per tap."""
    N, C, H, W = x_shape
    pads = _pool_pads(x_shape, p)
    g = dy / _avg_divisor(x_shape, p, count_include_pad, divisor_override, dy)
    dxp = dy.new_zeros((N, C, H + sum(pads[0]), W + sum(pads[1])))
    win = windows(dxp, p.kernel_size, p.stride, p.dilation, p.out)
    for r in range(p.kernel_size[0]):
        for s in range(p.kernel_size[1]):
            win[:, :, r, s] += g
    return _crop(dxp, pads, H, W)


class AvgPool2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, count_include_pad, divisor_override):
        ctx.shape, ctx.p, ctx.cip, ctx.div = x.shape, p, count_include_pad, divisor_override
        return avg_pool2d_forward(x, p, count_include_pad, divisor_override)

    @staticmethod
    @first_order("avg_pool2d")
    def backward(ctx, dy):
        return avg_pool2d_backward(dy, ctx.shape, ctx.p, ctx.cip, ctx.div), None, None, None


def adaptive_matrix(n_in: int, n_out: int, like: torch.Tensor) -> torch.Tensor:
    """(n_out, n_in) averaging matrix: row o is 1/len on window o of an adaptive pooling."""
    bounds = torch.tensor(adaptive_windows(n_in, n_out), device=like.device)
    i = torch.arange(n_in, device=like.device)
    inside = (i[None, :] >= bounds[:, :1]) & (i[None, :] < bounds[:, 1:])
    return inside.to(like.dtype) / (bounds[:, 1:] - bounds[:, :1]).to(like.dtype)


class AdaptiveAvgPool2d(torch.autograd.Function):
    """Adaptive average pooling is separable: ``y = A_h @ x @ A_w^T``."""

    @staticmethod
    def forward(ctx, x, out):
        A_h = adaptive_matrix(x.shape[2], out[0], x)
        A_w = adaptive_matrix(x.shape[3], out[1], x)
        ctx.save_for_backward(A_h, A_w)
        return torch.matmul(torch.matmul(A_h, x), A_w.T)

    @staticmethod
    @first_order("adaptive_avg_pool2d")
    def backward(ctx, dy):
        A_h, A_w = ctx.saved_tensors
        return torch.matmul(torch.matmul(A_h.T, dy), A_w), None


# --------------------------------------------------------------------------
# local response normalisation
# --------------------------------------------------------------------------

def channel_window_sum(t: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """t (N, C, M) -> out[:, c] = sum of t[:, j] for c - before <= j <= c + after (zero outside)."""
    N, C, M = t.shape
    tp = t.new_zeros((N, C + before + after, M))
    tp[:, before:before + C] = t
    out = tp[:, 0:C].clone()
    for j in range(1, before + after + 1):
        out += tp[:, j:j + C]
    return out


class LocalResponseNorm(torch.autograd.Function):
    """y_c = x_c * D_c^-beta with D_c = k + alpha/n * sum_{j in win(c)} x_j^2,
    win(c) = c - n//2 ... c + (n-1)//2."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        den = k + (alpha / size) * channel_window_sum(x3 * x3, size // 2, (size - 1) // 2)
        ctx.save_for_backward(x3, den)
        ctx.shape, ctx.hp = x.shape, (size, alpha, beta)
        return (x3 * den.pow(-beta)).view(x.shape)

    @staticmethod
    @first_order("local_response_norm")
    def backward(ctx, dy):
        x3, den = ctx.saved_tensors
        size, alpha, beta = ctx.hp
        dy3 = dy.reshape(x3.shape)
        # dx_i = dy_i D_i^-b - 2ab/n x_i sum_{c: i in win(c)} dy_c x_c D_c^(-b-1); the set of such c
        # is the window transposed: i - (n-1)//2 ... i + n//2
        inner = channel_window_sum(dy3 * x3 * den.pow(-beta - 1), (size - 1) // 2, size // 2)
        dx = dy3 * den.pow(-beta) - (2 * alpha * beta / size) * x3 * inner
        return dx.view(ctx.shape), None, None, None, None


# --------------------------------------------------------------------------
# batch normalisation
# --------------------------------------------------------------------------

class BatchNorm(torch.autograd.Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1). In training mode the
    statistics are the batch's (mean, biased variance over every axis but 1) and the running
    statistics, when given, are updated in place as torch does; otherwise the running ones are used."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        dims = [0] + list(range(2, x.ndim))
        view = (1, -1) + (1,) * (x.ndim - 2)
        if training:
            mean = x.mean(dims)
            var = (x - mean.view(view)).pow(2).mean(dims)
            if running_mean is not None:
                n = x.numel() // x.shape[1]
                running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
                running_var.mul_(1 - momentum).add_(var * (n / (n - 1)), alpha=momentum)
        else:
            mean, var = running_mean, running_var
        inv_std = (var + eps).rsqrt()
        xhat = (x - mean.view(view)) * inv_std.view(view)
        scale = inv_std if weight is None else weight * inv_std
        y = xhat if weight is None else xhat * weight.view(view)
        if bias is not None:
            y = y + bias.view(view)
        ctx.save_for_backward(xhat, scale)
        ctx.training = training
        return y

    @staticmethod
    @first_order("batch_norm2d", "batch_norm")
    def backward(ctx, dy):
        xhat, scale = ctx.saved_tensors
        dims = [0] + list(range(2, dy.ndim))
        view = (1, -1) + (1,) * (dy.ndim - 2)
        dbias = dy.sum(dims)
        dweight = (dy * xhat).sum(dims)
        dx = None
        if ctx.needs_input_grad[0]:
            if ctx.training:
                n = dy.numel() // dy.shape[1]
                dx = scale.view(view) * (dy - (dbias / n).view(view) - xhat * (dweight / n).view(view))
            else:
                dx = scale.view(view) * dy
        return (dx, dweight if ctx.needs_input_grad[1] else None, dbias if ctx.needs_input_grad[2] else None,
                None, None, None, None, None)
