"""Independent honest solutions, and copies planted from one of them.

The similarity report (:mod:`cnnlab_grade.similarity`) must rank every pair
of a copied solution above every pair of solutions written independently,
and flag no independent pair.  ``own-a`` and ``own-b`` are written
independently of each other and of the reference solution (another
algorithm for most answers, other names, another layout); the copies are
``own-a`` renamed, reordered, reformatted, with comments changed, and all of
it at once.  Each scores full marks and no grading flag: copying is for the
similarity report to point out and a TA to judge, never a deduction.
"""

from __future__ import annotations

import re

from .build import Sample, _cell, solution

OWN_A = {
    "output_size": '''    total = n + 2 * padding - f
    if f > n + 2 * padding or total % stride:
        raise ValueError("a filter of %d does not fit an input of %d (padding %d, stride %d)"
                         % (f, n, padding, stride))
    return 1 + total // stride
''',
    "conv2d_loop": '''    batch, chans, height, width = x.shape
    nf, _, fh, fw = w.shape
    out_h = (height + 2 * padding - fh) // stride + 1
    out_w = (width + 2 * padding - fw) // stride + 1
    padded = np.zeros((batch, chans, height + 2 * padding, width + 2 * padding), dtype=x.dtype)
    padded[:, :, padding:padding + height, padding:padding + width] = x
    out = np.empty((batch, nf, out_h, out_w), dtype=x.dtype)
    for row in range(out_h):
        top = row * stride
        for col in range(out_w):
            left = col * stride
            patch = padded[:, :, top:top + fh, left:left + fw]
            out[:, :, row, col] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += np.asarray(b).reshape(1, -1, 1, 1).astype(x.dtype)
    return out
''',
    "conv2d_grouped": '''    cin = x.shape[1] // groups
    kout = w.shape[0] // groups
    results = [conv2d_loop(x[:, (k // kout) * cin:(k // kout + 1) * cin], w[k:k + 1],
                           None if b is None else b[k:k + 1], stride, padding)
               for k in range(w.shape[0])]
    return np.concatenate(results, axis=1)
''',
    "im2col": '''    N, C, H, W = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)], mode="constant")
    win = np.lib.stride_tricks.sliding_window_view(xp, (R, S), axis=(2, 3))[:, :, ::stride, ::stride]
    oh, ow = win.shape[2], win.shape[3]
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * R * S, oh * ow).copy()
''',
    "conv2d_im2col": '''    K, C, R, S = w.shape
    oh = (x.shape[2] + 2 * padding - R) // stride + 1
    ow = (x.shape[3] + 2 * padding - S) // stride + 1
    columns = im2col(x, R, S, stride, padding)
    out = np.einsum("kp,npq->nkq", w.reshape(K, C * R * S), columns)
    if b is not None:
        out = out + np.asarray(b).reshape(1, K, 1)
    return out.reshape(x.shape[0], K, oh, ow).astype(x.dtype, copy=False)
''',
    "convolve2d": '''    rot = np.rot90(kernel, 2)
    H, W = image.shape
    R, S = rot.shape
    return conv2d_loop(image.reshape(1, 1, H, W), rot.reshape(1, 1, R, S))[0, 0]
''',
    "is_flip_invariant": '''    return bool(np.all(kernel == np.rot90(kernel, 2)))
''',
}

OWN_B = {
    "output_size": '''    padded = n + padding + padding
    if f > padded:
        raise ValueError(f"filter {f} is wider than the padded input {padded}")
    steps, rest = divmod(padded - f, stride)
    if rest != 0:
        raise ValueError(f"stride {stride} leaves {rest} pixel(s) over")
    return steps + 1
''',
    "conv2d_loop": '''    num, ch, height, width = x.shape
    filters, _, kh, kw = w.shape
    if padding > 0:
        x = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    oh = (height + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    result = np.zeros((num, filters, oh, ow), x.dtype)
    for f in range(filters):
        for a in range(oh):
            for c in range(ow):
                region = x[:, :, a * stride:a * stride + kh, c * stride:c * stride + kw]
                result[:, f, a, c] = (region * w[f]).sum(axis=(1, 2, 3))
        if b is not None:
            result[:, f] += b[f]
    return result
''',
    "conv2d_grouped": '''    channels = x.shape[1]
    out_ch, in_per_group, kh, kw = w.shape
    out_per_group = out_ch // groups
    dense = np.zeros((out_ch, channels, kh, kw), dtype=w.dtype)
    for k in range(out_ch):
        g = k // out_per_group
        dense[k, g * in_per_group:(g + 1) * in_per_group] = w[k]
    return conv2d_loop(x, dense, b, stride, padding)
''',
    "im2col": '''    N, C, H, W = x.shape
    Hp, Wp = H + 2 * padding, W + 2 * padding
    OH = (Hp - R) // stride + 1
    OW = (Wp - S) // stride + 1
    canvas = np.zeros((N, C, Hp, Wp), dtype=x.dtype)
    canvas[:, :, padding:padding + H, padding:padding + W] = x
    c_idx = np.repeat(np.arange(C), R * S)
    r_idx = np.tile(np.repeat(np.arange(R), S), C)
    s_idx = np.tile(np.arange(S), C * R)
    i_idx = np.repeat(np.arange(OH) * stride, OW)
    j_idx = np.tile(np.arange(OW) * stride, OH)
    return canvas[:, c_idx[:, None], r_idx[:, None] + i_idx[None, :], s_idx[:, None] + j_idx[None, :]]
''',
    "conv2d_im2col": '''    K, _, R, S = w.shape
    N, _, H, W = x.shape
    cols = im2col(x, R, S, stride, padding)
    prod = np.matmul(cols.transpose(0, 2, 1), w.reshape(K, -1).T)
    if b is not None:
        prod += b
    OH = (H + 2 * padding - R) // stride + 1
    return prod.transpose(0, 2, 1).reshape(N, K, OH, -1)
''',
    "convolve2d": '''    kh, kw = kernel.shape
    patches = im2col(image[np.newaxis, np.newaxis], kh, kw)
    H, W = image.shape
    return (kernel[::-1, ::-1].ravel() @ patches[0]).reshape(H - kh + 1, W - kw + 1)
''',
    "is_flip_invariant": '''    R, S = kernel.shape
    for i in range(R):
        for j in range(S):
            if kernel[i, j] != kernel[R - 1 - i, S - 1 - j]:
                return False
    return True
''',
}

