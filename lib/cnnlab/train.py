"""cnnlab.train -- fit a model, watch it learn, evaluate it.

>>> from cnnlab import data, models, train
>>> history = train.fit(models.lenet5(), data.digits("train"), data.digits("test"), epochs=10)  # doctest: +SKIP
>>> history.plot()                                                                              # doctest: +SKIP

:func:`fit` shows two tqdm progress bars (epochs; batches of the current
epoch, with the running loss and accuracy), returns a :class:`History` that
plots itself, saves a checkpoint after every epoch if asked (model,
optimizer, scheduler, history and every random state, so that a resumed run
continues exactly where it stopped) and seeds everything it uses.
:func:`evaluate`, :func:`accuracy` (top-k), :func:`predict`,
:func:`confusion_matrix` and :func:`plot_confusion_matrix` go with it.
"""

from __future__ import annotations

import math
import os
import random
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ._args import check_int

__all__ = ["fit", "evaluate", "predict", "accuracy", "History", "seed_everything", "default_device",
           "confusion_matrix", "plot_confusion_matrix", "save_checkpoint", "load_checkpoint"]


# --------------------------------------------------------------------------
# seeding and devices
# --------------------------------------------------------------------------

def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and GPUs).

    ``deterministic=True`` also asks torch for deterministic algorithms
    (slower on GPUs; on CPU the usual kernels are deterministic already).
    """
    seed = check_int(seed, "seed", minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False


def default_device() -> torch.device:
    """The best device available: a CUDA GPU, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _device(device) -> torch.device:
    if device is None or device == "auto":
        return default_device()
    return torch.device(device)


# --------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------

def accuracy(logits: torch.Tensor, labels: torch.Tensor, topk: int | Sequence[int] = 1):
    """Fraction of samples whose true label is among the ``k`` highest scores.

    logits: (N, classes) scores (or probabilities); labels: (N,) class indices.
    ``topk`` an int gives one float; a tuple, e.g. ``(1, 5)``, gives a tuple.

    >>> scores = torch.tensor([[0.1, 0.5, 0.3, 0.1]])   # true class: 2 ("alpaca")
    >>> accuracy(scores, torch.tensor([2]), topk=(1, 2))
    (0.0, 1.0)
    """
    logits = torch.as_tensor(logits)
    labels = torch.as_tensor(labels)
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, classes), got shape {tuple(logits.shape)}")
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must be (N,) = ({logits.shape[0]},) class indices, got shape {tuple(labels.shape)}")
    single = isinstance(topk, int)
    ks = (topk,) if single else tuple(topk)
    for k in ks:
        check_int(k, "topk", minimum=1)
        if k > logits.shape[1]:
            raise ValueError(f"topk={k} is larger than the number of classes ({logits.shape[1]})")
    if logits.shape[0] == 0:
        raise ValueError("accuracy of an empty batch is undefined; pass at least one sample")
    top = logits.topk(max(ks), dim=1).indices                  # (N, kmax), best first
    hit = top == labels.to(top.device)[:, None]
    out = tuple(float(hit[:, :k].any(1).float().mean()) for k in ks)
    return out[0] if single else out


def _as_loader(data, batch_size: int, shuffle: bool, generator: torch.Generator | None, num_workers: int):
    """A DataLoader (or a faster in-memory batcher) for a Dataset; a DataLoader passes through."""
    if isinstance(data, (DataLoader, _MemoryBatches)):
        return data
    if not isinstance(data, Dataset) and not hasattr(data, "__getitem__"):
        raise TypeError(f"data must be a torch Dataset or DataLoader, got {type(data).__name__}")
    from .data._dataset import ImageDataset
    if isinstance(data, ImageDataset) and data.transform is None and data.target_transform is None \
            and num_workers == 0:
        return _MemoryBatches(data, batch_size, shuffle, generator)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=num_workers)


class _MemoryBatches:
    """Batches of an in-memory :class:`~cnnlab.data.ImageDataset` without a call per item: the same
    batches as a DataLoader would give, faster; the order is fixed by ``generator``."""

    def __init__(self, ds, batch_size, shuffle, generator):
        self.ds, self.batch_size, self.shuffle, self.generator = ds, batch_size, shuffle, generator

    def __len__(self):
        return math.ceil(len(self.ds) / self.batch_size)

    def __iter__(self):
        n = len(self.ds)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for s in range(0, n, self.batch_size):
            idx = order[s:s + self.batch_size]
            yield self.ds.data[idx].float().div_(255.0), self.ds.targets[idx]


