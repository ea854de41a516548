"""The sandboxed half of the referee: runs the student's code, calls its functions.

This file runs from its source text (``python -I -c SOURCE IN_FD OUT_FD``)
inside the sandbox, with only the standard library and NumPy; it imports
nothing of the grader.  It is untrusted territory: whatever it sends back is
only ever parsed as JSON and ``.npy`` (``allow_pickle=False``) by the grader,
which compares it with the reference in its own process.

Frames on both pipes: 4-byte big-endian header length, the JSON header, then
for each of ``header["blobs"]`` an 8-byte length and the bytes (``.npy``).
"""

import io
import json
import os
import re
import struct
import sys
import traceback


def _read_exact(fd, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def read_frame(fd):
    (n,) = struct.unpack(">I", _read_exact(fd, 4))
    header = json.loads(_read_exact(fd, n))
    blobs = []
    for _ in range(header.get("blobs", 0)):
        (m,) = struct.unpack(">Q", _read_exact(fd, 8))
        blobs.append(_read_exact(fd, m))
    return header, blobs


def write_frame(fd, header, blobs=()):
    header = dict(header, blobs=len(blobs))
    data = json.dumps(header).encode()
    parts = [struct.pack(">I", len(data)), data]
    for b in blobs:
        parts += [struct.pack(">Q", len(b)), b]
    payload = b"".join(parts)
    view = memoryview(payload)
    while view:
        n = os.write(fd, view)
        view = view[n:]


_MAGIC = re.compile(r"^(\s*)[%!].*$")


def _continued_lines(src: str) -> set:
    """1-based numbers of the lines that continue a statement begun on an earlier line (inside
    brackets, after a backslash, inside a triple-quoted string): a ``%`` or ``!`` there is
    Python (``"%d" \n % x``), not a magic -- as IPython reads it."""
    import tokenize

    rows, start = set(), None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING):
                continue
            if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                if start is not None:
                    rows.update(range(start + 1, tok.start[0] + 1))
                start = None
            elif start is None:
                start = tok.start[0]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass   # code that does not tokenize to the end: the lines read so far
    return rows


def strip_magics(src: str):
    """Notebook code as plain Python: line magics and shell lines (at the start of a
    statement) become ``pass``; a cell magic other than %%time/%%timeit/%%capture skips
    the cell."""
    lines = src.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        if lines[0].split()[0] not in ("%%time", "%%timeit", "%%capture"):
            return None
        lines = lines[1:]
    continued = _continued_lines("\n".join(lines) + "\n")
    return "\n".join(line if n in continued else _MAGIC.sub(r"\1pass", line)
                     for n, line in enumerate(lines, 1))


class _Anything:
    """What ``get_ipython()`` returns here: every attribute is a no-op."""

    def __getattr__(self, name):
        return _Anything()

    def __call__(self, *a, **k):
        return _Anything()

    def __iter__(self):
        return iter(())


def _npy(arr, blobs):
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    blobs.append(buf.getvalue())
    return len(blobs) - 1


