"""Detect a solution that calls what it was asked to write.

The assignments ask students to write convolution and pooling themselves, so
a ps1/ps2 solution must not call :mod:`cnnlab` (the reference is in there),
``scipy.signal``/``scipy.ndimage``, or any of torch's convolution, pooling,
unfold or autograd functions (policy :data:`NUMPY`); a ps3/ps4 solution may use
PyTorch but not the course's model zoo and trainer (policy :data:`TORCH`).
Two independent checks look for such calls:

* a **static** check walks the function's byte code, and the byte code of every
  helper function it uses, resolving each global name to the object it is
  bound to at check time.  It finds aliases (``import cnnlab.ref as r``,
  ``from torch.nn import functional as Q``, a forbidden function kept as a
  default argument or in a closure), imports inside the function, and names
  of forbidden functions assembled as strings next to ``getattr``,
  ``__import__``, ``eval`` and the like;
* a **dynamic** check runs the function with tripwires in place: a profile
  hook that sees every Python and built-in call (so ``getattr(F, 'con' +
  'v2d')`` is seen when it runs, whatever name it was reached by), a torch
  dispatch mode that sees every aten operator (``torch.ops.aten.convolution``
  included) when torch is loaded, and wrappers around the compiled kernels of
  :mod:`cnnlab.ref`, which a profile hook cannot see.

:func:`static_findings` and :class:`Tripwires` give the raw findings;
:func:`assert_own_work` runs both and raises :class:`~cnnlab.grading.GradingFailure`
with a message that names what was used and what is allowed.
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

from ._core import GradingFailure

#: torch operators (functions, Tensor methods, aten ops) that compute what the
#: students write: convolution, pooling, sliding windows, autograd.
_TORCH_OP = re.compile(r"^_*(conv|convolution|slow_conv|thnn_conv|mkldnn_conv|cudnn_conv|miopen_conv"
                       r"|[a-z_]*pool[a-z0-9_]*|unfold|fold|im2col|col2im|backward|grad)")

#: Names that, as string constants next to a dynamic lookup, betray a forbidden call.
_SUSPECT_STRINGS = re.compile(r"(conv|pool|unfold|fold|im2col|col2im|correlate|convolve|signal|ndimage"
                              r"|cnnlab|functional|torch|scipy)", re.I)
_IDENTIFIER = re.compile(r"^[A-Za-z_][\w.]*$")
_DYNAMIC_LOOKUP = {"getattr", "__import__", "import_module", "eval", "exec", "compile", "globals",
                   "vars", "__dict__", "__getattribute__", "attrgetter", "methodcaller",
                   "__builtins__", "modules"}
_TAMPER = {"setprofile", "settrace", "_getframe", "gettrace", "getprofile"}


def _parts(*paths):
    return tuple(os.sep + os.path.join(*p.split("/")) + ("" if p.endswith(".py") else os.sep) for p in paths)


@dataclass(frozen=True)
class Policy:
    """What a solution may not use.

    modules    : module names (a module and everything under it) it must not refer to
    files      : source paths whose Python functions must not run under it
    torch_ops  : whether torch's convolution, pooling, unfold and autograd operators are forbidden
    allowed    : the sentence of the message that says what is allowed
    """
    modules: tuple
    files: tuple
    torch_ops: bool
    allowed: str
    #: names (or dotted-path components) that, as strings next to getattr/__import__/..., betray a lookup
    suspect: frozenset = frozenset()


#: ps1/ps2: write convolution and pooling with NumPy.
NUMPY = Policy(
    modules=("cnnlab", "scipy.signal", "scipy.ndimage", "torch.nn.functional", "torch.nn.modules.conv",
             "torch.nn.modules.pooling", "torch.nn.modules.fold", "torch.nn.grad", "torch.autograd", "torch.func"),
    files=_parts("cnnlab/", "scipy/signal/", "scipy/ndimage/", "torch/nn/functional.py", "torch/nn/grad.py",
                 "torch/nn/modules/conv.py", "torch/nn/modules/pooling.py", "torch/nn/modules/fold.py",
                 "torch/autograd/", "torch/func/"),
    torch_ops=True,
    allowed=("You may use Python and NumPy (np.pad, slicing, np.sum, np.einsum, np.tensordot, reshape, "
             "sliding_window_view, ...), and your own helper functions, but not cnnlab, scipy.signal, "
             "scipy.ndimage, or torch's convolution, pooling, unfold or autograd functions"))

#: ps3/ps4: build and train networks with PyTorch, not with the course's model zoo.
TORCH = Policy(
    modules=("cnnlab.models", "cnnlab.train", "cnnlab._summary", "cnnlab.summary", "cnnlab.grading", "cnnlab.ref",
             "cnnlab.gpu", "torchvision", "timm"),
    files=_parts("cnnlab/models/", "cnnlab/train.py", "cnnlab/_summary.py", "cnnlab/grading/", "cnnlab/ref/",
                 "cnnlab/gpu/", "torchvision/", "timm/"),
    torch_ops=False,
    allowed=("You may use PyTorch (torch, torch.nn, torch.optim, ...), NumPy, cnnlab.data and your own code, "
             "but not cnnlab.models, cnnlab.train, cnnlab.summary or torchvision: build and train the networks "
             "yourself"),
    suspect=frozenset({"models", "train", "_summary", "summary", "grading", "ref", "gpu", "fit", "torchvision",
                       "lenet5", "LeNet5", "pretrained", "resnet_cifar", "BasicBlock", "vgg"}))

def _module_of(obj) -> str:
    """The module an object belongs to, as a dotted name ('' when unknown)."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    for candidate in (obj, getattr(obj, "__func__", None), getattr(obj, "py_func", None),
                      getattr(obj, "func", None) if isinstance(obj, functools.partial) else None):
        if candidate is None:
            continue
        mod = getattr(candidate, "__module__", None)
        if isinstance(mod, str) and mod:
            return mod
    objclass = getattr(obj, "__objclass__", None)
    if objclass is not None:
        return getattr(objclass, "__module__", "") or ""
    return ""