def _main_output(out):
    """The logits of a model that may return extra outputs (GoogLeNet's auxiliary heads)."""
    return out[0] if isinstance(out, (tuple, list)) else out


@torch.no_grad()
def predict(model: nn.Module, data, device=None, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of ``model`` on all of ``data`` and the true labels: ``(N, classes)``, ``(N,)`` on the CPU."""
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    device = _device(device)
    loader = _as_loader(data, batch_size, False, None, 0)
    was_training = model.training
    model.eval()
    outs, labels = [], []
    try:
        for x, y in loader:
            outs.append(_main_output(model(x.to(device))).float().cpu())
            labels.append(torch.as_tensor(y))
    finally:
        model.train(was_training)
    return torch.cat(outs), torch.cat(labels)


def evaluate(model: nn.Module, data, loss_fn: Callable | None = None, device=None, batch_size: int = 256,
             topk: Sequence[int] = (1,)) -> dict:
    """Mean loss and top-k accuracies of ``model`` on ``data``.

    Returns ``{"loss": ..., "accuracy": top-1, "top5": ... (for each k > 1 in topk), "n": samples}``.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    logits, labels = predict(model, data, device, batch_size)
    ks = tuple(k for k in topk if k <= logits.shape[1])
    accs = accuracy(logits, labels, topk=ks or (1,))
    result = {"loss": float(loss_fn(logits, labels)), "accuracy": accs[0], "n": len(labels)}
    for k, a in zip(ks[1:], accs[1:]):
        result[f"top{k}"] = a
    return result


def confusion_matrix(labels, predictions, num_classes: int | None = None) -> np.ndarray:
    """Counts ``cm[true, predicted]`` as an int array ``(classes, classes)``.

    ``predictions`` may be class indices ``(N,)`` or logits ``(N, classes)``.
    """
    labels = torch.as_tensor(labels).long().flatten()
    predictions = torch.as_tensor(predictions)
    if predictions.ndim == 2:
        num_classes = num_classes or predictions.shape[1]
        predictions = predictions.argmax(1)
    predictions = predictions.long().flatten()
    if len(labels) != len(predictions):
        raise ValueError(f"labels ({len(labels)}) and predictions ({len(predictions)}) differ in length")
    k = num_classes or int(max(labels.max(), predictions.max())) + 1
    cm = torch.bincount(labels * k + predictions, minlength=k * k).reshape(k, k)
    return cm.numpy()


def plot_confusion_matrix(cm, classes: Sequence[str] | None = None, normalize: bool = False,
                          title: str = "Confusion matrix", ax=None):
    """Plot a confusion matrix (rows: true class, columns: predicted) with the counts written in.

    Returns the matplotlib Figure. ``normalize=True`` shows each row as fractions.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square matrix, got shape {cm.shape}")
    k = cm.shape[0]
    classes = [str(c) for c in (classes if classes is not None else range(k))]
    if len(classes) != k:
        raise ValueError(f"classes has {len(classes)} names for a {k}×{k} matrix")
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    if ax is None:
        fig = _new_figure(figsize=(1.0 + 0.45 * k, 0.8 + 0.45 * k), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    im = ax.imshow(shown, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_xticks(range(k), classes, rotation=90 if max(map(len, classes)) > 2 else 0)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= 30:
        hi = shown.max() / 2 if shown.size else 0
        for i in range(k):
            for j in range(k):
                txt = f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > hi else "black")
    return fig


def _new_figure(**kwargs):
    """A Figure that a notebook shows once when it is returned (not again by pyplot at the cell's end)."""
    import matplotlib.pyplot as plt

    fig = plt.figure(**kwargs)
    plt.close(fig)
    return fig


# --------------------------------------------------------------------------
# history
# --------------------------------------------------------------------------

class History:
    """What happened in each epoch: ``history["train_loss"]``, ``["val_acc"]``... (one value per epoch).

    Keys: ``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``
    (None without validation data), ``lr`` and ``seconds`` (time of the
    epoch). ``history.plot()`` draws loss and accuracy against the epoch.
    """

    KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")

    def __init__(self, records: dict | None = None) -> None:
        self.records: dict[str, list] = {k: [] for k in self.KEYS}
        if records:
            for k, v in records.items():
                self.records[k] = list(v)

    def append(self, **values) -> None:
        unknown = set(values) - set(self.KEYS)
        if unknown:
            raise KeyError(f"unknown history keys {sorted(unknown)}; the keys are {self.KEYS}")
        for k in self.KEYS:
            self.records[k].append(values.get(k))

    def __getitem__(self, key: str) -> list:
        if key not in self.records:
            raise KeyError(f"no {key!r} in the history; the keys are {list(self.records)}")
        return self.records[key]

    def __len__(self) -> int:
        return len(self.records["epoch"])

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in self.records.items()}

    @property
    def total_seconds(self) -> float:
        return float(sum(s for s in self.records["seconds"] if s is not None))

    def __repr__(self) -> str:
        if not len(self):
            return "<History: no epochs>"
        last = {k: self.records[k][-1] for k in ("train_loss", "train_acc", "val_loss", "val_acc")}
        shown = ", ".join(f"{k}={v:.4f}" for k, v in last.items() if v is not None)
        return f"<History: {len(self)} epochs, {self.total_seconds:.1f} s; last: {shown}>"

    def plot(self, title: str | None = None):
        """Loss (left) and accuracy (right) per epoch, train and validation. Returns the Figure."""
        fig = _new_figure(figsize=(9, 3.4), layout="constrained")
        ax_loss, ax_acc = fig.subplots(1, 2)
        ep = self.records["epoch"]
        for ax, key, name in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
            for split, style in (("train", "-o"), ("val", "-s")):
                vals = self.records[f"{split}_{key}"]
                pts = [(e, v) for e, v in zip(ep, vals) if v is not None]
                if pts:
                    ax.plot(*zip(*pts), style, ms=3, label=f"{'validation' if split == 'val' else split}")
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        return fig


# --------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------

def _rng_state(generator: torch.Generator | None) -> dict:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
        "loader": generator.get_state() if generator is not None else None,
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, generator: torch.Generator | None) -> None:
    random.setstate(tuple(state["python"][:1]) + (tuple(state["python"][1]),) + tuple(state["python"][2:]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if generator is not None and state.get("loader") is not None:
        generator.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path, model, optimizer=None, scheduler=None, epoch: int = 0, history: History | None = None,
                    generator: torch.Generator | None = None, **extra) -> Path:
    """Save everything needed to resume training to ``path`` (written atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch),
        "history": history.to_dict() if history is not None else None,
        "rng": _rng_state(generator),
        "extra": extra,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path, model, optimizer=None, scheduler=None, generator=None, map_location=None) -> dict:
    """Restore what :func:`save_checkpoint` saved; returns the checkpoint dict (``epoch``, ``history``...)."""
    state = torch.load(path, map_location=map_location or "cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if state.get("rng") is not None:
        _set_rng_state(state["rng"], generator)
    return state


# --------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------

def _make_optimizer(optimizer, params, lr, weight_decay, momentum):
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer) and not isinstance(optimizer, str):
        return optimizer(params)
    name = (optimizer or "adam").lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    raise ValueError(f"optimizer must be 'adam', 'adamw', 'sgd', a torch optimizer or a function of the "
                     f"parameters; got {optimizer!r}")


def _make_scheduler(scheduler, optimizer, epochs, steps_per_epoch, lr):
    """Returns (scheduler, per_batch)."""
    if scheduler is None:
        return None, False
    if isinstance(scheduler, str):
        total = epochs * steps_per_epoch
        if scheduler == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), True
        if scheduler == "onecycle":
            return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total), True
        raise ValueError(f"scheduler must be 'cosine', 'onecycle', None or a torch scheduler, got {scheduler!r}")
    if callable(scheduler) and not hasattr(scheduler, "step"):
        return scheduler(optimizer), False
    return scheduler, False


def fit(model: nn.Module, train, val=None, epochs: int = 10, *, batch_size: int = 64, optimizer="adam",
        lr: float = 1e-3, weight_decay: float = 0.0, momentum: float = 0.9, scheduler=None,
        loss_fn: Callable | None = None, aux_weight: float = 0.3, device=None, seed: int | None = 0,
        checkpoint: str | os.PathLike | None = None, resume: bool = True, progress: bool = True,
        num_workers: int = 0, history: History | None = None,
        on_batch: Callable[[dict], None] | None = None) -> History:
    """Train ``model`` on ``train`` for ``epochs`` epochs; evaluate on ``val`` after each.

    Parameters
    ----------
    model : torch.nn.Module
        Moved to ``device``. A model returning a tuple (GoogLeNet with
        auxiliary heads in training mode) gets ``loss(main) + aux_weight *
        loss(each auxiliary output)``.
    train, val : Dataset or DataLoader
        A Dataset is batched with ``batch_size`` (shuffled for ``train``).
    epochs : int
        Total number of epochs (a resumed run continues up to this number).
    optimizer : ``'adam'`` (default), ``'adamw'``, ``'sgd'`` (with
        ``momentum``, Nesterov), a torch optimizer, or a function
        ``params -> optimizer``; with ``lr`` and ``weight_decay``.
    scheduler : None, ``'cosine'`` or ``'onecycle'`` (stepped after each
        batch), or a torch scheduler / function ``optimizer -> scheduler``
        (stepped after each epoch).
    loss_fn : default :class:`torch.nn.CrossEntropyLoss`.
    device : ``'auto'``/None (GPU if there is one), ``'cpu'``, ``'cuda'``...
    seed : int or None
        Seeds Python, NumPy and torch before building anything, and the
        shuffling. None leaves the random state alone.
    checkpoint : path, optional
        Saved after every epoch; with ``resume=True`` an existing checkpoint
        is loaded and training continues after its last epoch -- with the
        same random state, so the result equals an uninterrupted run.
    progress : bool
        tqdm bars for the epochs and the batches (False: silent).
    on_batch : callable, optional
        Called after every optimizer step with a dict ``{"epoch", "step"
        (counted from 1 over the whole run), "loss", "accuracy"}`` of that
        batch: for curves finer than one point per epoch.

    Returns
    -------
    History
    """
    from tqdm.auto import tqdm

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if seed is not None:
        seed_everything(seed)
    dev = _device(device)
    model.to(dev)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed if seed is not None else int.from_bytes(os.urandom(7), "little"))
    train_loader = _as_loader(train, batch_size, True, generator, num_workers)
    val_loader = _as_loader(val, max(batch_size, 256), False, None, num_workers) if val is not None else None
    steps = len(train_loader)
    if steps == 0:
        raise ValueError("the training data is empty")
    opt = _make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad], lr, weight_decay, momentum)
    sched, per_batch = _make_scheduler(scheduler, opt, epochs, steps, lr)
    history = history if history is not None else History()
    start = 0
    if checkpoint is not None and resume and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, model, opt, sched, generator, map_location=dev)
        start = state["epoch"]
        history = History(state["history"])

    epoch_bar = tqdm(range(start, epochs), desc="epochs", initial=start, total=epochs, disable=not progress,
                     unit="epoch")
    for epoch in epoch_bar:
        t0 = time.perf_counter()
        model.train()
        sum_loss, correct, seen = 0.0, 0, 0
        batch_bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not progress,
                         unit="batch")
        for i, (x, y) in enumerate(batch_bar):
            x, y = x.to(dev, non_blocking=True), torch.as_tensor(y).to(dev, non_blocking=True)
            out = model(x)
            if isinstance(out, (tuple, list)):
                logits = out[0]
                loss = loss_fn(logits, y) + aux_weight * sum(loss_fn(o, y) for o in out[1:] if o is not None)
            else:
                logits = out
                loss = loss_fn(logits, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} in epoch {epoch + 1}, batch {i + 1}; "
                                         f"lower the learning rate (lr={lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None and per_batch:
                sched.step()
            n = len(y)
            batch_loss, batch_correct = float(loss.detach()), int((logits.detach().argmax(1) == y).sum())
            sum_loss += batch_loss * n
            correct += batch_correct
            seen += n
            if on_batch is not None:
                on_batch(dict(epoch=epoch + 1, step=epoch * steps + i + 1, loss=batch_loss,
                              accuracy=batch_correct / n))
            if progress and (i % 10 == 0 or i == steps - 1):
                batch_bar.set_postfix(loss=f"{sum_loss / seen:.4f}", acc=f"{correct / seen:.4f}", refresh=False)
        batch_bar.close()
        if sched is not None and not per_batch:
            sched.step()
        train_loss, train_acc = sum_loss / seen, correct / seen
        val_loss = val_acc = None
        if val_loader is not None:
            ev = evaluate(model, val_loader, loss_fn, dev)
            val_loss, val_acc = ev["loss"], ev["accuracy"]
        history.append(epoch=epoch + 1, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
                       val_acc=val_acc, lr=opt.param_groups[0]["lr"], seconds=time.perf_counter() - t0)
        post = dict(loss=f"{train_loss:.4f}", acc=f"{train_acc:.4f}")
        if val_acc is not None:
            post.update(val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.4f}")
        epoch_bar.set_postfix(post)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, opt, sched, epoch + 1, history, generator)
    epoch_bar.close()
    return history
