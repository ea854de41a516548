"""Argument checking for :mod:`cnnlab.gpu`: tensors in, clear errors out.

The shape and size checks are those of :mod:`cnnlab.ref` (both take them from
:mod:`cnnlab._args`); here only what is particular to tensors: the type, a
floating dtype, and every tensor of a call on the same device with the same
dtype (nothing is converted behind the user's back).
"""

from __future__ import annotations

import torch


def as_tensor(value, name: str) -> torch.Tensor:
    """``value`` if it is a floating-point tensor, else a TypeError naming ``name`` and the fix."""
    if not isinstance(value, torch.Tensor):
        hint = (f"convert it with torch.from_numpy({name}) (or use cnnlab.ref, which takes NumPy arrays)"
                if type(value).__module__ == "numpy" else f"pass {name} as a tensor, e.g. torch.tensor({name})")
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}; {hint}")
    if not value.is_floating_point():
        raise TypeError(f"{name} has dtype {value.dtype}, but cnnlab.gpu computes in floating point; "
                        f"pass {name}.float() (float32) or {name}.double() (float64)")
    return value


def like(value, name: str, x: torch.Tensor, x_name: str = "x") -> torch.Tensor:
    """A tensor argument that must share the dtype and the device of ``x``."""
    value = as_tensor(value, name)
    if value.dtype != x.dtype:
        raise TypeError(f"{name} has dtype {value.dtype} but {x_name} has dtype {x.dtype}; "
                        f"convert one of them, e.g. {name}.to({x_name}.dtype)")
    if value.device != x.device:
        raise ValueError(f"{name} is on device {value.device} but {x_name} is on {x.device}; "
                         f"move it with {name}.to({x_name}.device)")
    return value
