"""CNN Lab: a course kit on convolutional neural networks.

Sub-packages
------------
cnnlab.shapes  output sizes, parameter counts, receptive fields (no torch)
cnnlab.ref     numba reference ops: conv and pool, forward and backward (no torch)
cnnlab.gpu     the same ops written with PyTorch tensor operations, with autograd;
               cnnlab.gpu.nn: the matching layers and use_cnnlab_layers(model)

cnnlab.device() picks the device to compute on (CUDA, then Apple MPS, else the CPU).

Importing :mod:`cnnlab` itself is cheap: it imports neither numba nor torch;
the torch-based parts load on first use.
"""

from ._errors import ShapeError
from .shapes import conv_output_size, conv_params, linear_params, pool_output_size, receptive_field

__version__ = "0.1.0"

__all__ = [
    "ShapeError",
    "conv_output_size",
    "pool_output_size",
    "conv_params",
    "linear_params",
    "receptive_field",
    "__version__",
]  # `device` (lazy, torch) is left out so that `from cnnlab import *` stays light too

_LAZY = {"device": ("cnnlab.gpu._device", "device")}


def __getattr__(name):
    """Torch-based names load on first use, so that ``import cnnlab`` stays light."""
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
