"""A made-up class for the similarity report (tests/grader/test_similarity.py and
benchmarks/bench_similarity.py): independent NumPy answers to "write the forward
pass of a 2-D convolution", and planted copies of one of them.

* STARTER: the released stub every student starts from.
* SOLUTIONS: six independent, correct answers, written as six students would.
* COPIES: copies of SOLUTIONS["im2col"], each disguised a different way.
* honest(rng): one more honest student.  Renaming alone would not do -- a renamed
  answer IS a copy to the detector -- so each honest student is assembled from
  independent choices (approach, padding, output size, loop order, bias, helper
  style), then renamed, respaced and commented at random.
"""

from __future__ import annotations

import io
import keyword
import random
import re
import tokenize

STARTER = '''import numpy as np


def conv2d(x, w, b, stride, pad):
    """Forward pass of a 2-D convolution (cross-correlation, as in every deep-learning library).

    x: input, shape (N, C, H, W)
    w: filters, shape (F, C, HH, WW)
    b: biases, shape (F,)
    stride, pad: the step between windows and the zeros added on every side
    Returns out, shape (N, F, H_out, W_out), H_out = 1 + (H + 2 * pad - HH) // stride.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def relative_error(x, y):
    """The largest relative difference between two arrays (given: use it to check your answer)."""
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))
'''

_GIVEN = STARTER[STARTER.index("\n\ndef relative_error"):]
_HEAD = STARTER[:STARTER.index("    # YOUR CODE HERE")]


def _answer(helper: str, body: str) -> str:
    """The starter with the student's code in: the helper above, the body in place of the stub."""
    return "import numpy as np\n\n\n" + helper.strip("\n") + "\n\n\n" + _HEAD.split("\n\n\n", 1)[1] \
        + body.strip("\n") + "\n" + _GIVEN


SOLUTIONS = {
    "loops": _answer('''
def pad_input(x, p):
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=x.dtype)
    out[:, :, p:p + H, p:p + W] = x
    return out
''', '''
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = pad_input(x, pad)
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    hs = i * stride
                    ws = j * stride
                    out[n, f, i, j] = np.sum(xp[n, :, hs:hs + HH, ws:ws + WW] * w[f]) + b[f]
    return out
'''),
    "im2col": _answer('''
def im2col(x_padded, kh, kw, s, oh, ow):
    # gather every window into a row: (n * oh * ow, c * kh * kw)
    n, c = x_padded.shape[:2]
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x_padded.dtype)
    for r in range(kh):
        r_end = r + s * oh
        for q in range(kw):
            q_end = q + s * ow
            cols[:, :, r, q, :, :] = x_padded[:, :, r:r_end:s, q:q_end:s]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)
''', '''
    n = x.shape[0]
    nf, c, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')
    oh = (xp.shape[2] - kh) // stride + 1
    ow = (xp.shape[3] - kw) // stride + 1
    cols = im2col(xp, kh, kw, stride, oh, ow)
    res = cols @ w.reshape(nf, -1).T + b
    return res.reshape(n, oh, ow, nf).transpose(0, 3, 1, 2)
'''),
    "einsum": _answer('''
from numpy.lib.stride_tricks import sliding_window_view


def windows(x, size, step):
    """All windows of the last two axes, every `step`-th one."""
    v = sliding_window_view(x, size, axis=(2, 3))
    return v[:, :, ::step, ::step]
''', '''
    x = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    win = windows(x, w.shape[2:], stride)   # N, C, Ho, Wo, HH, WW
    y = np.einsum('nchwij,fcij->nfhw', win, w, optimize=True)
    return y + b[None, :, None, None]
'''),
    "tensordot": _answer('''
def patches(a, kh, kw, st):
    N, C, H, W = a.shape
    Ho = (H - kh) // st + 1
    Wo = (W - kw) // st + 1
    sN, sC, sH, sW = a.strides
    return np.lib.stride_tricks.as_strided(
        a, shape=(N, Ho, Wo, C, kh, kw), strides=(sN, sH * st, sW * st, sC, sH, sW), writeable=False)
''', '''
    if pad > 0:
        x = np.pad(x, ((0,0),(0,0),(pad,pad),(pad,pad)))
    P = patches(x, w.shape[2], w.shape[3], stride)
    out = np.tensordot(P, w, axes=([3, 4, 5], [1, 2, 3]))  # N, Ho, Wo, F
    out += b
    return np.moveaxis(out, -1, 1)
'''),
    "pixels": _answer('''
def zero_pad(img, amount):
    if amount == 0:
        return img
    big = np.zeros(img.shape[:2] + (img.shape[2] + 2 * amount, img.shape[3] + 2 * amount))
    big[..., amount:-amount, amount:-amount] = img
    return big
''', '''
    xp = zero_pad(x, pad)
    F = w.shape[0]
    rows = (xp.shape[2] - w.shape[2]) // stride + 1
    cols = (xp.shape[3] - w.shape[3]) // stride + 1
    result = np.empty((x.shape[0], F, rows, cols))
    for r in range(rows):
        for c in range(cols):
            top, left = r * stride, c * stride
            piece = xp[:, None, :, top:top + w.shape[2], left:left + w.shape[3]]
            result[:, :, r, c] = (piece * w[None]).sum(axis=(2, 3, 4))
    return result + b.reshape(1, -1, 1, 1)
'''),
    "shifts": _answer('''
def shifted(xp, di, dj, s, ho, wo):
    """The input seen through kernel tap (di, dj): one strided slice per tap."""
    return xp[:, :, di:di + s * (ho - 1) + 1:s, dj:dj + s * (wo - 1) + 1:s]
''', '''
    Nb, Cin, Hin, Win = x.shape
    Fo, _, KH, KW = w.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho = (Hin + 2 * pad - KH) // stride + 1
    wo = (Win + 2 * pad - KW) // stride + 1
    acc = np.zeros((Nb, Fo, ho, wo))
    for di in range(KH):
        for dj in range(KW):
            acc += np.einsum('nchw,fc->nfhw', shifted(padded, di, dj, stride, ho, wo), w[:, :, di, dj])
    return acc + b[:, None, None]
'''),
}

