"""cnnlab.train: accuracy, fit (learning, seeding, checkpoints, progress bars), evaluation, plots."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cnnlab import data, models, train
from cnnlab.data import transforms as T


def test_topk_accuracy_of_the_lecture_example():
    scores = torch.tensor([[0.1, 0.5, 0.3, 0.1]])              # classes: cat, dog, alpaca, llama
    alpaca = torch.tensor([2])
    assert train.accuracy(scores, alpaca, topk=(1, 2)) == (0.0, 1.0)
    assert train.accuracy(scores, alpaca, topk=1) == 0.0
    logits = torch.tensor([[3.0, 2, 1, 0], [0, 1, 2, 3], [0, 3, 1, 2]])
    labels = torch.tensor([0, 2, 3])
    assert train.accuracy(logits, labels, topk=(1, 2, 4)) == pytest.approx((1 / 3, 1.0, 1.0))


def test_accuracy_rejects_what_it_cannot_compute():
    with pytest.raises(ValueError, match="larger than the number of classes"):
        train.accuracy(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), topk=(1, 5))
    with pytest.raises(ValueError, match="labels must be"):
        train.accuracy(torch.zeros(2, 4), torch.zeros(3, dtype=torch.long))


def test_confusion_matrix_counts_and_plots():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 2, 0, 2])
    cm = train.confusion_matrix(labels, preds, num_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    logits = torch.nn.functional.one_hot(preds, 3).float()
    assert np.array_equal(train.confusion_matrix(labels, logits), cm)
    fig = train.plot_confusion_matrix(cm, classes=["cat", "dog", "alpaca"], normalize=True)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "alpaca"]
    assert "0.67" in [t.get_text() for t in ax.texts]
    with pytest.raises(ValueError, match="classes has 2 names"):
        train.plot_confusion_matrix(cm, classes=["a", "b"])


@pytest.fixture(scope="module")
def small_digits():
    return data.digits("train", size=16).subset(range(400)), data.digits("test", size=16)


def _tiny_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.2), nn.Linear(256, 10))


def test_fit_learns_and_returns_a_history_that_plots(small_digits):
    tr, te = small_digits
    model = _tiny_cnn()
    before = train.evaluate(model, te)["accuracy"]
    h = train.fit(model, tr, te, epochs=8, batch_size=32, lr=1e-2, progress=False)
    assert len(h) == 8 and h["epoch"] == list(range(1, 9))
    assert h["train_loss"][-1] < h["train_loss"][0]
    after = train.evaluate(model, te, topk=(1, 3))
    assert after["accuracy"] > max(0.8, before + 0.5)
    assert after["top3"] >= after["accuracy"] and after["n"] == 360
    assert h["val_acc"][-1] == pytest.approx(after["accuracy"])
    fig = h.plot(title="tiny")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_ylabel() == "loss" and len(fig.axes[1].lines) == 2
    assert "8 epochs" in repr(h)


def test_fit_is_deterministic_for_a_seed(small_digits):
    tr, _ = small_digits
    runs = []
    for _ in range(2):
        m = _tiny_cnn(seed=5)
        train.fit(m, tr, epochs=2, batch_size=50, progress=False, seed=7)
        runs.append(torch.cat([p.detach().flatten() for p in m.parameters()]))
    assert torch.equal(runs[0], runs[1])
    m = _tiny_cnn(seed=5)
    train.fit(m, tr, epochs=2, batch_size=50, progress=False, seed=8)
    assert not torch.equal(runs[0], torch.cat([p.detach().flatten() for p in m.parameters()]))


def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(small_digits, tmp_path, monkeypatch):
    tr, te = small_digits
    kwargs = dict(batch_size=40, optimizer="sgd", lr=0.05, scheduler="cosine", progress=False, seed=3)
    straight = _tiny_cnn(seed=1)
    h_straight = train.fit(straight, tr, te, epochs=3, **kwargs)

    ckpt = tmp_path / "run.pt"
    save = train.save_checkpoint

    def save_then_interrupt(*args, **kw):
        save(*args, **kw)
        raise KeyboardInterrupt                                       # the power goes out after epoch 1

    monkeypatch.setattr(train, "save_checkpoint", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train.fit(_tiny_cnn(seed=1), tr, te, epochs=3, checkpoint=ckpt, **kwargs)
    monkeypatch.undo()
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1
    torch.manual_seed(1234)                                           # disturb the global state
    resumed = _tiny_cnn(seed=99)                                      # a fresh process would build anew
    h_resumed = train.fit(resumed, tr, te, epochs=3, checkpoint=ckpt, **kwargs)
    assert h_resumed["epoch"] == [1, 2, 3]
    assert h_resumed["train_loss"] == pytest.approx(h_straight["train_loss"])
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 3 and state["optimizer"] is not None


def test_fit_with_loaders_transforms_and_auxiliary_outputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 8, 8, generator=g)
    y = (x.mean((1, 2, 3)) > 0).long()

    class TwoHeads(nn.Module):              # returns (main, auxiliary) in training, like GoogLeNet
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
            self.aux = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))

        def forward(self, x):
            return (self.body(x), self.aux(x)) if self.training else self.body(x)

    m = TwoHeads()
    h = train.fit(m, DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True), TensorDataset(x, y),
                  epochs=15, lr=0.05, progress=False)
    assert h["val_acc"][-1] > 0.9
    assert m.aux[1].weight.grad is not None                      # the auxiliary head was trained too
    ds = data.digits("test", size=16, transform=T.RandomCrop(16, padding=2))
    h2 = train.fit(_tiny_cnn(), ds, epochs=1, batch_size=64, progress=False)
    assert len(h2) == 1 and h2["val_acc"] == [None]


def test_progress_bars_show_epochs_and_running_loss(small_digits, capsys):
    tr, te = small_digits
    train.fit(_tiny_cnn(), tr.subset(range(64)), te, epochs=2, batch_size=8, progress=True)
    err = capsys.readouterr().err
    assert "epochs" in err and "2/2" in err and "val_acc=" in err
    train.fit(_tiny_cnn(), tr.subset(range(64)), epochs=1, batch_size=8, progress=False)
    assert capsys.readouterr().err == ""


def test_fit_reports_bad_arguments():
    ds = TensorDataset(torch.zeros(4, 1, 4, 4), torch.zeros(4, dtype=torch.long))
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with pytest.raises(ValueError, match="optimizer must be"):
        train.fit(m, ds, epochs=1, optimizer="adagrad", progress=False)
    with pytest.raises(ValueError, match="epochs must be positive"):
        train.fit(m, ds, epochs=0, progress=False)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        bad = torch.full((4, 1, 4, 4), float("nan"))
        train.fit(m, TensorDataset(bad, torch.zeros(4, dtype=torch.long)), epochs=1, progress=False)


def test_default_device_and_seeding():
    assert train.default_device().type in ("cpu", "cuda", "mps")
    train.seed_everything(11)
    a = (np.random.rand(), torch.rand(1).item())
    train.seed_everything(11)
    assert (np.random.rand(), torch.rand(1).item()) == a


@pytest.fixture
def one_thread():
    """Small convolutions on a shared 2-core machine run far faster on one thread than two spinning ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_lenet5_reaches_97_percent_on_real_digits(one_thread):
    """The issue's target, at full scale: LeNet-5 on scikit-learn's digits (1,437 train / 360 test)."""
    tr = data.digits("train", transform=T.RandomAffine(10, 0.08, (0.9, 1.1)))
    te = data.digits("test")
    h = train.fit(models.lenet5(), tr, te, epochs=20, batch_size=32, lr=3e-3, scheduler="onecycle",
                  progress=False, seed=0)
    assert h["val_acc"][-1] >= 0.97
