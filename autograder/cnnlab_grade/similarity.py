"""The similarity report: which students' answer code is alike.

The method is the one behind MOSS: fingerprints of token sequences, chosen
by winnowing.

1. **Normalise.** Python's own tokenizer reads the code; comments, line
   breaks and indentation tokens are dropped, every string becomes ``S``,
   and every name a student chose (not a keyword, not a builtin, not an
   attribute after a dot such as ``np.einsum`` or ``x.shape``) becomes
   ``V``; semicolons and a trailing comma before a closing bracket (what a
   formatter adds) are dropped.  Renaming variables and functions, reflowing
   lines, changing spacing or quotes and editing comments then leave the
   sequence as it was.
   IPython lines (``%timeit``, ``!pip``) are left out; code that does not
   tokenize counts as far as it does.
2. **Fingerprint.** Each run of ``K = 12`` normalised tokens (about one
   statement) is hashed (BLAKE2, the same in every process), and winnowing
   keeps the smallest hash of every ``W = 8`` consecutive ones.  Any common
   run of at least ``K + W - 1 = 19`` tokens is then certain to share a
   fingerprint, while runs shorter than ``K`` (``N, C, H, W = x.shape``)
   are too short to count.  Reordering functions only changes the few
   k-grams that cross a function's edge.
3. **Leave out what everybody has.** Every k-gram of the released starter
   code (the def lines, docstrings and stubs) is removed from every
   student, and, in a class of 10 or more, so is a fingerprint that more than
   half of the class shares: an idiom (a lecture's example), not a copy.
4. **Compare every pair at once.** A students x fingerprints 0/1 sparse
   matrix times its transpose counts the fingerprints each pair shares;
   similarity = shared / the smaller student's count.  A pair is flagged
   from 0.75 on when both have at least 8 fingerprints: disguised copies
   score 0.87 to 1, while honest students who chose the same approach stay
   under 0.7 in generated classes (``tests/support/similarity_class.py``).
   500 students take seconds (``benchmarks/bench_similarity.py``).

The report flags pairs for a TA to look at; it never changes a grade.
"""

from __future__ import annotations

import builtins
import csv
import hashlib
import html
import io
import keyword
import tokenize
from dataclasses import dataclass
from pathlib import Path

import numpy as np

K, W = 12, 8
THRESHOLD, MIN_FINGERPRINTS = 0.75, 8
IDIOM_CLASS = 10   # from this class size on, what more than half of the class shares is an idiom
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
         tokenize.ENDMARKER}
_KEEP_NAMES = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins))


@dataclass(frozen=True)
class Token:
    text: str     # the normalised token
    start: int    # offsets of the original token in the code
    end: int


@dataclass
class Pair:
    a: str
    b: str
    similarity: float   # shared / the smaller count, 0..1
    shared: int         # fingerprints in common
    flagged: bool


def _blank_magics(code: str) -> str:
    """IPython's ``%`` and ``!`` lines become spaces (the offsets stay)."""
    out = []
    for ln in code.splitlines(keepends=True):
        body = ln.rstrip("\r\n")
        out.append(" " * len(body) + ln[len(body):] if body.lstrip().startswith(("%", "!")) else ln)
    return "".join(out)


def normalise(code: str) -> list[Token]:
    """The code's normalised tokens, each with where it stands in ``code``."""
    code = _blank_magics(code)
    starts = [0]
    for ln in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(ln))
    out: list[Token] = []
    prev = ""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in _SKIP:
                continue
            if tok.string == ";" or (tok.string in ")]}" and out and out[-1].text == ","):
                if tok.string == ";":
                    prev = tok.string
                    continue
                out.pop()             # a trailing comma before a closing bracket (black adds them)
            if tok.type == tokenize.NAME:
                text = tok.string if (tok.string in _KEEP_NAMES or prev == ".") else "V"
            elif tok.type == tokenize.STRING:
                text = "S"
            else:
                text = tok.string
            (r0, c0), (r1, c1) = tok.start, tok.end
            out.append(Token(text, starts[r0 - 1] + c0, starts[r1 - 1] + c1))
            prev = tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass   # what was read so far counts
    return out


