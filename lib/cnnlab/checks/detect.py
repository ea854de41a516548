"""The forbidden-call detector, static half: what a function refers to.

One walker reads the byte code of a function, and of every helper function
it uses, and follows what each name in it stands for: globals, closure cells,
default arguments, imports inside the function, attribute chains
(``r.conv2d``), ``functools.partial`` objects, classes and their methods.  It
reports what a :class:`~.policy.Policy` forbids, names of forbidden functions
assembled as strings next to ``getattr``, ``__import__``, ``eval`` and the
like, and code that switches off the interpreter's tracing.  It looks at what
the code calls, never at its text: a docstring, a comment or a message that
names a forbidden function changes nothing.

What a name stands for is known in one of two ways, one walker for both:

* **live** (:func:`static_findings`): the function object itself, in the
  process that defined it -- a notebook's kernel, where the test cells run --
  so globals and closure cells are the objects they are bound to now;
* **source** (:func:`source_findings`): a notebook's code cells compiled but
  never run -- the referee, in the grader's process, where no student code
  may run -- so a name stands for the dotted path its import (or an
  assignment such as ``f = np.fft``) gave it, or for a function the cells
  define.

The dynamic half, which sees calls as they happen, is :mod:`.tripwires`.
"""

from __future__ import annotations

import builtins
import dis
import functools
import inspect
import os
import re
import sys
import types
from dataclasses import dataclass, field

from .policy import NUMPY, TORCH_OP, Policy, forbidden_name

_IDENTIFIER = re.compile(r"^[A-Za-z_][\w.]*$")
_DYNAMIC_LOOKUP = {"getattr", "__import__", "import_module", "eval", "exec", "compile", "globals",
                   "vars", "__dict__", "__getattribute__", "attrgetter", "methodcaller",
                   "__builtins__", "modules"}
_TAMPER = {"setprofile", "settrace", "_getframe", "gettrace", "getprofile"}
_MISSING = object()


@dataclass(frozen=True)
class _Path:
    """A dotted name the source gives a value (``cnnlab.ref.conv2d``)."""
    dotted: str


@dataclass(frozen=True)
class _Def:
    """A function the notebook's cells define (its code object)."""
    code: types.CodeType


# --------------------------------------------------------------------------
# what names stand for
# --------------------------------------------------------------------------

class _Live:
    """Names of a function object: what they are bound to in its process."""

    def __init__(self, globs: dict, cells: dict):
        self.globs, self.cells = globs, cells

    def lookup(self, name):
        if name in self.globs:
            return self.globs[name]
        return getattr(builtins, name) if hasattr(builtins, name) else _MISSING

    def deref(self, name):
        return self.cells.get(name, _MISSING)

    def attr(self, value, name):
        try:
            return getattr(value, name)
        except Exception:  # noqa: BLE001 - attribute made at run time: the tripwires see it
            return _MISSING

    def module(self, name):
        return sys.modules.get(name, _MISSING)

    def nested(self, code):
        return self


class _Source:
    """Names of a notebook's cells that were compiled, not run."""

    def __init__(self, aliases: dict, defs: dict):
        self.aliases, self.defs = aliases, defs

    def lookup(self, name):
        if name in self.defs:
            return _Def(self.defs[name])
        return _Path(self.aliases[name]) if name in self.aliases else _MISSING

    def deref(self, name):
        return _MISSING

    def attr(self, value, name):
        return _Path(f"{value.dotted}.{name}") if isinstance(value, _Path) else _MISSING

    def module(self, name):
        return _Path(name)

    def nested(self, code):
        return self


# --------------------------------------------------------------------------
# the walker
# --------------------------------------------------------------------------

