"""``cnnlab.summary(model, input_size)``: the layer table of the lectures, measured.

One forward pass with hooks on every leaf module records, per call, the output
shape and counts

* **params** -- parameters of the layer (a layer called twice counts once);
* **activations** -- elements of the layer's output. Elementwise layers
  (ReLU and the other activation functions, BatchNorm, Dropout) and layers
  that return their input's shape unchanged without mixing anything
  (Identity, Flatten, a pool to the size its input already has) count 0: as
  in the lecture's tables they belong to the layer before them (ReLU works in
  place; BatchNorm folds into the convolution at inference). Local response
  normalisation mixes channels and counts. The input counts once, in the
  totals. Tensors made outside modules (``torch.cat``, a residual ``+``)
  are not seen;
* **MACs** -- multiply-accumulates of the weights: a convolution costs
  ``K * C/groups * R * S`` per output position (``K`` filters of ``C``
  channels, ``R×S``), a fully connected layer ``in * out``; biases, pooling,
  normalisation and activation functions count 0.

Everything is for the batch given in ``input_size`` (batch 1: per image).
Forward memory is activations × bytes per element (4 for float32), in MB of
10^6 bytes as on the lecture slides.

For VGG-16 on 224×224×3 this gives 15,237,608 activations including the
input, 61 MB per image -- not the "24 M ≈ 96 MB" printed on the CS231n slide,
whose per-layer numbers it reproduces.
"""

from __future__ import annotations

import html
import math
from typing import Sequence

import torch
from torch import nn

__all__ = ["summary", "Summary"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_POOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
         nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
         nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.LPPool1d, nn.LPPool2d)
_CROSS_NORM = (nn.LocalResponseNorm, nn.CrossMapLRN2d)
_ELEMENTWISE = (nn.modules.batchnorm._NormBase, nn.modules.dropout._DropoutNd, nn.Identity, nn.Flatten,
                nn.Unflatten)
_ACTIVATION_MODULE = nn.modules.activation.__name__


def _kind(m: nn.Module) -> str:
    if isinstance(m, _CONV + _CONV_T):
        return "conv"
    if isinstance(m, nn.Linear):
        return "fc"
    if isinstance(m, _POOL):
        return "pool"
    if isinstance(m, _CROSS_NORM):
        return "norm"
    if isinstance(m, _ELEMENTWISE) or type(m).__module__ == _ACTIVATION_MODULE:
        return "elementwise"
    return "other"


