"""The weights that ship: they load, they have the accuracy their metadata states, they transfer."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from cnnlab import data, models, train
from cnnlab import pretrain
from cnnlab.models.pretrained import WEIGHTS_DIR, build

NAME = "resnet20-letters"


@pytest.fixture
def one_thread():
    """Small convolutions on a shared 2-core machine run far faster on one thread than two spinning ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_weights_ship_with_the_package_and_describe_themselves():
    assert NAME in models.list_pretrained()
    path = WEIGHTS_DIR / f"{NAME}.safetensors"
    assert path.stat().st_size <= 10e6
    info = models.pretrained_info(NAME)
    for key in ("architecture", "arch_kwargs", "source_task", "classes", "test_accuracy", "seed", "epochs",
                "input_size", "test_set"):
        assert key in info
    assert info["classes"] == [chr(c) for c in range(65, 91)]
    assert info["arch_kwargs"]["num_classes"] == 26 and info["input_size"] == [1, 28, 28]
    with pytest.raises(ValueError, match="available"):
        models.pretrained("resnet152-imagenet")


def test_the_stated_source_accuracy_holds(one_thread):
    model = models.pretrained(NAME)
    info = model.pretrained_info
    assert not model.training
    ts = info["test_set"]
    test_set = data.glyphs(ts["split"], n=ts["n"], kind=ts["kind"], size=ts["size"], seed=ts["seed"])
    acc = train.evaluate(model, test_set, device="cpu")["accuracy"]
    assert acc >= info["test_accuracy"] - 0.002          # the same data and weights: the same accuracy
    assert info["test_accuracy"] > 0.95


def test_a_new_head_for_a_new_task_keeps_the_rest():
    base = models.pretrained(NAME)
    digits = models.pretrained(NAME, num_classes=10)
    assert digits.fc.out_features == 10
    assert torch.equal(base.layer3[2].conv2.weight, digits.layer3[2].conv2.weight)
    assert digits(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_fine_tuning_beats_training_from_scratch_with_few_labels(one_thread):
    """10 labelled glyph digits per class: the letter features carry over (reduced-scale version of the
    experiment in the report: 95% fine-tuned vs 40% from scratch on 2,000 test digits)."""
    few = data.glyphs("train", n=2000, size=28, seed=1).take_per_class(10, seed=0)
    test = data.glyphs("test", n=500, size=28, seed=1)
    results = {}
    for start in ("scratch", "pretrained"):
        torch.manual_seed(0)
        if start == "scratch":
            model = models.resnet_cifar(20, width=8, in_channels=1, num_classes=10)
        else:
            model = models.pretrained(NAME, num_classes=10)
        train.fit(model, few, epochs=15, batch_size=20, lr=1e-3, progress=False, seed=0, device="cpu")
        results[start] = train.evaluate(model, test, device="cpu")["accuracy"]
    assert results["pretrained"] > 0.8
    assert results["pretrained"] > results["scratch"] + 0.25, results


def test_the_script_reproduces_its_weights(tmp_path, one_thread):
    args = ["--epochs", "1", "--n-train", "520", "--n-test", "104", "--depth", "8", "--width", "4",
            "--quiet", "--out"]
    info_a = pretrain.main(args + [str(tmp_path / "a")])
    info_b = pretrain.main(args + [str(tmp_path / "b")])
    a = load_file(str(tmp_path / "a" / f"{NAME}.safetensors"))
    b = load_file(str(tmp_path / "b" / f"{NAME}.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert info_a["test_accuracy"] == info_b["test_accuracy"]
    with safe_open(tmp_path / "a" / f"{NAME}.safetensors", framework="pt") as f:
        meta = json.loads(f.metadata()["cnnlab"])
    assert meta["arch_kwargs"] == {"depth": 8, "width": 4, "in_channels": 1, "num_classes": 26}
    model = build(meta["architecture"], meta["arch_kwargs"])
    model.load_state_dict(a)
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 26)
