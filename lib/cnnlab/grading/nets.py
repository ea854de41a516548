"""Checks of ps3 and ps4: networks the students build in PyTorch (LeNet-5, a
small VGG, a ResNet BasicBlock and a small ResNet), their layer tables, and
networks they train or fine-tune.

A student's network is compared with the reference of :mod:`cnnlab.models`:
the layers with parameters are matched (in the order the forward pass calls
them, so the order of definition does not matter), the reference's weights
are copied into the student's network, and both must then compute the same
function.  When they do not, the fingerprints below (the reference's weights
in a typically wrong arrangement: tanh for ReLU, no ReLU after the addition,
...) say what is most likely wrong.

torch is imported when a check runs, not when this module is imported.
"""

from __future__ import annotations

from typing import Sequence

from .. import shapes
from ._core import GradingFailure, NotWritten, guarded, public, safe_text, shape_text
from .forbid import TORCH, assert_own_work, own_work_message


def _torch():
    import torch
    from torch import nn
    from torch.nn import functional as F
    return torch, nn, F


# --------------------------------------------------------------------------
# running the student's code
# --------------------------------------------------------------------------

def _run(fn, args, kwargs, fname, what):
    """Call student code (a constructor, a forward pass) under guard (torch allowed)."""
    result, error, calls, _ = guarded(fn, args, kwargs, TORCH)
    if calls:
        raise GradingFailure(own_work_message(fname, calls, TORCH), "forbidden", fatal=True)
    if isinstance(error, NotImplementedError):
        raise NotWritten(f"{fname} is not written yet: it raises NotImplementedError. Replace the line "
                         "`raise NotImplementedError()` with your code.", fatal=True)
    if error is not None:
        text = safe_text(str(error))
        raise GradingFailure(f"{fname} raised {type(error).__name__} {what}" + (f": {text}" if text else "."))
    return result


def _build(cls, args, fname):
    assert_own_work(cls, fname, TORCH)
    torch, nn, _ = _torch()
    model = _run(cls, args, {}, fname, f"when built as {fname}{tuple(args)!r}")
    if not isinstance(model, nn.Module):
        raise GradingFailure(f"{fname}{tuple(args)!r} is not a torch.nn.Module (got {type(model).__name__}); "
                             "define it as `class ...(nn.Module)` and call super().__init__() first.")
    return model


def _forward(model, x, fname, guard=True):
    """model(x) without gradients; a student's model runs under guard, the reference does not."""
    torch, _, _ = _torch()
    with torch.no_grad():
        if not guard:
            return model(x)
        out = _run(model, (x,), {}, fname, f"on an input of shape {shape_text(x.shape)}")
    if not isinstance(out, torch.Tensor):
        raise GradingFailure(f"{fname}'s forward returned {type(out).__name__}; it must return a tensor.")
    return out


def _calls(model, x, which):
    """The modules of ``model`` for which ``which(m)`` holds, in the order one
    forward pass (without gradients) calls them, once per call."""
    torch, _, _ = _torch()
    calls = []

    def hook(module, inputs, output):
        calls.append(module)

    handles = [m.register_forward_hook(hook) for m in model.modules() if which(m)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return calls


def _param_modules(model, x):
    """Modules that own parameters, in the order the forward pass first calls them."""
    order = []
    for m in _calls(model, x, lambda m: next(m.parameters(recurse=False), None) is not None):
        if m not in order:
            order.append(m)
    return order


def _describe(m) -> str:
    name = type(m).__name__
    if hasattr(m, "kernel_size") and hasattr(m, "in_channels"):
        k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size,) * 2
        return f"{name}({m.in_channels}, {m.out_channels}, kernel {k[0]}x{k[1]}, stride {m.stride[0]}, " \
               f"padding {m.padding[0] if isinstance(m.padding, tuple) else m.padding})"
    if hasattr(m, "in_features"):
        return f"{name}({m.in_features}, {m.out_features})"
    if hasattr(m, "num_features"):
        return f"{name}({m.num_features})"
    return name


def _signature(m):
    return [(n, tuple(p.shape)) for n, p in m.named_parameters(recurse=False)]


def _copy(src, dst):
    """Parameters and buffers (BatchNorm statistics) of module src into module dst."""
    torch, _, _ = _torch()
    with torch.no_grad():
        for (_, p), (_, q) in zip(src.named_parameters(recurse=False), dst.named_parameters(recurse=False)):
            q.copy_(p)
        for (_, b), (_, c) in zip(src.named_buffers(recurse=False), dst.named_buffers(recurse=False)):
            if b.shape == c.shape:
                c.copy_(b)


