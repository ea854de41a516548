"""What the network checks share: running the student's code under guard
(PyTorch allowed, the model zoo not: :data:`~cnnlab.checks.policy.TORCH`),
matching layers with the reference's, copying weights, fingerprints."""

from __future__ import annotations

from .._core import GradingFailure, NotWritten, safe_text, shape_text
from ..guard import Guard, own_work_message
from ..policy import TORCH

#: how these checks call the student's code
GUARD = Guard(TORCH)


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
    result, error, calls, _ = GUARD.run(fn, args, kwargs)
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
    GUARD.own_work(cls, fname)
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


def _trace(model, x):
    """One forward pass (no gradients) recorded at the layers with parameters:
    ``([(module, input shape, output shape)], error)`` in call order (output
    shape None for a layer that raised); the error the pass raised (None when
    it ran through)."""
    torch, _, _ = _torch()
    rows = []

    def shape(t):
        t = t[0] if isinstance(t, (tuple, list)) and t else t
        return tuple(t.shape) if hasattr(t, "shape") else None

    def pre(module, inputs):
        rows.append((module, shape(inputs), None))

    def hook(module, inputs, output):
        for i in range(len(rows) - 1, -1, -1):
            if rows[i][0] is module and rows[i][2] is None:
                rows[i] = (module, rows[i][1], shape(output))
                break

    owners = [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]
    handles = [m.register_forward_pre_hook(pre) for m in owners] + [m.register_forward_hook(hook) for m in owners]
    error = None
    try:
        with torch.no_grad():
            model(x)
    except Exception as exc:  # noqa: BLE001 - reported with the trace
        error = exc
    finally:
        for h in handles:
            h.remove()
    return rows, error


def _n_params(m) -> int:
    return sum(p.numel() for p in m.parameters(recurse=False))


def trace_text(got_rows, want_rows, labels, error=None) -> str:
    """The student's layers against the reference's, one line each, up to and
    including the first that differs (type, input and output shape, parameters)."""
    lines = ["Layer by layer (the layers with parameters, in the order forward() calls them):"]
    for i, (w, w_in, w_out) in enumerate(want_rows):
        label = labels[i] if i < len(labels) else f"layer {i + 1}"
        want = (f"{_describe(w)}: {_shape(w_in)} -> {_shape(w_out)}, {_n_params(w):,} parameters")
        if i >= len(got_rows):
            lines.append(f"  x {label}: yours " + (f"is not reached (forward() raised {type(error).__name__} after "
                                                   "the layer above)" if error is not None else "is missing")
                         + f"; expected {want}.")
            return "\n".join(lines)
        g, g_in, g_out = got_rows[i]
        mine = f"{_describe(g)}: {_shape(g_in)} -> {_shape(g_out)}, {_n_params(g):,} parameters"
        if mine == want and type(g) is type(w):
            lines.append(f"  \u2713 {label}: {mine}")
            continue
        lines.append(f"  x {label}: yours is {mine}; expected {want}.")
        lines.append(f"The first layer that differs is {label}.")
        return "\n".join(lines)
    if len(got_rows) > len(want_rows):
        g, g_in, g_out = got_rows[len(want_rows)]
        lines.append(f"  x an extra layer: {_describe(g)}: {_shape(g_in)} -> {_shape(g_out)}.")
    return "\n".join(lines)


def _shape(s) -> str:
    return "(fails here)" if s is None else shape_text(s)


def _compare_layers(student, ref, x, fname, labels):
    """Match the layers with parameters of two models in forward order; copy
    the reference's weights into the student's; raise on a mismatch, with a
    layer-by-layer trace that names the first layer that differs."""
    got_rows, error = _trace(student, x)
    want_rows, _ = _trace(ref, x)
    got = list(dict.fromkeys(m for m, _, _ in got_rows))
    want = list(dict.fromkeys(m for m, _, _ in want_rows))

    def fail(text, key):
        raise GradingFailure(text + "\n" + trace_text(got_rows, want_rows, labels, error), key)
    for i, w in enumerate(want):
        label = labels[i] if i < len(labels) else f"layer {i + 1}"
        if i >= len(got):
            if error is not None:
                fail(f"{fname} raised {type(error).__name__} on an input of shape {shape_text(x.shape)}"
                     + (f": {safe_text(str(error))}" if safe_text(str(error)) else "."), "forward_error")
            fail(f"{fname} has {len(got)} layers with parameters; it needs {len(want)}. "
                 f"The first one missing is {label}: {_describe(w)}.", "missing_layer")
        if _signature(got[i]) != _signature(w) or type(got[i]) is not type(w):
            fail(f"{fname}: layer {i + 1} with parameters (in the order the forward pass uses them) is "
                 f"{_describe(got[i])}, but {label} should be {_describe(w)}.", "wrong_layer")
    if len(got) > len(want):
        fail(f"{fname} has {len(got)} layers with parameters; it needs {len(want)} "
             f"(an extra {_describe(got[len(want)])}).", "extra_layer")
    if error is not None:
        fail(f"{fname} raised {type(error).__name__} on an input of shape {shape_text(x.shape)}"
             + (f": {safe_text(str(error))}" if safe_text(str(error)) else "."), "forward_error")
    for s, r in zip(got, want):
        _copy(r, s)


def _check_equivalent(student, ref, x, fname, variants):
    want = _forward(ref, x, "the reference", guard=False)
    got = _forward(student, x, fname)
    if tuple(got.shape) != tuple(want.shape):
        raise GradingFailure(f"{fname} returns shape {shape_text(got.shape)} for an input of shape "
                             f"{shape_text(x.shape)}; it should return {shape_text(want.shape)}.\n"
                             + trace_text(_trace(student, x)[0], _trace(ref, x)[0], ()), "output_shape")
    if not _close(got, want):
        key, text = _match_fingerprint(got, variants, x)
        raise GradingFailure(f"{fname} has the right layers but computes something else: with the reference's "
                             f"weights copied in, its outputs differ on an input of shape {shape_text(x.shape)}.\n"
                             + (text or "Check the activations, the pooling and the order of the layers in "
                                        "forward()."), key)

