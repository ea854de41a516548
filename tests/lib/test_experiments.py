"""The phenomena of the book's second part, asserted at reduced scale (cnnlab.experiments).

The chapters call the same functions at a larger scale; these tests check
that the claims the chapters make from them hold, not the exact numbers.
"""

import pytest
import torch

from cnnlab import experiments


@pytest.fixture(autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def test_degradation_plain_deeper_trains_worse_residual_does_not():
    runs = experiments.degradation(depths=(20, 56), n=2000, epochs=3, width=4, size=16)
    err = {(r["kind"], r["depth"]): r["final_train_error"] for r in runs}
    assert err["plain", 56] > err["plain", 20] + 0.05, err      # degradation of the plain net
    assert err["residual", 56] <= err["residual", 20], err     # not with shortcuts
    assert err["residual", 56] < err["plain", 56], err
    # same architecture, same parameters with and without shortcuts (option A adds none)
    params = {(r["kind"], r["depth"]): r["params"] for r in runs}
    assert params["plain", 56] == params["residual", 56] > params["plain", 20]


def test_fine_tuning_beats_scratch_with_few_labels():
    scratch = experiments.transfer(5, None, steps=100)
    fine = experiments.transfer(5, 0, steps=100)
    assert fine > scratch + 0.05, (fine, scratch)


def test_freeze_stages_freezes_exactly_the_first_k():
    from cnnlab import models

    model = experiments.freeze_stages(models.resnet_cifar(20, width=4, in_channels=1), 2)
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"layer2", "layer3", "fc"}
    assert model.bn1.momentum == 0.0 and model.layer2[0].bn1.momentum != 0.0
    with pytest.raises(ValueError, match="k must be between 0 and 4"):
        experiments.freeze_stages(model, 5)


def test_transfer_curves_rejects_unknown_method():
    with pytest.raises(ValueError, match="unknown methods"):
        experiments.transfer_curves(methods=("fine tuning",))