def _randomise(model, seed):
    """Random weights and BatchNorm statistics (so that eval mode tests them)."""
    torch, nn, _ = _torch()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            for p in m.parameters(recurse=False):
                p.copy_(torch.randn(p.shape, generator=g) * (0.5 / max(1, p[0].numel() if p.dim() > 1 else 1)) ** 0.5)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def _close(a, b, tol=1e-4) -> bool:
    if tuple(a.shape) != tuple(b.shape):
        return False
    a, b = a.detach(), b.detach()
    scale = max(float(b.abs().max()), 1e-6)
    return float((a - b).abs().max()) <= tol * scale


def _match_fingerprint(out, variants, x):
    torch, _, _ = _torch()
    for key, title, hint, fn in variants:
        try:
            with torch.no_grad():
                wrong = fn(x)
        except Exception:  # noqa: BLE001 - a variant that does not apply
            continue
        if wrong is not None and _close(out, wrong):
            return key, f"Most likely: {title}.\n{hint}"
    return None, None


# --------------------------------------------------------------------------
# sequential networks: LeNet-5 and the small VGG
# --------------------------------------------------------------------------

def _compare_layers(student, ref, x, fname, labels):
    """Match the layers with parameters of two models in forward order; copy
    the reference's weights into the student's; raise on a mismatch."""
    got = _param_modules(student, x)
    want = _param_modules(ref, x)
    for i, w in enumerate(want):
        label = labels[i] if i < len(labels) else f"layer {i + 1}"
        if i >= len(got):
            raise GradingFailure(f"{fname} has {len(got)} layers with parameters; it needs {len(want)}. "
                                 f"The first one missing is {label}: {_describe(w)}.", "missing_layer")
        if _signature(got[i]) != _signature(w) or type(got[i]) is not type(w):
            raise GradingFailure(
                f"{fname}: layer {i + 1} with parameters (in the order the forward pass uses them) is "
                f"{_describe(got[i])}, but {label} should be {_describe(w)}.", "wrong_layer")
    if len(got) > len(want):
        raise GradingFailure(f"{fname} has {len(got)} layers with parameters; it needs {len(want)} "
                             f"(an extra {_describe(got[len(want)])}).", "extra_layer")
    for s, r in zip(got, want):
        _copy(r, s)


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


def _check_equivalent(student, ref, x, fname, variants):
    want = _forward(ref, x, "the reference", guard=False)
    got = _forward(student, x, fname)
    if tuple(got.shape) != tuple(want.shape):
        raise GradingFailure(f"{fname} returns shape {shape_text(got.shape)} for an input of shape "
                             f"{shape_text(x.shape)}; it should return {shape_text(want.shape)}.", "output_shape")
    if not _close(got, want):
        key, text = _match_fingerprint(got, variants, x)
        raise GradingFailure(f"{fname} has the right layers but computes something else: with the reference's "
                             f"weights copied in, its outputs differ on an input of shape {shape_text(x.shape)}.\n"
                             + (text or "Check the activations, the pooling and the order of the layers in "
                                        "forward()."), key)


LENET5_LABELS = ("C1", "C3", "C5", "F6", "output")


@public
def check_lenet5(cls, seed: int, batches: Sequence[int] = (1, 4), fname: str | None = None):
    """``cls()`` is LeNet-5 as :func:`cnnlab.models.lenet5` builds it (ReLU, max pooling,
    1x32x32 input, 10 outputs): same layers, same function of the input."""
    torch, _, _ = _torch()
    from ..models import lenet5

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
    from ..models.vgg import make_layers

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
    from .. import summary

    fname = fname or getattr(fn, "__name__", "layer_table")
    assert_own_work(fn, fname, TORCH)
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


# --------------------------------------------------------------------------
# trained networks
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# ResNet: BasicBlock, a small ResNet, freezing
# --------------------------------------------------------------------------

def basic_block_reference(in_channels, out_channels, stride=1):
    """torchvision's BasicBlock (cnnlab.models.BasicBlock) with a projection
    shortcut (1x1 convolution with the stride, then BatchNorm) where the shape changes."""
    _, nn, _ = _torch()
    from ..models import BasicBlock

    down = None
    if stride != 1 or in_channels != out_channels:
        down = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                             nn.BatchNorm2d(out_channels))
    return BasicBlock(in_channels, out_channels, stride, downsample=down)


