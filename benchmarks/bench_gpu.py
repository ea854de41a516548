"""Benchmark cnnlab.gpu against torch's built-in ops on the same device, in one run.

For the convolution shapes a-g and the pooling cases of bench_ref.py (the
one table of them), prints the median time in ms of torch's op
(oneDNN on a CPU, cuDNN on a CUDA GPU) and of cnnlab.gpu's, forward and
forward+backward (gradients of x, w and b), the ratio cnnlab/torch, the
geometric means over shapes b-f, and the issue's targets for the device:

    CPU:       forward <= 3x torch (geometric mean over b-f)
    CUDA GPU:  forward <= 2x cuDNN, forward+backward <= 3x (float32, TF32 off)

The measurements of torch and cnnlab alternate over several rounds and each
keeps its best median, so that the noise of a shared machine hits both alike.

Usage:  python benchmarks/bench_gpu.py [--device cuda] [--reps 10] [--rounds 3] [--only bcdef]
                                       [--threads 2] [--check]
"""

from __future__ import annotations

import argparse
import sys

# one place for each fact: the shapes, the timing helper and the geometric mean are bench_ref's
# (run as a script, this folder is on the import path; the tests put it there with pytest's `pythonpath`)
import bench_ref
CONV_SHAPES, POOL_SHAPE, POOL_CASES = bench_ref.CONV_SHAPES, bench_ref.POOL_SHAPE, bench_ref.POOL_CASES
GEOMEAN_SHAPES, geomean = bench_ref.GEOMEAN_SHAPES, bench_ref.geomean

TARGETS = {  # device type -> {measure: target ratio cnnlab/torch, geometric mean over GEOMEAN_SHAPES}
    "cpu": {"fwd": 3.0},
    "cuda": {"fwd": 2.0, "fb": 3.0},
}


def _timer(dev):
    import torch

    if dev.type == "cuda":
        def sync():
            torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        def sync():
            torch.mps.synchronize()
    else:
        def sync():
            pass

    def median_ms(fn, reps):
        def run():
            fn()
            sync()
        return bench_ref.median_ms(run, reps, 0.2)
    return median_ms


def best_of_rounds(fns: dict, reps: int, rounds: int, median_ms) -> dict:
    """{name: fn} -> {name: best median ms over `rounds` alternating rounds}."""
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            best[k] = min(best[k], median_ms(fn, reps))
    return best


