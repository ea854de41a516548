"""The similarity report for a class of 500, and its pair counting against plain Python, in one run.

    .venv/bin/python benchmarks/bench_similarity.py                  # 500 students
    .venv/bin/python benchmarks/bench_similarity.py --students 2000  # a large course

The class comes from ``tests/support/similarity_class.py``: six independent
answers to "write the forward pass of a 2-D convolution", five copies planted
from one of them (renamed, reflowed, reordered, commented, all at once), and
honest students for the rest, each assembled from their own choices of
approach, padding, loops and names.  It times

* **the report**: :func:`cnnlab_grade.similarity.compare` on the whole class,
  end to end (tokenizing, fingerprints, the starter code and idioms left out,
  every pair counted by one sparse matrix product), and :func:`write_report`;
* **the pair counting alone**, on the same fingerprint sets: the sparse
  product (what ``compare`` does) against ``len(a & b)`` for every pair in
  plain Python (the baseline), with the counts checked equal.

It prints the seconds, the ratio, where the planted pairs rank and how many
honest pairs were flagged.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

import similarity_class as sc  # noqa: E402
from cnnlab_grade import similarity as sim  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", type=int, default=500, help="class size, planted copies included (default 500)")
    p.add_argument("--seed", type=int, default=0, help="the generated class (default 0)")
    args = p.parse_args(argv)
    if args.students < 12:
        p.error(f"--students must be 12 or more (the independent answers and the copies), got {args.students}")
    t = time.perf_counter()
    codes, planted = sc.make_class(args.students, args.seed)
    print(f"{len(codes)} students, {len(planted)} planted pairs; made in {time.perf_counter() - t:.1f} s; "
          f"load average {os.getloadavg()[0]:.1f}")

    t0 = time.perf_counter()
    pairs = sim.compare(codes, sc.STARTER)
    t_compare = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        sim.write_report(pairs, codes, Path(tmp), "ps1", starter=sc.STARTER)
        t_report = time.perf_counter() - t1

    # the pair counting alone, on the same sets
    names = sorted(codes)
    ignored = set(sim.kgram_hashes(sim.normalise(sc.STARTER)))
    sets = [set(sim.fingerprints(sim.normalise(codes[s]))) - ignored for s in names]
    from scipy import sparse

    t2 = time.perf_counter()
    column: dict = {}
    rows, cols = [], []
    for i, st in enumerate(sets):
        for h in st:
            rows.append(i)
            cols.append(column.setdefault(h, len(column)))
    m = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(sets), len(column)))
    product = (m @ m.T).toarray()
    t_sparse = time.perf_counter() - t2
    t3 = time.perf_counter()
    plain = {(i, j): len(sets[i] & sets[j]) for i, j in itertools.combinations(range(len(sets)), 2)}
    t_plain = time.perf_counter() - t3
    agree = all(product[i, j] == n for (i, j), n in plain.items())

    planted_set = {frozenset(x) for x in planted}
    rank = {frozenset((q.a, q.b)): i for i, q in enumerate(pairs, 1)}
    ranks = sorted(rank[x] for x in planted_set)
    honest_flagged = sum(q.flagged for q in pairs if frozenset((q.a, q.b)) not in planted_set)
    top_honest = max((q.similarity for q in pairs if frozenset((q.a, q.b)) not in planted_set), default=0.0)
    low_planted = min(q.similarity for q in pairs if frozenset((q.a, q.b)) in planted_set)
    n_pairs = len(codes) * (len(codes) - 1) // 2
    print(f"similarity report for {len(codes)} students: {t_compare:.2f} s to compare all {n_pairs} pairs "
          f"(tokenizing included), {t_report:.2f} s to write the HTML and CSV")
    print(f"counting shared fingerprints of every pair: sparse product {t_sparse:.3f} s, plain Python "
          f"(baseline) {t_plain:.3f} s, ratio {t_plain / t_sparse:.1f}x; counts agree: {agree}")
    print(f"planted pairs rank {ranks[0]}..{ranks[-1]} (lowest similarity {low_planted:.3f}); highest honest "
          f"pair {top_honest:.3f}; honest pairs flagged: {honest_flagged}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
