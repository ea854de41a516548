"""Checks of ps3: LeNet-5, a small VGG, layer tables and LeNet-5 by hand."""

from __future__ import annotations

from typing import Sequence

from ... import shapes
from .._core import GradingFailure, public
from ._common import (GUARD, _build, _check_equivalent, _compare_layers, _randomise, _run, _torch)


def _lenet_variants(ref):
    """The reference LeNet-5's weights in typically wrong arrangements."""
    torch, nn, F = _torch()
    c1, c3 = ref.features[0], ref.features[3]
    f5, f6, out = ref.classifier[0], ref.classifier[2], ref.classifier[4]

    def run(x, act=F.relu, pool=F.max_pool2d, fc_act=True, last=None, flatten=True):
        h = pool(act(c1(x)), 2)
        h = pool(act(c3(h)), 2)
        h = torch.flatten(h, 1)
        h = f5(h)
        h = act(h) if fc_act else h
        h = f6(h)
        h = act(h) if fc_act else h
        h = out(h)
        return last(h) if last else h

    return [
        ("tanh_instead_of_relu", "the activations are tanh instead of ReLU",
         "Use nn.ReLU() after C1, C3, C5 and F6 (the 1998 paper used tanh; this problem set asks for ReLU).",
         lambda x: run(x, act=torch.tanh)),
        ("avg_pool_instead_of_max", "the subsampling layers average instead of taking the maximum",
         "Use nn.MaxPool2d(2) for S2 and S4.", lambda x: run(x, pool=F.avg_pool2d)),
        ("softmax_output", "the network ends with a softmax",
         "Return the raw scores (logits): nn.CrossEntropyLoss applies log-softmax itself.",
         lambda x: run(x, last=lambda h: F.softmax(h, 1))),
        ("log_softmax_output", "the network ends with a log-softmax",
         "Return the raw scores (logits): nn.CrossEntropyLoss applies log-softmax itself.",
         lambda x: run(x, last=lambda h: F.log_softmax(h, 1))),
        ("relu_on_output", "a ReLU follows the output layer",
         "The output layer gives raw scores, which may be negative: no activation after it.",
         lambda x: run(x, last=F.relu)),
        ("no_fc_activation", "there is no activation between the fully connected layers",
         "Put nn.ReLU() after C5 and after F6: without it the three linear layers collapse into one.",
         lambda x: run(x, fc_act=False)),
    ]


LENET5_LABELS = ("C1", "C3", "C5", "F6", "output")


@public
def check_lenet5(cls, seed: int, batches: Sequence[int] = (1, 4), fname: str | None = None):
    """``cls()`` is LeNet-5 as :func:`cnnlab.models.lenet5` builds it (ReLU, max pooling,
    1x32x32 input, 10 outputs): same layers, same function of the input."""
    torch, _, _ = _torch()
    from ...models import lenet5

    fname = fname or getattr(cls, "__name__", "LeNet5")
    student = _build(cls, (), fname)
    ref = lenet5()
    _randomise(ref, seed)
    for n in batches:
        x = torch.randn(n, 1, 32, 32, generator=torch.Generator().manual_seed(seed + n))
        _compare_layers(student, ref, x, fname, LENET5_LABELS)
        student.eval()
        ref.eval()
        _check_equivalent(student, ref, x, fname, _lenet_variants(ref))