COPIED = "im2col"
_IM2COL_HELPER = SOLUTIONS["im2col"][:SOLUTIONS["im2col"].index("\n\n\ndef conv2d")]
_IM2COL_MAIN = SOLUTIONS["im2col"][len(_IM2COL_HELPER):SOLUTIONS["im2col"].index("\n\n\ndef relative_error")]

COPIES = {
    # every name the student chose, changed
    "renamed": _answer('''
def gather_patches(xpad, fh, fw, step, out_h, out_w):
    # gather every window into a row: (n * oh * ow, c * kh * kw)
    batch, chans = xpad.shape[:2]
    patches = np.empty((batch, chans, fh, fw, out_h, out_w), dtype=xpad.dtype)
    for u in range(fh):
        u_stop = u + step * out_h
        for v in range(fw):
            v_stop = v + step * out_w
            patches[:, :, u, v, :, :] = xpad[:, :, u:u_stop:step, v:v_stop:step]
    return patches.transpose(0, 4, 5, 1, 2, 3).reshape(batch * out_h * out_w, -1)
''', '''
    batch = x.shape[0]
    n_filters, chans, fh, fw = w.shape
    x_big = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')
    out_h = (x_big.shape[2] - fh) // stride + 1
    out_w = (x_big.shape[3] - fw) // stride + 1
    matrix = gather_patches(x_big, fh, fw, stride, out_h, out_w)
    product = matrix @ w.reshape(n_filters, -1).T + b
    return product.reshape(batch, out_h, out_w, n_filters).transpose(0, 3, 1, 2)
'''),
    # black-like reflow: exploded calls with trailing commas, other spacing and line breaks
    "reformatted": _answer('''
def im2col(x_padded,kh,kw,s,oh,ow):
    # gather every window into a row: (n * oh * ow, c * kh * kw)
    n,c=x_padded.shape[ :2 ]
    cols=np.empty(
        (n, c, kh, kw, oh, ow),
        dtype=x_padded.dtype,
    )
    for r in range( kh ):
        r_end=r+s*oh

        for q in range( kw ):
            q_end=q+s*ow
            cols[:, :, r, q, :, :] = x_padded[
                :, :, r:r_end:s, q:q_end:s
            ]
    return cols.transpose(0,4,5,1,2,3).reshape(n*oh*ow,-1)
''', '''
    n = x.shape[0]; nf, c, kh, kw = w.shape
    xp = np.pad(
        x,
        ((0, 0), (0, 0), (pad, pad), (pad, pad),),
        mode="constant",
    )
    oh = (xp.shape[2] - kh) // stride \\
        + 1
    ow = (xp.shape[3] - kw) // stride + 1

    cols = im2col(
        xp, kh, kw, stride, oh, ow
    )
    res = cols @ w.reshape(nf, -1).T + b
    return res.reshape(
        n, oh, ow, nf
    ).transpose(0, 3, 1, 2)
'''),
    # the two functions the other way round (the helper after conv2d)
    "reordered": _HEAD.replace("# YOUR CODE HERE\n    raise NotImplementedError()\n", "").rstrip() + "\n"
                 + _IM2COL_MAIN.split('"""\n', 1)[1].rstrip() + "\n\n\n"
                 + _IM2COL_HELPER.split("\n\n\n", 1)[1].strip() + "\n" + _GIVEN,
    # comments added, changed and removed
    "commented": _answer('''
# helper: turns the image into a big matrix so that the convolution is one matmul
def im2col(x_padded, kh, kw, s, oh, ow):
    n, c = x_padded.shape[:2]   # batch and channels
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x_padded.dtype)
    # loop over the kernel taps only (kh * kw iterations), not over the pixels
    for r in range(kh):
        r_end = r + s * oh      # one past the last row this tap reads
        for q in range(kw):
            q_end = q + s * ow
            cols[:, :, r, q, :, :] = x_padded[:, :, r:r_end:s, q:q_end:s]
    # rows: one per output pixel; columns: (c, kh, kw) like w.reshape(F, -1)
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)
''', '''
    # sizes
    n = x.shape[0]
    nf, c, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')  # zero padding
    oh = (xp.shape[2] - kh) // stride + 1
    ow = (xp.shape[3] - kw) // stride + 1
    cols = im2col(xp, kh, kw, stride, oh, ow)
    # TODO: could use np.dot
    res = cols @ w.reshape(nf, -1).T + b
    return res.reshape(n, oh, ow, nf).transpose(0, 3, 1, 2)  # back to N, F, H, W
'''),
}