def _is_forbidden_module(name: str, policy: Policy = NUMPY) -> bool:
    return any(name == m or name.startswith(m + ".") for m in policy.modules)


def forbidden_name(obj, policy: Policy = NUMPY) -> str | None:
    """A readable name of ``obj`` if a solution must not use it, else None."""
    if obj is None or isinstance(obj, (str, bytes, int, float, bool, tuple, list, dict, set)):
        return None
    try:
        mod = _module_of(obj)
    except Exception:  # noqa: BLE001 - exotic objects: not forbidden
        return None
    name = getattr(obj, "__name__", None) or type(obj).__name__
    if isinstance(obj, types.ModuleType):
        return mod if _is_forbidden_module(mod, policy) else None
    if _is_forbidden_module(mod, policy):
        return f"{mod}.{name}"
    if inspect.isclass(obj):
        for base in obj.__mro__[1:]:
            bmod = getattr(base, "__module__", "") or ""
            if _is_forbidden_module(bmod, policy):
                return f"a subclass of {bmod}.{base.__name__}"
    if policy.torch_ops and (mod.startswith("torch") or _objclass_module(obj).startswith("torch")):
        if isinstance(name, str) and _TORCH_OP.match(name):
            return f"torch {name}"
    return None


def _objclass_module(obj) -> str:
    oc = getattr(obj, "__objclass__", None)
    if oc is None:
        owner = getattr(obj, "__self__", None)
        oc = owner if isinstance(owner, type) else type(owner)
    mod = getattr(oc, "__module__", "")
    return mod if isinstance(mod, str) else ""


# --------------------------------------------------------------------------
# static check
# --------------------------------------------------------------------------

def _is_user_function(obj, user_files) -> bool:
    code = getattr(obj, "__code__", None)
    return isinstance(obj, types.FunctionType) and code is not None and code.co_filename in user_files


