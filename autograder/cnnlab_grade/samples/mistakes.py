"""Typical mistakes, written into the reference solutions as small patches.

Each entry is a wrong submission: the reference solution of one cell with a
patch (``(old, new)``: ``old`` occurs exactly once), the test cells that must
then fail (every other test cell keeps full marks), and what the message of
the first failing cell must say -- by default the title of the fingerprint
``key`` from ``cnnlab.checks`` ("Most likely: <title>").  The tests run each
one in-process, and pack them into a few real ``nbgrader autograde`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .notebooks import BODY  # an ``old`` that stands for everything between the solution markers


@dataclass(frozen=True)
class WrongSubmission:
    ps: str
    key: str                       # the fingerprint (or special message) the diagnosis must name
    cell: str                      # grade_id of the patched solution cell
    patches: tuple                 # ((old, new), ...)
    fails: tuple                   # grade_ids of the test cells that must fail
    message: str | None = None     # substring of the first failing cell's output (default: the key's title)
    where: str | None = None       # the failing cell whose output holds the message (default fails[0])
    extra: dict = field(default_factory=dict)  # more patched cells {grade_id: ((old, new), ...)}

    @property
    def name(self) -> str:
        return f"{self.ps}-{self.key}-{self.cell}"


W = WrongSubmission
PAD_LINE = "    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))\n"
FIRST = "    N, C, H, W = x.shape\n"

PS1 = [
    # ---- output_size
    W("ps1", "size_off_by_one", "output_size", (("return span // stride + 1", "return span // stride"),), ("q1a",)),
    W("ps1", "size_padding_once", "output_size",
      (("span = n - f + 2 * padding", "span = n - f + padding"),), ("q1a", "q1b")),
    W("ps1", "size_padding_ignored", "output_size",
      (("span = n - f + 2 * padding", "span = n - f"),), ("q1a", "q1b")),
    W("ps1", "size_stride_ignored", "output_size",
      (("return span // stride + 1", "return span + 1"),), ("q1a",)),
    W("ps1", "size_plus_filter", "output_size",
      (("span = n - f + 2 * padding", "span = n + f + 2 * padding"),), ("q1a", "q1b")),
    W("ps1", "size_no_error", "output_size",
      (("    if span % stride != 0:\n", "    if False:\n"),), ("q1b",)),
    W("ps1", "size_float", "output_size", (("return span // stride + 1", "return span / stride + 1"),), ("q1a",),
      message="a size must be an int"),
    # ---- conv2d_loop
    W("ps1", "flipped_kernel", "conv2d_loop",
      (("np.sum(window * w[k])", "np.sum(window * w[k, :, ::-1, ::-1])"),), ("q2a", "q2b", "q3"),
),
    W("ps1", "flipped_kernel", "conv2d_im2col",
      (("y = w.reshape(K, -1) @ cols", "y = w[:, :, ::-1, ::-1].reshape(K, -1) @ cols"),), ("q5a", "q6a")),
    W("ps1", "kernel_transposed", "conv2d_loop",
      (("np.sum(window * w[k])", "np.sum(window * w[k].transpose(0, 2, 1))"),), ("q2a", "q2b", "q3"),
      where="q2b"),
    W("ps1", "bias_missing", "conv2d_loop",
      (("            if b is not None:\n                y[n, k] += b[k]\n", ""),), ("q2a", "q2b", "q3"),
      where="q2a"),
    W("ps1", "bias_missing", "conv2d_im2col",
      (("    if b is not None:\n        y = y + b[:, None]\n", ""),), ("q5a",)),
    W("ps1", "bias_per_pixel", "conv2d_loop",
      (("np.sum(window * w[k])", "np.sum(window * w[k] + (0 if b is None else b[k]))"),
       ("            if b is not None:\n                y[n, k] += b[k]\n", "")), ("q2a", "q2b", "q3"), where="q2b"),
    W("ps1", "bias_per_channel", "conv2d_loop",
      (("                    y[n, k, i, j] = np.sum(window * w[k])\n",
        "                    for c in range(C):\n"
        "                        y[n, k, i, j] += np.sum(window[c] * w[k, c]) + (0 if b is None else b[k])\n"),
       ("            if b is not None:\n                y[n, k] += b[k]\n", "")), ("q2a", "q2b", "q3"), where="q2b"),
    W("ps1", "padding_ignored", "conv2d_loop", ((FIRST, "    padding = 0\n" + FIRST),), ("q2b", "q3")),
    W("ps1", "padding_twice", "conv2d_loop", ((FIRST, "    padding = 2 * padding\n" + FIRST),), ("q2b", "q3")),
    W("ps1", "padding_one_side", "conv2d_loop",
      (("(padding, padding), (padding, padding)", "(padding, 0), (padding, 0)"),
       ("OH = (H - R + 2 * padding)", "OH = (H - R + padding)"),
       ("OW = (W - S + 2 * padding)", "OW = (W - S + padding)")), ("q2b", "q3")),
    W("ps1", "stride_ignored", "conv2d_loop", ((FIRST, "    stride = 1\n" + FIRST),), ("q2b", "q3")),
    W("ps1", "stride_not_applied_to_window", "conv2d_loop",
      (("xp[n, :, i * stride:i * stride + R, j * stride:j * stride + S]", "xp[n, :, i:i + R, j:j + S]"),),
      ("q2b", "q3")),
    W("ps1", "channels_overwrite", "conv2d_loop",
      (("                    y[n, k, i, j] = np.sum(window * w[k])\n",
        "                    for c in range(C):\n"
        "                        y[n, k, i, j] = np.sum(window[c] * w[k, c])\n"),), ("q2a", "q2b", "q3"),
      where="q2a"),
    W("ps1", "output_channels_last", "conv2d_loop",
      (("np.zeros((N, K, OH, OW)", "np.zeros((N, OH, OW, K)"), ("y[n, k, i, j] = ", "y[n, i, j, k] = "),
       ("y[n, k] += b[k]", "y[n, :, :, k] += b[k]")), ("q2a", "q2b", "q3"), where="q2b"),
    W("ps1", "output_hw_swapped", "conv2d_loop",
      (("np.zeros((N, K, OH, OW)", "np.zeros((N, K, OW, OH)"), ("y[n, k, i, j] = ", "y[n, k, j, i] = ")),
      ("q2a", "q2b", "q3"), where="q2b"),
    W("ps1", "output_one_short", "conv2d_loop",
      (("OH = (H - R + 2 * padding) // stride + 1", "OH = (H - R + 2 * padding) // stride"),
       ("OW = (W - S + 2 * padding) // stride + 1", "OW = (W - S + 2 * padding) // stride")),
      ("q2a", "q2b", "q3"), where="q2b"),
    W("ps1", "batch_first_image", "conv2d_loop", (("window = xp[n, :,", "window = xp[0, :,"),), ("q2a", "q2b", "q3")),
    W("ps1", "dtype", "conv2d_loop", (("np.zeros((N, K, OH, OW), dtype=x.dtype)", "np.zeros((N, K, OH, OW))"),),
      ("q2a", "q2b", "q3"), message="dtype=x.dtype", where="q2b"),
    # ---- conv2d_grouped
    W("ps1", "group_mapping", "conv2d_grouped",
      ((BODY, "    C = x.shape[1]\n"
              "    K = w.shape[0]\n"
              "    Cg = C // groups\n"
              "    outs = []\n"
              "    for k in range(K):\n"
              "        g = k % groups\n"
              "        bk = None if b is None else b[k:k + 1]\n"
              "        outs.append(conv2d_loop(x[:, g * Cg:(g + 1) * Cg], w[k:k + 1], bk, stride, padding))\n"
              "    return np.concatenate(outs, axis=1)\n"),), ("q3",)),
    W("ps1", "group_first_only", "conv2d_grouped", (("x[:, g * Cg:(g + 1) * Cg]", "x[:, :Cg]"),), ("q3",)),
    # ---- im2col
    W("ps1", "im2col_rows_channels_last", "im2col",
      (("np.empty((N, C, R, S, OH, OW)", "np.empty((N, R, S, C, OH, OW)"), ("cols[:, :, r, s] =", "cols[:, r, s] =")),
      ("q4", "q5a")),
    W("ps1", "im2col_rows_transposed", "im2col",
      (("np.empty((N, C, R, S, OH, OW)", "np.empty((N, C, S, R, OH, OW)"), ("cols[:, :, r, s] =", "cols[:, :, s, r] =")),
      ("q4", "q5a", "q6a")),
    W("ps1", "im2col_columns_column_major", "im2col",
      (("np.empty((N, C, R, S, OH, OW)", "np.empty((N, C, R, S, OW, OH)"),
       ("s:s + stride * OW:stride]", "s:s + stride * OW:stride].transpose(0, 1, 3, 2)")), ("q4", "q5a", "q6a")),
    W("ps1", "im2col_transposed", "im2col",
      (("return cols.reshape(N, C * R * S, OH * OW)", "return cols.reshape(N, C * R * S, OH * OW).transpose(0, 2, 1)"),),
      ("q4", "q5a", "q5b", "q6a")),
    W("ps1", "im2col_cs231n_layout", "im2col",
      (("return cols.reshape(N, C * R * S, OH * OW)",
        "return cols.reshape(N, C * R * S, OH * OW).transpose(1, 0, 2).reshape(C * R * S, N * OH * OW)"),),
      ("q4", "q5a")),
    W("ps1", "padding_ignored", "im2col", ((FIRST, "    padding = 0\n" + FIRST),), ("q4", "q5a", "q5b"),
      where="q4"),
    W("ps1", "padding_twice", "im2col", ((FIRST, "    padding = 2 * padding\n" + FIRST),), ("q4", "q5a", "q5b"),
      where="q4"),
    W("ps1", "stride_ignored", "im2col", ((FIRST, "    stride = 1\n" + FIRST),), ("q4", "q5a", "q5b"), where="q4"),
    # ---- conv2d_im2col
    W("ps1", "reshape_without_transpose", "conv2d_im2col",
      (("    y = w.reshape(K, -1) @ cols                      # (N, K, OH*OW)\n",
        "    cols2 = cols.transpose(1, 0, 2).reshape(C * R * S, N * OH * OW)\n"
        "    y = w.reshape(K, -1) @ cols2                     # (K, N*OH*OW)\n"),), ("q5a",)),
    W("ps1", "flatten_order_mismatch", "conv2d_im2col",
      (("y = w.reshape(K, -1) @ cols", "y = w.transpose(0, 2, 3, 1).reshape(K, -1) @ cols"),), ("q5a",)),
    W("ps1", "not_vectorised", "conv2d_im2col",
      ((BODY, "    N, C, H, W = x.shape\n"
              "    K, _, R, S = w.shape\n"
              "    OH = (H - R + 2 * padding) // stride + 1\n"
              "    OW = (W - S + 2 * padding) // stride + 1\n"
              "    cols = im2col(x, R, S, stride, padding)\n"
              "    y = np.zeros((N, K, OH, OW), dtype=x.dtype)\n"
              "    for n in range(N):\n"
              "        for k in range(K):\n"
              "            for p in range(OH * OW):\n"
              "                y[n, k, p // OW, p % OW] = w[k].reshape(-1) @ cols[n, :, p]\n"
              "            if b is not None:\n"
              "                y[n, k] += b[k]\n"
              "    return y\n"),), ("q5b",), message="is not vectorised"),
    # ---- convolve2d and is_flip_invariant
    W("ps1", "no_flip", "convolve2d", (("flipped = kernel[::-1, ::-1]", "flipped = kernel"),), ("q6a",)),
    W("ps1", "flip_rows_only", "convolve2d", (("flipped = kernel[::-1, ::-1]", "flipped = kernel[::-1, :]"),), ("q6a",),
),
    W("ps1", "flip_columns_only", "convolve2d", (("flipped = kernel[::-1, ::-1]", "flipped = kernel[:, ::-1]"),),
      ("q6a",)),
    W("ps1", "transpose_not_rotate", "convolve2d", (("flipped = kernel[::-1, ::-1]", "flipped = kernel.T"),),
      ("q6a",)),
    W("ps1", "full_mode", "convolve2d",
      (("flipped[None, None])[0, 0]", "flipped[None, None], padding=max(kernel.shape) - 1)[0, 0]"),), ("q6a",)),
    W("ps1", "same_mode", "convolve2d",
      (("flipped[None, None])[0, 0]", "flipped[None, None], padding=(kernel.shape[0] - 1) // 2)[0, 0]"),), ("q6a",)),
    W("ps1", "symmetric_not_rotation", "convolve2d",
      (("np.array_equal(kernel, kernel[::-1, ::-1])", "np.array_equal(kernel, kernel.T)"),), ("q6b",)),
    W("ps1", "left_right_only", "convolve2d",
      (("np.array_equal(kernel, kernel[::-1, ::-1])", "np.array_equal(kernel, kernel[:, ::-1])"),), ("q6b",)),
    W("ps1", "up_down_only", "convolve2d",
      (("np.array_equal(kernel, kernel[::-1, ::-1])", "np.array_equal(kernel, kernel[::-1, :])"),), ("q6b",)),
    W("ps1", "always_true", "convolve2d",
      (("return bool(np.array_equal(kernel, kernel[::-1, ::-1]))", "return True"),), ("q6b",)),
    W("ps1", "always_false", "convolve2d",
      (("return bool(np.array_equal(kernel, kernel[::-1, ::-1]))", "return False"),), ("q6b",)),
    # ---- calling what the question asks to write
    W("ps1", "forbidden", "conv2d_im2col",
      ((BODY, "    import cnnlab.ref as r\n"
              "    return r.conv2d(x, w, b, stride, padding)\n"),), ("q5a", "q5b", "q6a"),
      message="uses what this question asks you to write yourself"),
    W("ps1", "forbidden", "conv2d_loop",
      (("def conv2d_loop(", "from torch.nn import functional as Q\nimport torch\n\n\ndef conv2d_loop("),
       (BODY, "    t = torch.from_numpy\n"
              "    bb = None if b is None else t(b)\n"
              "    return Q.conv2d(t(x), t(w), bb, stride=stride, padding=padding).numpy()\n")),
      ("q2a", "q2b", "q3"), message="through the name 'Q.conv2d'", where="q2a"),
    W("ps1", "forbidden", "convolve2d",
      (("    flipped = kernel[::-1, ::-1]\n    return conv2d_im2col(image[None, None], flipped[None, None])[0, 0]\n",
        "    lib = __import__('scipy.' + 'sig' + 'nal', fromlist=['x'])\n"
        "    return getattr(lib, ''.join(['con', 'volve', '2d']))(image, kernel, 'valid')\n"),),
      ("q6a",), message="uses what this question asks you to write yourself"),
]

ALL = PS1

MAXB_BODY = ("    N, C, H, W = x.shape\n"
             "    _, _, OH, OW = dout.shape\n"
             "    dx = np.zeros_like(x)\n"
             "    for i in range(OH):\n"
             "        for j in range(OW):\n"
             "            rows = slice(i * stride, i * stride + pool_size)\n"
             "            cols = slice(j * stride, j * stride + pool_size)\n"
             "            window = x[:, :, rows, cols]\n"
             "{mask}"
             "            dx[:, :, rows, cols] {op} mask * dout[:, :, i:i + 1, j:j + 1]\n"
             "    return dx\n")
FIRST_MASK = ("            flat = window.reshape(N, C, -1)\n"
              "            first = np.arange(flat.shape[2]) == flat.argmax(axis=2)[..., None]\n"
              "            mask = first.reshape(window.shape)\n")

PS2 = [
    # ---- max pooling forward
    W("ps2", "avg_instead_of_max", "max_pool_forward", (("window.max(axis=(2, 3))", "window.mean(axis=(2, 3))"),),
      ("q1",)),
    W("ps2", "pool_stride_is_size", "max_pool_forward", ((FIRST, "    stride = pool_size\n" + FIRST),), ("q1",)),
    W("ps2", "pool_stride_ignored", "max_pool_forward", ((FIRST, "    stride = 1\n" + FIRST),), ("q1",)),
    W("ps2", "max_of_abs", "max_pool_forward",
      (("window.max(axis=(2, 3))", "np.abs(window).max(axis=(2, 3))"),), ("q1",)),
    # ---- max pooling backward
    W("ps2", "max_grad_not_accumulated", "max_pool_backward",
      (("dx[n, c, r0 + r, s0 + s] += dout", "dx[n, c, r0 + r, s0 + s] = dout"),), ("q2b",)),
    W("ps2", "max_grad_not_accumulated", "max_pool_backward",
      ((BODY, MAXB_BODY.format(mask=FIRST_MASK, op="=")),), ("q2b",)),
    W("ps2", "max_grad_all_ties", "max_pool_backward",
      ((BODY, MAXB_BODY.format(mask="            mask = window == window.max(axis=(2, 3), keepdims=True)\n",
                               op="+=")),), ("q2b",)),
    W("ps2", "max_grad_last_tie", "max_pool_backward",
      (("r, s = np.unravel_index(window.argmax(axis=2), (pool_size, pool_size))",
        "last = window.shape[2] - 1 - window[:, :, ::-1].argmax(axis=2)\n"
        "            r, s = np.unravel_index(last, (pool_size, pool_size))"),), ("q2b",)),
    W("ps2", "max_grad_spread", "max_pool_backward",
      ((BODY, MAXB_BODY.format(mask="            mask = np.ones_like(window) / pool_size ** 2\n", op="+=")),),
      ("q2a", "q2b")),
    W("ps2", "max_grad_no_dout", "max_pool_backward",
      (("dx[n, c, r0 + r, s0 + s] += dout[:, :, i, j]", "dx[n, c, r0 + r, s0 + s] += 1"),), ("q2a", "q2b")),
    # ---- average pooling
    W("ps2", "max_instead_of_avg", "avg_pool_forward", (("window.mean(axis=(2, 3))", "window.max(axis=(2, 3))"),),
      ("q3",)),
    W("ps2", "sum_not_mean", "avg_pool_forward", (("window.mean(axis=(2, 3))", "window.sum(axis=(2, 3))"),), ("q3",)),
    W("ps2", "divided_by_pool_size", "avg_pool_forward",
      (("window.mean(axis=(2, 3))", "window.sum(axis=(2, 3)) / pool_size"),), ("q3",)),
    W("ps2", "pool_stride_is_size", "avg_pool_forward", ((FIRST, "    stride = pool_size\n" + FIRST),), ("q3",)),
    W("ps2", "avg_grad_not_divided", "avg_pool_backward", ((" / pool_size ** 2", ""),), ("q4",)),
    W("ps2", "avg_grad_divided_by_pool_size", "avg_pool_backward", ((" / pool_size ** 2", " / pool_size"),), ("q4",)),
    W("ps2", "avg_grad_not_accumulated", "avg_pool_backward",
      (("dx[:, :, rows, cols] += dout", "dx[:, :, rows, cols] = dout"),), ("q4",)),
    W("ps2", "avg_grad_max_rule", "avg_pool_backward",
      ((BODY, "    return max_pool_backward(dout, x, pool_size, stride)\n"),), ("q4",)),
    # ---- convolution backward
    W("ps2", "dx_not_accumulated", "conv2d_backward",
      (("dxp[n, :, rows, cols] += w[k]", "dxp[n, :, rows, cols] = w[k]"),), ("q5a",)),
    W("ps2", "dx_padded", "conv2d_backward", (("dx = dxp[:, :, p:p + H, p:p + W]", "dx = dxp"),), ("q5a",)),
    W("ps2", "dx_empty_when_unpadded", "conv2d_backward",
      (("dx = dxp[:, :, p:p + H, p:p + W]", "dx = dxp[:, :, p:-p, p:-p]"),), ("q5a",)),
    W("ps2", "dx_flipped_kernel", "conv2d_backward",
      (("+= w[k] * dout[n, k, i, j]", "+= w[k, :, ::-1, ::-1] * dout[n, k, i, j]"),), ("q5a",)),
    W("ps2", "dw_last_image_only", "conv2d_backward",
      (("    for n in range(N):\n        for k in range(K):\n",
        "    for n in range(N):\n        dw = np.zeros_like(w)\n        for k in range(K):\n"),), ("q5b",)),
    W("ps2", "dw_mean_over_batch", "conv2d_backward", (("return dx, dw, db", "return dx, dw / N, db"),), ("q5b",)),
    W("ps2", "dw_flipped", "conv2d_backward",
      (("dw[k] += xp[n, :, rows, cols] * dout[n, k, i, j]",
        "dw[k] += (xp[n, :, rows, cols] * dout[n, k, i, j])[:, ::-1, ::-1]"),), ("q5b",)),
    W("ps2", "dw_not_accumulated", "conv2d_backward", (("dw[k] += xp", "dw[k] = xp"),), ("q5b",)),
    W("ps2", "db_mean", "conv2d_backward", (("db = dout.sum(axis=(0, 2, 3))", "db = dout.mean(axis=(0, 2, 3))"),),
      ("q5c",)),
    W("ps2", "db_first_image", "conv2d_backward", (("db = dout.sum(axis=(0, 2, 3))", "db = dout[0].sum(axis=(1, 2))"),),
      ("q5c",)),
    W("ps2", "db_batch_only", "conv2d_backward", (("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=0)"),),
      ("q5c",)),
    W("ps2", "db_positions_only", "conv2d_backward", (("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(2, 3))"),),
      ("q5c",)),
    # ---- calling what the question asks to write
    W("ps2", "forbidden", "max_pool_backward",
      ((BODY, "    import torch\n"
              "    xt = torch.tensor(x, requires_grad=True)\n"
              "    y = torch.nn.functional.max_pool2d(xt, pool_size, stride)\n"
              "    y.backward(torch.from_numpy(dout))\n"
              "    return xt.grad.numpy()\n"),), ("q2a", "q2b"),
      message="uses what this question asks you to write yourself"),
    W("ps2", "forbidden", "conv2d_backward",
      ((BODY, "    from cnnlab import checks as g\n"
              "    from cnnlab import ref\n"
              "    b = np.zeros(w.shape[0])\n"
              "    f = lambda x_, w_: ref.conv2d(x_, w_, b, stride=stride, padding=padding)\n"
              "    dx = g.numerical_gradient(lambda v: f(v, w), x.astype(np.float64), dout)\n"
              "    dw = g.numerical_gradient(lambda v: f(x, v), w.astype(np.float64), dout)\n"
              "    return dx, dw, dout.sum(axis=(0, 2, 3))\n"),), ("q5a", "q5b", "q5c"),
      message="uses what this question asks you to write yourself"),
]



LENET_C1 = "nn.Conv2d(1, 6, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),      # C1, S2"
LENET_C3 = "nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),     # C3, S4"
LENET_C5 = "nn.Linear(16 * 5 * 5, 120), nn.ReLU(),                          # C5"
LENET_F6 = "nn.Linear(120, 84), nn.ReLU(),                                  # F6"
LENET_OUT = "nn.Linear(84, num_classes),                                     # output"
LENET_RETURN = "return self.classifier(torch.flatten(x, 1))"

PS3 = [
    # ---- LeNet-5
    W("ps3", "tanh_instead_of_relu", "lenet5",
      tuple((s, s.replace("nn.ReLU()", "nn.Tanh()")) for s in (LENET_C1, LENET_C3, LENET_C5, LENET_F6)), ("q1",)),
    W("ps3", "avg_pool_instead_of_max", "lenet5",
      tuple((s, s.replace("nn.MaxPool2d(2)", "nn.AvgPool2d(2)")) for s in (LENET_C1, LENET_C3)), ("q1",)),
    W("ps3", "softmax_output", "lenet5", ((LENET_RETURN, f"return torch.softmax(self.classifier(torch.flatten(x, 1)), 1)"),),
      ("q1", "q4")),
    W("ps3", "log_softmax_output", "lenet5",
      ((LENET_RETURN, "return torch.log_softmax(self.classifier(torch.flatten(x, 1)), 1)"),), ("q1",)),
    W("ps3", "relu_on_output", "lenet5", ((LENET_OUT, "nn.Linear(84, num_classes), nn.ReLU(),"),), ("q1", "q4")),
    W("ps3", "no_fc_activation", "lenet5",
      tuple((s, s.replace(" nn.ReLU(),", "")) for s in (LENET_C5, LENET_F6)), ("q1",)),
    W("ps3", "wrong_layer", "lenet5",
      (("nn.Conv2d(6, 16, kernel_size=5)", "nn.Conv2d(6, 16, kernel_size=3)"),
       ("nn.Linear(16 * 5 * 5, 120)", "nn.Linear(16 * 6 * 6, 120)")), ("q1",),
      message="should be Conv2d(6, 16, kernel 5x5"),
    W("ps3", "forbidden", "lenet5",
      (("class LeNet5(nn.Module):", "from cnnlab.models import LeNet5 as _Zoo\n\n\nclass LeNet5(_Zoo):"),
       ("        super().__init__()\n", "        super().__init__(num_classes)\n")), ("q1",),
      message="a subclass of cnnlab.models.lenet.LeNet5"),
    # ---- layer tables
    W("ps3", "table_shape", "layer_table", (("tuple(output.shape)", "tuple(output.shape[1:])"),), ("q2a",),
      message="(with the batch dimension)"),
    W("ps3", "table_rows", "layer_table",
      (("        rows.append((names[module], tuple(output.shape), sum(p.numel() for p in own)))",
        "        if own:\n            rows.append((names[module], tuple(output.shape), sum(p.numel() for p in own)))"),),
      ("q2a",), message="ReLU and pooling included, each call one row"),
    W("ps3", "table_name", "layer_table", (("rows.append((names[module],", "rows.append((type(module).__name__,"),),
      ("q2a",), message="the name model.named_modules() gives that module"),
    W("ps3", "by_hand_params", "lenet5_by_hand", (('"C1": ((6, 28, 28), 6 * (5 * 5 * 1 + 1)),',
                                                  '"C1": ((6, 28, 28), 6 * 5 * 5 * 1),'),), ("q2b",),
      message="the biases are missing"),
    W("ps3", "by_hand_shape", "lenet5_by_hand", (('"S4": ((16, 5, 5), 0),', '"S4": ((16, 4, 4), 0),'),), ("q2b",),
      message="the output shape is wrong"),
    # ---- small VGG
    W("ps3", "no_conv_activation", "small_vgg",
      (("layers += [nn.Conv2d(c, width, kernel_size=3, padding=1), nn.ReLU()]",
        "layers += [nn.Conv2d(c, width, kernel_size=3, padding=1)]"),), ("q3",)),
    W("ps3", "no_fc_activation", "small_vgg",
      (("nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Linear", "nn.Linear(32 * 8 * 8, 64), nn.Linear"),), ("q3",)),
    W("ps3", "wrong_layer", "small_vgg",
      (("nn.Linear(64, num_classes))", "nn.Linear(64, 2 * num_classes))"),), ("q3",),
      message="the output layer should be Linear(64, 10)"),
    # ---- training
    W("ps3", "accuracy", "train", (("losses = train(lenet, train_set, epochs=3)",
                                    "losses = train(lenet, train_set, epochs=3, lr=1e-5)"),), ("q4",),
      message="at least 90% is needed"),
    W("ps3", "forbidden", "train",
      ((BODY, "    from cnnlab import train as zoo_train\n"
              "    history = zoo_train.fit(model, data, epochs=epochs, lr=lr, batch_size=batch_size, progress=False)\n"
              "    return list(history['loss'])\n"),), ("q4",),
      message="uses what this question asks you to write yourself"),
]

BLOCK_FORWARD = ("        out = torch.relu(self.bn1(self.conv1(x)))\n"
                 "        out = self.bn2(self.conv2(out))\n"
                 "        return torch.relu(out + self.shortcut(x))\n")

PS4 = [
    # ---- BasicBlock
    W("ps4", "no_relu_after_add", "basic_block",
      (("return torch.relu(out + self.shortcut(x))", "return out + self.shortcut(x)"),), ("q1a", "q1b")),
    W("ps4", "relu_before_add", "basic_block",
      (("return torch.relu(out + self.shortcut(x))", "return torch.relu(out) + self.shortcut(x)"),), ("q1a", "q1b")),
    W("ps4", "no_shortcut", "basic_block",
      (("return torch.relu(out + self.shortcut(x))", "return torch.relu(out)"),), ("q1a", "q1b")),
    W("ps4", "relu_missing_inside", "basic_block",
      (("out = torch.relu(self.bn1(self.conv1(x)))", "out = self.bn1(self.conv1(x))"),), ("q1a", "q1b")),
    W("ps4", "projection_without_bn", "basic_block",
      (("nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),\n                nn.BatchNorm2d(out_channels))",
        "nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False))"),), ("q1b", "q2"),
      message="the BatchNorm of the projection is missing"),
    W("ps4", "stride_on_conv2", "basic_block",
      (("nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)",
        "nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1, bias=False)"),
       ("nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)",
        "nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False)")), ("q1b",)),
    W("ps4", "projection_not_needed", "basic_block",
      (("        if stride != 1 or in_channels != out_channels:\n", "        if True:\n"),), ("q1a", "q2"),
      message="so the shortcut is the identity"),
    W("ps4", "bn_momentum", "basic_block",
      (("self.bn1 = nn.BatchNorm2d(out_channels)", "self.bn1 = nn.BatchNorm2d(out_channels, momentum=0.5)"),),
      ("q1a", "q1b"), message="the running mean of bn1 differs"),
    W("ps4", "missing_bn2", "basic_block",
      (("out = self.bn2(self.conv2(out))", "out = self.conv2(out)"),), ("q1a", "q1b"),
      message="the BatchNorm after the second convolution is missing"),
    # ---- SmallResNet
    W("ps4", "stage_shapes", "small_resnet",
      (("self.layer3 = BasicBlock(32, 64, 2)", "self.layer3 = BasicBlock(32, 64, 1)"),), ("q2",),
      message="the last two with stride 2"),
    W("ps4", "param_count", "small_resnet",
      (("nn.Conv2d(1, 16, 3, padding=1, bias=False)", "nn.Conv2d(1, 16, 3, padding=1)"),), ("q2",),
      message="Check the stem (3x3 convolution without bias"),
    # ---- freezing
    W("ps4", "count_tensors", "freeze", (("count += p.numel()", "count += 1"),), ("q3",),
      message="returns the number of trainable tensors"),
    W("ps4", "inverted", "freeze", (("p.requires_grad = any(", "p.requires_grad = not any("),), ("q3", "q4"),
      message="the trainable and frozen layers are swapped"),
    W("ps4", "prefix", "freeze", (('name.startswith(m + ".")', "name.startswith(m)"),), ("q3",),
      message="match the module name followed by a dot"),
    # ---- fine-tuning
    W("ps4", "frozen_changed", "fine_tune",
      (('freeze(model, ("layer3", "fc"))', 'freeze(model, ("conv1", "bn1", "layer1", "layer2", "layer3", "fc"))'),),
      ("q4",), message="frozen parameter tensors changed during fine-tuning"),
    W("ps4", "accuracy", "fine_tune", (("losses = fine_tune(model, target_set, epochs=4)",
                                        "losses = fine_tune(model, target_set, epochs=1, lr=1e-4)"),), ("q4",),
      message="at least 85% is needed"),
]

ALL = PS1 + PS2 + PS3 + PS4