def encode(value, blobs, depth=0):
    """A value as JSON with arrays (and NumPy scalars) as ``.npy`` blobs;
    Python and NumPy scalar types are kept apart (``int`` vs ``np.int64``)."""
    import numpy as np

    if depth > 8:
        raise TypeError("the result is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        if value.dtype == object:
            raise TypeError("the result holds Python objects, not numbers")
        return {"__npscalar__": _npy(np.asarray(value), blobs)}
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return {"__float__": repr(value)}
    if isinstance(value, complex):
        return {"__complex__": [value.real, value.imag]}
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, (tuple, list)):
        return {"__tuple__" if isinstance(value, tuple) else "__list__": [encode(v, blobs, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": {str(k): encode(v, blobs, depth + 1) for k, v in value.items()}}
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TypeError(f"the result is a {type(value).__name__}, not an array of numbers")
    return {"__array__": _npy(arr, blobs)}


def decode(tree, blobs):
    import numpy as np

    if isinstance(tree, dict):
        if "__array__" in tree:
            return np.load(io.BytesIO(blobs[tree["__array__"]]), allow_pickle=False)
        if "__npscalar__" in tree:
            return np.load(io.BytesIO(blobs[tree["__npscalar__"]]), allow_pickle=False)[()]
        if "__float__" in tree:
            return float(tree["__float__"])
        if "__complex__" in tree:
            return complex(*tree["__complex__"])
        if "__tuple__" in tree:
            return tuple(decode(v, blobs) for v in tree["__tuple__"])
        if "__list__" in tree:
            return [decode(v, blobs) for v in tree["__list__"]]
        if "__dict__" in tree:
            return {k: decode(v, blobs) for k, v in tree["__dict__"].items()}
        raise ValueError("bad tree")
    if isinstance(tree, (int, str, bool)) or tree is None:
        return tree
    raise ValueError("bad tree")


def _describe(exc: BaseException):
    names = [c.__name__ for c in type(exc).__mro__]
    tb = traceback.extract_tb(exc.__traceback__)
    where = next((f"line {f.lineno} of cell {f.filename[6:-1]}" for f in reversed(tb)
                  if f.filename.startswith("<cell ")), None)
    return {"type": type(exc).__name__, "mro": names, "message": str(exc)[:500], "where": where}


class _Unavailable:
    """What a hidden module hands out: a name that fails when it is used."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return _Unavailable(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self._name} is not available to the answers (it is what the question asks you "
                           "to write, or it belongs to the tests)")

    def __iter__(self):
        return iter(())


def _hide(prefixes):
    """Modules the referee hides (their files are not in this sandbox): an
    import still succeeds, so a notebook that imports them for its own checks
    runs on, but using one fails with a plain message."""
    import importlib.abc
    import importlib.machinery
    import types

    class Stub(types.ModuleType):
        def __getattr__(self, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return _Unavailable(f"{self.__name__}.{attr}")

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname, path=None, target=None):
            if any(fullname == p or fullname.startswith(p + ".") for p in prefixes):
                return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            return None

        def create_module(self, spec):
            mod = Stub(spec.name)
            mod.__path__ = []
            return mod

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, Finder())


def run_cell(src, filename, ns):
    """Run a cell's top-level statements one by one; a statement that fails
    does not stop the ones after it.  A student's cell may first try something
    out (compare with the course's reference, which is hidden here) and then
    define the function that is graded: the definition must still happen.
    Returns the first error (described), or None."""
    import ast

    try:
        tree = ast.parse(src, filename)
    except SyntaxError as exc:
        return _describe(exc)
    first = None
    for stmt in tree.body:
        try:
            exec(compile(ast.Module(body=[stmt], type_ignores=[]), filename, "exec"), ns)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt included
            first = first or _describe(exc)
    return first


def main():
    fd_in, fd_out = int(sys.argv[1]), int(sys.argv[2])
    if len(sys.argv) > 3:
        _hide(json.loads(sys.argv[3]))
    # the student's prints must not reach the protocol: stdout/stderr are not our pipes
    ns = {"__name__": "__main__", "get_ipython": lambda: _Anything(), "display": lambda *a, **k: None}
    while True:
        try:
            header, blobs = read_frame(fd_in)
        except EOFError:
            return
        op = header.get("op")
        if op == "cell":
            src = strip_magics(header["source"])
            error = None
            if src is not None:
                error = run_cell(src, f"<cell {header['index']}>", ns)
            write_frame(fd_out, {"op": "cell-done", "index": header["index"], "error": error})
        elif op == "call":
            fn = ns.get(header["fn"])
            if not callable(fn):
                write_frame(fd_out, {"op": "missing", "fn": header["fn"]})
                continue
            args = decode(header["args"], blobs)
            kwargs = decode(header["kwargs"], blobs)
            try:
                value = fn(*args, **kwargs)
            except BaseException as exc:
                write_frame(fd_out, {"op": "raised", **_describe(exc)})
                continue
            out = []
            try:
                tree = encode(value, out)
            except BaseException as exc:
                write_frame(fd_out, {"op": "unreadable", "message": str(exc)[:300]})
                continue
            write_frame(fd_out, {"op": "result", "value": tree}, out)
        elif op == "bye":
            return


if __name__ == "__main__":
    main()