def _user_files(fn) -> set:
    """Files that hold the student's code: the function's own file and every
    file of functions defined in its global namespace outside any library."""
    files = {fn.__code__.co_filename}
    libdirs = _library_dirs()
    for v in list(getattr(fn, "__globals__", {}).values()):
        code = getattr(v, "__code__", None)
        if isinstance(v, types.FunctionType) and code is not None:
            if not code.co_filename.startswith(libdirs):
                files.add(code.co_filename)
    return files


@functools.lru_cache(maxsize=1)
def _library_dirs() -> tuple:
    import sysconfig
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.__file__)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            dirs.add(p)
    dirs.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # cnnlab itself
    return tuple(sorted(d.rstrip(os.sep) + os.sep for d in dirs if d))


@dataclass
class _Walk:
    user_files: set
    policy: Policy = NUMPY
    findings: list = field(default_factory=list)
    seen: set = field(default_factory=set)

    def add(self, what: str, where: str):
        item = f"{what} (in {where})"
        if item not in self.findings:
            self.findings.append(item)

    def value(self, obj, label: str, where: str):
        """Check one object the code can reach."""
        bad = forbidden_name(obj, self.policy)
        if bad:
            self.add(bad if bad == label else f"{bad}, through the name {label!r}", where)
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
        self.code(fn.__code__, fn.__globals__, cells, fn.__name__)

    def code(self, code, globs, cells, where):
        chain_obj, chain_name, have = None, "", False
        import_module = None
        local = {}             # local names bound by imports inside the function
        last_const = None
        pending = None         # (object, name) an import just produced, waiting for its STORE
        for ins in dis.get_instructions(code):
            op, arg = ins.opname, ins.argval
            if op in ("STORE_FAST", "STORE_NAME", "STORE_DEREF") and pending is not None:
                local[arg] = pending
                pending = None
                have = False
                continue
            if op == "LOAD_CONST":
                last_const = arg
            if op in ("LOAD_FAST", "LOAD_NAME") and arg in local:
                chain_obj, chain_name = local[arg]
                have = chain_obj is not None
                if have:
                    self.value(chain_obj, chain_name, where)
                continue
            if op in ("LOAD_GLOBAL", "LOAD_NAME"):
                if arg in globs:
                    chain_obj, have = globs[arg], True
                elif hasattr(builtins, arg):
                    chain_obj, have = getattr(builtins, arg), True
                else:
                    have = False
                chain_name = arg
                if have:
                    self.value(chain_obj, chain_name, where)
            elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF") and arg in cells:
                chain_obj, chain_name, have = cells[arg], arg, True
                self.value(chain_obj, chain_name, where)
            elif op in ("LOAD_ATTR", "LOAD_METHOD") and have:
                chain_name = f"{chain_name}.{arg}"
                try:
                    chain_obj = getattr(chain_obj, arg)
                except Exception:  # noqa: BLE001 - attribute made at run time: the tripwires see it
                    have = False
                    continue
                self.value(chain_obj, chain_name, where)
            elif op == "IMPORT_NAME":
                import_module = arg
                if _is_forbidden_module(arg, self.policy):
                    self.add(f"import {arg}", where)
                top = arg if last_const else arg.split(".")[0]   # `import a.b` binds a; `from a.b import` uses a.b
                pending = (sys.modules.get(top), top)
                have = False
            elif op == "IMPORT_FROM" and import_module:
                full = f"{import_module}.{arg}"
                if _is_forbidden_module(full, self.policy) or _is_forbidden_module(import_module, self.policy):
                    self.add(f"from {import_module} import {arg}", where)
                mod = sys.modules.get(import_module)
                obj = getattr(mod, arg, None) if mod is not None else None
                if obj is not None:
                    self.value(obj, f"{import_module}.{arg}", where)
                pending = (obj, f"{import_module}.{arg}")
                have = False
            else:
                have = False
        names = set(code.co_names) | set(code.co_varnames) | set(code.co_freevars)
        if self.policy.torch_ops and "torch" in names or self.policy.torch_ops and any(isinstance(globs.get(n), types.ModuleType)
                                   and globs[n].__name__.split(".")[0] == "torch" for n in code.co_names):
            attrs = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_ATTR", "LOAD_METHOD")}
            for a in sorted(attrs):
                if _TORCH_OP.match(a):
                    self.add(f"the torch method .{a}()", where)
        strings = [c for c in code.co_consts if isinstance(c, str)]
        if names & _DYNAMIC_LOOKUP:
            for s in strings:   # identifiers and dotted paths only, not messages or docstrings
                if not _IDENTIFIER.match(s) or s == code.co_consts[0]:
                    continue
                if (set(s.split(".")) & self.policy.suspect if self.policy.suspect
                        else _SUSPECT_STRINGS.search(s)):
                    self.add(f"a name looked up from the string {s[:40]!r} with "
                             f"{', '.join(sorted(names & _DYNAMIC_LOOKUP))}", where)
        if names & _TAMPER:
            self.add(f"{', '.join(sorted(names & _TAMPER))} (changing the interpreter's "
                     "tracing or inspecting the grader's frames)", where)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const, globs, {}, where if const.co_name.startswith("<") else const.co_name)