def _macs(m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(m, _CONV):
        return out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)
    if isinstance(m, _CONV_T):
        return inp.numel() * (m.out_channels // m.groups) * math.prod(m.kernel_size)
    if isinstance(m, nn.Linear):
        return out.numel() * m.in_features
    return 0


def _first_tensor(x):
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for v in x:
            t = _first_tensor(v)
            if t is not None:
                return t
    if isinstance(x, dict):
        return _first_tensor(list(x.values()))
    return None


def _fmt_shape(shape: Sequence[int] | None) -> str:
    """Per-sample shape in the lecture's H×W×C order (a vector: its length)."""
    if shape is None:
        return "?"
    s = list(shape[1:])
    if len(s) >= 2:
        s = s[1:] + s[:1]
    return "×".join(str(v) for v in s) if s else "1"


class Summary:
    """The result of :func:`summary`: ``rows`` (a list of dicts), ``totals`` (a dict), and a table.

    Each row has ``label`` (``CONV1``, ``POOL1``, ``NORM1``, ``FC6``: weight
    layers numbered together as in the papers), ``name`` (the module's path
    in the model), ``type``, ``kind`` (``conv``, ``fc``, ``pool``, ``norm``,
    ``elementwise``, ``other``), ``input_shape``, ``output_shape`` (with the
    batch dimension), ``params``, ``activations`` and ``macs``.
    ``print(s)`` shows the rows that have parameters or activations;
    ``s.to_text(all_rows=True)`` shows every row.
    """

    def __init__(self, model_name: str, input_size: tuple[int, ...], rows: list[dict], totals: dict) -> None:
        self.model_name = model_name
        self.input_size = input_size
        self.rows = rows
        self.totals = totals

    # convenient read-only views
    @property
    def total_params(self) -> int:
        return self.totals["params"]

    @property
    def total_activations(self) -> int:
        return self.totals["activations"]

    @property
    def total_macs(self) -> int:
        return self.totals["macs"]

    def __getitem__(self, label: str) -> dict:
        """The row with this label (``s["CONV1"]``) or module name (``s["features.conv1"]``)."""
        for r in self.rows:
            if r["label"] == label or r["name"] == label:
                return r
        raise KeyError(f"no row labelled or named {label!r}; labels are "
                       f"{[r['label'] for r in self.rows if r['kind'] != 'elementwise'][:12]}...")

    def _visible(self, all_rows: bool) -> list[dict]:
        return [r for r in self.rows if all_rows or r["params"] or r["activations"]]

    def _table(self, all_rows: bool) -> tuple[list[str], list[list[str]], list[str]]:
        head = ["Layer", "Module", "Output (H×W×C)", "Params", "Activations", "MACs"]
        body = [[r["label"], r["name"], _fmt_shape(r["output_shape"]), f"{r['params']:,}",
                 f"{r['activations']:,}", f"{r['macs']:,}"] for r in self._visible(all_rows)]
        t = self.totals
        foot = [
            f"Input {_fmt_shape(self.input_size)} (batch {self.input_size[0]}): "
            f"{t['input_activations']:,} activations",
            f"Total: {t['params']:,} parameters ({t['trainable_params']:,} trainable), "
            f"{t['activations']:,} activations including the input, {t['macs']:,} MACs",
            f"Forward memory: {t['activations']:,} × {t['bytes_per_element']} bytes = {t['forward_mb']:.2f} MB; "
            f"parameters: {t['params_mb']:.2f} MB",
        ]
        hidden = len(self.rows) - len(body)
        if hidden:
            foot.append(f"({hidden} rows of elementwise layers with no parameters hidden; "
                        f"to_text(all_rows=True) shows them)")
        return head, body, foot

    def to_text(self, all_rows: bool = False) -> str:
        head, body, foot = self._table(all_rows)
        widths = [max(len(x) for x in col) for col in zip(head, *body)]
        align = ["<", "<", ">", ">", ">", ">"]

        def line(cells):
            return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

        rule = "-" * len(line(head))
        out = [f"{self.model_name}", rule, line(head), rule] + [line(r) for r in body] + [rule] + foot
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        t = self.totals
        return (f"<Summary of {self.model_name} on {tuple(self.input_size)}: {t['params']:,} params, "
                f"{t['activations']:,} activations, {t['macs']:,} MACs>")

    def _repr_html_(self) -> str:
        head, body, foot = self._table(False)
        esc = html.escape
        ths = "".join(f"<th style='text-align:{'left' if i < 2 else 'right'}'>{esc(h)}</th>"
                      for i, h in enumerate(head))
        trs = "".join("<tr>" + "".join(f"<td style='text-align:{'left' if i < 2 else 'right'}'>{esc(c)}</td>"
                                       for i, c in enumerate(row)) + "</tr>" for row in body)
        notes = "".join(f"<div>{esc(f)}</div>" for f in foot)
        return (f"<div class='cnnlab-summary'><strong>{esc(self.model_name)}</strong>"
                f"<table><thead><tr>{ths}</tr></thead><tbody>{trs}</tbody></table>{notes}</div>")


def _check_input_size(input_size) -> tuple[int, ...]:
    if isinstance(input_size, torch.Size):
        input_size = tuple(input_size)
    if not isinstance(input_size, (tuple, list)) or len(input_size) < 2 or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in input_size):
        raise ValueError(f"input_size must be a tuple of positive ints with the batch dimension first, "
                         f"as torchinfo takes it, e.g. (1, 3, 227, 227); got {input_size!r}")
    return tuple(input_size)


