"""The referee: verdicts on hidden op tests that the student's code cannot forge.

nbgrader decides a test cell's points from what the student's own kernel
reports, and that kernel runs the student's code first: it can monkeypatch
the reference or NumPy, install IPython transformers that rewrite the tests,
or return objects that compare equal to anything.  For the test cells named
in an assignment's spec (:mod:`.spec`) the points are therefore also decided
here, in the grader's process:

1. the answer functions' code is checked, from the source, by the
   forbidden-call detector of :mod:`cnnlab.checks` (nothing of the student
   runs for that);
2. the student's code cells (not the tests) run in a fresh sandboxed worker
   (:mod:`.worker`: standard library and NumPy, and without the modules the
   spec hides, e.g. the reference ``cnnlab``);
3. the referee calls the student's functions through *proxies*: the
   arguments go to the worker over a pipe, the results come back as plain
   JSON and ``.npy`` data, and are judged here, against the trusted
   reference, with inputs drawn from the referee's secret;
4. a test cell keeps at most the points the referee gives it (the score
   stage: one that the notebook's own run passed but the referee failed is
   flagged *tampered*).
"""

from __future__ import annotations

import ast
import builtins
import functools
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
from cnnlab.checks import Guard
from cnnlab.checks.detect import source_findings

from ..records import Verdict
from ..sandbox import Sandbox
from . import _worker_main as wire
from .spec import Check, Mirror, RefereeSpec, _build, _parse_call, resolve
from .worker import Session, WorkerGone, WorkerTimeout


def _compare(got, want, check: Check, path="output") -> str | None:
    """None if equal within tolerance, else what differs (never the values)."""
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"{path} should be a tuple of {len(want)} results, got a single {type(got).__name__}"
        if len(got) != len(want):
            return f"{path} should have {len(want)} results, got {len(got)}"
        for k, (g, w) in enumerate(zip(got, want)):
            msg = _compare(g, w, check, f"{path}[{k}]")
            if msg:
                return msg
        return None
    if want is None:
        return None if got is None else f"{path} should be None"
    w = np.asarray(want)
    if isinstance(got, (tuple, list, dict)) or got is None:
        return f"{path} should be an array of shape {w.shape}, got {type(got).__name__}"
    g = np.asarray(got)
    if g.shape != w.shape:
        return f"{path} has shape {g.shape}, expected {w.shape}"
    if not (np.issubdtype(g.dtype, np.number) or g.dtype == bool):
        return f"{path} has dtype {g.dtype}, expected numbers"
    g64, w64 = g.astype(np.float64), w.astype(np.float64)
    if not np.array_equal(np.isfinite(g64), np.isfinite(w64)):
        return f"{path} has NaN or infinite values where the reference has none"
    ok = np.isclose(g64, w64, rtol=check.rtol, atol=check.atol, equal_nan=True)
    if not ok.all():
        err = float(np.nanmax(np.abs(g64 - w64)[~ok]))
        return f"{path} has {int((~ok).sum())} of {ok.size} values off (largest difference {err:.3g})"
    return None


