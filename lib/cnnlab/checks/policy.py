"""What a solution may not use: the policies of the forbidden-call detector.

The assignments ask students to write convolution and pooling themselves, so
a ps1/ps2 solution must not call :mod:`cnnlab` (the reference is in there),
``scipy.signal``/``scipy.ndimage``, or any of torch's convolution, pooling,
unfold or autograd functions (policy :data:`NUMPY`); a ps3/ps4 solution may use
PyTorch but not the course's model zoo and trainer (policy :data:`TORCH`).

A :class:`Policy` is a plain value: the detector (:mod:`.detect`,
:mod:`.tripwires`) and the checks that use it (:mod:`.guard`) are given one,
and the referee's spec names one (``forbid = "numpy"``, see :data:`POLICIES`)
or lists module names (:meth:`Policy.of_modules`).
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import types
from dataclasses import dataclass

#: torch operators (functions, Tensor methods, aten ops) that compute what the
#: students write: convolution, pooling, sliding windows, autograd.
TORCH_OP = re.compile(r"^_*(conv|convolution|slow_conv|thnn_conv|mkldnn_conv|cudnn_conv|miopen_conv"
                      r"|[a-z_]*pool[a-z0-9_]*|unfold|fold|im2col|col2im|backward|grad)")

#: Names that, as string constants next to a dynamic lookup, betray a forbidden call.
SUSPECT_STRINGS = re.compile(r"(conv|pool|unfold|fold|im2col|col2im|correlate|convolve|signal|ndimage"
                             r"|cnnlab|functional|torch|scipy|numba|njit)", re.I)


def _parts(*paths):
    return tuple(os.sep + os.path.join(*p.split("/")) + ("" if p.endswith(".py") else os.sep) for p in paths)


@dataclass(frozen=True)
class Policy:
    """What a solution may not use.

    modules    : module names (a module and everything under it) it must not refer to
    files      : source paths whose Python functions must not run under it
    torch_ops  : whether torch's convolution, pooling, unfold and autograd operators are forbidden
    allowed    : the sentence of the message that says what is allowed
    suspect    : names (or dotted-path components) that, as strings next to getattr/__import__/...,
                 betray a lookup (empty: the pattern :data:`SUSPECT_STRINGS`)
    """
    modules: tuple
    files: tuple
    torch_ops: bool
    allowed: str
    suspect: frozenset = frozenset()

    @classmethod
    def of_modules(cls, modules) -> "Policy":
        """A policy that forbids the given modules (and everything under them), nothing else."""
        modules = tuple(modules)
        return cls(modules=modules, files=_parts(*(m.replace(".", "/") + "/" for m in modules)) if modules else (),
                   torch_ops=False, allowed=f"You may not use {', '.join(modules)}" if modules else "",
                   suspect=frozenset(p for m in modules for p in m.split(".")))

    def module(self, dotted: str) -> str | None:
        """The entry of :attr:`modules` that forbids the dotted name, or None."""
        return next((m for m in self.modules if dotted == m or dotted.startswith(m + ".")), None)

    def forbids(self, dotted: str) -> bool:
        return self.module(dotted) is not None

    def suspects(self, text: str) -> bool:
        """Whether a string (an identifier or dotted path) looks like a forbidden name."""
        if self.suspect:
            return bool(set(text.split(".")) & self.suspect)
        return bool(SUSPECT_STRINGS.search(text))


#: ps1/ps2: write convolution and pooling with NumPy.
NUMPY = Policy(
    modules=("cnnlab", "scipy.signal", "scipy.ndimage", "torch.nn.functional", "torch.nn.modules.conv",
             "torch.nn.modules.pooling", "torch.nn.modules.fold", "torch.nn.grad", "torch.autograd", "torch.func",
             "numba"),
    files=_parts("cnnlab/", "scipy/signal/", "scipy/ndimage/", "torch/nn/functional.py", "torch/nn/grad.py",
                 "torch/nn/modules/conv.py", "torch/nn/modules/pooling.py", "torch/nn/modules/fold.py",
                 "torch/autograd/", "torch/func/", "numba/"),
    torch_ops=True,
    allowed=("You may use Python and NumPy (np.pad, slicing, np.sum, np.einsum, np.tensordot, reshape, "
             "sliding_window_view, ...), and your own helper functions, but not cnnlab, scipy.signal, "
             "scipy.ndimage, torch's convolution, pooling, unfold or autograd functions, or numba (compiled "
             "loops are loops)"))

#: ps3/ps4: build and train networks with PyTorch, not with the course's model zoo.
TORCH = Policy(
    modules=("cnnlab.models", "cnnlab.train", "cnnlab._summary", "cnnlab.summary", "cnnlab.checks", "cnnlab.ref",
             "cnnlab.gpu", "torchvision", "timm"),
    files=_parts("cnnlab/models/", "cnnlab/train.py", "cnnlab/_summary.py", "cnnlab/checks/", "cnnlab/ref/",
                 "cnnlab/gpu/", "torchvision/", "timm/"),
    torch_ops=False,
    allowed=("You may use PyTorch (torch, torch.nn, torch.optim, ...), NumPy, cnnlab.data and your own code, "
             "but not cnnlab.models, cnnlab.train, cnnlab.summary or torchvision: build and train the networks "
             "yourself"),
    suspect=frozenset({"models", "train", "_summary", "summary", "checks", "ref", "gpu", "fit", "torchvision",
                       "lenet5", "LeNet5", "pretrained", "resnet_cifar", "BasicBlock", "vgg"}))

#: A policy that forbids nothing (for checking the checks themselves).
NOTHING = Policy(modules=(), files=(), torch_ops=False, allowed="")

#: The policies a referee spec can name (``forbid = "numpy"``).
POLICIES = {"numpy": NUMPY, "torch": TORCH}


# --------------------------------------------------------------------------
# objects
# --------------------------------------------------------------------------

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


def _objclass_module(obj) -> str:
    oc = getattr(obj, "__objclass__", None)
    if oc is None:
        owner = getattr(obj, "__self__", None)
        oc = owner if isinstance(owner, type) else type(owner)
    mod = getattr(oc, "__module__", "")
    return mod if isinstance(mod, str) else ""


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
        return mod if policy.forbids(mod) else None
    if policy.forbids(mod):
        return f"{mod}.{name}"
    if inspect.isclass(obj):
        for base in obj.__mro__[1:]:
            bmod = getattr(base, "__module__", "") or ""
            if policy.forbids(bmod):
                return f"a subclass of {bmod}.{base.__name__}"
    if policy.torch_ops and (mod.startswith("torch") or _objclass_module(obj).startswith("torch")):
        if isinstance(name, str) and TORCH_OP.match(name):
            return f"torch {name}"
    return None
