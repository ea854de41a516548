"""Benchmark the numba reference (cnnlab.ref) against torch's CPU ops, in one run.

Prints, per shape, the median time in ms of torch and of cnnlab.ref, and the
ratio cnnlab/torch (below 1: faster than torch), for convolution forward and
backward (input + weight gradients) and for pooling forward and
forward+backward; then geometric means, the targets of the foundation issue,
and the compile times of a cold first call and of a first call in a new
process with numba's cache warm.

Usage:  .venv/bin/python benchmarks/bench_ref.py [--reps 15] [--only b,c] [--check]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

# (N, C, H, W), (K, R, S), stride, padding, groups: the layers whose speed matters in the course
# (LeNet's first layer a, ResNet-style 3x3 layers b-d, a 1x1 bottleneck e, AlexNet's first layer f,
# a depthwise layer g)
CONV_SHAPES = {
    "a": ((64, 1, 28, 28), (6, 5, 5), 1, 0, 1),
    "b": ((32, 64, 32, 32), (64, 3, 3), 1, 1, 1),
    "c": ((32, 64, 32, 32), (128, 3, 3), 2, 1, 1),
    "d": ((8, 128, 56, 56), (128, 3, 3), 1, 1, 1),
    "e": ((32, 256, 16, 16), (64, 1, 1), 1, 0, 1),
    "f": ((8, 3, 227, 227), (96, 11, 11), 4, 0, 1),
    "g": ((32, 128, 32, 32), (128, 3, 3), 1, 1, 128),
}
POOL_SHAPE = (32, 64, 56, 56)
POOL_CASES = {  # name: (op, kernel_size, stride)
    "max 2x2": ("max", 2, 2),
    "max 3x3 s2": ("max", 3, 2),
    "avg 2x2": ("avg", 2, 2),
}
GEOMEAN_SHAPES = "bcdef"
TARGETS = {"fwd_geomean": 2.0, "fwd_max": 3.0, "bwd_geomean": 3.0, "pool_max": 0.7, "warm_first_call_s": 0.5}


def median_ms(fn, reps: int, min_time: float = 0.0) -> float:
    fn()  # warm-up (compilation, allocator)
    times = []
    start = time.perf_counter()
    while len(times) < reps or (time.perf_counter() - start) < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 10 * reps:
            break
    return 1e3 * float(np.median(times))


#: spread of torch's own times (90th / 10th percentile) per measurement, the run's noise
NOISE: list[float] = []


def paired_ms(fa, fb, reps: int, rounds: int = 5) -> tuple[float, float]:
    """ms per call of fa and of fb: each is timed in ``rounds`` blocks that
    alternate (a-block, b-block, b-block, a-block, ...), and each side's figure
    is the lowest of its block medians.

    This machine is a shared 2-vCPU VM whose speed flips between a fast and a
    slow mode for stretches of 0.1-10 s (the same kernel takes 5.0 or 8.0 ms,
    torch's own ops too); taking each side's best block compares both in the
    fast mode, and the spread of torch's block medians is reported as the
    run's noise.  Each block starts with an untimed call: right after the other
    library ran, its thread pool and caches are cold (calls alternating one by
    one measure both 1.5-2x slow)."""
    t0 = time.perf_counter()
    fa()  # also compiles; then size the blocks so that fast calls get ~0.1 s each
    fb()
    fa()
    once = time.perf_counter() - t0
    per_block = min(200, max(3, -(-reps // 3), int(0.1 / max(once / 3, 1e-6))))
    meds = {0: [], 1: []}
    for r in range(rounds):
        for side in ((0, 1) if r % 2 == 0 else (1, 0)):
            fn = (fa, fb)[side]
            fn()
            ts = []
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            meds[side].append(float(np.median(ts)))
    NOISE.append(max(meds[0]) / min(meds[0]))
    return 1e3 * min(meds[0]), 1e3 * min(meds[1])


def geomean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values))


def bench_conv(names, reps):
    import torch
    import torch.nn.functional as F

    import cnnlab.ref as ref

    rng = np.random.default_rng(0)
    rows = []
    for name in names:
        (N, C, H, W), (K, R, S), stride, pad, groups = CONV_SHAPES[name]
        x = rng.standard_normal((N, C, H, W), dtype=np.float32)
        w = rng.standard_normal((K, C // groups, R, S), dtype=np.float32)
        b = rng.standard_normal(K, dtype=np.float32)
        tx = torch.from_numpy(x).requires_grad_(True)
        tw = torch.from_numpy(w).requires_grad_(True)
        tb = torch.from_numpy(b).requires_grad_(True)
        ty = F.conv2d(tx, tw, tb, stride, pad, 1, groups)
        dy = rng.standard_normal(tuple(ty.shape), dtype=np.float32)
        tdy = torch.from_numpy(dy)

        def t_fwd():
            with torch.no_grad():
                F.conv2d(tx, tw, tb, stride, pad, 1, groups)

        def t_bwd():
            torch.autograd.grad(ty, (tx, tw), tdy, retain_graph=True)

        def n_fwd():
            ref.conv2d(x, w, b, stride, pad, 1, groups)

        def n_bwd():
            ref.conv2d_backward(dy, x, w, stride, pad, 1, groups)

        # torch and ref alternate call by call, so that machine noise hits both sides alike
        res = {}
        res["torch_fwd"], res["ref_fwd"] = paired_ms(t_fwd, n_fwd, reps)
        res["torch_bwd"], res["ref_bwd"] = paired_ms(t_bwd, n_bwd, reps)
        flops = 2.0 * N * K * ty.shape[2] * ty.shape[3] * (C // groups) * R * S
        rows.append((name, res, flops))
    return rows


def bench_pool(reps):
    import torch
    import torch.nn.functional as F

    import cnnlab.ref as ref

    rng = np.random.default_rng(1)
    x = rng.standard_normal(POOL_SHAPE, dtype=np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)
    rows = []
    for name, (op, k, s) in POOL_CASES.items():
        tfun = F.max_pool2d if op == "max" else F.avg_pool2d
        rfun = ref.max_pool2d if op == "max" else ref.avg_pool2d
        rbwd = ref.max_pool2d_backward if op == "max" else ref.avg_pool2d_backward
        with torch.no_grad():
            dy = np.ascontiguousarray(rng.standard_normal(tuple(tfun(tx, k, s).shape), dtype=np.float32))
        tdy = torch.from_numpy(dy)

        def t_fwd():
            with torch.no_grad():
                tfun(tx, k, s)

        def t_fb():
            y = tfun(tx, k, s)
            torch.autograd.grad(y, tx, tdy)

        def n_fwd():
            rfun(x, k, s)

        def n_fb():
            if op == "max":  # like torch: the forward pass returns the arg-maxes the backward pass uses
                _, idx = rfun(x, k, s, return_indices=True)
                rbwd(dy, x, k, s, indices=idx)
            else:
                rfun(x, k, s)
                rbwd(dy, x, k, s)

        res = {}
        res["torch_fwd"], res["ref_fwd"] = paired_ms(t_fwd, n_fwd, reps)
        res["torch_fb"], res["ref_fb"] = paired_ms(t_fb, n_fb, reps)
        rows.append((name, res))
    return rows


_FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
import cnnlab.ref as ref
t1 = time.perf_counter()
x = np.ones((2, 3, 8, 8), np.float32); w = np.ones((4, 3, 3, 3), np.float32)
ref.conv2d(x, w, padding=1)
t2 = time.perf_counter()
print(f"{t1 - t0:.4f} {t2 - t1:.4f}")
"""


_INTERFERENCE = """
import time, numpy as np, torch, torch.nn.functional as F
a = np.random.rand(768, 768).astype(np.float32)
x = torch.randn(16, 64, 32, 32); w = torch.randn(64, 64, 3, 3)
def med(fn, reps=15):
    fn(); ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]
def both():
    return med(lambda: a @ a), med(lambda: F.conv2d(x, w, padding=1))
before = [both() for _ in range(3)]
import cnnlab.ref as ref
xs = np.random.rand(8, 16, 32, 32).astype(np.float32); ws = np.random.rand(16, 16, 3, 3).astype(np.float32)
def use_ref():
    ref.conv2d(xs, ws, padding=1); ref.max_pool2d(xs, 2)
use_ref()
after = []
for _ in range(3):   # interleave: a cnnlab call right before each measurement
    use_ref(); after.append(both())
# the fastest of three rounds on each side: torch's conv2d alone flips between two speeds
before = tuple(min(v[i] for v in before) for i in range(2))
after = tuple(min(v[i] for v in after) for i in range(2))
print(before[0], before[1], after[0], after[1])
"""


def interference():
    """NumPy matmul and torch conv2d time in one process, before and after cnnlab.ref ran."""
    p = subprocess.run([sys.executable, "-c", _INTERFERENCE], capture_output=True, text=True, check=True)
    b_np, b_t, a_np, a_t = (float(v) for v in p.stdout.split())
    return a_np / b_np, a_t / b_t


def first_call_times():
    """(import s, first conv2d call s) in a new process: cold cache, then warm cache
    (the median of three new processes)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = []
        for _ in range(4):
            p = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, capture_output=True,
                               text=True, check=True)
            out.append(tuple(float(v) for v in p.stdout.split()))
    warm = sorted(out[1:], key=lambda t: t[1])[1]
    return out[0], warm


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=15, help="timed repetitions per measurement (median)")
    ap.add_argument("--only", default="abcdefg", help="conv shapes to run, e.g. 'bcdef' (default: all)")
    ap.add_argument("--no-pool", action="store_true", help="skip the pooling cases")
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = ap.parse_args(argv)
    names = [n for n in args.only.replace(",", "") if n in CONV_SHAPES]
    if not names:
        ap.error(f"--only must name shapes among {''.join(CONV_SHAPES)}, got {args.only!r}")

    import torch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}; "
          f"{os.cpu_count()} CPUs; float32")
    (cold_imp, cold_call), (warm_imp, warm_call) = first_call_times()

    conv = bench_conv(names, args.reps)
    print(f"\n{'shape':<6}{'torch fwd':>11}{'ref fwd':>10}{'ratio':>8}{'GFLOP/s':>9}"
          f"{'torch bwd':>11}{'ref bwd':>10}{'ratio':>8}")
    for name, r, flops in conv:
        print(f"{name:<6}{r['torch_fwd']:>11.2f}{r['ref_fwd']:>10.2f}{r['ref_fwd'] / r['torch_fwd']:>8.2f}"
              f"{flops / r['ref_fwd'] / 1e6:>9.0f}{r['torch_bwd']:>11.2f}{r['ref_bwd']:>10.2f}"
              f"{r['ref_bwd'] / r['torch_bwd']:>8.2f}")
    ok = True
    sel = [(n, r) for n, r, _ in conv if n in GEOMEAN_SHAPES]
    if len(sel) == len(GEOMEAN_SHAPES):
        fg = geomean(r["ref_fwd"] / r["torch_fwd"] for _, r in sel)
        fm = max(r["ref_fwd"] / r["torch_fwd"] for _, r in sel)
        bg = geomean(r["ref_bwd"] / r["torch_bwd"] for _, r in sel)
        print(f"\nforward  geometric mean ratio (b-f): {fg:.2f}  (target <= {TARGETS['fwd_geomean']})")
        print(f"forward  worst ratio (b-f):          {fm:.2f}  (target <= {TARGETS['fwd_max']})")
        print(f"backward geometric mean ratio (b-f): {bg:.2f}  (target <= {TARGETS['bwd_geomean']})")
        ok &= fg <= TARGETS["fwd_geomean"] and fm <= TARGETS["fwd_max"] and bg <= TARGETS["bwd_geomean"]
    all_f = geomean(r["ref_fwd"] / r["torch_fwd"] for _, r, _ in conv)
    all_b = geomean(r["ref_bwd"] / r["torch_bwd"] for _, r, _ in conv)
    print(f"all shapes run ({''.join(names)}): forward geomean {all_f:.2f}, backward geomean {all_b:.2f}")

    if not args.no_pool:
        pool = bench_pool(args.reps)
        print(f"\npooling {POOL_SHAPE}")
        print(f"{'case':<12}{'torch fwd':>11}{'ref fwd':>10}{'ratio':>8}{'torch f+b':>11}{'ref f+b':>10}{'ratio':>8}")
        worst = 0.0
        for name, r in pool:
            rf, rb = r["ref_fwd"] / r["torch_fwd"], r["ref_fb"] / r["torch_fb"]
            worst = max(worst, rf, rb)
            print(f"{name:<12}{r['torch_fwd']:>11.2f}{r['ref_fwd']:>10.2f}{rf:>8.2f}"
                  f"{r['torch_fb']:>11.2f}{r['ref_fb']:>10.2f}{rb:>8.2f}")
        print(f"worst pooling ratio: {worst:.2f}  (target <= {TARGETS['pool_max']})")
        ok &= worst <= TARGETS["pool_max"]

    print(f"\nnew process, cold numba cache: import cnnlab.ref {cold_imp:.2f} s, first conv2d call {cold_call:.2f} s")
    print(f"new process, warm numba cache: import cnnlab.ref {warm_imp:.2f} s, first conv2d call {warm_call:.2f} s"
          f"  (target <= {TARGETS['warm_first_call_s']} s)")
    ok &= warm_call <= TARGETS["warm_first_call_s"]
    np_ratio, torch_ratio = interference()
    print(f"after cnnlab.ref ran in the same process: numpy matmul x{np_ratio:.2f}, torch conv2d x{torch_ratio:.2f} "
          f"their time before (1.00 = not slowed; noise is +-20%)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine noise: torch's slowest block median / its fastest: median x{np.median(NOISE):.2f} "
          f"over the measurements, worst x{max(NOISE):.2f}; load average {load:.2f}")
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if (ok or not args.check) else 1


if __name__ == "__main__":
    sys.exit(main())