@dataclass
class _Walk:
    policy: Policy = NUMPY
    user_files: set = field(default_factory=set)
    findings: list = field(default_factory=list)   # (text, the forbidden module or what was used)
    seen: set = field(default_factory=set)

    def add(self, what: str, where: str, module: str):
        item = (f"{what} (in {where})", module)
        if item not in self.findings:
            self.findings.append(item)

    def check(self, value, label: str, where: str, scope):
        """Check one value the code can reach."""
        if isinstance(value, _Path):
            module = self.policy.module(value.dotted)
            if module:
                self.add(value.dotted if value.dotted == label else f"{value.dotted}, through the name {label!r}",
                         where, module)
        elif isinstance(value, _Def):
            if id(value.code) not in self.seen:
                self.seen.add(id(value.code))
                self.code(value.code, scope, value.code.co_name)
        else:
            self.value(value, label, where)

    def value(self, obj, label: str, where: str):
        """Check one live object."""
        bad = forbidden_name(obj, self.policy)
        if bad:
            module = self.policy.module(bad.removeprefix("a subclass of ")) or "torch"
            self.add(bad if bad == label else f"{bad}, through the name {label!r}", where, module)
            return
        if isinstance(obj, functools.partial):
            self.value(obj.func, label, where)
        elif isinstance(obj, types.MethodType):
            self.value(obj.__func__, label, where)
        elif _is_user_function(obj, self.user_files):
            self.function(obj)
        elif inspect.isclass(obj) and id(obj) not in self.seen:
            self.seen.add(id(obj))
            for klass in obj.__mro__:
                for attr in vars(klass).values():
                    f = getattr(attr, "__func__", attr)
                    if _is_user_function(f, self.user_files):
                        self.function(f)

    def function(self, fn):
        if id(fn) in self.seen:
            return
        self.seen.add(id(fn))
        cells = {}
        if fn.__closure__:
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                try:
                    cells[name] = cell.cell_contents
                except ValueError:
                    pass
        for default in list(fn.__defaults__ or ()) + list((fn.__kwdefaults__ or {}).values()):
            self.value(default, f"a default argument of {fn.__name__}", fn.__name__)
        self.code(fn.__code__, _Live(fn.__globals__, cells), fn.__name__)

    def code(self, code, scope, where):
        chain, label = _MISSING, ""
        local = {}             # local names bound by imports inside the function
        fromlist = None
        imported = None        # (value, name) of the last IMPORT_NAME
        pending = None         # (value, name) an import just produced, waiting for its STORE
        for ins in dis.get_instructions(code):
            op, arg = ins.opname, ins.argval
            if op in ("STORE_FAST", "STORE_NAME", "STORE_DEREF") and pending is not None:
                local[arg] = pending
                pending, chain = None, _MISSING
                continue
            if op == "LOAD_CONST":
                fromlist = arg
            if op in ("LOAD_FAST", "LOAD_NAME") and arg in local:
                chain, label = local[arg]
                if chain is not _MISSING:
                    self.check(chain, label, where, scope)
                continue
            if op in ("LOAD_GLOBAL", "LOAD_NAME"):
                chain, label = scope.lookup(arg), arg
            elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
                chain, label = scope.deref(arg), arg
            elif op in ("LOAD_ATTR", "LOAD_METHOD") and chain is not _MISSING:
                chain, label = scope.attr(chain, arg), f"{label}.{arg}"
            elif op == "IMPORT_NAME":
                if self.policy.forbids(arg):
                    self.add(f"import {arg}", where, self.policy.module(arg))
                top = arg if fromlist else arg.split(".")[0]   # `import a.b` binds a; `from a.b import` uses a.b
                imported = pending = (scope.module(top), top)
                chain = _MISSING
                continue
            elif op == "IMPORT_FROM" and imported is not None:
                base, name = pending if (not fromlist and pending) else imported   # `import a.b as c` walks a.b
                full = f"{name}.{arg}"
                if fromlist and (self.policy.forbids(full) or self.policy.forbids(name)):
                    self.add(f"from {name} import {arg}", where, self.policy.module(full))
                value = scope.attr(base, arg) if base is not _MISSING else _MISSING
                if value is not _MISSING and value is not None:
                    self.check(value, full, where, scope)
                pending, chain = (value, full), _MISSING
                continue
            else:
                chain = _MISSING
                continue
            if chain is not _MISSING:
                self.check(chain, label, where, scope)
        self._patterns(code, scope, where)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const, scope.nested(const), where if const.co_name.startswith("<") else const.co_name)

    def _patterns(self, code, scope, where):
        """What the names and constants of one code object betray, whatever they are bound to."""
        names = set(code.co_names) | set(code.co_varnames) | set(code.co_freevars)
        torch_named = "torch" in names or any(
            isinstance(scope, _Live) and isinstance(scope.globs.get(n), types.ModuleType)
            and scope.globs[n].__name__.split(".")[0] == "torch" for n in code.co_names)
        if self.policy.torch_ops and torch_named:
            attrs = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_ATTR", "LOAD_METHOD")}
            for a in sorted(attrs):
                if TORCH_OP.match(a):
                    self.add(f"the torch method .{a}()", where, "torch")
        if names & _DYNAMIC_LOOKUP:
            for s in (c for c in code.co_consts if isinstance(c, str)):
                # identifiers and dotted paths only, not messages or docstrings
                if not _IDENTIFIER.match(s) or s == code.co_consts[0] or not self.policy.suspects(s):
                    continue
                self.add(f"a name looked up from the string {s[:40]!r} with "
                         f"{', '.join(sorted(names & _DYNAMIC_LOOKUP))}", where, self.policy.module(s) or repr(s))
        if names & _TAMPER:
            self.add(f"{', '.join(sorted(names & _TAMPER))} (changing the interpreter's "
                     "tracing or inspecting the grader's frames)", where, "sys." + sorted(names & _TAMPER)[0])


# --------------------------------------------------------------------------
# live functions
# --------------------------------------------------------------------------

def _is_user_function(obj, user_files) -> bool:
    code = getattr(obj, "__code__", None)
    return isinstance(obj, types.FunctionType) and code is not None and code.co_filename in user_files


@functools.lru_cache(maxsize=1)
def library_dirs() -> tuple:
    """Where installed code lives (the interpreter's, the environment's, cnnlab's): not the student's."""
    import sysconfig
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.__file__)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            dirs.add(p)
    dirs.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # cnnlab itself
    return tuple(sorted(d.rstrip(os.sep) + os.sep for d in dirs if d))