def bench_conv(names, dev, reps, rounds):
    import torch
    import torch.nn.functional as F

    import cnnlab.gpu as G

    median_ms = _timer(dev)
    gen = torch.Generator(device="cpu").manual_seed(0)
    rows = []
    for name in names:
        (N, C, H, W), (K, R, S), stride, pad, groups = CONV_SHAPES[name]
        args = (stride, pad, 1, groups)
        x = torch.randn(N, C, H, W, generator=gen).to(dev).requires_grad_(True)
        w = torch.randn(K, C // groups, R, S, generator=gen).to(dev).requires_grad_(True)
        b = torch.randn(K, generator=gen).to(dev).requires_grad_(True)
        with torch.no_grad():
            dy = torch.randn(F.conv2d(x, w, b, *args).shape, generator=gen).to(dev)

        def fwd(op):
            def run():
                with torch.no_grad():
                    op(x, w, b, *args)
            return run

        def fb(op):
            def run():
                torch.autograd.grad(op(x, w, b, *args), (x, w, b), dy)
            return run

        res = best_of_rounds({"torch_fwd": fwd(F.conv2d), "ours_fwd": fwd(G.conv2d),
                              "torch_fb": fb(F.conv2d), "ours_fb": fb(G.conv2d)}, reps, rounds, median_ms)
        rows.append((name, res))
        del x, w, b, dy
    return rows


def bench_pool(dev, reps, rounds):
    import torch
    import torch.nn.functional as F

    import cnnlab.gpu as G

    median_ms = _timer(dev)
    gen = torch.Generator(device="cpu").manual_seed(1)
    x = torch.randn(POOL_SHAPE, generator=gen).to(dev).requires_grad_(True)
    rows = []
    for name, (op, k, s) in POOL_CASES.items():
        tfun = F.max_pool2d if op == "max" else F.avg_pool2d
        gfun = G.max_pool2d if op == "max" else G.avg_pool2d
        with torch.no_grad():
            dy = torch.randn(tfun(x, k, s).shape, generator=gen).to(dev)

        def fwd(f):
            def run():
                with torch.no_grad():
                    f(x, k, s)
            return run

        def fb(f):
            def run():
                torch.autograd.grad(f(x, k, s), x, dy)
            return run

        res = best_of_rounds({"torch_fwd": fwd(tfun), "ours_fwd": fwd(gfun), "torch_fb": fb(tfun),
                              "ours_fb": fb(gfun)}, reps, rounds, median_ms)
        rows.append((name, res))
    return rows


def _table(rows, first_col):
    print(f"{first_col:<12}{'torch fwd':>11}{'cnnlab fwd':>12}{'ratio':>8}{'torch f+b':>11}{'cnnlab f+b':>12}"
          f"{'ratio':>8}")
    for name, r in rows:
        print(f"{name:<12}{r['torch_fwd']:>11.2f}{r['ours_fwd']:>12.2f}{r['ours_fwd'] / r['torch_fwd']:>8.2f}"
              f"{r['torch_fb']:>11.2f}{r['ours_fb']:>12.2f}{r['ours_fb'] / r['torch_fb']:>8.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 or mps (default: cnnlab.device())")
    ap.add_argument("--reps", type=int, default=10, help="timed repetitions per median")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; each op keeps its best median")
    ap.add_argument("--only", default="abcdefg", help="conv shapes to run, e.g. 'bcdef' (default: all)")
    ap.add_argument("--no-pool", action="store_true", help="skip the pooling cases")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--check", action="store_true", help="exit 1 if a target for this device is missed")
    args = ap.parse_args(argv)
    names = [n for n in args.only.replace(",", "") if n in CONV_SHAPES]
    if not names:
        ap.error(f"--only must name shapes among {''.join(CONV_SHAPES)}, got {args.only!r}")
    if args.reps < 1 or args.rounds < 1 or (args.threads is not None and args.threads < 1):
        ap.error("--reps, --rounds and --threads must be at least 1")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    import cnnlab
    from cnnlab.gpu import describe_device

    dev = cnnlab.device(args.device, verbose=False)
    if dev.type == "cuda":  # the conditions: float32 arithmetic, no TF32 anywhere
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    print(f"device: {describe_device(dev)}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          f"float32{', TF32 off' if dev.type == 'cuda' else ''}")
    print("times: best over rounds of the median ms; ratio = cnnlab.gpu / torch (below 1: faster than torch)\n")

    conv = bench_conv(names, dev, args.reps, args.rounds)
    _table(conv, "conv shape")
    targets = TARGETS.get(dev.type, {})
    ok = True
    sel = [r for n, r in conv if n in GEOMEAN_SHAPES]
    if len(sel) == len(GEOMEAN_SHAPES):
        print()
        for key, label in (("fwd", "forward"), ("fb", "forward+backward")):
            g = geomean(r[f"ours_{key}"] / r[f"torch_{key}"] for r in sel)
            worst = max(r[f"ours_{key}"] / r[f"torch_{key}"] for r in sel)
            target = targets.get(key)
            note = f"(target <= {target})" if target else "(no target on this device)"
            print(f"{label:<17} geometric mean ratio (b-f): {g:.2f}  worst {worst:.2f}  {note}")
            if target:
                ok &= g <= target
    else:
        print(f"\n(targets are geometric means over shapes {GEOMEAN_SHAPES}; run them all to check)")

    if not args.no_pool:
        print(f"\npooling {POOL_SHAPE}")
        _table(bench_pool(dev, args.reps, args.rounds), "case")

    if len(sel) == len(GEOMEAN_SHAPES) and targets:
        print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if (ok or not args.check) else 1


if __name__ == "__main__":
    sys.exit(main())
