"""Honest but unusual work: each must get full marks and no flag."""

from __future__ import annotations

from .build import Sample, solution, strip_def_markers, with_cell, with_code

_COMPARE_FIRST = (
    "# first: does my im2col agree with the course's? (cnnlab.ref is allowed outside the answers)\n"
    "from cnnlab.ref import im2col as course_im2col\n"
    "_x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))\n"
    "print('my im2col agrees:', np.allclose(im2col(_x, 3, 3, 1, 1), course_im2col(_x, 3, stride=1, padding=1)))\n"
    "\n\n")

_SLOW_LOOPS = """    N, C, H, W = x.shape
    K, _, R, S = w.shape
    OH = (H - R + 2 * padding) // stride + 1
    OW = (W - S + 2 * padding) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.zeros((N, K, OH, OW), dtype=x.dtype)
    for n in range(N):
        for k in range(K):
            for i in range(OH):
                for j in range(OW):
                    total = 0.0
                    for c in range(C):
                        for r in range(R):
                            for s in range(S):
                                total += xp[n, c, i * stride + r, j * stride + s] * w[k, c, r, s]
                    y[n, k, i, j] = total + (0.0 if b is None else b[k])
    return y
"""


def honest() -> list[Sample]:
    """Honest but unusual work: full marks and no flag, each."""
    from .notebooks import BODY

    loop = "conv2d_loop"
    return [
        Sample("honest-stderr-warnings", "a debug line to stderr in output_size and a warning in conv2d_im2col",
               solution(output_size=[("    span = n - f + 2 * padding\n",
                                      "    import sys\n    print(f'output_size({n}, {f})', file=sys.stderr)\n"
                                      "    span = n - f + 2 * padding\n")],
                        conv2d_im2col=[("    N, C, H, W = x.shape\n",
                                        "    import warnings\n    warnings.warn('conv2d_im2col: one big matrix')\n"
                                        "    N, C, H, W = x.shape\n")])),
        Sample("honest-docstring", "docstrings that name torch.nn.functional.conv2d and scipy.signal.correlate2d "
                                   "to say they are not used",
               solution(conv2d_im2col=[("    Returns y : (N, K, OH, OW), the same as conv2d_loop.\n",
                                        "    Returns y : (N, K, OH, OW), the same as conv2d_loop.\n"
                                        "    Not torch.nn.functional.conv2d, not scipy.signal.correlate2d: "
                                        "plain NumPy.\n")])),
        Sample("honest-compare-first", "the im2col answer cell first compares im2col with the course's "
                                       "reference, then defines conv2d_im2col",
               with_code(solution(), "conv2d_im2col", _COMPARE_FIRST + strip_def_markers(solution(), "conv2d_im2col"),
                         replace=True)),
        Sample("honest-float32", "its own experiments in float32 throughout, in a cell of its own",
               with_cell(solution(), loop, "x32 = np.ones((1, 2, 6, 6), dtype=np.float32)\n"
                                           "w32 = np.ones((3, 2, 3, 3), dtype=np.float32)\n"
                                           "y32 = conv2d_loop(x32, w32, np.zeros(3, np.float32), stride=1, padding=1)\n"
                                           "print(y32.dtype, y32.shape, y32[0, 0, 1, 1])\n")),
        Sample("honest-unicode", "unicode names (ŷ, Δ) in conv2d_loop",
               solution(conv2d_loop=[("    y = np.zeros((N, K, OH, OW), dtype=x.dtype)\n",
                                      "    Δ = stride\n    ŷ = np.zeros((N, K, OH, OW), dtype=x.dtype)\n"),
                                     ("                    window = xp[n, :, i * stride:i * stride + R, "
                                      "j * stride:j * stride + S]\n",
                                      "                    window = xp[n, :, i * Δ:i * Δ + R, j * Δ:j * Δ + S]\n"),
                                     ("                    y[n, k, i, j] = np.sum(window * w[k])\n",
                                      "                    ŷ[n, k, i, j] = np.sum(window * w[k])\n"),
                                     ("                y[n, k] += b[k]\n    return y\n",
                                      "                ŷ[n, k] += b[k]\n    return ŷ\n")])),
        Sample("honest-slow-loops", "conv2d_loop with a Python loop for every index (slow, within the limits)",
               solution(conv2d_loop=[(BODY, _SLOW_LOOPS)])),
        Sample("honest-self-check", "a cell of its own that asserts a hand-worked example",
               with_cell(solution(), "convolve2d",
                         "# my own check: a 2x2 box filter on a 3x3 ramp\n"
                         "ramp = np.arange(9.0).reshape(3, 3)\n"
                         "assert np.allclose(convolve2d(ramp, np.ones((2, 2))), [[8, 12], [20, 24]])\n"
                         "assert is_flip_invariant(np.ones((3, 3))) and not is_flip_invariant(np.eye(2)[::-1] * [1, 2])\n"
                         "print('my checks pass')\n")),
        Sample("honest-helpers-cell", "a helper in a cell of its own before conv2d_loop, used by conv2d_loop",
               with_cell(solution(conv2d_loop=[
                   ("    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))\n",
                    "    xp = pad_images(x, padding)\n")]), loop,
                   "def pad_images(x, p):\n    \"\"\"Zeros around every image of a batch (N, C, H, W).\"\"\"\n"
                   "    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))\n", before=True)),
        Sample("honest-progress", "conv2d_loop prints its progress on stdout",
               solution(conv2d_loop=[("        for k in range(K):\n",
                                      "        print(f'image {n + 1} of {N}')\n        for k in range(K):\n")])),
        Sample("honest-einsum", "conv2d_im2col with np.einsum instead of the @ operator",
               solution(conv2d_im2col=[("    y = w.reshape(K, -1) @ cols                      # (N, K, OH*OW)\n",
                                        "    y = np.einsum('kp,npq->nkq', w.reshape(K, -1), cols)\n")])),
    ]
