"""The forbidden-call detector, dynamic half: calls seen as they happen.

:class:`Tripwires` runs a function with tripwires in place: a profile hook
that sees every Python and built-in call (so ``getattr(F, 'con' + 'v2d')`` is
seen when it runs, whatever name it was reached by), a torch dispatch mode
that sees every aten operator (``torch.ops.aten.convolution`` included) when
torch is loaded, and wrappers around the compiled kernels of the forbidden
:mod:`cnnlab` modules, which a profile hook cannot see.  What is forbidden is
the :class:`~.policy.Policy` it is given.  The static half is :mod:`.detect`.
"""

from __future__ import annotations

import functools
import os
import sys
import types

from .policy import NUMPY, TORCH_OP, Policy, forbidden_name


#: the interpreter's profile hooks, taken when the checks are imported: a
#: notebook that replaces ``sys.setprofile`` later cannot keep the tripwires out
_SETPROFILE, _GETPROFILE = sys.setprofile, sys.getprofile
_HOOK_IDS = {id(sys.setprofile), id(sys.settrace)}
SWITCHED_OFF = "sys.setprofile/sys.settrace (switching off the forbidden-call detector)"


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
        self._active = False

    def _note(self, what: str):
        if what not in self.calls:
            self.calls.append(what)

    def _profile(self, frame, event, arg):
        if not self._active:
            return
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
            if id(arg) in _HOOK_IDS:
                self._note(SWITCHED_OFF)
                return
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
            if mod is None or not self.policy.forbids(name) or name.startswith("cnnlab.checks"):
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
        old = _GETPROFILE()
        self._base = sys._getframe()
        try:
            if mode is not None:
                mode.__enter__()
            try:
                self._active = True
                _SETPROFILE(self._profile)
                try:
                    return fn(*args, **kwargs)
                finally:
                    self._active = False
                    if _GETPROFILE() != self._profile:
                        self._note(SWITCHED_OFF)
                    _SETPROFILE(old)
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
            if TORCH_OP.match(name):
                tw._note(f"torch operator aten.{name}")
            return func(*args, **(kwargs or {}))

    if not _WARM:
        with _Watch():
            t = torch.ones(2, requires_grad=True)
            (t * 2).sum().backward()
        _WARM.append(True)
    return _Watch()
