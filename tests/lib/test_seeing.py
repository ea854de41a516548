"""cnnlab.experiments.seeing: attribution maps, gradient ascent, DeepDream, features and the task
whose answer is known, on small hand-made models where the right answer can be computed."""

import pytest
import torch
from torch import nn

from cnnlab.experiments import seeing


class Window(nn.Module):
    """Class 1's score is the sum of the pixels in rows 2-4, columns 3-5; class 0's is 0."""

    def forward(self, x):
        s = x[:, 0, 2:5, 3:6].sum((1, 2))
        return torch.stack([torch.zeros_like(s), s], 1)


def test_saliency_is_the_absolute_gradient():
    lin = nn.Linear(2 * 4 * 4, 3)
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.rand(2, 4, 4)
    expected = lin.weight[1].detach().reshape(2, 4, 4).abs().amax(0)
    torch.testing.assert_close(seeing.saliency(model, x, 1), expected)


def test_occlusion_drops_only_where_the_evidence_is():
    x = torch.ones(1, 8, 8)
    occ = seeing.occlusion(Window(), x, 1, patch=1, stride=1)
    assert occ.shape == (8, 8)
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:5, 3:6] = True
    assert (occ[mask] > 0).all() and (occ[~mask] == 0).all()
    assert seeing.share_on(occ, mask) > 1e6


class ChannelScore(nn.Module):
    """Class 1's score is the global sum of channel 0; channel 1 is a distractor."""

    def forward(self, a):
        s = a[:, 0].sum((1, 2))
        return torch.stack([a[:, 1].sum((1, 2)) * 0, s], 1)


def test_grad_cam_weighs_the_channels_the_score_uses():
    conv = nn.Conv2d(2, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(2)[:, :, None, None])
    model = nn.Sequential(conv, nn.ReLU(), ChannelScore())
    x = torch.zeros(2, 8, 8)
    x[0, 1:3, 1:3] = 1.0          # what the score sums
    x[1, 5:8, 4:8] = 1.0          # a distractor in the other channel
    cam = seeing.grad_cam(model, x, 1, conv)
    assert cam.shape == (8, 8) and float(cam.max()) == pytest.approx(1.0)
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[1:3, 1:3] = True
    assert float(cam[5:8, 4:8].max()) < 0.05 and seeing.share_on(cam, mask) > 5
    with pytest.raises(ValueError, match="not called"):
        seeing.grad_cam(model, x, 1, nn.Conv2d(1, 1, 1))
    with pytest.raises(ValueError, match="target must be a class index"):
        seeing.grad_cam(model, x, 5, conv)


def test_guided_backprop_stops_negative_gradients_and_keeps_the_model():
    lin1, lin2 = nn.Linear(4, 3), nn.Linear(3, 2)
    model = nn.Sequential(lin1, nn.ReLU(), lin2)
    x = torch.randn(1, 2, 2)
    flat = nn.Sequential(nn.Flatten(), model)
    guided = seeing.guided_backprop(flat, x, 0)
    h = lin1(x.reshape(1, 4))
    g = lin2.weight[0].clamp(min=0) * (h[0] > 0)              # negative gradients stopped at the ReLU
    torch.testing.assert_close(guided.reshape(4), (g.clamp(min=0) @ lin1.weight).detach())
    assert isinstance(model[1], nn.ReLU)                      # the model itself is unchanged
    with pytest.raises(ValueError, match="no nn.ReLU"):
        seeing.guided_backprop(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), x, 0)


def test_maximise_raises_the_objective_and_keeps_the_range():
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:4, 2:4] = 1.0
    x, value = seeing.maximise(lambda x: -(x - target).pow(2).sum(), shape=(1, 8, 8), steps=80, lr=0.05)
    start = float(-(torch.full((1, 1, 8, 8), 0.5) - target).pow(2).sum())
    assert value > start and 0 <= float(x.min()) <= float(x.max()) <= 1


def test_deep_dream_raises_the_energy_of_the_layer():
    conv = nn.Conv2d(1, 2, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU())
    image = torch.rand(1, 24, 20)
    dream = seeing.deep_dream(model, image, conv, octaves=2, steps=5)
    assert dream.shape == image.shape
    with torch.no_grad():
        assert float(conv(dream[None]).pow(2).mean()) > float(conv(image[None]).pow(2).mean())


def test_features_are_the_input_of_the_last_linear_layer():
    from cnnlab.data import ImageDataset
    data = ImageDataset(torch.randint(0, 255, (5, 1, 4, 4), dtype=torch.uint8), torch.arange(5) % 2, ["a", "b"])
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3), nn.ReLU(), nn.Linear(3, 2))
    feats, labels = seeing.features(model, data)
    xs, _ = data.tensors()
    torch.testing.assert_close(feats, model[:3](xs))
    assert labels.tolist() == [0, 1, 0, 1, 0]
    assert seeing.tsne(torch.randn(20, 5)).shape == (20, 2)


def test_object_task_masks_cover_the_shape_and_classes_are_balanced():
    data, masks = seeing.object_task(300, size=28, seed=3)
    xs, ys = data.tensors()
    assert xs.shape == (300, 1, 28, 28) and masks.shape == (300, 28, 28)
    assert (masks.sum((1, 2)) == 81).all()                 # one 9x9 square each
    assert set(ys.tolist()) == {0, 1, 2} and data.classes == list(seeing.OBJECT_SHAPES)
    assert (xs[:, 0][masks].mean() > xs[:, 0][~masks].mean())
    again, _ = seeing.object_task(300, size=28, seed=3)
    assert torch.equal(again.data, data.data)
    with pytest.raises(ValueError, match="object_size"):
        seeing.object_task(10, size=12, object_size=11)
