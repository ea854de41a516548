"""The similarity report for a class of 500, against a plain all-pairs comparison, in the same run.

    .venv/bin/python benchmarks/bench_similarity.py                  # 500 students
    .venv/bin/python benchmarks/bench_similarity.py --students 100   # a quick look

Makes a class of ps1 answers: each student writes each of the assignment's
seven functions in one of three independent ways (the reference solution,
``own-a`` and ``own-b`` of the sample class), picked at random, with their own
names (every local name renamed at random) and a function of their own; five
planted copies of student 0 are added (renamed, reordered, reformatted,
commented, all of it).  It then times

* **the report**: :func:`cnnlab_grade.similarity.compare` on the whole class
  (tokenizing, fingerprints, the starter code and idioms left out, every
  pair through one sparse matrix product), and :func:`write_report`;
* **the baseline**: the same fingerprint sets compared pair by pair in plain
  Python (``len(a & b)`` for every pair), as a script without the matrix
  product would.

It prints the seconds of each, their ratio, and where the planted pairs rank.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder"))

from cnnlab_grade import similarity as sim  # noqa: E402
from cnnlab_grade.samples.copies import CELLS, OWN_A, OWN_B, commented, reformatted, renamed  # noqa: E402
from cnnlab_grade.samples.notebooks import released_nb, solution_sources, strip_markers  # noqa: E402

_DEF = re.compile(r"^def (\w+)\(.*?\):\n(?:    \"\"\".*?\"\"\"\n)?", re.M | re.S)


def _reference_bodies() -> dict:
    out = {}
    for gid in CELLS:
        text = strip_markers(solution_sources("ps1")[gid])
        heads = list(_DEF.finditer(text))
        for m, nxt in zip(heads, heads[1:] + [None]):
            out[m.group(1)] = text[m.end(): nxt.start() if nxt else len(text)].rstrip() + "\n"
    return out


def _rename_at_random(code: str, rng: random.Random) -> str:
    names = sorted(set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*=", code)) - {"dtype", "axis", "axes", "mode", "copy"})
    for n in names:
        code = re.sub(rf"(?<![\w.]){n}\b", f"{n}_{rng.randint(0, 999)}", code)
    return code


def _own_function(i: int, rng: random.Random) -> str:
    """A helper of the student's own: a few statements no one else wrote."""
    lines = []
    for _ in range(6):
        expr = "x"
        for _ in range(rng.randint(2, 4)):
            op = rng.choice(["+", "-", "*", "//", "%"])
            expr = rng.choice([f"({expr} {op} {rng.randint(1, 99)})", f"np.{rng.choice(['abs', 'sqrt', 'exp'])}({expr})",
                               f"{rng.choice(['min', 'max'])}({expr}, {rng.randint(1, 9)})"])
        lines.append(f"    x = {expr}")
    return f"def my_check_{i}(x):\n" + "\n".join(lines) + "\n    return x\n"


def make_class(n: int, seed: int = 0) -> tuple[dict, list]:
    rng = random.Random(seed)
    ways = [_reference_bodies(), OWN_A, OWN_B]
    heads = {}
    for gid in CELLS:
        for m in _DEF.finditer(strip_markers(solution_sources("ps1")[gid])):
            heads[m.group(1)] = m.group(0)
    codes = {}
    for i in range(n):
        funcs = [heads[f] + rng.choice(ways)[f] for names in CELLS.values() for f in names]
        own = _own_function(i, rng)
        codes[f"s{i:03d}"] = _rename_at_random("\n\n".join(funcs), rng) + "\n\n" + own
    base = codes["s000"]
    parts = base.split("\n\ndef ")
    reordered = "\n\ndef ".join([parts[0]] + list(reversed(parts[1:])))
    planted = {"copy-renamed": renamed(base), "copy-reordered": reordered, "copy-reformatted": reformatted(base),
               "copy-commented": commented(base), "copy-all": commented(reformatted(renamed(reordered)))}
    codes.update(planted)
    return codes, ["s000", *planted]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", type=int, default=500, help="class size before the 5 planted copies (default 500)")
    args = p.parse_args(argv)
    if args.students < 2:
        p.error(f"--students must be 2 or more, got {args.students}")
    codes, planted = make_class(args.students)
    starter = sim.starter_code(released_nb("ps1"))
    print(f"{len(codes)} students ({args.students} + 5 planted copies); load average "
          f"{os.getloadavg()[0]:.1f}")

    t0 = time.perf_counter()
    pairs = sim.compare(codes, starter)
    t_compare = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        sim.write_report(pairs, codes, Path(tmp), "ps1", starter=starter)
        t_report = time.perf_counter() - t1

    # the baseline: the same fingerprint sets, every pair in plain Python
    t2 = time.perf_counter()
    ignored = set(sim.kgram_hashes(sim.normalise(starter)))
    sets = {s: set(sim.fingerprints(sim.normalise(c))) - ignored for s, c in codes.items()}
    t_prints = time.perf_counter() - t2
    t3 = time.perf_counter()
    found = 0
    for a, b in itertools.combinations(sorted(sets), 2):
        found += bool(len(sets[a] & sets[b]))
    t_pairs = time.perf_counter() - t3
    t_base = t_prints + t_pairs

    key = {frozenset((p.a, p.b)): i for i, p in enumerate(pairs, 1)}
    ranks = sorted(key[frozenset(x)] for x in itertools.combinations(planted, 2))
    flagged = sum(p.flagged for p in pairs)
    n_pairs = len(codes) * (len(codes) - 1) // 2
    print(f"similarity report: {t_compare:.1f} s to compare every pair ({n_pairs} pairs, {len(pairs)} with "
          f"something in common), {t_report:.1f} s to write the HTML and CSV")
    print(f"baseline (pair by pair in Python): {t_base:.1f} s ({t_prints:.1f} s fingerprints, "
          f"{t_pairs:.1f} s pairs)")
    print(f"ratio baseline / report: {t_base / t_compare:.2f}x")
    print(f"the 15 planted pairs rank {ranks[0]}..{ranks[-1]} of {len(pairs)}; {flagged} pairs flagged "
          "(students who picked the same way for most functions are alike too)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
