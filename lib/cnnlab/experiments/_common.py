"""What the experiments share: train one model the same way as the others and measure it."""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch import nn


def measure(model: nn.Module, input_size: tuple[int, ...]) -> dict:
    """Parameters and multiply-accumulates per image, from :func:`cnnlab.summary`."""
    from .._summary import summary

    s = summary(model, (1, *input_size))
    return dict(params=s.total_params, macs=s.total_macs)


def fast_layout(model: nn.Module) -> nn.Module:
    """The model in the channels-last memory layout (``(N, H, W, C)`` in memory): the same
    computation, and 1.2-1.8 times faster training of these small networks on a CPU (measured
    with oneDNN, one thread), since their convolutions have few channels. Returns ``model``."""
    return model.to(memory_format=torch.channels_last)


def train_and_test(build: Callable[[], nn.Module], train_set, test_set=None, *, epochs: int, lr: float,
                   optimizer: str = "adam", batch_size: int = 64, seed: int = 0, momentum: float = 0.9,
                   steps: bool = False) -> dict:
    """Seed everything, build the model with ``build()``, train it with :func:`cnnlab.train.fit` on
    the CPU and test it once at the end: the same seed gives the same initial weights and batches.

    Returns ``{"model", "params", "macs", "accuracy" (on test_set, None without one), "seconds"
    (training only), "history", "step_loss", "step_accuracy"}``; the per-step lists are filled
    when ``steps``.
    """
    from .. import train

    step_loss: list[float] = []
    step_acc: list[float] = []

    def record(b):
        step_loss.append(b["loss"])
        step_acc.append(b["accuracy"])

    train.seed_everything(seed)
    model = fast_layout(build())
    counts = measure(model, tuple(train_set[0][0].shape))
    t0 = time.perf_counter()
    history = train.fit(model, train_set, None, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                        momentum=momentum, seed=seed, device="cpu", progress=False,
                        on_batch=record if steps else None)
    seconds = time.perf_counter() - t0
    accuracy = train.evaluate(model, test_set, device="cpu")["accuracy"] if test_set is not None else None
    return dict(model=model, **counts, accuracy=accuracy, seconds=seconds, history=history, step_loss=step_loss,
                step_accuracy=step_acc)


def smooth(values, window: int) -> list[float]:
    """Running mean over the last ``window`` values (fewer at the start): a readable noisy curve."""
    t = torch.as_tensor(values, dtype=torch.float64)
    c = torch.cat([torch.zeros(1, dtype=torch.float64), t.cumsum(0)])
    idx = torch.arange(1, len(t) + 1)
    lo = (idx - window).clamp(min=0)
    return ((c[idx] - c[lo]) / (idx - lo)).tolist()