# all four at once: renamed, reflowed, conv2d first, other comments
COPIES["everything"] = _HEAD.replace("# YOUR CODE HERE\n    raise NotImplementedError()\n", "").rstrip() + '''
    # shapes first
    batch = x.shape[0]; n_filters, chans, fh, fw = w.shape
    x_big = np.pad(
        x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant"
    )
    out_h = (x_big.shape[2] - fh)//stride + 1
    out_w = (x_big.shape[3] - fw)//stride + 1
    matrix = gather_patches(
        x_big,
        fh,
        fw,
        stride,
        out_h,
        out_w,
    )
    product = matrix@w.reshape(n_filters, -1).T + b   # one big matmul
    return product.reshape(batch, out_h, out_w, n_filters).transpose(
        0, 3, 1, 2
    )


def gather_patches(xpad, fh, fw, step, out_h, out_w):
    batch, chans = xpad.shape[:2]
    patches = np.empty((batch, chans, fh, fw, out_h, out_w),
                       dtype=xpad.dtype)
    for u in range(fh):          # kernel rows
        u_stop = u + step*out_h
        for v in range(fw):      # kernel columns
            v_stop = v + step*out_w
            patches[:, :, u, v, :, :] = xpad[:, :, u:u_stop:step,
                                             v:v_stop:step]
    return patches.transpose(0, 4, 5, 1, 2, 3).reshape(
        batch*out_h*out_w, -1)
''' + _GIVEN

PLANTED = [COPIED, *COPIES]          # the students (by the name of their answer) who share one answer


# ----------------------------------------------------------------- honest students

