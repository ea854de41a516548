"""How a check calls a student's function: the guard, configured explicitly.

Every check of this package calls the student's code through a :class:`Guard`,
given as the ``guard=`` argument (default: ``Guard()``, the ps1/ps2 policy).
A guard says two things:

* the :class:`~.policy.Policy` -- what the solution may not use;
* where the function runs.  ``Guard(policy)`` is for a function defined in
  this process (a notebook's kernel, running its test cells): its code is
  checked by the static detector (:mod:`.detect`) before it runs, it runs
  with the tripwires (:mod:`.tripwires`), and its Python lines can be counted
  (:func:`count_lines`).  ``Guard(policy, local=False)`` is for a function
  that runs somewhere else and is called through a stand-in -- the referee's
  proxies to its sandboxed worker: the caller has checked its source with
  :func:`~.detect.source_findings` already, tripwires here would only watch
  the stand-in, and its lines cannot be counted from here, so those parts are
  left to the caller (:meth:`Guard.count_lines` returns None).

Either way the student's function gets copies of its array arguments (a
change in place is reported) and its warnings are silenced (nbgrader scores a
test cell that wrote to stderr 0).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

import numpy as np

from ._core import GradingFailure, NotWritten, safe_text
from .detect import library_dirs, static_findings
from .policy import NUMPY, Policy
from .tripwires import Tripwires


@dataclass(frozen=True)
class Guard:
    policy: Policy = NUMPY
    local: bool = True

    def own_work(self, fn, fname: str) -> None:
        """Raise :class:`GradingFailure` if ``fn`` refers to something the policy forbids (static check)."""
        if self.local:
            assert_own_work(fn, fname, self.policy)

    def run(self, fn, args: tuple, kwargs: dict | None = None):
        """``(result, exception, forbidden_calls, changed)``, see :func:`guarded`."""
        return guarded(fn, args, kwargs, self)

    def count_lines(self, fn, args, kwargs=None) -> int | None:
        """Python lines of the student's own code run by ``fn(*args, **kwargs)``;
        None where they cannot be counted from here."""
        return count_lines(fn, args, kwargs) if self.local else None


def guarded(fn, args: tuple, kwargs: dict | None = None, guard: Guard | None = None):
    """Run a student's function under ``guard``; return ``(result, exception, forbidden_calls, changed)``.

    * the forbidden-call tripwires run (local guards only);
    * warnings are silenced (a test cell that writes to stderr scores 0 in nbgrader);
    * the student gets copies of the array arguments, compared with the originals
      afterwards: ``changed`` is the index of the first argument changed in place, or None.
    """
    guard = guard or Guard()
    given = tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args)
    tw = Tripwires(guard.policy)
    result, error = None, None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if guard.local:
                result = tw.run(fn, *given, **(kwargs or {}))
            else:
                result = fn(*given, **(kwargs or {}))
    except GradingFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - any error of the student's code is reported
        error = exc
    changed = None
    for i, (a, b) in enumerate(zip(given, args)):
        if isinstance(b, np.ndarray) and (a.shape != b.shape or not np.array_equal(a, b, equal_nan=True)):
            changed = i
            break
    return result, error, tw.calls, changed


def call(fn, args: tuple, kwargs: dict | None = None, *, fname: str, case: str, guard: Guard | None = None):
    """Call a student's function on one test case under guard (see :func:`guarded`);
    turn NotImplementedError, any other exception, a forbidden call or a changed
    input into a GradingFailure that names the case."""
    guard = guard or Guard()
    result, error, calls, changed = guarded(fn, args, kwargs, guard)
    if calls:
        raise GradingFailure(own_work_message(fname, calls, guard.policy), "forbidden", fatal=True)
    if isinstance(error, NotImplementedError):
        raise NotWritten(f"{fname} is not written yet: it raises NotImplementedError. Replace the line "
                         "`raise NotImplementedError()` with your code.", fatal=True)
    if isinstance(error, RecursionError):
        raise GradingFailure(f"{fname} recursed without end on the test case {case}.")
    if error is not None:
        text = safe_text(str(error))
        raise GradingFailure(f"{fname} raised {type(error).__name__}" + (f": {text}" if text else "") +
                             f"\non the test case {case}.")
    if changed is not None:
        code = getattr(fn, "__code__", None)
        argname = (code.co_varnames[changed] if code is not None and changed < code.co_argcount
                   else f"argument {changed + 1}")
        raise GradingFailure(f"{fname} changed its input {argname!r} in place on the test case {case}. "
                             "A function must not modify the arrays it is given: work on a copy "
                             "(np.pad returns a new array; `x = x + 1` makes a new array, `x += 1` does not).")
    return result


#: the interpreter's own hooks, taken when the checks are imported: a notebook
#: that later replaces ``sys.settrace`` cannot switch the line counter off
_SETTRACE, _GETTRACE, _SETPROFILE, _GETPROFILE = sys.settrace, sys.gettrace, sys.setprofile, sys.getprofile
_HOOKS = {id(f) for f in (sys.settrace, sys.setprofile)}


class CounterSwitchedOff(Exception):
    """The student's code removed or replaced the line counter while it ran."""


