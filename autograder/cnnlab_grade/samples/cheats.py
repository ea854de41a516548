"""The cheats and the wrong code of the sample class, as the source a student would write.

Each one is an attempt to get points without the work that the grader must
defeat: reading the course's files, writing the gradebook, monkeypatching
the reference and NumPy, a module beside the notebook or written at run time
that replaces the check library, IPython AST and input transformers, "assert
tricks", and a custom exception handler.
"""

ZEROS_CONV = '''def conv2d_loop(x, w, b=None, stride=1, padding=0):
    """Wrong on purpose: zeros of the right shape and dtype."""
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    OH = (H - R + 2 * padding) // stride + 1
    OW = (W - S + 2 * padding) // stride + 1
    return np.zeros((N, K, OH, OW), dtype=x.dtype)
'''


FAKE_CHECKS = '''"""A fake cnnlab.checks whose checks pass everything."""
def _nothing(*args, **kwargs):
    return None
def question(qid):
    def register(test):
        test()
        return test
    return register
class ConvCase:
    def __init__(self, *args, **kwargs):
        pass
def random_conv_cases(*args, **kwargs):
    return []
def random_size_cases(*args, **kwargs):
    return []
expect = start = summary = _nothing
check_output_size = check_conv2d = check_conv2d_grouped = check_im2col = _nothing
check_vectorised = check_convolve2d = check_flip_invariant = _nothing
'''


READ_SOURCE = '''# the solutions are in the course's source notebook, three folders up
import glob, json, os
for _pattern in ("../../../source/ps1/ps1.ipynb", "../../source/ps1/ps1.ipynb", "/*/*/source/ps1/ps1.ipynb",
                 "/*/*/*/source/ps1/ps1.ipynb", os.path.expanduser("~/*/source/ps1/ps1.ipynb")):
    for _path in glob.glob(_pattern):
        try:
            for _cell in json.load(open(_path))["cells"]:
                _src = "".join(_cell["source"])
                if "BEGIN SOLUTION" in _src:
                    exec(_src)
        except Exception:
            pass
'''


READ_LINKED = '''# the solutions come in through links uploaded beside the notebook
import json, os
for _path in ("solution.ipynb", "friend.ipynb"):
    try:
        for _cell in json.load(open(_path))["cells"]:
            _src = "".join(_cell["source"])
            if _cell["cell_type"] == "code" and "def " in _src:
                exec(_src)
    except Exception:
        pass
'''


WRITE_GRADEBOOK = '''# extra credit, straight into the gradebook
import glob, sqlite3
for _db in glob.glob("../../../gradebook.db") + glob.glob("/*/*/gradebook.db") + glob.glob("/*/*/*/gradebook.db"):
    try:
        _con = sqlite3.connect(_db)
        _con.execute("UPDATE grade SET extra_credit = 100")
        _con.commit()
    except Exception:
        pass
'''


PATCH_NUMPY = '''

import sys
_np_max = np.max


def _max(*args, **kwargs):
    caller = sys._getframe(1).f_globals.get("__name__", "")
    return 0.0 if caller.startswith("cnnlab.checks") else _np_max(*args, **kwargs)


np.max = _max
'''


AST_TRANSFORMER = '''

import ast


class _NoChecks(ast.NodeTransformer):
    def visit_Call(self, node):
        self.generic_visit(node)
        f = node.func
        name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
        return ast.Constant(None) if name.startswith("check_") or name == "expect" else node

    def visit_Assert(self, node):
        return None


get_ipython().ast_transformers.append(_NoChecks())
'''


INPUT_TRANSFORMER = '''

def _blank_tests(lines):
    text = "".join(lines)
    return [] if ("check_" in text or "expect(" in text) else lines


get_ipython().input_transformers_cleanup.append(_blank_tests)
'''


WRITE_FILES = f'''

import os, sys
os.makedirs("fake/cnnlab", exist_ok=True)
open("fake/cnnlab/__init__.py", "w").close()
with open("fake/cnnlab/checks.py", "w") as _fh:
    _fh.write({FAKE_CHECKS!r})
sys.path.insert(0, os.path.abspath("fake"))
for _name in [m for m in sys.modules if m == "cnnlab" or m.startswith("cnnlab.")]:
    del sys.modules[_name]
from cnnlab.checks import expect, question  # the test cells use these names from the setup cell
'''


ALWAYS_EQUAL = '''class _Always(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


def output_size(n, f, stride=1, padding=0):
    return _Always(0)
'''


CUSTOM_EXC = '''

get_ipython().set_custom_exc((BaseException,), lambda shell, etype, evalue, tb, tb_offset=None: None)
'''


#: The detector switched off, then scipy.signal reached by a name the source does not show.
TRIPWIRE_OFF_SCIPY = """import sys as _sys
vars(_sys)["set" + "profile"] = lambda *args, **kwargs: None   # no profile hook can be installed now


def conv2d_loop(x, w, b=None, stride=1, padding=0):
    sig = __import__(bytes(c ^ 1 for c in b"rbhqx/rhfo`m").decode(), fromlist=["x"])
    N, C = x.shape[:2]
    K = w.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.stack([np.stack([sum(sig.correlate(xp[n, c], w[k, c], mode="valid") for c in range(C))
                            [::stride, ::stride] for k in range(K)]) for n in range(N)]).astype(x.dtype)
    return y if b is None else y + b[None, :, None, None]
"""
