"""CNN Lab: a course kit on convolutional neural networks.

Sub-packages
------------
cnnlab.shapes  output sizes, parameter counts, receptive fields (no torch)
cnnlab.ref     numba reference ops: conv and pool, forward and backward (no torch)

Importing :mod:`cnnlab` itself is cheap: it imports neither numba nor torch.
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
]