def defined_functions(sources) -> list[str]:
    """Names of the top-level functions the given cell sources define."""
    out = []
    for src in sources:
        try:
            tree = ast.parse(wire.strip_magics(src) or "")
        except SyntaxError:
            continue
        out += [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return out


def student_code_cells(nb) -> list[tuple[int, str]]:
    """The code the referee runs: every code cell except the tests."""
    out = []
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and not meta.get("grade", False) and cell.source.strip():
            out.append((i, cell.source))
    return out


#: what stands for the message of an exception the student's code raised in the referee
WITHHELD = "(its message is not shown: it was written on the referee's hidden inputs)"


def _proxy(session: Session, name: str, timeout: float):
    """A function standing for the student's ``name``: runs it in the worker."""

    def proxy(*args, **kwargs):
        worker = session.worker
        if worker is None or not worker.alive:
            raise WorkerGone("the student's code could not be run")
        kind, value = worker.call(name, args, kwargs, timeout)
        if kind == "result":
            return value
        if kind == "missing":
            raise NameError(f"name {name!r} is not defined")
        if kind == "unreadable":
            raise TypeError(f"{name} returned {value}")
        base = next((getattr(builtins, c) for c in value.get("mro") or []
                     if isinstance(getattr(builtins, c, None), type) and issubclass(getattr(builtins, c),
                                                                                   BaseException)
                     and c not in ("BaseException",)), Exception)
        if base in (SystemExit, KeyboardInterrupt, GeneratorExit):
            base = RuntimeError
        # Only the built-in class: the student's own class name and message were made on the hidden
        # inputs, and whatever the referee says can reach the feedback.
        raise base(WITHHELD)

    proxy.__name__ = proxy.__qualname__ = name
    return proxy


class Referee:
    """Runs a spec's checks for one notebook at a time."""

    def __init__(self, spec: RefereeSpec, secret: int, sandbox: Sandbox):
        self.spec, self.secret = spec, int(secret)
        self.namespace = spec.namespace()
        # the mirrored checks call the student's functions through proxies: say so to their guard
        remote = Guard(spec.policy, local=False)
        for name in spec.check_functions:
            self.namespace[name] = functools.partial(self.namespace[name], guard=remote)
        hidden = []
        for mod in spec.hide:
            try:
                found = importlib.util.find_spec(mod)
            except (ImportError, ValueError):
                found = None
            if found and found.submodule_search_locations:
                hidden += list(found.submodule_search_locations)
            elif found and found.origin:
                hidden.append(found.origin)
        self.sandbox = Sandbox(sandbox.limits, hidden=tuple(sandbox.hidden) + tuple(hidden),
                               extra_ro=tuple(sandbox.extra_ro), unsafe=sandbox.unsafe)
        self._expected: dict = {}
        self._draw = ""

    def input_seed(self, grade_id: str) -> int:
        """The seed the inputs of a test cell's hidden cases are drawn from: made from the secret,
        the student and the run being judged (:meth:`judge`'s ``draw``), so that no input seen
        once tells anything about another student's or another run's."""
        key = f"{self.secret}:{self._draw}:{grade_id}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") & 0x7FFFFFFF

    # -- explicit checks ----------------------------------------------------
    def case(self, check: Check, i: int) -> dict:
        rng = np.random.default_rng([self.input_seed(check.grade_id), i])
        case = dict(check.cases[i])
        for a in check.arrays:
            case[a] = rng.standard_normal(case[a]).astype(check.dtype)
        return case

    def expected(self, check: Check, i: int):
        key = (self._draw, check.grade_id, i)
        if key not in self._expected:
            case = self.case(check, i)
            try:
                value = eval(compile(check.reference, f"<reference {check.grade_id}>", "eval"),
                             dict(self.namespace), {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                                    for k, v in case.items()})
                self._expected[key] = ("value", value)
            except Exception as exc:  # noqa: BLE001 - the reference rejects the input: the student must too
                self._expected[key] = ("raises", [c.__name__ for c in type(exc).__mro__])
        return self._expected[key]

    def _explicit(self, session: Session, check: Check, timeout: float) -> Verdict:
        call = _parse_call(check.call, check.grade_id)
        fn = call.func.id
        passed, reason, diagnosis = 0, None, None
        for i in range(len(check.cases)):
            case = self.case(check, i)
            kind, expected = self.expected(check, i)
            args = tuple(_build(a, case) for a in call.args)
            kwargs = {k.arg: _build(k.value, case) for k in call.keywords}
            problem, diag = None, None
            try:
                got = _proxy(session, fn, timeout)(*args, **kwargs)
                if kind == "raises":
                    problem = f"returned a result where the input is invalid and a {expected[0]} was expected"
                else:
                    problem = _compare(got, expected, check)
                    if problem and check.diagnose:
                        try:
                            diag = resolve(check.diagnose)(got, expected, case)
                        except Exception:  # noqa: BLE001
                            diag = None
            except WorkerTimeout:
                problem = "took longer than the time limit on a hidden case"
                session.restart()
            except WorkerGone as e:
                problem = f"{e} on a hidden case (it crashed: out of memory?)"
                session.restart()
            except Exception as exc:  # noqa: BLE001 - the student's function raised
                generic = {"Exception", "BaseException", "object"}
                mro = {c.__name__ for c in type(exc).__mro__}
                if kind == "raises" and mro & (set(expected) - generic):
                    problem = None
                else:
                    said = "" if str(exc) == WITHHELD else f": {str(exc)[:200]}"   # the referee's own words only
                    problem = f"raised {type(exc).__name__}{said}"
            if problem is None:
                passed += 1
            else:
                reason, diagnosis = reason or problem, diagnosis or diag
        if passed < len(check.cases):
            reason = f"{fn}: {reason}" + (f" [{len(check.cases) - passed} of {len(check.cases)} hidden cases "
                                          "failed]" if len(check.cases) > 1 else "")
        return Verdict(check.grade_id, [fn], passed, len(check.cases),
                       None if passed == len(check.cases) else reason, diagnosis)

    # -- mirrored test cells ----------------------------------------------
    def _mirror(self, session: Session, check: Mirror, timeout: float) -> Verdict:
        passed, reason = 0, None
        seed = self.input_seed(check.grade_id)
        for src in check.calls:
            ns = dict(self.namespace)
            ns.update({f: _proxy(session, f, timeout) for f in check.functions})
            ns["__seed__"] = seed
            try:
                eval(compile(src, f"<referee {check.grade_id}>", "eval"), ns)
                passed += 1
            except WorkerTimeout:
                reason = reason or "took longer than the time limit on a hidden case"
                session.restart()
            except WorkerGone as e:
                reason = reason or f"{e} while running a hidden case (it crashed: out of memory?)"
                session.restart()
            except AssertionError as exc:  # the check library's verdict (GradingFailure is one)
                reason = reason or (str(exc).strip() or "a hidden check failed")
            except Exception as exc:  # noqa: BLE001 - the check itself could not run
                reason = reason or f"the referee's check could not run ({type(exc).__name__}: {str(exc)[:200]})"
        return Verdict(check.grade_id, list(check.functions), passed, len(check.calls),
                       None if passed == len(check.calls) else reason)

    # -- one notebook ---------------------------------------------------------
    def judge(self, nb, home: Path, uid, *, files: dict | None = None, warm: dict | None = None,
              grade_ids=None, draw: str = "") -> dict[str, Verdict]:
        """Verdicts on the notebook ``nb``'s functions; ``draw`` (e.g. the student and the run)
        picks the hidden inputs, with the secret."""
        checks = [c for g, c in self.spec.checks.items() if grade_ids is None or g in grade_ids]
        if not checks:
            return {}
        if draw != self._draw:
            self._draw, self._expected = draw, {}
        limits = self.sandbox.limits
        cells = student_code_cells(nb)
        verdicts: dict[str, Verdict] = {}
        session = Session(self.sandbox, home, uid, files or {}, warm or {}, cells, self.spec.hide)
        plain = [(i, src) for i, src in ((i, wire.strip_magics(s)) for i, s in cells) if src is not None]
        try:
            for check in checks:
                hits = []
                for fn in check.functions:
                    hits += source_findings(plain, fn, self.spec.policy)
                if hits:
                    total = len(check.cases) if isinstance(check, Check) else len(check.calls)
                    verdicts[check.grade_id] = Verdict(
                        check.grade_id, list(check.functions), 0, total,
                        f"{' and '.join(check.functions)} must be written without {', '.join(sorted(set(hits)))}, "
                        "which the code uses")
                    continue
                if isinstance(check, Check):
                    verdicts[check.grade_id] = self._explicit(session, check, limits.cell_timeout)
                else:
                    verdicts[check.grade_id] = self._mirror(session, check, limits.cell_timeout)
        finally:
            session.close()
        return verdicts


def verdict_points(verdict: Verdict, max_points: float, partial: bool) -> float:
    if partial:
        return round(max_points * verdict.fraction, 6)
    return max_points if verdict.passed == verdict.total else 0.0
