"""The referee: verdicts on hidden op tests that the student's code cannot forge.

nbgrader decides a test cell's points from what the student's own kernel
reports, and that kernel runs the student's code first: it can monkeypatch
the reference or NumPy, install IPython transformers that rewrite the tests,
or return objects that compare equal to anything.  For the test cells named
in an assignment's *referee spec* the points are therefore also decided here,
in the grader's process:

1. the student's code cells (not the tests) run in a fresh sandboxed worker
   (:mod:`._referee_worker`: standard library and NumPy, and without the
   modules the spec hides, e.g. the reference ``cnnlab``);
2. the referee calls the student's functions through *proxies*: the
   arguments go to the worker over a pipe, the results come back as plain
   JSON and ``.npy`` data, and are judged here, against the trusted
   reference, with inputs drawn from a seed that only the referee knows;
3. a test cell keeps at most the points the referee gives it; one that the
   notebook's own run passed but the referee failed is flagged *tampered*.

A spec (``autograder/referee/<assignment>.toml``) has two kinds of checks.

*Mirrored* test cells: the referee re-runs the calls of trusted check
functions found in the test cell itself (visible and hidden part), e.g.
``check_conv2d(conv2d_loop, cases, seed=52361)``, with the student's
function replaced by a proxy and the ``seed`` (which draws the input values)
replaced by its own secret one; the check library's diagnostics (fingerprints
of typical mistakes) come with it::

    imports = ["from cnnlab.grading import *"]
    hide = ["cnnlab"]                       # not importable in the worker
    forbid = "cnnlab.grading.forbid:NUMPY.modules"
    [mirror]
    grade_ids = ["q2a", "q2b"]
    functions = ["check_conv2d"]            # which calls are re-run
    skip = ["cnnlab.grading.conv:count_lines"]  # parts only the student's process can do

*Explicit* checks, for assignments without a check library::

    [checks.test_conv2d]
    call = "conv2d(x, w, stride=stride)"            # the student's function
    reference = "cnnlab.ref.conv2d(x, w, stride=stride)"
    arrays = ["x", "w"]                             # case values that are shapes
    cases = [{x = [2, 3, 8, 8], w = [4, 3, 3, 3], stride = 1}]
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import importlib.util
import json
import os
import select
import struct
import subprocess
import sys
import tomllib
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from time import monotonic

import numpy as np

from . import _referee_worker as wire
from .sandbox import Sandbox, prepare_home, stop_process

MAX_REPLY_BYTES = 256 * 2**20
#: the worker runs from its source text (``python -I -c``), so it needs no file
#: of the grader inside the sandbox (the package may be hidden there)
WORKER_SOURCE = Path(wire.__file__).read_text()


class SpecError(ValueError):
    """A referee spec that cannot be used; the message names the file and entry."""


# ---------------------------------------------------------------------------
# the spec


def _parse_call(text: str, where: str):
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as e:
        raise SpecError(f"{where}: call {text!r} is not a Python expression: {e.msg}") from None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise SpecError(f"{where}: call must look like `function(arg, ..., name=arg)`, got {text!r}")

    def check(n):
        if isinstance(n, (ast.Name, ast.Constant)):
            return
        if isinstance(n, (ast.Tuple, ast.List)):
            for e in n.elts:
                check(e)
            return
        if isinstance(n, ast.Dict):
            for k, v in zip(n.keys, n.values):
                if not isinstance(k, ast.Constant):
                    raise SpecError(f"{where}: dict keys in call must be constants")
                check(v)
            return
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub) and isinstance(n.operand, ast.Constant):
            return
        raise SpecError(f"{where}: call arguments may be case names, constants, tuples, lists and dicts, "
                        f"not {ast.unparse(n)!r}")

    for a in node.args:
        check(a)
    for k in node.keywords:
        if k.arg is None:
            raise SpecError(f"{where}: **kwargs are not allowed in call")
        check(k.value)
    return node


def _build(node, case):
    """The value of a call-argument AST node for one case."""
    if isinstance(node, ast.Name):
        if node.id not in case:
            raise SpecError(f"call uses {node.id!r}, which the case does not define")
        return case[node.id]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):
        return -node.operand.value
    if isinstance(node, ast.Tuple):
        return tuple(_build(e, case) for e in node.elts)
    if isinstance(node, ast.List):
        return [_build(e, case) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {k.value: _build(v, case) for k, v in zip(node.keys, node.values)}
    raise SpecError(f"cannot evaluate {ast.unparse(node)!r}")


@dataclass
class Check:
    """An explicit check: the student's ``call`` against the ``reference``."""

    grade_id: str
    call: str
    reference: str
    cases: list
    arrays: list = field(default_factory=list)
    dtype: str = "float64"
    rtol: float = 1e-5
    atol: float = 1e-6
    diagnose: str | None = None
    partial: bool = False

    @property
    def functions(self) -> list[str]:
        return [_parse_call(self.call, self.grade_id).func.id]


