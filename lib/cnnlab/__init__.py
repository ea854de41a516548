"""CNN Lab: a course kit on convolutional neural networks.

Sub-packages
------------
cnnlab.shapes  output sizes, parameter counts, receptive fields (no torch)
cnnlab.ref     numba reference ops: conv and pool, forward and backward (no torch)
cnnlab.gpu     the same ops written with PyTorch tensor operations, with autograd;
               cnnlab.gpu.nn: the matching layers and use_cnnlab_layers(model)
cnnlab.models  the networks of the lectures (PyTorch), and weights that ship
cnnlab.data    datasets that ship or are made here; loaders for MNIST/CIFAR-10
cnnlab.train   fit / evaluate / accuracy, with progress bars and checkpoints
cnnlab.experiments  the book's experiments (degradation, transfer learning), shared with the tests
cnnlab.summary(model, input_size)  the per-layer table: shapes, params, activations, MACs

cnnlab.device() picks the device to compute on (CUDA, then Apple MPS, else the CPU).

Importing :mod:`cnnlab` itself is cheap: it imports neither numba nor torch;
the torch-based parts load on first use (``cnnlab.models``, ``cnnlab.summary``...).
"""

import importlib as _importlib

from ._errors import ShapeError
from .shapes import conv_output_size, conv_params, linear_params, pool_output_size, receptive_field

from ._version import __version__

__all__ = [
    "ShapeError",
    "conv_output_size",
    "pool_output_size",
    "conv_params",
    "linear_params",
    "receptive_field",
    "__version__",
    "summary",
    "Summary",
]  # `device` (lazy, torch) is left out so that `from cnnlab import *` stays light too

_LAZY_SUBMODULES = {"models", "data", "train", "experiments"}
_LAZY_ATTRIBUTES = {"summary": "._summary", "Summary": "._summary", "device": ".gpu._device"}


def __getattr__(name):
    """Torch-based parts are imported on first access, so that ``import cnnlab`` stays light."""
    if name in _LAZY_SUBMODULES:
        return _importlib.import_module(f".{name}", __name__)
    if name in _LAZY_ATTRIBUTES:
        return getattr(_importlib.import_module(_LAZY_ATTRIBUTES[name], __name__), name)
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _LAZY_SUBMODULES | set(_LAZY_ATTRIBUTES))
