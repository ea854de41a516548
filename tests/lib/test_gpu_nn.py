"""cnnlab.gpu.nn: torch.nn's layers computed by cnnlab.gpu, swapped into models,
and a small CNN that trains on them exactly as on torch's own layers."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab.gpu import nn as gnn
from strategies import assert_close


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small tensors: a second OpenMP thread only adds waiting on a busy 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


LAYERS = [  # (torch class, cnnlab class, constructor kwargs, input shape)
    (nn.Conv2d, gnn.Conv2d, dict(in_channels=3, out_channels=6, kernel_size=5, padding=2), (2, 3, 12, 11)),
    (nn.Conv2d, gnn.Conv2d, dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), dilation=2,
                                 groups=2, bias=False), (2, 4, 13, 9)),
    (nn.Conv2d, gnn.Conv2d, dict(in_channels=3, out_channels=4, kernel_size=4, padding="same"), (1, 3, 9, 9)),
    (nn.Conv2d, gnn.Conv2d, dict(in_channels=3, out_channels=4, kernel_size=3, padding=2,
                                 padding_mode="reflect"), (2, 3, 8, 8)),
    (nn.Conv2d, gnn.Conv2d, dict(in_channels=2, out_channels=2, kernel_size=3, padding=1,
                                 padding_mode="circular"), (2, 2, 6, 7)),
    (nn.Conv1d, gnn.Conv1d, dict(in_channels=3, out_channels=5, kernel_size=3, stride=2, padding=1), (2, 3, 17)),
    (nn.MaxPool2d, gnn.MaxPool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 3, 10, 9)),
    (nn.MaxPool2d, gnn.MaxPool2d, dict(kernel_size=2, dilation=2), (2, 3, 10, 9)),
    (nn.AvgPool2d, gnn.AvgPool2d, dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), (2, 3, 9, 9)),
    (nn.AvgPool2d, gnn.AvgPool2d, dict(kernel_size=2, ceil_mode=True, divisor_override=3), (2, 3, 7, 7)),
    (nn.AdaptiveAvgPool2d, gnn.AdaptiveAvgPool2d, dict(output_size=(3, None)), (2, 3, 7, 10)),
    (nn.LocalResponseNorm, gnn.LocalResponseNorm, dict(size=5, alpha=1e-2, beta=0.75, k=2.0), (2, 7, 4, 4)),
]


@pytest.mark.parametrize("torch_cls,cnnlab_cls,kwargs,shape", LAYERS,
                         ids=[f"{t.__name__}-{i}" for i, (t, *_) in enumerate(LAYERS)])
def test_layer_is_a_drop_in_replacement(torch_cls, cnnlab_cls, kwargs, shape):
    torch.manual_seed(0)
    theirs = torch_cls(**kwargs).double()
    ours = cnnlab_cls(**kwargs).double()
    assert isinstance(ours, torch_cls)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(shape, dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = ours(xa), theirs(xb)
    assert_close(ya.detach().numpy(), yb.detach().numpy(), np.float64, "y")
    dy = torch.randn(ya.shape, dtype=torch.float64)
    ya.backward(dy)
    yb.backward(dy)
    assert_close(xa.grad.numpy(), xb.grad.numpy(), np.float64, "dx")
    for (name, pa), pb in zip(ours.named_parameters(), theirs.parameters()):
        assert_close(pa.grad.numpy(), pb.grad.numpy(), np.float64, name)
    assert repr(ours) == "cnnlab." + repr(theirs)  # print(model) shows which layers are cnnlab's


def test_max_pool_layer_with_indices():
    x = torch.randn(2, 3, 8, 8)
    y, idx = gnn.MaxPool2d(2, return_indices=True)(x)
    ty, tidx = nn.MaxPool2d(2, return_indices=True)(x)
    assert torch.equal(y, ty) and torch.equal(idx, tidx)


class MyConv(nn.Conv2d):
    """A user's own subclass: its forward may differ, so it is not swapped."""


def _net():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.LocalResponseNorm(3), nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), MyConv(8, 8, 1), nn.AvgPool2d(2)),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def test_use_cnnlab_layers_swaps_in_place_and_back():
    torch.manual_seed(1)
    model = _net()
    params = list(model.parameters())
    keys = list(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    before = model(x)
    assert gnn.use_cnnlab_layers(model) is model
    kinds = sorted(type(m).__name__ for m in model.modules() if type(m).__module__ == gnn.__name__)
    assert kinds == ["AdaptiveAvgPool2d", "AvgPool2d", "Conv2d", "Conv2d", "LocalResponseNorm", "MaxPool2d"]
    assert type(model[4][1]) is MyConv
    assert all(a is b for a, b in zip(model.parameters(), params))  # the same parameter objects
    assert list(model.state_dict()) == keys
    assert_close(model(x).detach().numpy(), before.detach().numpy(), np.float32)
    gnn.use_torch_layers(model)
    assert not any(type(m).__module__ == gnn.__name__ for m in model.modules())
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        gnn.use_cnnlab_layers([nn.Conv2d(1, 1, 1)])


def test_an_optimizer_made_before_the_swap_keeps_training():
    torch.manual_seed(2)
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gnn.use_cnnlab_layers(model)
    w0 = model[0].weight.detach().clone()
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    assert not torch.equal(model[0].weight, w0)


def test_checkpoints_load_across():
    torch.manual_seed(3)
    ours = gnn.use_cnnlab_layers(_net())
    theirs = _net()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 8, 8)
    assert_close(ours(x).detach().numpy(), theirs(x).detach().numpy(), np.float32)


# --------------------------------------------------------------------------- training

class SmallCNN(nn.Module):
    """A LeNet-sized network on 8x8 digits that uses every swappable 2-D layer."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.LocalResponseNorm(3, alpha=1e-2, k=2.0),
            nn.MaxPool2d(2),                                            # 8x8 -> 4x4
            nn.Conv2d(16, 32, 3, padding="same", groups=2), nn.ReLU(),
            nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),       # 4x4 -> 3x3
            nn.AdaptiveAvgPool2d(2))                                    # 3x3 -> 2x2
        self.classifier = nn.Linear(32 * 2 * 2, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def _train(model, images, labels, steps, batch=64):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for step in range(steps):
        i = (step * batch) % (len(images) - batch)
        loss = nn.functional.cross_entropy(model(images[i:i + batch]), labels[i:i + batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def test_small_cnn_trains_like_torch_from_the_same_seed():
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = torch.tensor(digits.images[:, None], dtype=torch.float32)  # (1797, 1, 8, 8)
    images = (images - images.mean()) / images.std()
    labels = torch.tensor(digits.target)
    torch.manual_seed(0)
    reference = SmallCNN()
    ours = gnn.use_cnnlab_layers(copy.deepcopy(reference))
    loss_torch = _train(reference, images, labels, steps=100)
    loss_ours = _train(ours, images, labels, steps=100)
    assert loss_torch[-10:].mean() < 0.6 * loss_torch[:10].mean()  # it does learn
    # same seed, same batches, float32: the curves agree to rounding (measured: ~3e-7 after 100 steps)
    np.testing.assert_allclose(loss_ours, loss_torch, rtol=1e-5, atol=0)
    for (name, a), b in zip(ours.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0,
                                   atol=1e-5 * float(b.detach().abs().max()), err_msg=name)