def _library_frame(frame, libs) -> bool:
    """Installed code: its file lies under a library folder, and it runs in the
    namespace of a module loaded from that folder (code compiled under a
    library's file name but run in the notebook's namespace is the student's)."""
    if not frame.f_code.co_filename.startswith(libs):
        return False
    mod = sys.modules.get(frame.f_globals.get("__name__", ""))
    return (mod is not None and getattr(mod, "__dict__", None) is frame.f_globals
            and str(getattr(mod, "__file__", "") or "").startswith(libs))


def count_lines(fn, args, kwargs=None) -> int:
    """Number of Python lines executed in the student's own code (not in
    NumPy or any installed library) while ``fn(*args, **kwargs)`` runs, in
    every thread.  Raises :class:`CounterSwitchedOff` when that code calls
    ``sys.settrace``/``sys.setprofile`` (or ``threading``'s) or leaves another
    tracer in place: a loop it hid that way could not be counted."""
    import threading

    libs = library_dirs()
    count = 0
    tampered = []

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def tracer(frame, event, arg):
        if _library_frame(frame, libs):
            return None
        return local

    running = False

    def watch(frame, event, arg):  # a profile hook: sees calls of built-in functions too
        if running and event == "c_call" and (id(arg) in _HOOKS
                                              or getattr(arg, "__name__", "") in ("settrace", "setprofile")):
            tampered.append(getattr(arg, "__name__", "?"))

    old_trace, old_profile = _GETTRACE(), _GETPROFILE()
    old_thread = threading.gettrace()
    threading.settrace(tracer)
    _SETTRACE(tracer)
    _SETPROFILE(watch)
    running = True
    try:
        fn(*args, **(kwargs or {}))
    finally:
        running = False
        still = _GETTRACE() is tracer and _GETPROFILE() is watch
        _SETPROFILE(old_profile)
        _SETTRACE(old_trace)
        threading.settrace(old_thread)
    if tampered or not still:
        raise CounterSwitchedOff(", ".join(dict.fromkeys(tampered)) or "a replaced hook")
    return count


def own_work_message(fname: str, found: list[str], policy: Policy = NUMPY) -> str:
    listed = "\n".join(f"  - {f}" for f in found[:6])
    return (f"{fname} uses what this question asks you to write yourself:\n{listed}\n"
            f"{policy.allowed}. This question scores 0 until you remove that.")


def assert_own_work(fn, name: str | None = None, policy: Policy = NUMPY) -> None:
    """Raise :class:`GradingFailure` if ``fn`` refers to a forbidden function (static check).

    The dynamic check runs with every call the checks make (:func:`call`).
    """
    fname = name or getattr(fn, "__name__", "your function")
    found = static_findings(fn, policy)
    if found:
        raise GradingFailure(own_work_message(fname, found, policy), "forbidden", fatal=True)