def _hash(texts) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(texts).encode(), digest_size=8).digest(), "big")


def kgram_hashes(tokens: list[Token], k: int = K) -> list[int]:
    texts = [t.text for t in tokens]
    return [_hash(texts[i:i + k]) for i in range(len(texts) - k + 1)]


def fingerprints(tokens: list[Token], k: int = K, window: int = W) -> dict[int, list[tuple[int, int]]]:
    """Winnowed fingerprints: hash -> [(first token, last token + 1)] of the k-grams it stands for."""
    hashes = kgram_hashes(tokens, k)
    out: dict[int, list[tuple[int, int]]] = {}
    if not hashes:
        return out
    last = -1
    for w0 in range(max(1, len(hashes) - window + 1)):
        win = hashes[w0:w0 + window]
        low = min(win)
        pos = w0 + max(i for i, h in enumerate(win) if h == low)   # the rightmost minimum
        if pos != last:
            out.setdefault(hashes[pos], []).append((pos, pos + k))
            last = pos
    return out


def compare(codes: dict[str, str], starter: str = "", *, threshold: float = THRESHOLD,
            min_fingerprints: int = MIN_FINGERPRINTS) -> list[Pair]:
    """Every pair of students with a fingerprint in common, the most similar first."""
    from scipy import sparse

    students = sorted(codes)
    ignored = set(kgram_hashes(normalise(starter))) if starter else set()
    prints = [set(fingerprints(normalise(codes[s]))) - ignored for s in students]
    counts: dict[int, int] = {}
    for p in prints:
        for h in p:
            counts[h] = counts.get(h, 0) + 1
    common = ({h for h, n in counts.items() if n > len(students) / 2}
              if len(students) >= IDIOM_CLASS else set())
    prints = [p - common for p in prints]
    column: dict[int, int] = {}
    rows, cols = [], []
    for i, p in enumerate(prints):
        for h in p:
            rows.append(i)
            cols.append(column.setdefault(h, len(column)))
    if not column:
        return []
    m = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(students), len(column)))
    shared = sparse.triu(m @ m.T, k=1).tocoo()
    sizes = np.array([len(p) for p in prints])
    out = []
    for i, j, n in zip(shared.row.tolist(), shared.col.tolist(), shared.data.tolist()):
        small = int(min(sizes[i], sizes[j]))
        sim = n / small if small else 0.0
        out.append(Pair(students[i], students[j], round(sim, 6), int(n),
                        sim >= threshold and small >= min_fingerprints))
    out.sort(key=lambda p: (-p.similarity, -p.shared, p.a, p.b))
    return out


# ---------------------------------------------------------------------------- notebooks

def _answer_cells(nb, solution_ids=None):
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader")
        if not meta:
            yield cell.source                       # a cell of the student's own
        elif meta.get("solution") and (solution_ids is None or meta.get("grade_id") in solution_ids):
            yield cell.source


def answer_code(nb, solution_ids=None) -> str:
    """The student's code: the answer cells (nbgrader ``solution``; those in ``solution_ids``
    when given) and every code cell of their own, in notebook order."""
    return "\n\n".join(_answer_cells(nb, solution_ids))


def starter_code(nb) -> str:
    """The same cells of the released notebook: what every student was given."""
    return "\n\n".join(_answer_cells(nb))


# ---------------------------------------------------------------------------- the report

def _marked(code: str, spans: list[tuple[int, int]]) -> str:
    """``code`` HTML-escaped with ``<mark>`` around the character ranges ``spans``."""
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, at = [], 0
    for a, b in merged:
        out.append(html.escape(code[at:a]))
        out.append(f"<mark>{html.escape(code[a:b])}</mark>")
        at = b
    out.append(html.escape(code[at:]))
    return "".join(out)