def _block_roles(model, x):
    """{role: module} of a student's block: conv1/conv2 (3x3, in call order), bn1/bn2
    (the BatchNorm after each), sc_conv/sc_bn (the 1x1 projection and its BatchNorm)."""
    _, nn, _ = _torch()
    calls = _calls(model, x, lambda m: next(m.children(), None) is None)
    roles, last_conv = {}, None
    for m in calls:
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0]
            if k == 1:
                role = "sc_conv"
            else:
                role = "conv1" if "conv1" not in roles else "conv2"
            if role in roles and roles[role] is not m:
                raise GradingFailure(f"the block calls more convolutions than a BasicBlock has "
                                     f"(an extra {_describe(m)}).", "extra_layer")
            roles[role] = m
            last_conv = role
        elif isinstance(m, nn.BatchNorm2d):
            role = {"conv1": "bn1", "conv2": "bn2", "sc_conv": "sc_bn"}.get(last_conv, "bn?")
            roles[role] = m
        elif next(m.parameters(recurse=False), None) is not None:
            raise GradingFailure(f"a BasicBlock has only convolutions and BatchNorm layers; yours also has "
                                 f"{_describe(m)}.", "extra_layer")
    return roles


def _reference_roles(ref):
    roles = {"conv1": ref.conv1, "bn1": ref.bn1, "conv2": ref.conv2, "bn2": ref.bn2}
    if ref.downsample is not None:
        roles["sc_conv"], roles["sc_bn"] = ref.downsample[0], ref.downsample[1]
    return roles


def _block_variants(ref, stride):
    torch, nn, F = _torch()

    def sc(x, bn=True):
        if ref.downsample is None:
            return x
        h = ref.downsample[0](x)
        return ref.downsample[1](h) if bn else h

    def main(x, relu_end=False, swap=False):
        if swap:
            h = F.conv2d(x, ref.conv1.weight, None, 1, 1)
            h = F.relu(ref.bn1(h))
            h = ref.bn2(F.conv2d(h, ref.conv2.weight, None, stride, 1))
        else:
            h = ref.bn2(ref.conv2(F.relu(ref.bn1(ref.conv1(x)))))
        return F.relu(h) if relu_end else h

    return [
        ("no_relu_after_add", "there is no ReLU after the addition",
         "The block ends with relu(main(x) + shortcut(x)).", lambda x: main(x) + sc(x)),
        ("relu_before_add", "the ReLU comes before the addition instead of after it",
         "Add the shortcut to bn2's output first, then apply ReLU: relu(bn2(conv2(...)) + shortcut(x)).",
         lambda x: main(x, relu_end=True) + sc(x)),
        ("no_shortcut", "the shortcut is not added: this is a plain block",
         "Return relu(main(x) + shortcut(x)) with shortcut(x) = x (or the projection).",
         lambda x: F.relu(main(x))),
        ("projection_without_bn", "the projection shortcut has no BatchNorm",
         "The projection is a 1x1 convolution with the stride, followed by nn.BatchNorm2d.",
         lambda x: F.relu(main(x) + sc(x, bn=False))),
        ("stride_on_conv2", "the stride is on the second 3x3 convolution instead of the first",
         "The first 3x3 convolution (and the projection) carry the stride; the second has stride 1.",
         lambda x: F.relu(main(x, swap=True) + sc(x)) if stride != 1 else None),
        ("relu_missing_inside", "there is no ReLU between the two convolutions",
         "conv1 -> bn1 -> ReLU -> conv2 -> bn2.",
         lambda x: F.relu(ref.bn2(ref.conv2(ref.bn1(ref.conv1(x)))) + sc(x))),
    ]