def _pick(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def _honest_body(rng: random.Random) -> tuple[str, str]:
    """(helper, body) of one honest answer: the approach and every detail chosen at random."""
    style = rng.choice(["loops", "im2col", "einsum", "tensordot", "pixels", "shifts"])
    pad_line = _pick(rng,
                     "xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))",
                     "xp = np.pad(x, [(0, 0)] * 2 + [(pad, pad)] * 2, mode='constant')",
                     "xp = np.pad(x, ((0, 0), (0, 0), (pad,) * 2, (pad,) * 2), constant_values=0)",
                     "xp = np.pad(x, pad_width=[(0, 0), (0, 0), (pad, pad), (pad, pad)])",
                     "xp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * pad, x.shape[3] + 2 * pad))\n"
                     "    xp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]] = x",
                     "xp = np.zeros(x.shape[:2] + (x.shape[2] + 2 * pad, x.shape[3] + 2 * pad), dtype=x.dtype)\n"
                     "    xp[:, :, pad:xp.shape[2] - pad, pad:xp.shape[3] - pad] = x",
                     "xp = x if pad == 0 else np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), 'constant')")
    src = {"N": _pick(rng, "x.shape[0]", "len(x)", "np.shape(x)[0]", "x.shape[-4]"),
           "H": _pick(rng, "x.shape[2]", "x.shape[-2]", "np.size(x, 2)"),
           "W": _pick(rng, "x.shape[3]", "x.shape[-1]", "np.size(x, 3)"),
           "F": _pick(rng, "w.shape[0]", "len(w)", "b.shape[0]", "b.size"),
           "HH": _pick(rng, "w.shape[2]", "w.shape[-2]", "np.size(w, 2)"),
           "WW": _pick(rng, "w.shape[3]", "w.shape[-1]", "np.size(w, 3)")}
    form = rng.randrange(3)
    if form == 0:                                       # one line each, in any order
        shapes = "\n    ".join(f"{k} = {src[k]}" for k in rng.sample(list(src), len(src)))
    elif form == 1:
        xs = _pick(rng, "N, C, H, W = x.shape", "N, _, H, W = x.shape", "N, C, H, W = np.shape(x)")
        ws = _pick(rng, "F, _, HH, WW = w.shape", "F, C2, HH, WW = w.shape", "F, HH, WW = w.shape[0], *w.shape[2:]")
        shapes = "\n    ".join(rng.sample([xs, ws], 2))
    else:
        shapes = "\n    ".join(rng.sample([f"N, H, W = {src['N']}, {src['H']}, {src['W']}",
                                            f"F, HH, WW = {src['F']}, {src['HH']}, {src['WW']}"], 2))

    def one_size(n, k, ax):
        terms = rng.sample([n, _pick(rng, "2 * pad", "pad * 2", "pad + pad"), "-" + k], 3)
        expr = " ".join([terms[0].lstrip("-") if not terms[0].startswith("-") else "-" + terms[0][1:]]
                        + [("- " + t[1:]) if t.startswith("-") else "+ " + t for t in terms[1:]])
        if rng.random() < 0.25:
            expr = f"xp.shape[{ax}] - {k}"
        if rng.random() < 0.5:
            return _pick(rng, f"1 + ({expr}) // stride", f"({expr}) // stride + 1")
        return _pick(rng, f"int(({expr}) / stride) + 1", f"1 + int(({expr}) / stride)", f"({expr}) // stride + 1")
    size = "\n    ".join(rng.sample([f"Ho = {one_size('H', 'HH', 2)}", f"Wo = {one_size('W', 'WW', 3)}"], 2))
    if rng.random() < 0.2:
        size = "Ho, Wo = [(n + 2 * pad - k) // stride + 1 for n, k in ((H, HH), (W, WW))]"
    alloc = _pick(rng, "out = np.zeros((N, F, Ho, Wo))", "out = np.empty((N, F, Ho, Wo), dtype=float)",
                  "out = np.zeros(shape=(N, F, Ho, Wo), dtype=x.dtype)", "out = np.full((N, F, Ho, Wo), 0.0)")
    bias = _pick(rng, "out += b.reshape(1, F, 1, 1)", "out = out + b[None, :, None, None]",
                 "out += b[:, np.newaxis, np.newaxis]", "for f in range(F):\n        out[:, f] += b[f]",
                 "out += b.reshape(-1, 1, 1)", "out = out + b[np.newaxis, :, np.newaxis, np.newaxis]",
                 "out += np.reshape(b, (1, -1, 1, 1))", "out += b[:, None, None]",
                 "for f, bf in enumerate(b):\n        out[:, f, :, :] += bf")
    if style == "loops":
        idx = rng.sample(["n", "f", "i", "j"], 4) if rng.random() < 0.5 else ["n", "f", "i", "j"]
        rng_of = {"n": "N", "f": "F", "i": "Ho", "j": "Wo"}
        loops = "".join("    " * (d + 1) + f"for {v} in range({rng_of[v]}):\n" for d, v in enumerate(idx))
        ind = "    " * 5
        inner = _pick(rng,
                      f"{ind}win = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]\n"
                      f"{ind}out[n, f, i, j] = np.sum(win * w[f])",
                      f"{ind}out[n, f, i, j] = (xp[n, :, stride * i:stride * i + HH, stride * j:stride * j + WW]"
                      " * w[f, :, :, :]).sum()",
                      f"{ind}r0, c0 = i * stride, j * stride\n"
                      f"{ind}out[n, f, i, j] = np.vdot(xp[n, :, r0:r0 + HH, c0:c0 + WW], w[f])")
        helper = ""
        core = alloc + "\n" + loops + inner
    elif style == "im2col":
        helper = _pick(rng, '''
def to_columns(xp, HH, WW, stride, Ho, Wo):
    rows = []
    for i in range(Ho):
        for j in range(Wo):
            rows.append(xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW].reshape(xp.shape[0], -1))
    return np.stack(rows, axis=1)
''', '''
def to_columns(xp, HH, WW, stride, Ho, Wo):
    N = xp.shape[0]
    cols = np.zeros((N, Ho * Wo, xp.shape[1] * HH * WW))
    k = 0
    for i in range(0, Ho * stride, stride):
        for j in range(0, Wo * stride, stride):
            cols[:, k, :] = xp[:, :, i:i + HH, j:j + WW].reshape(N, -1)
            k += 1
    return cols
''')
        core = ("cols = to_columns(xp, HH, WW, stride, Ho, Wo)\n    "
                + _pick(rng, "out = np.matmul(cols, w.reshape(F, -1).T).transpose(0, 2, 1).reshape(N, F, Ho, Wo)",
                        "flat = cols @ w.reshape(w.shape[0], -1).T\n    out = np.moveaxis(flat, 2, 1).reshape(N, F, Ho, Wo)",
                        "out = np.einsum('npk,fk->nfp', cols, w.reshape(F, -1)).reshape(N, F, Ho, Wo)"))
    elif style == "einsum":
        helper = ""
        core = _pick(rng,
                     "v = np.lib.stride_tricks.sliding_window_view(xp, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]\n"
                     "    out = np.einsum('nchwkl,fckl->nfhw', v, w)",
                     "view = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(-2, -1))\n"
                     "    view = view[:, :, ::stride, ::stride, :, :]\n"
                     "    out = np.einsum('abxyij,dbij->adxy', view, w, optimize='greedy')")
    elif style == "tensordot":
        helper = ""
        core = _pick(rng,
                     "s0, s1, s2, s3 = xp.strides\n"
                     "    view = np.lib.stride_tricks.as_strided(xp, (N, Ho, Wo, xp.shape[1], HH, WW),"
                     " (s0, s2 * stride, s3 * stride, s1, s2, s3))\n"
                     "    out = np.tensordot(view, w, axes=((3, 4, 5), (1, 2, 3))).transpose(0, 3, 1, 2)",
                     "out = np.zeros((N, F, Ho, Wo))\n"
                     "    for i in range(Ho):\n"
                     "        for j in range(Wo):\n"
                     "            patch = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]\n"
                     "            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))")
    elif style == "pixels":
        helper = ""
        core = alloc + "\n" + _pick(rng,
                                    "    for i in range(Ho):\n        for j in range(Wo):\n"
                                    "            block = xp[:, np.newaxis, :, i * stride:i * stride + HH,"
                                    " j * stride:j * stride + WW]\n"
                                    "            out[:, :, i, j] = np.sum(block * w[np.newaxis], axis=(2, 3, 4))",
                                    "    for p in range(Ho * Wo):\n        i, j = divmod(p, Wo)\n"
                                    "        y, z = i * stride, j * stride\n"
                                    "        out[:, :, i, j] = np.einsum('nchw,fchw->nf', xp[:, :, y:y + HH, z:z + WW], w)")
    else:
        helper = ""
        core = alloc + "\n" + _pick(
            rng,
            "    for a in range(HH):\n        for c in range(WW):\n"
            "            tap = xp[:, :, a:a + stride * Ho:stride, c:c + stride * Wo:stride]\n"
            "            out += np.einsum('nchw,fc->nfhw', tap, w[:, :, a, c])",
            "    for a in range(HH):\n        for c in range(WW):\n"
            "            part = xp[:, :, a:a + stride * (Ho - 1) + 1:stride, c:c + stride * (Wo - 1) + 1:stride]\n"
            "            out = out + np.tensordot(w[:, :, a, c], part, axes=([1], [1])).transpose(1, 0, 2, 3)")
        if "empty" in alloc or "x.dtype" in alloc:
            core = core.replace(alloc, "out = np.zeros((N, F, Ho, Wo))")
    pre = [shapes, pad_line] if rng.random() < 0.5 else [pad_line, shapes]
    body = "\n    ".join([*pre, size, core.strip()]) + "\n    " + bias + "\n    return out\n"
    return helper, "    " + body


def _rename(code: str, rng: random.Random, keep=("np", "conv2d", "relative_error", "x", "w", "b", "stride",
                                                  "pad", "y", "numpy", "sliding_window_view")) -> str:
    """Every name the student chose, renamed consistently (attribute names and
    keyword arguments of numpy's functions stay)."""
    import builtins
    lines = code.split("\n")
    fixed = set(dir(builtins)) | set(keep)
    mapping: dict[str, str] = {}
    edits: dict[int, list] = {}
    prev = ""
    toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    for t, nxt in zip(toks, toks[1:] + [None]):
        if t.type == tokenize.NAME and not keyword.iskeyword(t.string) and t.string not in fixed and prev != "." \
                and not (nxt is not None and nxt.string == "=" and _in_call(toks, t)):
            new = mapping.setdefault(t.string, _new_name(rng, set(mapping.values()) | fixed))
            edits.setdefault(t.start[0], []).append((t.start[1], t.end[1], new))
        if t.type not in (tokenize.NL, tokenize.COMMENT):
            prev = t.string
    for ln, es in edits.items():
        s = lines[ln - 1]
        for c0, c1, new in sorted(es, reverse=True):
            s = s[:c0] + new + s[c1:]
        lines[ln - 1] = s
    return "\n".join(lines)


def _in_call(toks, t) -> bool:
    depth = 0
    for u in toks:
        if u is t:
            return depth > 0
        if u.string in "([{" and u.type == tokenize.OP:
            depth += 1
        elif u.string in ")]}" and u.type == tokenize.OP:
            depth -= 1
    return False


_WORDS = ["a", "arr", "img", "inp", "k", "kern", "tmp", "res", "val", "idx", "cnt", "acc", "mat", "buf", "q", "z",
          "t", "s", "row", "col", "hh", "ww", "p", "m", "u", "v", "g", "h", "num", "dim", "sz", "lo", "hi", "step"]


def _new_name(rng: random.Random, taken: set) -> str:
    while True:
        name = rng.choice(_WORDS) + rng.choice(["", "_", "2", "_x", "0", "s", "_out", "_in", "1"])
        if name not in taken and not keyword.iskeyword(name):
            return name


def _reflow(code: str, rng: random.Random) -> str:
    """Blank lines, comments and spacing around '=' and ',' changed at random."""
    out = []
    for ln in code.split("\n"):
        stripped = ln.lstrip()
        ind = ln[:len(ln) - len(stripped)]
        if stripped and not stripped.startswith(("#", '"', "'")) and rng.random() < 0.15:
            out.append(ind + "# " + rng.choice(["step", "compute it", "now the main part", "see lecture 3",
                                                 "shapes", "TODO check", "vectorised"]))
        if rng.random() < 0.1:
            out.append("")
        if stripped and '"' not in ln and "'" not in ln and "#" not in ln:
            if rng.random() < 0.3:
                ln = ln.replace(", ", ",")
            if rng.random() < 0.3 and " = " in ln and "(" not in ln.split(" = ")[0]:
                ln = ln.replace(" = ", "=", 1)
        out.append(ln)
    return "\n".join(out)


_SIMPLE = r"[A-Za-z_0-9]+(?:\.[A-Za-z_]+)?"
_MUL = re.compile(rf"(?<![\w.*/%\s])(\s*)({_SIMPLE}) \* ({_SIMPLE})(?![\w.(\[]|\s*\*\*)")
_ADD = re.compile(rf"(?<![\w.*/%@\-\s])(\s*)({_SIMPLE}) \+ ({_SIMPLE})(?![\w.(\[]|\s*[*/%@])")
_EXTRA = ["assert x.ndim == 4 and w.ndim == 4", "x = np.asarray(x, dtype=float)", "assert stride >= 1",
          "if pad < 0:\n        raise ValueError('pad must be >= 0')", "assert x.shape[1] == w.shape[1]",
          "w = np.asarray(w)", "b = np.ravel(b)", "# print(x.shape, w.shape)", "assert b.shape == (w.shape[0],)",
          "x = x.astype(np.float64, copy=False)", "if stride == 0:\n        raise ValueError('stride')"]


def _own_way(code: str, rng: random.Random) -> str:
    """Small rewrites a student makes without thinking: the operands of + and * in either
    order (only where that changes nothing), checks of their own at the top."""
    def swap(m):
        return m.group(1) + (f"{m.group(3)} {'*' if ' * ' in m.group(0) else '+'} {m.group(2)}"
                             if rng.random() < 0.5 else m.group(0)[len(m.group(1)):])
    lines = []
    for ln in code.split("\n"):
        if not ln.lstrip().startswith(("#", "def ", "return x")):
            ln = _ADD.sub(swap, _MUL.sub(swap, ln))
        lines.append(ln)
    return "\n".join(lines)


def honest(rng: random.Random) -> str:
    """One honest student: an answer assembled from independent choices, renamed and reflowed."""
    helper, body = _honest_body(rng)
    helper, body = _own_way(helper, rng), _own_way(body, rng)
    extra = rng.sample(_EXTRA, rng.randint(0, 3))
    lines = body.split("\n")
    for e in extra:
        at = rng.randint(0, max(0, len(lines) - 3))
        while at and lines[at].startswith("        "):      # between statements of the body, not in a block
            at -= 1
        lines.insert(at, "    " + e)
    body = "\n".join(lines)
    code = ("import numpy as np\n\n\n" + (helper.strip("\n") + "\n\n\n" if helper else "")
            + _HEAD.split("\n\n\n", 1)[1] + body.rstrip("\n") + "\n" + _GIVEN)
    return _reflow(_rename(code, rng), rng)


def disguise(code: str, rng: random.Random) -> str:
    """Random renames and reflow of a given answer."""
    return _reflow(_rename(code, rng), rng)


def make_class(n: int, seed: int = 0) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """n students: the six SOLUTIONS (disguised), the planted copies, honest ones for the rest.
    Returns (codes, the planted pairs as sorted name pairs)."""
    rng = random.Random(seed)
    codes = {}
    for name, code in SOLUTIONS.items():
        codes[f"s_{name}"] = disguise(code, rng) if name != COPIED else code
    for name, code in COPIES.items():
        codes[f"s_copy_{name}"] = code
    i = 0
    while len(codes) < n:
        codes[f"s{i:04d}"] = honest(rng)
        i += 1
    members = [f"s_{COPIED}"] + [f"s_copy_{c}" for c in COPIES]
    planted = sorted(tuple(sorted((a, b))) for k, a in enumerate(members) for b in members[k + 1:])
    return codes, planted