def static_findings(fn, policy: Policy = NUMPY) -> list[str]:
    """What forbidden things ``fn`` (and the helper functions it calls) refers to.

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
        walk = _Walk(user_files=_user_files(methods[0]), policy=policy)
        walk.value(fn, fn.__name__, fn.__name__)
    elif not isinstance(fn, types.FunctionType):
        bad = forbidden_name(fn, policy)
        return [bad] if bad else []
    else:
        walk = _Walk(user_files=_user_files(fn), policy=policy)
        walk.function(fn)
    out = []
    for f in walk.findings:  # 'r' is implied by 'r.conv2d', 'a.b' by 'a.b.c': keep the longer
        m = re.search(r"through the name '([^']+)'", f)
        name = m.group(1) if m else f.split(" (in ")[0]
        if any(g != f and (f"through the name '{name}." in g or g.startswith(name + ".")) for g in walk.findings):
            continue
        out.append(f)
    return out


# --------------------------------------------------------------------------
# dynamic check
# --------------------------------------------------------------------------

@functools.lru_cache(maxsize=8192)
def _forbidden_file(path: str, policy: Policy = NUMPY) -> bool:
    if path == __file__:  # the dispatch mode below runs from here
        return False
    return any(part in path for part in policy.files)


def _mentions_torch(fn, depth: int = 0, seen=None) -> bool:
    """Whether fn (or a helper function it names) imports or names torch."""
    seen = set() if seen is None else seen
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen or depth > 20:
        return False
    seen.add(id(fn))
    stack = [code]
    globs = getattr(fn, "__globals__", {})
    while stack:
        co = stack.pop()
        for name in co.co_names:
            if name == "torch" or name.startswith("torch."):
                return True
            val = globs.get(name)
            if isinstance(val, types.ModuleType) and val.__name__.split(".")[0] == "torch":
                return True
            if isinstance(val, types.FunctionType) and _mentions_torch(val, depth + 1, seen):
                return True
        stack.extend(c for c in co.co_consts if isinstance(c, types.CodeType))
    return False


class Tripwires:
    """Run a function and record every forbidden call it makes.

    >>> tw = Tripwires()
    >>> y = tw.run(student_conv, x, w)
    >>> tw.calls            # e.g. ['torch conv2d', 'cnnlab/ref/_conv.py: conv2d']
    """

    def __init__(self, policy: Policy = NUMPY):
        self.calls: list[str] = []
        self.policy = policy
        self._base = None

    def _note(self, what: str):
        if what not in self.calls:
            self.calls.append(what)

    def _profile(self, frame, event, arg):
        try:
            self._event(frame, event, arg)
        except Exception:  # noqa: BLE001 - a profile hook must never break the student's code
            pass

    def _event(self, frame, event, arg):
        if event == "call":
            path = frame.f_code.co_filename
            caller = frame.f_back
            if (_forbidden_file(path, self.policy)
                    and not (caller is not None and _forbidden_file(caller.f_code.co_filename, self.policy))
                    and not self._importing(frame)):
                short = path.split(os.sep + "site-packages" + os.sep)[-1].split(os.sep + "lib" + os.sep)[-1]
                self._note(f"{frame.f_code.co_name} from {short}")
        elif event == "c_call":
            bad = forbidden_name(arg, self.policy)
            if bad:
                self._note(bad)

    def _importing(self, frame) -> bool:
        """Whether ``frame`` runs as part of an import (module code on the stack
        between it and the call under test): importing torch is not a call."""
        f = frame
        while f is not None and f is not self._base:
            if f.f_code.co_name == "<module>":
                return True
            f = f.f_back
        return False

    def _patch_kernels(self):
        """Wrap numba-compiled functions of loaded cnnlab modules (a profile
        hook does not see calls into compiled code)."""
        patched = []
        for name, mod in list(sys.modules.items()):
            if not (name == "cnnlab" or name.startswith("cnnlab.")) or name.startswith("cnnlab.grading"):
                continue
            for attr, val in list(vars(mod).items()):
                if hasattr(val, "py_func") and callable(val):
                    patched.append((mod, attr, val))
                    setattr(mod, attr, self._tripwire(val, f"{name}.{attr}"))
        return patched

    def _tripwire(self, func, label):
        def wire(*args, **kwargs):
            self._note(label)
            return func(*args, **kwargs)
        return wire

    def run(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` with the tripwires in place; returns its result."""
        if "torch" not in sys.modules and _mentions_torch(fn):
            import torch  # noqa: F401 - imported here, not under the (slow) profile hook
        patched = self._patch_kernels()
        mode = _dispatch_mode(self) if ("torch" in sys.modules and self.policy.torch_ops) else None
        old = sys.getprofile()
        self._base = sys._getframe()
        try:
            if mode is not None:
                mode.__enter__()
            try:
                sys.setprofile(self._profile)
                try:
                    return fn(*args, **kwargs)
                finally:
                    sys.setprofile(old)
            finally:
                if mode is not None:
                    mode.__exit__(None, None, None)
        finally:
            for mod, attr, val in patched:
                setattr(mod, attr, val)