def summary(model: nn.Module, input_size=None, *, input_data: torch.Tensor | None = None,
            device: str | torch.device | None = None, dtype: torch.dtype = torch.float32) -> Summary:
    """Layer-by-layer table of ``model`` on an input of ``input_size`` (batch dimension first).

    Parameters
    ----------
    model : torch.nn.Module
        Any module; it may live on the ``meta`` device (shapes and counts
        without computing anything).
    input_size : tuple of int
        ``(N, C, H, W)`` for images, e.g. ``(1, 3, 227, 227)``.
    input_data : torch.Tensor, optional
        A real input instead of ``input_size`` (e.g. a batch from a loader).
    device, dtype :
        Where and in what type the zero input is made (default: the model's
        device, float32). The model is put in eval mode for the pass and
        then back in the mode it was in.

    Returns
    -------
    Summary
        ``rows``, ``totals``; prints as a table, shows as HTML in a notebook.

    Examples
    --------
    >>> from cnnlab.models import alexnet
    >>> s = summary(alexnet(), (1, 3, 227, 227))   # doctest: +SKIP
    >>> s["CONV1"]["output_shape"], s["CONV1"]["params"]   # doctest: +SKIP
    ((1, 96, 55, 55), 34944)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if input_data is None:
        if input_size is None:
            raise ValueError("give input_size (with the batch dimension, e.g. (1, 3, 227, 227)) or input_data")
        input_size = _check_input_size(input_size)
        if device is None:
            p = next(model.parameters(), None)
            device = p.device if p is not None else torch.device("cpu")
        x = torch.zeros(input_size, device=device, dtype=dtype)
    else:
        if not isinstance(input_data, torch.Tensor):
            raise TypeError(f"input_data must be a torch.Tensor, got {type(input_data).__name__}")
        x = input_data
        input_size = tuple(x.shape)

    names = {m: n for n, m in model.named_modules()}
    rows: list[dict] = []
    seen_params: set[int] = set()
    counters = {"weight": 0, "pool": 0, "norm": 0}

    def hook(module, inputs, output):
        inp = _first_tensor(inputs)
        out = _first_tensor(output)
        kind = _kind(module)
        params = 0
        for p in module.parameters(recurse=False):
            if id(p) not in seen_params:
                seen_params.add(id(p))
                params += p.numel()
        out_shape = tuple(out.shape) if out is not None else None
        in_shape = tuple(inp.shape) if inp is not None else None
        activations = 0
        if out is not None and kind != "elementwise":
            unchanged = in_shape == out_shape and kind in ("pool", "other") and params == 0
            activations = 0 if unchanged else out.numel()
        if kind in ("conv", "fc"):
            counters["weight"] += 1
            label = f"{'CONV' if kind == 'conv' else 'FC'}{counters['weight']}"
        elif kind in ("pool", "norm"):
            counters[kind] += 1
            label = f"{kind.upper()}{counters[kind]}"
        else:
            label = type(module).__name__
        rows.append(dict(label=label, name=names.get(module, "?"), type=type(module).__name__, kind=kind,
                         input_shape=in_shape, output_shape=out_shape, params=params, activations=activations,
                         macs=_macs(module, inp, out) if inp is not None and out is not None else 0))

    handles = [m.register_forward_hook(hook) for m in model.modules() if next(m.children(), None) is None]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"the forward pass of {type(model).__name__} failed on an input of shape "
                         f"{tuple(x.shape)}: {err}. Check that input_size has the batch dimension first and "
                         f"the channels and size the model expects, e.g. (1, 3, 227, 227)") from err
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    all_params = list(model.parameters())
    n_params = sum(p.numel() for p in all_params)
    n_train = sum(p.numel() for p in all_params if p.requires_grad)
    n_in = x.numel()
    acts = n_in + sum(r["activations"] for r in rows)
    bpe = x.element_size()
    totals = dict(params=n_params, trainable_params=n_train, input_activations=n_in, activations=acts,
                  macs=sum(r["macs"] for r in rows), bytes_per_element=bpe, forward_mb=acts * bpe / 1e6,
                  params_mb=n_params * bpe / 1e6)
    return Summary(type(model).__name__, input_size, rows, totals)