def match_spans(code_a: str, code_b: str, starter: str = "", _cache: dict | None = None) -> tuple[list, list]:
    """Character ranges of each code covered by the fingerprints the two share."""
    cache = {} if _cache is None else _cache

    def prints(code):
        if code not in cache:
            tokens = normalise(code)
            cache[code] = (tokens, fingerprints(tokens))
        return cache[code]
    if ("starter", starter) not in cache:
        cache["starter", starter] = set(kgram_hashes(normalise(starter))) if starter else set()
    ignored = cache["starter", starter]
    (ta, fa), (tb, fb) = prints(code_a), prints(code_b)
    both = (set(fa) & set(fb)) - ignored

    def spans(tokens, fp):
        return [(tokens[i].start, tokens[j - 1].end) for h in both for i, j in fp[h]]
    return spans(ta, fa), spans(tb, fb)


_CSS = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}tr.flag{background:#fde2e1}"
        ".pair{display:flex;gap:1em}.pair>div{flex:1;min-width:0}"
        "pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:12px}mark{background:#ffd54f}")
_WORDS = ("This report points out pairs of students whose answer code is alike, for a TA to look at. "
          "It never changes a grade: code can be alike for honest reasons (a worked example from the "
          "course, a study group that was allowed). The released starter code is left out, and so are "
          "lines most of the class share.")


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n<h1>{html.escape(title)}</h1>\n<p>{_WORDS}</p>\n{body}\n"
            "</body></html>\n")


def pair_file(p: Pair) -> str:
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in f"{p.a}--{p.b}")
    return f"similarity/{safe}.html"


def write_report(pairs: list[Pair], codes: dict[str, str], where: Path, assignment: str, top: int = 50,
                 starter: str = "") -> dict[str, Path]:
    """``similarity.csv`` (every pair), ``similarity.html`` (ranked; the flagged pairs and the top
    ``top`` linked) and ``similarity/<a>--<b>.html`` (the two codes side by side, the matches marked)."""
    where = Path(where)
    (where / "similarity").mkdir(parents=True, exist_ok=True)
    for old in (where / "similarity").glob("*.html"):
        old.unlink()
    table = where / "similarity.csv"
    with open(table, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["rank", "student_a", "student_b", "similarity", "shared_fingerprints", "flagged"])
        for rank, p in enumerate(pairs, 1):
            w.writerow([rank, p.a, p.b, f"{p.similarity:.3f}", p.shared, "yes" if p.flagged else ""])
    linked = [p for i, p in enumerate(pairs) if p.flagged or i < top]
    rows, cache = [], {}
    for rank, p in enumerate(linked, 1):
        name = pair_file(p)
        rows.append(f"<tr class=\"{'flag' if p.flagged else ''}\"><td>{rank}</td><td>{html.escape(p.a)}</td>"
                    f"<td>{html.escape(p.b)}</td><td>{100 * p.similarity:.0f}%</td><td>{p.shared}</td>"
                    f"<td>{'flagged' if p.flagged else ''}</td><td><a href=\"{html.escape(name)}\">side by side</a>"
                    "</td></tr>")
        sa, sb = match_spans(codes[p.a], codes[p.b], starter, cache)
        body = (f"<p>{100 * p.similarity:.0f}% similar, {p.shared} fingerprints shared"
                f"{' (flagged)' if p.flagged else ''}; <a href=\"../similarity.html\">all pairs</a>.</p>"
                f"<div class=\"pair\"><div><h2>{html.escape(p.a)}</h2><pre>{_marked(codes[p.a], sa)}</pre></div>"
                f"<div><h2>{html.escape(p.b)}</h2><pre>{_marked(codes[p.b], sb)}</pre></div></div>")
        (where / name).write_text(_page(f"{assignment}: {p.a} and {p.b}", body), encoding="utf-8")
    n_flag = sum(p.flagged for p in pairs)
    body = (f"<p>{len(codes)} students, {len(pairs)} pairs with something in common, {n_flag} flagged "
            f"(similarity from {100 * THRESHOLD:.0f}%). All pairs: <a href=\"similarity.csv\">similarity.csv</a>.</p>"
            "<table><tr><th>rank</th><th>student</th><th>student</th><th>similarity</th><th>shared</th>"
            f"<th></th><th></th></tr>{''.join(rows) or '<tr><td colspan=7>no pairs</td></tr>'}</table>")
    page = where / "similarity.html"
    page.write_text(_page(f"{assignment}: similarity of answer code", body), encoding="utf-8")
    return {"html": page, "csv": table}