_WARM = []


def _dispatch_mode(tw: Tripwires):
    """A torch dispatch mode that records forbidden aten operators.

    The first use of a dispatch mode makes torch import and initialise a lot;
    that is done once, here, before the (slow) profile hook is switched on."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Watch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
            name = getattr(getattr(func, "overloadpacket", func), "__name__", str(func))
            if _TORCH_OP.match(name):
                tw._note(f"torch operator aten.{name}")
            return func(*args, **(kwargs or {}))

    if not _WARM:
        with _Watch():
            t = torch.ones(2, requires_grad=True)
            (t * 2).sum().backward()
        _WARM.append(True)
    return _Watch()


# --------------------------------------------------------------------------
# the check the notebooks call
# --------------------------------------------------------------------------

def own_work_message(fname: str, found: list[str], policy: Policy = NUMPY) -> str:
    listed = "\n".join(f"  - {f}" for f in found[:6])
    return (f"{fname} uses what this question asks you to write yourself:\n{listed}\n"
            f"{policy.allowed}. This question scores 0 until you remove that.")


def assert_own_work(fn, name: str | None = None, policy: Policy = NUMPY) -> None:
    """Raise :class:`GradingFailure` if ``fn`` refers to a forbidden function (static check).

    The dynamic check runs with every call the graders make (see ``_core.call``).
    """
    fname = name or getattr(fn, "__name__", "your function")
    found = static_findings(fn, policy)
    if found:
        raise GradingFailure(own_work_message(fname, found, policy), "forbidden", fatal=True)