def small_vgg_reference(cfg=(16, 16, "M", 32, 32, "M"), in_channels=1, input_size=32, hidden=64,
                        num_classes=10):
    """The small VGG of ps3: VGG's conv stacks (cnnlab.models.vgg.make_layers), then
    flatten -> Linear(C*S*S, hidden) -> ReLU -> Linear(hidden, num_classes)."""
    torch, nn, _ = _torch()
    from ...models.vgg import make_layers

    pools = sum(1 for v in cfg if v == "M")
    side = input_size // 2 ** pools
    channels = [v for v in cfg if v != "M"][-1]
    return nn.Sequential(make_layers(list(cfg), in_channels), nn.Flatten(),
                         nn.Linear(channels * side * side, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def _vgg_variants(ref):
    torch, nn, F = _torch()
    convs = [m for m in ref[0] if isinstance(m, nn.Conv2d)]
    fc1, fc2 = ref[2], ref[4]

    def run(x, pad=1, fc_act=True, conv_act=True):
        h = x
        for m in ref[0]:
            if isinstance(m, nn.Conv2d):
                h = F.conv2d(h, m.weight, m.bias, padding=pad)
            elif isinstance(m, nn.ReLU):
                h = F.relu(h) if conv_act else h
            else:
                h = m(h)
        h = fc1(torch.flatten(h, 1))
        return fc2(F.relu(h) if fc_act else h)

    assert convs
    return [
        ("no_conv_activation", "there is no ReLU after the convolutions",
         "Every 3x3 convolution is followed by nn.ReLU().", lambda x: run(x, conv_act=False)),
        ("no_fc_activation", "there is no activation between the fully connected layers",
         "Put nn.ReLU() after the first linear layer.", lambda x: run(x, fc_act=False)),
    ]


@public
def check_small_vgg(cls, seed: int, fname: str | None = None):
    """``cls()`` is :func:`small_vgg_reference`: two stacks of two 3x3 convolutions
    (16 and 32 channels, padding 1, ReLU) each followed by 2x2 max pooling, then
    Linear(32*8*8, 64), ReLU, Linear(64, 10); input 1x32x32."""
    torch, _, _ = _torch()
    fname = fname or getattr(cls, "__name__", "SmallVGG")
    student = _build(cls, (), fname)
    ref = small_vgg_reference()
    _randomise(ref, seed)
    labels = ("conv 1 (16 filters)", "conv 2 (16 filters)", "conv 3 (32 filters)", "conv 4 (32 filters)",
              "the first linear layer", "the output layer")
    for n in (1, 3):
        x = torch.randn(n, 1, 32, 32, generator=torch.Generator().manual_seed(seed + n))
        _compare_layers(student, ref, x, fname, labels)
        student.eval()
        ref.eval()
        _check_equivalent(student, ref, x, fname, _vgg_variants(ref))


# --------------------------------------------------------------------------
# layer tables
# --------------------------------------------------------------------------

@public
def check_layer_table(fn, models: Sequence, fname: str | None = None):
    """``fn(model, input_size) -> rows``: one ``(name, output_shape, params)`` per call of a
    leaf module (a module without children) in forward order, as :func:`cnnlab.summary`
    lists them.  ``models``: (description, model, input_size) triples."""
    from ... import summary

    fname = fname or getattr(fn, "__name__", "layer_table")
    GUARD.own_work(fn, fname)
    for what, model, input_size in models:
        want = [(r["name"], tuple(r["output_shape"]), int(r["params"])) for r in summary(model, input_size).rows]
        got = _run(fn, (model, input_size), {}, fname, f"on {what} with input_size {input_size}")
        try:
            got = [(str(a), tuple(int(v) for v in b), int(c)) for a, b, c in got]
        except (TypeError, ValueError):
            raise GradingFailure(f"{fname} must return a list of (name, output_shape, params) triples; "
                                 f"on {what} it returned something else.") from None
        if len(got) != len(want):
            raise GradingFailure(f"{fname} gives {len(got)} rows for {what}; the forward pass calls "
                                 f"{len(want)} leaf modules (ReLU and pooling included, each call one row).",
                                 "table_rows")
        for i, (g, w) in enumerate(zip(got, want)):
            if g[0] != w[0]:
                raise GradingFailure(f"{fname}, row {i + 1} for {what}: name {g[0]!r}, expected {w[0]!r} "
                                     "(the name model.named_modules() gives that module).", "table_name")
            if g[1] != w[1]:
                raise GradingFailure(f"{fname}, row {i + 1} ({w[0]}) for {what}: output shape {g[1]}, expected "
                                     f"{w[1]} (with the batch dimension).", "table_shape")
            if g[2] != w[2]:
                hint = (" A module shared by several calls counts its parameters once, at its first call."
                        if g[2] == 0 or w[2] == 0 else " Count p.numel() of the module's own parameters.")
                raise GradingFailure(f"{fname}, row {i + 1} ({w[0]}) for {what}: {g[2]} parameters, expected "
                                     f"{w[2]}.{hint}", "table_params")


LENET5_ROWS = ("C1", "S2", "C3", "S4", "C5", "F6", "output")


def lenet5_by_hand_reference() -> dict:
    """LeNet-5's sizes and parameter counts from the formulas of cnnlab.shapes."""
    n1 = shapes.conv_output_size(32, 5)
    n2 = shapes.pool_output_size(n1, 2)
    n3 = shapes.conv_output_size(n2, 5)
    n4 = shapes.pool_output_size(n3, 2)
    return {
        "C1": ((6, n1, n1), shapes.conv_params(1, 6, 5)),
        "S2": ((6, n2, n2), 0),
        "C3": ((16, n3, n3), shapes.conv_params(6, 16, 5)),
        "S4": ((16, n4, n4), 0),
        "C5": ((120,), shapes.linear_params(16 * n4 * n4, 120)),
        "F6": ((84,), shapes.linear_params(120, 84)),
        "output": ((10,), shapes.linear_params(84, 10)),
    }


@public
def check_lenet5_by_hand(table, name: str = "LENET5_BY_HAND"):
    """``table`` maps C1, S2, C3, S4, C5, F6, output to (output shape without the
    batch, number of parameters)."""
    want = lenet5_by_hand_reference()
    if not isinstance(table, dict):
        raise GradingFailure(f"{name} must be a dict from layer names to (shape, params) pairs.")
    missing = [k for k in LENET5_ROWS if k not in table]
    if missing:
        raise GradingFailure(f"{name} lacks the rows {missing}.")
    for k in LENET5_ROWS:
        try:
            shape, params = table[k]
            shape = tuple(int(v) for v in shape)
            params = int(params)
        except (TypeError, ValueError):
            raise GradingFailure(f"{name}[{k!r}] must be a pair (shape tuple, int).") from None
        ws, wp = want[k]
        if shape != ws:
            hint = ("(N - F + 2P)/S + 1 for a convolution; a 2x2 pooling with stride 2 halves the size"
                    if k in ("C1", "S2", "C3", "S4") else "a fully connected layer outputs one number per unit")
            raise GradingFailure(f"{name}[{k!r}]: the output shape is wrong. Use {hint}.", "by_hand_shape")
        if params != wp:
            if k.startswith("S"):
                hint = "pooling has no parameters"
            elif k in ("C1", "C3"):
                hint = ("a convolution has F*F*C_in weights per filter and one bias per filter: "
                        "(F*F*C_in + 1) * K")
                if params == wp - (ws[0]):
                    hint = "the biases are missing: one per filter"
            else:
                hint = "a linear layer has in*out weights and out biases"
                if params == wp - ws[0]:
                    hint = "the biases are missing: one per output unit"
            raise GradingFailure(f"{name}[{k!r}]: the number of parameters is wrong: {hint}.", "by_hand_params")
