"""cnnlab.device(): CUDA, then Apple MPS, then the CPU, and it says which.

This machine has no GPU, so the CUDA and MPS branches are driven by replacing
torch's availability checks; the ops themselves are tested on the CPU."""

import subprocess
import sys

import pytest
import torch

import cnnlab
from cnnlab.gpu import _device


@pytest.fixture
def machine(monkeypatch):
    """Pretend this machine has the given accelerators."""
    def set_(cuda=False, mps=False, name="NVIDIA Test GPU"):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1 if cuda else 0)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: name)
        monkeypatch.setattr(_device, "_mps_available", lambda: mps)
    return set_


@pytest.mark.parametrize("cuda,mps,expected", [(True, True, "cuda"), (True, False, "cuda"),
                                               (False, True, "mps"), (False, False, "cpu")])
def test_picks_cuda_then_mps_then_cpu(machine, capsys, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    dev = cnnlab.device()
    assert dev == torch.device(expected)
    out = capsys.readouterr().out
    assert out.startswith(f"cnnlab: computing on {expected}")
    if expected == "cuda":
        assert "NVIDIA Test GPU" in out


def test_quiet_and_named(machine, capsys):
    machine(cuda=False, mps=False)
    assert cnnlab.device(verbose=False) == torch.device("cpu")
    assert cnnlab.device("cpu", verbose=False) == torch.device("cpu")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name,exc,needle", [
    ("cuda", RuntimeError, "this machine has no CUDA device"),
    ("mps", RuntimeError, "this machine has no MPS device"),
    ("gpu", ValueError, "name must be a device such as"),
    ("meta", ValueError, "must be a 'cpu', 'cuda' or 'mps' device"),
])
def test_asking_for_a_missing_device_says_so(machine, name, exc, needle):
    machine(cuda=False, mps=False)
    with pytest.raises(exc, match=needle):
        cnnlab.device(name, verbose=False)


def test_a_cuda_index_beyond_the_count_is_refused(machine):
    machine(cuda=True)
    assert cnnlab.device("cuda:0", verbose=False) == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match="1 CUDA device"):
        cnnlab.device("cuda:3", verbose=False)


def test_device_is_lazy_and_import_cnnlab_stays_light():
    code = ("import sys, cnnlab; light = 'torch' not in sys.modules; "
            "d = cnnlab.device(verbose=False); print(light, 'torch' in sys.modules, d)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["True", "True"]
    assert cnnlab.device is _device.device
