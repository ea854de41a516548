"""Checks of trained networks (ps3, ps4): accuracy on held-out data, freezing layers."""

from __future__ import annotations

from typing import Sequence

from .._core import GradingFailure, public
from ._common import GUARD, _forward, _run, _torch


def accuracy(model, data, batch_size: int = 500, forward=None) -> float:
    """Top-1 accuracy of ``model`` (eval mode, no gradients) on a dataset of (image, label) pairs."""
    torch, _, _ = _torch()
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    forward = forward or model
    was = model.training
    model.eval()
    right = total = 0
    try:
        with torch.no_grad():
            for x, y in loader:
                right += int((forward(x).argmax(1) == y).sum())
                total += len(y)
    finally:
        model.train(was)
    return right / max(total, 1)


@public
def check_accuracy(model, data, minimum: float, what: str = "the held-out set", name: str = "model"):
    """``model`` classifies at least ``minimum`` of ``data`` correctly."""
    torch, nn, _ = _torch()
    if not isinstance(model, nn.Module):
        raise GradingFailure(f"{name} is not a trained network (got {type(model).__name__}): run the "
                             "training cell above first.")
    acc = accuracy(model, data, forward=lambda x: _forward(model, x, name))
    if acc < minimum:
        raise GradingFailure(f"{name} classifies {acc:.1%} of {what} correctly; at least {minimum:.0%} is needed. "
                             "Train longer, check the learning rate, and check that the loss goes down.",
                             "accuracy")



def _trainable_expected(model, trainable):
    prefixes = tuple(trainable)
    return {n: any(n == p or n.startswith(p + ".") for p in prefixes) for n, _ in model.named_parameters()}


@public
def check_freeze(fn, cases: Sequence[tuple], fname: str | None = None):
    """``fn(model, trainable) -> count``: parameters whose name starts with one of the
    module names in ``trainable`` keep requires_grad=True, all others get False, and
    the number of trainable values (not tensors) is returned.
    ``cases``: (description, model factory, trainable) triples."""
    fname = fname or getattr(fn, "__name__", "freeze")
    GUARD.own_work(fn, fname)
    for what, factory, trainable in cases:
        model = factory()
        want = _trainable_expected(model, trainable)
        got_count = _run(fn, (model, tuple(trainable)), {}, fname, f"on {what} with trainable={tuple(trainable)}")
        got = {n: p.requires_grad for n, p in model.named_parameters()}
        wrong = [n for n in want if want[n] != got[n]]
        case = f"{what}, trainable={tuple(trainable)}"
        if wrong:
            frozen_too = [n for n in wrong if want[n]]
            if len(frozen_too) == sum(want.values()) and frozen_too and not [n for n in wrong if not want[n]]:
                key, text = "froze_everything", "the layers that should train were frozen too"
            elif all(want[n] != got[n] for n in want):
                key, text = "inverted", "the trainable and frozen layers are swapped"
            elif any(not want[n] for n in wrong) and any(p.startswith(t) for p in wrong for t in trainable):
                key, text = "prefix", ("a name is matched by its first letters only (e.g. 'layer1' also matches "
                                       "'layer10'); match the module name followed by a dot")
            else:
                key, text = None, f"{len(wrong)} parameter tensors have the wrong requires_grad, e.g. {wrong[0]!r}"
            raise GradingFailure(f"{fname} on {case}: {text}.", key)
        n_values = sum(p.numel() for p in model.parameters() if p.requires_grad)
        n_tensors = sum(1 for p in model.parameters() if p.requires_grad)
        if got_count != n_values:
            if got_count == n_tensors and n_tensors != n_values:
                raise GradingFailure(f"{fname} on {case} returns the number of trainable tensors; return the "
                                     "number of trainable values: sum of p.numel().", "count_tensors")
            raise GradingFailure(f"{fname} on {case} returns {got_count!r}; it should return the number of "
                                 "values that will train: sum(p.numel() for p in model.parameters() "
                                 "if p.requires_grad).", "count")


@public
def check_frozen_unchanged(model, original, trainable, name: str = "model"):
    """The parameters of ``model`` outside ``trainable`` equal those of ``original``
    (the network before fine-tuning): frozen layers did not move."""
    torch, _, _ = _torch()
    keep = _trainable_expected(original, trainable)
    cur = dict(model.named_parameters())
    moved = [n for n, p in original.named_parameters()
             if not keep[n] and (n not in cur or not torch.equal(cur[n].detach(), p.detach()))]
    if moved:
        raise GradingFailure(f"{name}: {len(moved)} frozen parameter tensors changed during fine-tuning (e.g. "
                             f"{moved[0]!r}). Give the optimizer only the parameters with requires_grad, and "
                             "freeze before you build the optimizer (weight decay moves frozen weights too).",
                             "frozen_changed")
