"""Which device to compute on: CUDA if there is one, then Apple's MPS, else the CPU."""

from __future__ import annotations

import torch

_KINDS = ("cuda", "mps", "cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return _mps_available()
    return kind == "cpu"


def describe_device(dev) -> str:
    """A one-line description of a device, e.g. ``'cuda:0 (NVIDIA H100 80GB HBM3)'``."""
    dev = torch.device(dev)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if dev.type == "mps":
        return "mps (Apple GPU, Metal Performance Shaders)"
    if dev.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(dev)


def device(name: str | None = None, *, verbose: bool = True) -> torch.device:
    """The device to compute on, and (unless ``verbose=False``) a line saying which.

    Without ``name``: CUDA when ``torch.cuda.is_available()``, then Apple MPS,
    else the CPU.  With ``name`` (``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'mps'``)
    that device, after checking that this machine has it.

    >>> dev = cnnlab.device()              # prints e.g. "cnnlab: computing on cpu (2 threads)"
    >>> x = torch.randn(8, 3, 32, 32, device=dev)
    """
    if name is None:
        kind = next(k for k in _KINDS if _available(k))
        dev = torch.device(kind)
    else:
        try:
            dev = torch.device(name)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"name must be a device such as 'cpu', 'cuda', 'cuda:0' or 'mps', "
                             f"got {name!r} ({exc})") from None
        if dev.type not in _KINDS:
            raise ValueError(f"name must be a 'cpu', 'cuda' or 'mps' device, got {name!r}")
        if not _available(dev.type):
            have = ", ".join(k for k in _KINDS if _available(k))
            raise RuntimeError(f"device {name!r} was asked for, but this machine has no {dev.type.upper()} "
                               f"device PyTorch can use (available: {have}); call cnnlab.device() "
                               "without a name to take the best available one")
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {name!r} was asked for, but this machine has "
                               f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 ...)")
    if verbose:
        print(f"cnnlab: computing on {describe_device(dev)}")
    return dev
