"""The referee's spec: which test cells it decides, and how.

A spec (``autograder/referee/<assignment>.toml``) has two kinds of checks.

*Mirrored* test cells: the referee re-runs the calls of trusted check
functions found in the test cell itself (visible and hidden part), e.g.
``check_conv2d(conv2d_loop, cases, seed=52361)``, with the student's
function replaced by a proxy and the ``seed`` (which draws the input values)
replaced by one drawn from the referee's secret; the check library's
diagnostics (fingerprints of typical mistakes) come with it::

    imports = ["from cnnlab.checks import *"]
    hide = ["cnnlab"]                       # not importable in the worker
    forbid = "numpy"                        # the policy: cnnlab.checks.policy.POLICIES, or a list of modules
    [mirror]
    grade_ids = ["q2a", "q2b"]
    functions = ["check_conv2d"]            # which calls are re-run

The functions named in ``[mirror]`` are called with
``guard=Guard(policy, local=False)`` (:mod:`cnnlab.checks.guard`): the
student's function runs in the referee's worker, so the parts of a check
that can only run in the student's own process (counting its lines) are left
to the notebook's own run; a function without a ``guard`` argument is an
error in the spec.

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
import importlib
import inspect
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cnnlab.checks.policy import NOTHING, POLICIES, Policy


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
class RefereeSpec:
    assignment: str
    checks: dict  # grade_id -> Check | Mirror
    imports: list = field(default_factory=list)
    hide: list = field(default_factory=list)
    policy: Policy = NOTHING    # what the answers may not use (cnnlab.checks.policy)
    check_functions: list = field(default_factory=list)  # the mirrored check functions (they take guard=)
    path: str | None = None

    @classmethod
    def load(cls, path, assignment: str | None = None, test_sources: dict | None = None,
             student_functions=()) -> "RefereeSpec":
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
                  student_functions=()) -> "RefereeSpec":
        where = path or assignment
        unknown = set(data) - {"imports", "hide", "forbid", "checks", "mirror"}
        if unknown:
            raise SpecError(f"{where}: unknown keys {sorted(unknown)}; allowed: imports, hide, forbid, checks, mirror")
        mirror = data.get("mirror") or {}
        bad = set(mirror) - {"grade_ids", "functions", "partial"}
        if bad:
            raise SpecError(f"{where}: [mirror] has unknown keys {sorted(bad)}; allowed: grade_ids, functions, "
                            "partial")
        imports = list(data.get("imports", []))
        spec = cls(assignment, {}, imports, list(data.get("hide", [])), _policy(data.get("forbid", []), where),
                   list(mirror.get("functions") or []), path)
        namespace = spec.namespace()
        known = set(namespace) | {"np", "numpy"}
        if mirror:
            funcs = spec.check_functions
            if not funcs:
                raise SpecError(f"{where}: [mirror] needs `functions`, the check functions whose calls are re-run")
            for name in funcs:
                fn = namespace.get(name)
                if not callable(fn):
                    raise SpecError(f"{where}: [mirror] function {name!r} is not a name the spec's imports give")
                if "guard" not in inspect.signature(fn).parameters:
                    raise SpecError(f"{where}: [mirror] function {name!r} has no `guard` argument, so the referee "
                                    "cannot tell it that the student's function runs in its worker")
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


def _policy(value, where: str) -> Policy:
    """``forbid``: the name of a policy (``"numpy"``, ``"torch"``) or a list of module names."""
    if isinstance(value, str):
        if value not in POLICIES:
            raise SpecError(f"{where}: forbid = {value!r} is not a policy; use one of {sorted(POLICIES)} "
                            "or a list of module names")
        return POLICIES[value]
    if not (isinstance(value, list) and all(isinstance(m, str) for m in value)):
        raise SpecError(f"{where}: forbid must be a policy name or a list of module names, got {value!r}")
    return Policy.of_modules(value) if value else NOTHING


def resolve(dotted: str):
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