#: the answer cells and the functions in each (convolve2d's cell has two)
CELLS = {"output_size": ["output_size"], "conv2d_loop": ["conv2d_loop"], "conv2d_grouped": ["conv2d_grouped"],
         "im2col": ["im2col"], "conv2d_im2col": ["conv2d_im2col"], "convolve2d": ["convolve2d", "is_flip_invariant"]}

_DEF = re.compile(r"^def (\w+)\(.*?\):\n(?:    (?:\"\"\"|r\"\"\").*?\"\"\"\n)?", re.M | re.S)


def _heads(source: str) -> dict[str, str]:
    """{function: its def line and docstring} in a released answer cell."""
    return {m.group(1): m.group(0) for m in _DEF.finditer(source)}


def own(bodies: dict, edit=None, reorder: bool = False):
    """The reference notebook with every answer replaced by ``bodies`` under the released
    def lines and docstrings; ``edit(text)`` rewrites each cell; ``reorder`` puts a cell's
    functions in the opposite order."""
    nb = solution()
    for gid, names in CELLS.items():
        cell = _cell(nb, gid)
        heads = _heads(cell.source)
        order = list(reversed(names)) if reorder else names
        text = "\n\n".join(heads[f] + bodies[f] for f in order)
        cell.source = edit(text) if edit else text
    return nb


_RENAMES = {"total": "span_len", "batch": "nb_imgs", "chans": "nb_ch", "height": "hh", "width": "ww",
            "nf": "n_filters", "fh": "k_h", "fw": "k_w", "out_h": "rows_out", "out_w": "cols_out",
            "padded": "xpad", "out": "res", "row": "ii", "col": "jj", "top": "y0", "left": "x0",
            "patch": "block", "cin": "in_g", "kout": "out_g", "results": "maps", "xp": "xz", "win": "views",
            "oh": "h_o", "ow": "w_o", "columns": "colmat", "rot": "kflip"}


def renamed(text: str) -> str:
    for old, new in _RENAMES.items():
        text = re.sub(rf"(?<![\w.]){old}\b", new, text)
    return text


def reformatted(text: str) -> str:
    """Another layout: operators spaced differently, calls broken over lines, other quotes."""
    text = text.replace('"', "'").replace(" * ", "*").replace(" + ", "+").replace(" - ", "-")
    text = text.replace(", ", ",").replace("(", "( ").replace(")", " )")
    return re.sub(r"^(\s+)(\w+) = ", lambda m: f"{m.group(1)}{m.group(2)}  =  ", text, flags=re.M)


def commented(text: str) -> str:
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("for ", "if ", "return ")):
            out.append(" " * (len(line) - len(line.lstrip())) + f"# step: {stripped.split()[0]} (my own note)")
        out.append(line + ("  # keep the dtype" if "dtype" in line and '"""' not in line else ""))
    return "\n".join(out) + "\n"


def copies() -> list[Sample]:
    """Two independent honest solutions, and five copies of the first (see the module doc)."""
    return [
        Sample("own-a", "an honest solution of its own: tensordot per position, sliding windows, einsum", own(OWN_A)),
        Sample("own-b", "an honest solution of its own: loops per filter, a block-diagonal filter bank for "
                        "groups, index arrays for im2col", own(OWN_B)),
        Sample("copy-renamed", "own-a with every local name changed", own(OWN_A, renamed)),
        Sample("copy-reordered", "own-a with the functions of a cell in the other order", own(OWN_A, reorder=True)),
        Sample("copy-reformatted", "own-a laid out differently: spacing, quotes, line breaks",
               own(OWN_A, reformatted)),
        Sample("copy-commented", "own-a with comments added", own(OWN_A, commented)),
        Sample("copy-disguised", "own-a renamed, reordered, reformatted and commented",
               own(OWN_A, lambda t: commented(reformatted(renamed(t))), reorder=True)),
    ]


#: the planted copies' pairs, and the independent students (the reference solution is one)
PLANTED = ["own-a", "copy-renamed", "copy-reordered", "copy-reformatted", "copy-commented", "copy-disguised"]
INDEPENDENT = ["correct", "own-a", "own-b"]