def _block_by_ref(roles, x, training: bool):
    """The BasicBlock with the modules ``roles`` computed by the course's reference, :mod:`cnnlab.ref`
    (``conv2d`` and ``batch_norm2d``, numba, float64), in training or evaluation mode. Returns the
    output and ``{bn role: (running_mean, running_var)}`` after the pass (copies: the modules keep
    theirs)."""
    import numpy as np
    torch, _, _ = _torch()
    from .. import ref

    def arr(t):
        return t.detach().cpu().numpy().astype(np.float64)

    stats = {}

    def conv(role, h):
        m = roles[role]
        return ref.conv2d(h, arr(m.weight), None, m.stride, m.padding)

    def bn(role, h):
        m = roles[role]
        rm, rv = arr(m.running_mean).copy(), arr(m.running_var).copy()
        y = ref.batch_norm2d(h, rm, rv, arr(m.weight), arr(m.bias), training, m.momentum, m.eps)
        stats[role] = (rm, rv)
        return y

    xs = arr(x)
    h = np.maximum(bn("bn1", conv("conv1", xs)), 0)
    h = bn("bn2", conv("conv2", h))
    shortcut = bn("sc_bn", conv("sc_conv", xs)) if "sc_conv" in roles else xs
    return torch.from_numpy(np.maximum(h + shortcut, 0)), stats


def _check_block_against_ref(student, roles, want_roles, x, case, fname):
    """The student's block (with the reference's weights) against :func:`_block_by_ref`: in evaluation
    mode, then one forward pass in training mode, and the running statistics it leaves behind."""
    torch, _, _ = _torch()
    want, _ = _block_by_ref(want_roles, x, training=False)
    got = _forward(student, x, fname).double()
    if not _close(got, want):
        raise GradingFailure(f"{case}: in evaluation mode the output differs from the course's reference "
                             "(cnnlab.ref.conv2d and cnnlab.ref.batch_norm2d). Compute "
                             "relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).", "ref_eval")
    want, stats = _block_by_ref(want_roles, x, training=True)
    student.train()
    try:
        got = _forward(student, x, fname).double()
    finally:
        student.eval()
    if not _close(got, want):
        raise GradingFailure(f"{case}: in training mode (model.train()) the output differs from the reference. "
                             "Batch normalisation then normalises with the mean and variance of the batch; "
                             "use nn.BatchNorm2d and call each of its layers once per forward pass.", "train_mode")
    for role, (mean, var) in stats.items():
        m = roles[role]
        for what, have, expected in (("mean", m.running_mean, mean), ("variance", m.running_var, var)):
            if not _close(have.detach().double(), torch.from_numpy(expected)):
                raise GradingFailure(
                    f"{case}: after one forward pass in training mode, the running {what} of {role} differs from "
                    "what batch normalisation keeps: running = (1 - momentum) * running + momentum * batch "
                    "statistic, with momentum 0.1 and the unbiased variance of the batch (cnnlab.ref.batch_norm2d "
                    "computes it). Use nn.BatchNorm2d(out_channels) with its default momentum and eps, and call "
                    "each BatchNorm layer exactly once per forward pass.", "running_stats")


@public
def check_basic_block(cls, configs: Sequence[tuple], seed: int, fname: str | None = None):
    """``cls(in_channels, out_channels, stride)`` is a ResNet BasicBlock: conv3x3
    (with the stride) -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut (the identity,
    or a 1x1 convolution with the stride and BN when the shape changes), then ReLU.
    ``configs``: (in_channels, out_channels, stride, H, W, batch) tuples. With the reference's
    weights copied in, the block must compute what the reference computes in evaluation mode, and
    agree with :mod:`cnnlab.ref` (``conv2d``, ``batch_norm2d``) in evaluation mode, in training mode
    and in the running statistics one training step leaves behind."""
    torch, nn, _ = _torch()
    fname = fname or getattr(cls, "__name__", "BasicBlock")
    for i, (cin, cout, stride, H, W, n) in enumerate(configs):
        case = f"{fname}({cin}, {cout}, stride={stride}) on an input of shape {shape_text((n, cin, H, W))}"
        student = _build(cls, (cin, cout, stride), fname)
        ref = basic_block_reference(cin, cout, stride)
        _randomise(ref, seed + i)
        x = torch.randn(n, cin, H, W, generator=torch.Generator().manual_seed(seed + 100 + i))
        student.eval()
        ref.eval()
        want = _forward(ref, x, "the reference", guard=False)
        got = _forward(student, x, fname)
        if tuple(got.shape) != tuple(want.shape):
            raise GradingFailure(f"{case} returns shape {shape_text(got.shape)}; it should return "
                                 f"{shape_text(want.shape)}.", "output_shape")
        roles = _block_roles(student, x)
        want_roles = _reference_roles(ref)
        if "sc_conv" in roles and "sc_conv" not in want_roles:
            raise GradingFailure(f"{case}: the shape does not change here, so the shortcut is the identity; "
                                 "yours uses a 1x1 convolution. Project only when the stride or the number "
                                 "of channels changes.", "projection_not_needed")
        for role, m in want_roles.items():
            if role not in roles:
                what = {"sc_conv": "the 1x1 projection convolution", "sc_bn": "the BatchNorm of the projection",
                        "bn1": "the BatchNorm after the first convolution",
                        "bn2": "the BatchNorm after the second convolution"}.get(role, role)
                raise GradingFailure(f"{case}: {what} is missing.", f"missing_{role}")
            if _signature(roles[role]) != _signature(m) or type(roles[role]) is not type(m):
                raise GradingFailure(f"{case}: its {role} is {_describe(roles[role])}, but it should be "
                                     f"{_describe(m)} (the convolutions of a BasicBlock have no bias).",
                                     "wrong_layer")
            _copy(m, roles[role])
        got = _forward(student, x, fname)
        if not _close(got, want):
            key, text = _match_fingerprint(got, _block_variants(ref, stride), x)
            raise GradingFailure(f"{case}: with the reference's weights copied in, the output differs.\n"
                                 + (text or "Compute relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."), key)
        _check_block_against_ref(student, roles, want_roles, x, case, fname)


