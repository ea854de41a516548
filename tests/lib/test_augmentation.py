"""The data augmentations of cnnlab.data.transforms, and fit's per-step callback."""

import pytest
import torch

from cnnlab import data, models, train
from cnnlab.data import transforms as T

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_vertical_flip_and_identity_affine():
    x = torch.arange(12.0).reshape(1, 3, 4)
    assert torch.equal(T.RandomVerticalFlip(p=1.0)(x), x.flip(-2))
    assert torch.equal(T.RandomVerticalFlip(p=0.0)(x), x)
    same = T.RandomAffine(degrees=0, translate=0, scale=(1, 1), shear=0)(x / 12)
    torch.testing.assert_close(same, x / 12, atol=1e-6, rtol=0)


def test_affine_moves_the_ink_but_keeps_the_range():
    torch.manual_seed(0)
    img = data.digits("test", size=28)[0][0]
    out = T.RandomAffine(degrees=20, translate=0.1, scale=(0.8, 1.2), shear=15)(img)
    assert out.shape == img.shape and 0 <= float(out.min()) and float(out.max()) <= 1 + 1e-6
    assert not torch.allclose(out, img)


def test_colour_jitter_changes_colour_images_and_spares_saturation_of_grey():
    torch.manual_seed(1)
    rgb = torch.rand(3, 8, 8)
    out = T.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5)(rgb)
    assert out.shape == rgb.shape and 0 <= float(out.min()) <= float(out.max()) <= 1
    assert not torch.allclose(out, rgb)
    grey = torch.rand(1, 8, 8)
    assert torch.equal(T.ColorJitter(saturation=0.9)(grey), grey)       # saturation needs colour
    flat = torch.full((3, 4, 4), 0.5)
    torch.manual_seed(2)
    assert torch.allclose(T.ColorJitter(contrast=0.8, saturation=0.8)(flat), flat)


def test_cutout_blanks_one_square_and_leaves_the_input_alone():
    torch.manual_seed(3)
    x = torch.ones(2, 10, 10)
    out = T.Cutout(4, fill=0.0)(x)
    blank = (out[0] == 0)
    assert 1 <= int(blank.sum()) <= 16 and torch.equal(out[0] == 0, out[1] == 0)
    rows, cols = torch.nonzero(blank, as_tuple=True)
    assert int(blank.sum()) == (int(rows.max() - rows.min()) + 1) * (int(cols.max() - cols.min()) + 1)
    assert torch.equal(x, torch.ones(2, 10, 10))
    assert torch.equal(T.Cutout(4, p=0.0)(x), x)


@pytest.mark.parametrize("make,words", [
    (lambda: T.RandomAffine(degrees=-1), "degrees must be a non-negative number"),
    (lambda: T.RandomAffine(translate=2), "translate is a fraction"),
    (lambda: T.RandomAffine(scale=(1.2, 0.8)), "scale must be a range"),
    (lambda: T.ColorJitter(brightness=-0.1), "brightness must be a non-negative number"),
    (lambda: T.Cutout(0), "size must be positive"),
    (lambda: T.RandomVerticalFlip(p=2), "p must be a probability"),
])
def test_bad_arguments_get_clear_errors(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_fit_reports_every_step():
    seen = []
    ds = data.digits("test", size=28).take_per_class(3)
    train.fit(models.lenet5(input_size=28), ds, epochs=2, batch_size=8, progress=False, device="cpu",
              on_batch=seen.append)
    assert [b["step"] for b in seen] == list(range(1, 2 * 4 + 1))
    assert {b["epoch"] for b in seen} == {1, 2}
    assert all(set(b) == {"epoch", "step", "loss", "accuracy"} and 0 <= b["accuracy"] <= 1 for b in seen)
