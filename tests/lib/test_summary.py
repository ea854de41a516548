"""cnnlab.summary: the lecture tables of AlexNet and VGG-16, measured by a forward pass."""

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab import models as M


def _meta(builder, **kwargs):
    with torch.device("meta"):
        return builder(**kwargs)


@pytest.fixture(scope="module")
def alexnet_summary():
    return cnnlab.summary(M.alexnet(), (1, 3, 227, 227))      # a real forward pass, batch 1


def test_alexnet_rows_are_the_lecture_table(alexnet_summary):
    s = alexnet_summary
    conv, fc = cnnlab.conv_params, cnnlab.linear_params
    # (label, output (C, H, W) or (F,), parameters): CS231n's AlexNet table, the paper's layer order
    expected = [
        ("CONV1", (96, 55, 55), conv(3, 96, 11)), ("NORM1", (96, 55, 55), 0), ("POOL1", (96, 27, 27), 0),
        ("CONV2", (256, 27, 27), conv(96, 256, 5)), ("NORM2", (256, 27, 27), 0), ("POOL2", (256, 13, 13), 0),
        ("CONV3", (384, 13, 13), conv(256, 384, 3)), ("CONV4", (384, 13, 13), conv(384, 384, 3)),
        ("CONV5", (256, 13, 13), conv(384, 256, 3)), ("POOL3", (256, 6, 6), 0),
        ("FC6", (4096,), fc(9216, 4096)), ("FC7", (4096,), fc(4096, 4096)), ("FC8", (1000,), fc(4096, 1000)),
    ]
    rows = [r for r in s.rows if r["kind"] != "elementwise"]
    assert [(r["label"], r["output_shape"][1:], r["params"]) for r in rows] == expected
    assert s["CONV1"]["params"] == 34_944 and s["POOL1"]["params"] == 0
    assert s["features.conv1"] is s["CONV1"]
    assert s.total_params == 62_378_344
    assert s.total_macs == 1_135_256_096
    assert s["CONV1"]["macs"] == 96 * 3 * 11 * 11 * 55 * 55
    assert s["FC6"]["macs"] == 9216 * 4096


def test_alexnet_table_prints_in_the_lectures_notation(alexnet_summary):
    text = str(alexnet_summary)
    lines = text.splitlines()
    conv1 = next(line for line in lines if line.startswith("CONV1"))
    assert "55×55×96" in conv1 and "34,944" in conv1
    pool1 = next(line for line in lines if line.startswith("POOL1"))
    assert "27×27×96" in pool1
    assert "ReLU" not in text                                  # elementwise rows hidden by default...
    assert "ReLU" in alexnet_summary.to_text(all_rows=True)    # ...and shown on request
    assert "1,135,256,096 MACs" in text
    html = alexnet_summary._repr_html_()
    assert html.count("<tr>") == 1 + 13 and "55×55×96" in html


def test_vgg16_activations_are_15_million_not_24():
    s = cnnlab.summary(_meta(M.vgg16), (1, 3, 224, 224))
    # the slide's rows: INPUT, each CONV3 output, each POOL2 output, FC 4096, 4096, 1000
    slide = [224 * 224 * 3]
    for size, width, convs in [(224, 64, 2), (112, 128, 2), (56, 256, 3), (28, 512, 3), (14, 512, 3)]:
        slide += [size * size * width] * convs + [(size // 2) ** 2 * width]
    slide += [4096, 4096, 1000]
    measured = [s.totals["input_activations"]] + [r["activations"] for r in s.rows if r["activations"]]
    assert measured == slide
    assert s.total_activations == sum(slide) == 15_237_608
    assert s.totals["forward_mb"] == pytest.approx(60.95, abs=0.01)   # not the slide's "24M * 4 bytes ~= 96MB"
    # parameters per CONV3 layer: the slide's (3*3*C)*K weights plus K biases
    convs = [r for r in s.rows if r["kind"] == "conv"]
    chans = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    assert [r["params"] for r in convs] == [3 * 3 * c * k + k for c, k in zip(chans, chans[1:])]
    assert s.total_params == 138_357_544


def test_batch_size_scales_activations_and_macs_not_parameters():
    m = M.lenet5()
    one, four = cnnlab.summary(m, (1, 1, 32, 32)), cnnlab.summary(m, (4, 1, 32, 32))
    assert four.total_macs == 4 * one.total_macs
    assert four.total_activations == 4 * one.total_activations
    assert four.total_params == one.total_params == 61_706


def test_residual_networks_grouped_convs_and_shared_modules():
    s = cnnlab.summary(M.resnet_cifar(20, width=4), (1, 3, 32, 32))
    # ResNet's blocks call one ReLU module twice: rows per call, parameters once
    assert sum(r["params"] for r in s.rows) == s.total_params
    relu_rows = [r for r in s.rows if r["name"] == "layer1.0.relu"]
    assert len(relu_rows) == 2
    pad = [r for r in s.rows if r["type"] == "ZeroPadShortcut"]
    assert len(pad) == 2 and all(r["activations"] > 0 for r in pad)
    dw = cnnlab.summary(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), (1, 8, 10, 10))
    assert dw.total_macs == 8 * 1 * 9 * 10 * 10


def test_training_mode_is_restored_and_real_input_can_be_given():
    m = M.lenet5().train()
    s = cnnlab.summary(m, input_data=torch.rand(3, 1, 32, 32))
    assert m.training and s.input_size == (3, 1, 32, 32)


def test_bad_input_size_is_explained():
    with pytest.raises(ValueError, match="batch dimension"):
        cnnlab.summary(M.lenet5(), (1, 32, 32.0))
    with pytest.raises(ValueError, match=r"batch dimension first.*\(1, 3, 227, 227\)"):
        cnnlab.summary(M.lenet5(), (3, 32, 32))                 # forgot the batch dimension
    with pytest.raises(TypeError, match="torch.nn.Module"):
        cnnlab.summary("alexnet", (1, 3, 227, 227))
