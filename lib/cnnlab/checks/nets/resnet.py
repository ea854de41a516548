"""Checks of ps4: a ResNet BasicBlock (identity and projection shortcuts) and a small ResNet."""

from __future__ import annotations

from typing import Sequence

from .._core import GradingFailure, public, shape_text
from ._common import (_build, _calls, _close, _copy, _describe, _forward, _match_fingerprint, _randomise,
                      _signature, _torch, _trace, trace_text)


def basic_block_reference(in_channels, out_channels, stride=1):
    """torchvision's BasicBlock (cnnlab.models.BasicBlock) with a projection
    shortcut (1x1 convolution with the stride, then BatchNorm) where the shape changes."""
    _, nn, _ = _torch()
    from ...models import BasicBlock

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
    from ... import ref

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
        x = torch.randn(1, 1, 28, 28)
        raise GradingFailure(f"{fname} has {got:,} parameters; the network described has {want:,}. "
                             "Check the stem (3x3 convolution without bias, BatchNorm) and the head "
                             "(one linear layer after global average pooling).\n"
                             + trace_text(_trace(student.eval(), x)[0], _trace(ref.eval(), x)[0], ()), "param_count")
