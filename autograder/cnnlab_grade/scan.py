"""Static checks on a submission, done by the grader (never in the student's process).

* :func:`suspicious_code` points out code that tries to influence grading
  (IPython hooks and transformers, replacing library functions, comparison
  overrides, reaching for the course's files, exiting the kernel).  It never
  changes a score -- the sandbox and the referee take care of that -- it tells
  the TA where to look.
* :func:`split_files` decides which submitted files may sit beside the
  notebook: Python modules (and other importable things) may not, because
  they would shadow the modules the tests import.
"""

from __future__ import annotations

import ast

from cnnlab.checks.detect import source_names

from .referee._worker_main import strip_magics
from .sandbox.home import is_shadowing

IPYTHON_HOOKS = {
    "input_transformers_cleanup": "registers an IPython input transformer",
    "input_transformers_post": "registers an IPython input transformer",
    "input_transformer_manager": "changes IPython's input transformers",
    "ast_transformers": "registers an IPython AST transformer",
    "set_custom_exc": "installs a custom exception handler",
    "register_magic_function": "registers a magic",
    "showtraceback": "replaces IPython's traceback display",
    "run_cell": "replaces IPython's cell runner",
    "excepthook": "replaces the exception hook",
}
MODULE_NAMES = {"np", "numpy", "cnnlab", "ref", "torch", "F", "math", "builtins", "__builtins__", "sys", "os",
                "testing", "npt", "IPython", "ipykernel", "unittest", "pytest", "nbgrader"}
COMPARISON_DUNDERS = {"__eq__", "__ne__", "__bool__", "__array_ufunc__", "__array_function__", "__array_wrap__",
                      "__array_finalize__", "__len__", "__lt__", "__le__", "__ge__", "__gt__", "__abs__"}
COURSE_WORDS = ("gradebook", "/source", "source/", "autograded", "submitted/", "release/", "nbgrader_config",
                "../..")
EXITS = {"_exit": "exits the kernel", "exit": "exits", "kill": "sends signals", "abort": "aborts"}


def _base_name(node):
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _namespace_of_module(node, modules) -> str | None:
    """``vars(sys)`` or ``sys.__dict__`` (a module's namespace, written through a subscript), else None."""
    if (isinstance(node, ast.Call) and _dotted(node.func) == "vars" and node.args
            and _base_name(node.args[0]) in modules):
        return f"vars({_dotted(node.args[0])})"
    if isinstance(node, ast.Attribute) and node.attr == "__dict__" and _base_name(node.value) in modules:
        return _dotted(node)
    return None


def suspicious_code(cells: list[tuple[int, str]]) -> list[str]:
    """Plain-words findings for (cell index, source) pairs, each once."""
    found: list[str] = []

    def add(msg, cell, node):
        text = f"{msg} (cell {cell}, line {getattr(node, 'lineno', '?')})"
        if not any(f.split(" (cell")[0] == msg for f in found):
            found.append(text)

    trees, plain = [], []
    for idx, src in cells:
        code = strip_magics(src)
        try:
            tree = ast.parse(code or "")
        except SyntaxError:
            continue
        trees.append((idx, tree))
        plain.append((idx, code))
    # names that stand for modules and library objects: the usual ones, what the
    # cells' imports and aliases bind (the detector's reading: cnnlab.checks.detect),
    # and names imported inside functions
    modules = set(MODULE_NAMES) | set(source_names(plain))
    for idx, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules.update((a.asname or a.name).split(".")[0] for a in node.names)
    for idx, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in IPYTHON_HOOKS:
                add(IPYTHON_HOOKS[node.attr], idx, node)
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Attribute) and _base_name(t) in modules:
                        add(f"replaces {_dotted(t)}", idx, node)
                    elif isinstance(t, ast.Subscript) and _dotted(t.value) in ("sys.modules", "__builtins__"):
                        add(f"replaces an entry of {_dotted(t.value)}", idx, node)
                    elif isinstance(t, ast.Subscript) and _namespace_of_module(t.value, modules):
                        add(f"replaces an entry of {_namespace_of_module(t.value, modules)}", idx, node)
            elif isinstance(node, ast.Delete):
                for t in node.targets:
                    if isinstance(t, ast.Subscript) and _dotted(t.value) == "sys.modules":
                        add("removes modules from sys.modules", idx, node)
                    elif isinstance(t, ast.Attribute) and _base_name(t) in modules:
                        add(f"deletes {_dotted(t)}", idx, node)
            elif isinstance(node, ast.Call):
                name = _dotted(node.func) or ""
                if name in ("setattr", "builtins.setattr") and node.args and _base_name(node.args[0]) in modules:
                    add(f"replaces an attribute of {_dotted(node.args[0])}", idx, node)
                if name in ("sys.modules.pop", "sys.modules.clear", "sys.modules.update", "sys.path.insert",
                            "sys.path.append", "importlib.reload"):
                    add(f"calls {name}", idx, node)
                last = name.rsplit(".", 1)[-1]
                if name.startswith(("os.", "sys.", "signal.")) and last in EXITS:
                    add(f"{name} ({EXITS[last]})", idx, node)
                if name in ("signal.signal",):
                    add("changes signal handlers", idx, node)
            elif isinstance(node, ast.Raise) and node.exc is not None and "SystemExit" in (_dotted(
                    node.exc.func if isinstance(node.exc, ast.Call) else node.exc) or ""):
                add("raises SystemExit", idx, node)
            elif isinstance(node, ast.FunctionDef) and node.name in COMPARISON_DUNDERS:
                add(f"defines {node.name} (objects that compare as the tests expect)", idx, node)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                low = node.value.lower()
                hit = next((w for w in COURSE_WORDS if w in low), None)
                if hit:
                    add(f"refers to course files ({hit!r})", idx, node)
    return found


def split_files(names) -> tuple[list[str], list[str]]:
    """(allowed, quarantined) among submitted files other than notebooks."""
    allowed, quarantined = [], []
    for name in sorted(names):
        parts = name.split("/")
        if any(is_shadowing(p) for p in parts) or "__pycache__" in parts:
            quarantined.append(name)
        else:
            allowed.append(name)
    return allowed, quarantined