@dataclass
class Mirror:
    """A mirrored test cell: trusted check calls re-run with proxies."""

    grade_id: str
    calls: list  # source of each check call, `seed=` replaced by the name __seed__
    functions: list  # the student's functions those calls use
    partial: bool = False


def mirror_calls(test_source: str, check_functions, known_names, student_functions) -> tuple[list[str], list[str]]:
    """The calls of ``check_functions`` in a test cell's source (hidden part
    included), with their ``seed=`` keyword replaced by ``__seed__``, and the
    student functions they use.  A call that also uses names of the test
    itself (local variables) cannot be re-run outside and is left out."""
    lines = [ln for ln in test_source.splitlines() if "HIDDEN TESTS" not in ln]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as e:
        raise SpecError(f"the test cell does not parse: {e.msg}") from None
    calls, functions = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in check_functions:
            for kw in node.keywords:
                if kw.arg == "seed":
                    kw.value = ast.Name("__seed__", ast.Load())
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names -= set(known_names) | {"__seed__"} | {n for n in names if hasattr(builtins, n)}
            if names - set(student_functions):
                continue  # uses the test's own variables
            calls.append(ast.unparse(node))
            functions += [n for n in sorted(names) if n not in functions]
    return calls, functions


@dataclass
class Spec:
    assignment: str
    checks: dict  # grade_id -> Check | Mirror
    imports: list = field(default_factory=list)
    hide: list = field(default_factory=list)
    forbid: list = field(default_factory=list)
    skip: list = field(default_factory=list)
    path: str | None = None

    @classmethod
    def load(cls, path, assignment: str | None = None, test_sources: dict | None = None,
             student_functions=()) -> "Spec":
        """``test_sources``: grade_id -> the master source of each test cell,
        ``student_functions``: the functions the answer cells define (both
        needed for ``[mirror]``)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"{path}: not valid TOML: {e}") from None
        return cls.from_toml(data, assignment or path.stem, test_sources or {}, str(path), student_functions)

    @classmethod
    def from_toml(cls, data: dict, assignment: str, test_sources: dict, path: str | None = None,
                  student_functions=()) -> "Spec":
        where = path or assignment
        unknown = set(data) - {"imports", "hide", "forbid", "checks", "mirror"}
        if unknown:
            raise SpecError(f"{where}: unknown keys {sorted(unknown)}; allowed: imports, hide, forbid, checks, mirror")
        mirror = data.get("mirror") or {}
        bad = set(mirror) - {"grade_ids", "functions", "skip", "partial"}
        if bad:
            raise SpecError(f"{where}: [mirror] has unknown keys {sorted(bad)}; allowed: grade_ids, functions, "
                            "skip, partial")
        imports = list(data.get("imports", []))
        forbid = data.get("forbid", [])
        if isinstance(forbid, str):
            try:
                forbid = list(_resolve(forbid))
            except Exception as e:  # noqa: BLE001
                raise SpecError(f"{where}: forbid = {forbid!r} cannot be imported: {e}") from None
        spec = cls(assignment, {}, imports, list(data.get("hide", [])), list(forbid), list(mirror.get("skip", [])),
                   path)
        known = set(spec.namespace()) | {"np", "numpy"}
        _proxy_aware(spec.skip)  # fails early on a skip that does not exist
        if mirror:
            funcs = mirror.get("functions") or []
            if not funcs:
                raise SpecError(f"{where}: [mirror] needs `functions`, the check functions whose calls are re-run")
            for gid in mirror.get("grade_ids", []):
                if gid not in test_sources:
                    raise SpecError(f"{where}: [mirror] grade id {gid!r} is not a test cell of {assignment}")
                calls, students = mirror_calls(test_sources[gid], funcs, known, student_functions)
                if not calls:
                    raise SpecError(f"{where}: test cell {gid} has no call of {funcs} that the referee can re-run "
                                    "(one whose arguments are constants, the check library's names and the "
                                    "answer cells' functions)")
                spec.checks[gid] = Mirror(gid, calls, students, bool(mirror.get("partial", False)))
        allowed = set(Check.__dataclass_fields__) - {"grade_id"}
        for gid, entry in (data.get("checks") or {}).items():
            bad = set(entry) - allowed
            if bad:
                raise SpecError(f"{where}: checks.{gid} has unknown keys {sorted(bad)}; allowed: {sorted(allowed)}")
            for key in ("call", "reference", "cases"):
                if key not in entry:
                    raise SpecError(f"{where}: checks.{gid} needs `{key}`")
            if not entry["cases"]:
                raise SpecError(f"{where}: checks.{gid} has no cases")
            check = Check(grade_id=gid, **entry)
            call = _parse_call(check.call, f"{where}: checks.{gid}")
            for i, case in enumerate(check.cases):
                for a in check.arrays:
                    shape = case.get(a)
                    if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
                        raise SpecError(f"{where}: checks.{gid} case {i}: `{a}` must be a shape "
                                        f"(a list of sizes), got {shape!r}")
                values = {**case, **{a: None for a in check.arrays}}
                for node in [*call.args, *(k.value for k in call.keywords)]:
                    _build(node, values)
            spec.checks[gid] = check
        return spec

    def namespace(self) -> dict:
        """The trusted names checks are evaluated with (the spec's imports)."""
        ns = {"np": np, "numpy": np}
        for imp in self.imports:
            try:
                exec(imp if imp.startswith(("from ", "import ")) else f"import {imp}", ns)
            except Exception as e:  # noqa: BLE001
                raise SpecError(f"{self.path or self.assignment}: import {imp!r} fails: {e}") from None
        ns.pop("__builtins__", None)
        return ns


# ---------------------------------------------------------------------------
# the trusted side


def _resolve(dotted: str):
    """``package.module:name.attr`` (or ``package.module.name``) -> the object."""
    if ":" in dotted:
        module, _, path = dotted.partition(":")
        obj = importlib.import_module(module)
    else:
        module, _, path = dotted.rpartition(".")
        obj = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


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


@dataclass
class Verdict:
    grade_id: str
    functions: list
    passed: int
    total: int
    reason: str | None = None  # plain words, no hidden values
    diagnosis: str | None = None

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def to_dict(self):
        return asdict(self)


class WorkerGone(BaseException):
    """The worker died or broke the protocol (a BaseException, so that a check
    library's ``except Exception`` does not turn it into a student error)."""


class WorkerTimeout(BaseException):
    """A call ran past the time limit."""


class _Worker:
    """One sandboxed worker process and its two pipes."""

    def __init__(self, sandbox: Sandbox, home: Path, uid, files: dict, seeds: dict, hide=()):
        prepare_home(home, files, uid=uid, seeds=seeds)
        r_in, w_in = os.pipe()    # grader -> worker
        r_out, w_out = os.pipe()  # worker -> grader
        cmd = sandbox.command([sys.executable, "-I", "-c", WORKER_SOURCE, str(r_in), str(w_out),
                               json.dumps(list(hide))], home, uid=uid)
        self.proc = subprocess.Popen(cmd, pass_fds=(r_in, w_out), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=str(home) if sandbox.unsafe else None, start_new_session=True)
        os.close(r_in)
        os.close(w_out)
        self.w, self.r = w_in, r_out
        self.buf = bytearray()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, header, blobs=()):
        try:
            wire.write_frame(self.w, header, blobs)
        except OSError:
            raise WorkerGone("the worker exited") from None

    def _read(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - monotonic()
            if left <= 0:
                raise WorkerTimeout
            ready, _, _ = select.select([self.r], [], [], left)
            if not ready:
                raise WorkerTimeout
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise WorkerGone("the worker exited")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def receive(self, timeout: float):
        deadline = monotonic() + timeout
        (n,) = struct.unpack(">I", self._read(4, deadline))
        if n > 2**20:
            raise WorkerGone("the worker sent a malformed reply")
        try:
            header = json.loads(self._read(n, deadline))
            count = int(header.get("blobs", 0))
        except (ValueError, TypeError, AttributeError):
            raise WorkerGone("the worker sent a malformed reply") from None
        blobs, total = [], 0
        for _ in range(count):
            (m,) = struct.unpack(">Q", self._read(8, deadline))
            total += m
            if total > MAX_REPLY_BYTES:
                raise WorkerGone(f"the result is larger than {MAX_REPLY_BYTES >> 20} MiB")
            blobs.append(self._read(m, deadline))
        return header, blobs

    def call(self, fn: str, args: tuple, kwargs: dict, timeout: float):
        """Call the student's ``fn``; returns ("result", value) / ("raised", info) / ("missing", None)
        / ("unreadable", message); raises WorkerGone or WorkerTimeout."""
        blobs: list[bytes] = []
        self.send({"op": "call", "fn": fn, "args": wire.encode(tuple(args), blobs),
                   "kwargs": wire.encode(dict(kwargs), blobs)}, blobs)
        header, out = self.receive(timeout)
        op = header.get("op")
        if op == "result":
            try:
                return "result", wire.decode(header.get("value"), out)
            except Exception:  # noqa: BLE001 - whatever the worker sent
                return "unreadable", "data the referee cannot read"
        if op == "raised":
            return "raised", {k: header.get(k) for k in ("type", "mro", "message")}
        if op == "missing":
            return "missing", None
        if op == "unreadable":
            return "unreadable", str(header.get("message", ""))[:300]
        raise WorkerGone("the worker sent an unexpected reply")

    def close(self):
        stop_process(self.proc, (self.w, self.r))


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


def forbidden_in_function(cells: list[tuple[int, str]], function: str, forbidden) -> list[str]:
    """Forbidden modules (dotted prefixes) that ``function`` -- or a function
    of the notebook it calls -- refers to, through import aliases too.
    Static, on the source, in the grader: nothing of the student runs."""
    defs: dict[str, ast.AST] = {}
    aliases: dict[str, str] = {}

    def note_imports(node, into):
        if isinstance(node, ast.Import):
            for a in node.names:
                into[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                into[a.asname or a.name] = f"{node.module}.{a.name}"

    def dotted(n, table):
        if isinstance(n, ast.Name):
            return table.get(n.id, aliases.get(n.id))
        if isinstance(n, ast.Attribute):
            base = dotted(n.value, table)
            return f"{base}.{n.attr}" if base else None
        return None

    for _, src in cells:
        code = wire.strip_magics(src)
        try:
            tree = ast.parse(code or "")
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defs[node.name] = node
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                note_imports(node, aliases)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                d = dotted(node.value, {})
                if d:
                    aliases[node.targets[0].id] = d

    def bad(name: str) -> str | None:
        return next((f for f in forbidden if name == f or name.startswith(f + ".")), None)

    hits, seen, todo = [], set(), [function]
    while todo:
        fname = todo.pop()
        if fname in seen or fname not in defs:
            continue
        seen.add(fname)
        local: dict[str, str] = {}
        for node in ast.walk(defs[fname]):
            note_imports(node, local)
            if isinstance(node, ast.ImportFrom) and node.module and bad(node.module):
                hits.append(bad(node.module))
            if isinstance(node, ast.Import):
                hits += [bad(a.name) for a in node.names if bad(a.name)]
            if isinstance(node, (ast.Name, ast.Attribute)):
                d = dotted(node, local)
                if d and bad(d):
                    hits.append(bad(d))
                if isinstance(node, ast.Name) and node.id in defs:
                    todo.append(node.id)
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                hits += [f for f in forbidden if ("." in f and f in node.value) or node.value == f]
    return sorted(set(hits))


class _Session:
    """The worker of one notebook: started with the student's code cells,
    restarted (a few times at most) after a crash or a time-out; a cell that
    hung or killed the worker is left out of the next start."""

    MAX_RESTARTS = 3

    def __init__(self, sandbox: Sandbox, home: Path, uid, files: dict, seeds: dict, cells, hide=()):
        self.sandbox, self.home, self.uid, self.files, self.seeds = sandbox, home, uid, files, seeds
        self.hide = hide
        self.cells = cells
        self.skip: set[int] = set()
        self.worker: _Worker | None = None
        self.restarts = 0
        self._start_any()

    def _start(self) -> bool:
        limits = self.sandbox.limits
        self.worker = worker = _Worker(self.sandbox, self.home, self.uid, self.files, self.seeds, self.hide)
        deadline = monotonic() + limits.notebook_timeout
        for i, src in self.cells:
            if i in self.skip:
                continue
            try:
                worker.send({"op": "cell", "index": i, "source": src})
                worker.receive(max(0.1, min(limits.cell_timeout, deadline - monotonic())))
            except (WorkerTimeout, WorkerGone):
                self.skip.add(i)
                self.close()
                return False
        return True

    def _start_any(self):
        for _ in range(len(self.cells) + 1):
            if self._start():
                return

    def restart(self):
        self.close()
        if self.restarts < self.MAX_RESTARTS:
            self.restarts += 1
            self._start_any()

    def close(self):
        if self.worker is not None:
            self.worker.close()
            self.worker = None


def _proxy(session: _Session, name: str, timeout: float):
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
        cls = base if value.get("type") == base.__name__ else type(str(value.get("type") or "Error"), (base,), {})
        raise cls(str(value.get("message") or ""))

    proxy.__name__ = proxy.__qualname__ = name
    proxy.__referee_proxy__ = True
    return proxy


@contextlib.contextmanager
def _patched(replacements: list[tuple[object, str, object]]):
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in replacements]
    for obj, name, value in replacements:
        setattr(obj, name, value)
    try:
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


def _proxy_aware(skip=()) -> list:
    """Patches for running a check library on proxies.  Its forbidden-call
    checks inspect the function and trace its calls in this process; for a
    proxy that is the referee's own code (the student's source is checked
    statically instead, :func:`forbidden_in_function`, and the reference is
    not even importable in the worker).  ``skip``: ``module:function`` parts of
    a check that can only run in the student's own process (e.g. counting its
    lines); the referee treats them as passed, so those parts stay decided by
    the notebook's own run."""
    out = []
    try:
        forbid = importlib.import_module("cnnlab.grading.forbid")
    except ImportError:
        forbid = None
    if forbid is not None and hasattr(forbid, "static_findings"):
        original = forbid.static_findings
        out.append((forbid, "static_findings",
                    lambda fn, *a, **k: [] if getattr(fn, "__referee_proxy__", False) else original(fn, *a, **k)))
    if forbid is not None and hasattr(forbid, "Tripwires"):
        run = forbid.Tripwires.run

        def tripwires_run(self, fn, *args, **kwargs):
            if getattr(fn, "__referee_proxy__", False):
                return fn(*args, **kwargs)
            return run(self, fn, *args, **kwargs)
        out.append((forbid.Tripwires, "run", tripwires_run))
    for dotted in skip:
        module, _, attr = dotted.replace(":", ".").rpartition(".")
        try:
            mod = importlib.import_module(module)
            getattr(mod, attr)
        except (ImportError, AttributeError) as e:
            raise SpecError(f"skip: {dotted} cannot be found: {e}") from None
        out.append((mod, attr, lambda *a, **k: 0))  # noqa: B023 - the same stub for every entry
    return out


class Referee:
    """Runs a spec's checks for one notebook at a time."""

    def __init__(self, spec: Spec, seed: int, sandbox: Sandbox):
        self.spec, self.seed = spec, int(seed)
        self.namespace = spec.namespace()
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
        self.sandbox = Sandbox(sandbox.limits, secrets=tuple(sandbox.secrets) + tuple(hidden),
                               extra_ro=tuple(sandbox.extra_ro), unsafe=sandbox.unsafe)
        self._expected: dict = {}

    def seed_for(self, grade_id: str) -> int:
        return zlib.crc32(f"{self.seed}:{grade_id}".encode()) & 0x7FFFFFFF

    # -- explicit checks ----------------------------------------------------
    def case(self, check: Check, i: int) -> dict:
        rng = np.random.default_rng([self.seed_for(check.grade_id), i])
        case = dict(check.cases[i])
        for a in check.arrays:
            case[a] = rng.standard_normal(case[a]).astype(check.dtype)
        return case

    def expected(self, check: Check, i: int):
        key = (check.grade_id, i)
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

    def _explicit(self, session: _Session, check: Check, timeout: float) -> Verdict:
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
                            diag = _resolve(check.diagnose)(got, expected, case)
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
                    problem = f"raised {type(exc).__name__}: {str(exc)[:200]}"
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
    def _mirror(self, session: _Session, check: Mirror, timeout: float) -> Verdict:
        passed, reason = 0, None
        seed = self.seed_for(check.grade_id)
        for src in check.calls:
            ns = dict(self.namespace)
            ns.update({f: _proxy(session, f, timeout) for f in check.functions})
            ns["__seed__"] = seed
            try:
                with _patched(_proxy_aware(self.spec.skip)):
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
    def judge(self, nb, home: Path, uid, *, files: dict | None = None, seeds: dict | None = None,
              grade_ids=None) -> dict[str, Verdict]:
        checks = [c for g, c in self.spec.checks.items() if grade_ids is None or g in grade_ids]
        if not checks:
            return {}
        limits = self.sandbox.limits
        cells = student_code_cells(nb)
        verdicts: dict[str, Verdict] = {}
        session = _Session(self.sandbox, home, uid, files or {}, seeds or {}, cells, self.spec.hide)
        try:
            for check in checks:
                hits = []
                for fn in check.functions:
                    hits += forbidden_in_function(cells, fn, self.spec.forbid)
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