def small_resnet_reference(num_classes=10, in_channels=1):
    """The small ResNet of ps4: conv3x3(in, 16) -> BN -> ReLU, BasicBlocks (16, 16, 1),
    (16, 32, 2), (32, 64, 2), global average pooling, Linear(64, num_classes)."""
    _, nn, _ = _torch()
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        basic_block_reference(16, 16, 1), basic_block_reference(16, 32, 2), basic_block_reference(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))


@public
def check_small_resnet(cls, block_cls, seed: int, fname: str | None = None):
    """``cls(num_classes=10)`` is :func:`small_resnet_reference` built from the student's
    BasicBlock: same parameter count, block outputs of the right shapes, any input size."""
    torch, nn, _ = _torch()
    fname = fname or getattr(cls, "__name__", "SmallResNet")
    ref = small_resnet_reference()
    for num_classes in (10, 3):
        student = _build(cls, (num_classes,), fname)
        for n, size in ((2, 28), (1, 32), (3, 20)):
            x = torch.randn(n, 1, size, size, generator=torch.Generator().manual_seed(seed + size))
            out = _forward(student.eval(), x, fname)
            if tuple(out.shape) != (n, num_classes):
                raise GradingFailure(f"{fname}(num_classes={num_classes}) returns shape {shape_text(out.shape)} "
                                     f"on an input of shape {shape_text(x.shape)}; expected "
                                     f"{shape_text((n, num_classes))}. Global average pooling "
                                     "(nn.AdaptiveAvgPool2d(1)) makes the head independent of the input size.",
                                     "output_shape")
    student = _build(cls, (10,), fname)
    blocks = [m for m in student.modules() if isinstance(m, block_cls)]
    if len(blocks) != 3:
        raise GradingFailure(f"{fname} must use three of your {block_cls.__name__}s (one per stage); "
                             f"it has {len(blocks)}.", "blocks")
    shapes_seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: shapes_seen.append(tuple(o.shape[1:]))) for b in blocks]
    try:
        _forward(student.eval(), torch.randn(1, 1, 28, 28), fname)
    finally:
        for h in hooks:
            h.remove()
    want_shapes = [(16, 28, 28), (32, 14, 14), (64, 7, 7)]
    if shapes_seen != want_shapes:
        raise GradingFailure(f"{fname}: on a 1x28x28 input the three blocks output {shapes_seen}; they should "
                             f"output {want_shapes} (stages of 16, 32 and 64 channels, the last two with "
                             "stride 2).", "stage_shapes")
    got = sum(p.numel() for p in student.parameters())
    want = sum(p.numel() for p in ref.parameters())
    if got != want:
        raise GradingFailure(f"{fname} has {got:,} parameters; the network described has {want:,}. "
                             "Check the stem (3x3 convolution without bias, BatchNorm) and the head "
                             "(one linear layer after global average pooling).", "param_count")


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
    assert_own_work(fn, fname, TORCH)
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


__all__ = ["check_lenet5", "check_small_vgg", "check_layer_table", "check_lenet5_by_hand", "check_accuracy",
           "check_basic_block", "check_small_resnet", "check_freeze", "check_frozen_unchanged", "accuracy",
           "small_vgg_reference", "basic_block_reference", "small_resnet_reference", "lenet5_by_hand_reference",
           "LENET5_LABELS"]