def _user_files(fn) -> set:
    """Files that hold the student's code: the function's own file and every
    file of functions defined in its global namespace outside any library."""
    files = {fn.__code__.co_filename}
    libdirs = library_dirs()
    for v in list(getattr(fn, "__globals__", {}).values()):
        code = getattr(v, "__code__", None)
        if isinstance(v, types.FunctionType) and code is not None:
            if not code.co_filename.startswith(libdirs):
                files.add(code.co_filename)
    return files


def static_findings(fn, policy: Policy = NUMPY) -> list[str]:
    """What forbidden things the live function ``fn`` (and the helper functions it calls) refers to.

    Returns a list of readable findings such as
    ``"cnnlab.ref._conv.conv2d, through the name 'r.conv2d' (in conv2d_loop)"``;
    empty when nothing forbidden is referenced.
    """
    fn = inspect.unwrap(getattr(fn, "__func__", fn))
    if inspect.isclass(fn):
        bad = forbidden_name(fn, policy)
        if bad:
            return [bad]
        methods = [f for k in fn.__mro__ for f in vars(k).values() if isinstance(f, types.FunctionType)]
        if not methods:
            return []
        walk = _Walk(policy, _user_files(methods[0]))
        walk.value(fn, fn.__name__, fn.__name__)
    elif not isinstance(fn, types.FunctionType):
        bad = forbidden_name(fn, policy)
        return [bad] if bad else []
    else:
        walk = _Walk(policy, _user_files(fn))
        walk.function(fn)
    texts = [text for text, _ in walk.findings]
    out = []
    for f in texts:  # 'r' is implied by 'r.conv2d', 'a.b' by 'a.b.c': keep the longer
        m = re.search(r"through the name '([^']+)'", f)
        name = m.group(1) if m else f.split(" (in ")[0]
        if any(g != f and (f"through the name '{name}." in g or g.startswith(name + ".")) for g in texts):
            continue
        out.append(f)
    return out


# --------------------------------------------------------------------------
# notebook source, never run
# --------------------------------------------------------------------------

def _source_scope(cells) -> _Source:
    """The names the cells' top-level code binds: imports and plain dotted
    assignments (aliases), and the functions they define (last one wins)."""
    aliases: dict[str, str] = {}
    defs: dict[str, types.CodeType] = {}
    for index, src in cells:
        try:
            module = compile(src or "", f"<cell {index}>", "exec")
        except (SyntaxError, ValueError):
            continue
        chain, fromlist, made, imported, pending = None, None, None, None, None
        for ins in dis.get_instructions(module):
            op, arg = ins.opname, ins.argval
            if op == "LOAD_CONST":
                fromlist, chain = arg, None
                if isinstance(arg, types.CodeType) and arg.co_flags & inspect.CO_NEWLOCALS:
                    made = arg
                continue
            if op in ("PRECALL", "CALL"):   # a call's result is not an alias (a decorated function stays one)
                chain = None
                continue
            if op in ("MAKE_FUNCTION", "CACHE", "KW_NAMES", "PUSH_NULL", "SWAP"):
                continue
            if op == "IMPORT_NAME":
                top = arg if fromlist else arg.split(".")[0]
                imported = pending = top
                continue
            if op == "IMPORT_FROM" and imported is not None:
                pending = f"{pending if not fromlist else imported}.{arg}"
                continue
            if op in ("STORE_NAME", "STORE_GLOBAL"):
                target = pending or chain
                if made is not None and made.co_name == arg:
                    defs[arg] = made
                    aliases.pop(arg, None)
                elif target:
                    aliases[arg] = target
                    defs.pop(arg, None)
                chain, pending, made = None, None, None
                continue
            if op == "LOAD_NAME":
                chain = aliases.get(arg)
            elif op in ("LOAD_ATTR", "LOAD_METHOD") and chain:
                chain = f"{chain}.{arg}"
            elif op != "POP_TOP":
                chain, made = None, None
            if op == "POP_TOP":
                pending = imported = None
    return _Source(aliases, defs)


def source_names(cells) -> dict[str, str]:
    """What the top-level names of a notebook's cells (``(index, plain Python)``
    pairs, compiled, never run) stand for: ``{name: dotted path}`` for names
    bound by imports and plain dotted assignments (``np`` -> ``numpy``)."""
    return dict(_source_scope(cells).aliases)


def source_findings(cells, function: str, policy: Policy = NUMPY) -> list[str]:
    """What the function ``function`` of a notebook -- or a function of the
    notebook it uses -- refers to that ``policy`` forbids, from the source of
    its code cells (``(index, plain Python)`` pairs, magics removed), which are
    compiled but never run.  Returns the forbidden modules (entries of the
    policy) or other forbidden things used, sorted; empty when there are none."""
    scope = _source_scope(cells)
    if function not in scope.defs:
        return []
    walk = _Walk(policy)
    walk.check(_Def(scope.defs[function]), function, function, scope)
    return sorted({module for _, module in walk.findings})
