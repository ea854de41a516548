"""cnnlab.models: the published sizes, torchvision's state_dict keys, and that every network runs."""

import math

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab import models as M
from cnnlab.models import count_parameters


def _meta(builder, **kwargs):
    """Build on the meta device: counts and shapes without allocating 140 M floats."""
    with torch.device("meta"):
        return builder(**kwargs)


# The published figures: torchvision's documented num_params, the papers' tables, timm/Keras where noted.
PUBLISHED = [
    ("lenet5", M.lenet5, {}, 61_706),
    ("alexnet", M.alexnet, {}, 62_378_344),
    ("alexnet groups=2", M.alexnet, {"groups": 2}, 60_965_224),
    ("vgg11", M.vgg11, {}, 132_863_336),
    ("vgg13", M.vgg13, {}, 133_047_848),
    ("vgg16", M.vgg16, {}, 138_357_544),
    ("vgg16_bn", M.vgg16, {"batch_norm": True}, 138_365_992),
    ("vgg19", M.vgg19, {}, 143_667_240),
    ("googlenet", M.googlenet, {}, 6_624_904),
    ("googlenet aux", M.googlenet, {"aux_logits": True}, 13_004_888),
    ("resnet18", M.resnet18, {}, 11_689_512),
    ("resnet34", M.resnet34, {}, 21_797_672),
    ("resnet50", M.resnet50, {}, 25_557_032),
    ("resnet101", M.resnet101, {}, 44_549_160),
    ("resnet152", M.resnet152, {}, 60_192_808),
    ("resnext50_32x4d", M.resnext50_32x4d, {}, 25_028_904),
    ("densenet121", M.densenet121, {}, 7_978_856),
    ("mobilenet_v1", M.mobilenet_v1, {}, 4_231_976),        # Keras MobileNet: 4,253,864 - 21,888 BN statistics
    ("se_resnet50", M.se_resnet, {"depth": 50}, 28_088_024),  # timm seresnet50
    ("resnet20 (CIFAR)", M.resnet_cifar, {"depth": 20}, 269_722),
    ("resnet56 (CIFAR)", M.resnet_cifar, {"depth": 56}, 853_018),
]


@pytest.mark.parametrize("name,builder,kwargs,expected", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_published_parameter_counts(name, builder, kwargs, expected):
    assert count_parameters(_meta(builder, **kwargs)) == expected


def test_cifar_resnets_match_the_papers_table_in_millions():
    # He et al. 2015, table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M
    for depth, millions in [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)]:
        n = count_parameters(M.resnet_cifar(depth))
        assert round(n / 1e6, 2 if depth < 110 else 1) == millions
        assert count_parameters(M.plain_cifar(depth)) == n   # option A shortcuts carry no parameters


def test_alexnet_count_is_the_sum_of_the_lecture_formulas():
    conv, fc = cnnlab.conv_params, cnnlab.linear_params
    layers = [conv(3, 96, 11), conv(96, 256, 5), conv(256, 384, 3), conv(384, 384, 3), conv(384, 256, 3),
              fc(6 * 6 * 256, 4096), fc(4096, 4096), fc(4096, 1000)]
    assert count_parameters(M.alexnet()) == sum(layers)
    grouped = [conv(3, 96, 11), conv(96, 256, 5, groups=2), conv(256, 384, 3), conv(384, 384, 3, groups=2),
               conv(384, 256, 3, groups=2)] + layers[5:]
    assert count_parameters(_meta(M.alexnet, groups=2)) == sum(grouped)


def test_alexnet_macs_from_the_formula_and_from_summary():
    # K * C * R * S per output position, output sizes from the lecture formula
    n1 = cnnlab.conv_output_size(227, 11, stride=4)            # 55
    p1 = cnnlab.pool_output_size(n1, 3, stride=2)              # 27
    p2 = cnnlab.pool_output_size(p1, 3, stride=2)              # 13
    p3 = cnnlab.pool_output_size(p2, 3, stride=2)              # 6
    macs = (96 * 3 * 11 * 11 * n1 ** 2 + 256 * 96 * 25 * p1 ** 2 + 384 * 256 * 9 * p2 ** 2
            + 384 * 384 * 9 * p2 ** 2 + 256 * 384 * 9 * p2 ** 2
            + 256 * p3 * p3 * 4096 + 4096 * 4096 + 4096 * 1000)
    assert macs == 1_135_256_096
    assert cnnlab.summary(_meta(M.alexnet), (1, 3, 227, 227)).total_macs == macs


def test_lenet5_layers_follow_the_classic_sizes():
    m = M.lenet5()
    s = cnnlab.summary(m, (1, 1, 32, 32))
    shapes = [r["output_shape"][1:] for r in s.rows if r["kind"] in ("conv", "pool", "fc")]
    assert shapes == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120,), (84,), (10,)]
    assert [r["params"] for r in s.rows if r["params"]] == [156, 2416, 48120, 10164, 850]
    assert M.lenet5(input_size=28)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    tanh = M.lenet5(activation="tanh", pool="avg")
    assert any(isinstance(x, nn.Tanh) for x in tanh.modules()) and count_parameters(tanh) == 61_706
    with pytest.raises(ValueError, match="activation"):
        M.lenet5(activation="gelu")


BUILDERS = [
    (M.lenet5, 32), (M.alexnet, 227), (M.zfnet, 224), (M.vgg11, 224), (M.googlenet, 224), (M.resnet18, 224),
    (M.resnet50, 224), (M.resnext50_32x4d, 224), (M.densenet121, 224), (M.mobilenet_v1, 224),
    (M.se_resnet, 224), (M.resnet_cifar, 32), (M.plain_cifar, 32),
]


@pytest.mark.parametrize("builder,size", BUILDERS, ids=[b.__name__ for b, _ in BUILDERS])
def test_every_builder_takes_num_classes_and_in_channels(builder, size):
    m = _meta(builder, num_classes=7, in_channels=2)
    out = m.eval()(torch.zeros(2, 2, size, size, device="meta"))
    assert out.shape == (2, 7)


@pytest.mark.parametrize("builder,size", [(M.lenet5, 32), (M.resnet_cifar, 32), (M.plain_cifar, 32),
                                          (lambda **k: M.resnet_cifar(20, width=4, **k), 32)])
def test_small_networks_compute_and_backpropagate(builder, size):
    torch.manual_seed(0)
    m = builder(num_classes=5, in_channels=3)
    x = torch.randn(4, 3, size, size)
    out = m(x)
    out.sum().backward()
    assert out.shape == (4, 5) and torch.isfinite(out).all()
    assert all(p.grad is not None for p in m.parameters())


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="num_classes must be positive"):
        M.resnet18(num_classes=0)
    with pytest.raises(ValueError, match="6n"):
        M.resnet_cifar(21)
    with pytest.raises(ValueError, match="groups must be 1"):
        M.alexnet(groups=3)
    with pytest.raises(ValueError, match="shortcut"):
        M.resnet_cifar(20, shortcut="C")


# ---------------------------------------------------------------- torchvision's state_dict keys

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_resnet_keys(bottleneck: bool, layers):
    """The keys of torchvision.models.resnet.ResNet, written out from its source (models/resnet.py):
    conv1, bn1, layer1..4 of blocks (conv1/bn1, conv2/bn2[, conv3/bn3], downsample.0/.1 in the first
    block of a stage where the stride or the width changes), fc."""
    keys = ["conv1.weight"] + [f"bn1.{b}" for b in BN]
    expansion = 4 if bottleneck else 1
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
        for i in range(blocks):
            p = f"layer{stage}.{i}"
            for c in range(1, 4 if bottleneck else 3):
                keys += [f"{p}.conv{c}.weight"] + [f"{p}.bn{c}.{b}" for b in BN]
            if i == 0 and (stage > 1 or inplanes != planes * expansion):
                keys += [f"{p}.downsample.0.weight"] + [f"{p}.downsample.1.{b}" for b in BN]
        inplanes = planes * expansion
    return keys + ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("builder,bottleneck,layers", [
    (M.resnet18, False, [2, 2, 2, 2]), (M.resnet34, False, [3, 4, 6, 3]), (M.resnet50, True, [3, 4, 6, 3]),
    (M.resnet101, True, [3, 4, 23, 3]), (M.resnet152, True, [3, 8, 36, 3]), (M.resnext50_32x4d, True, [3, 4, 6, 3])])
def test_resnet_state_dict_keys_are_torchvisions(builder, bottleneck, layers):
    sd = _meta(builder).state_dict()
    assert list(sd) == torchvision_resnet_keys(bottleneck, layers)


def test_resnet_tensor_shapes_are_torchvisions():
    sd18, sd50 = _meta(M.resnet18).state_dict(), _meta(M.resnet50).state_dict()
    assert sd18["conv1.weight"].shape == (64, 3, 7, 7)
    assert sd18["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert sd18["fc.weight"].shape == (1000, 512)
    assert sd50["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert sd50["layer4.2.conv2.weight"].shape == (512, 512, 3, 3)
    assert sd50["fc.weight"].shape == (1000, 2048)
    rx = _meta(M.resnext50_32x4d).state_dict()
    assert rx["layer1.0.conv2.weight"].shape == (128, 4, 3, 3)   # 32 groups of width 4


def test_a_saved_resnet_state_dict_loads_strictly_into_a_fresh_model():
    a, b = M.resnet18(num_classes=10), M.resnet18(num_classes=10)
    b.load_state_dict(a.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(a.eval()(x), b.eval()(x))


def test_other_torchvision_layouts():
    vgg = _meta(M.vgg16).state_dict()
    assert vgg["features.28.weight"].shape == (512, 512, 3, 3) and vgg["classifier.6.weight"].shape == (1000, 4096)
    assert "features.1.running_mean" in _meta(M.vgg11, batch_norm=True).state_dict()
    g = _meta(M.googlenet, aux_logits=True).state_dict()
    assert g["conv1.conv.weight"].shape == (64, 3, 7, 7) and "conv1.conv.bias" not in g
    assert g["inception3a.branch3.1.conv.weight"].shape == (32, 16, 3, 3)   # torchvision's 3x3 "5x5" branch
    assert g["aux1.fc1.weight"].shape == (1024, 2048)
    p5 = _meta(M.googlenet, paper_5x5=True).state_dict()
    assert p5["inception3a.branch3.1.conv.weight"].shape == (32, 16, 5, 5)
    d = _meta(M.densenet121).state_dict()
    assert d["features.denseblock1.denselayer1.norm1.weight"].shape == (64,)
    assert d["features.denseblock4.denselayer16.conv2.weight"].shape == (32, 128, 3, 3)
    assert d["features.transition3.conv.weight"].shape == (512, 1024, 1, 1)
    assert d["classifier.weight"].shape == (1000, 1024)


def test_googlenet_auxiliary_heads_only_in_training():
    m = _meta(M.googlenet, num_classes=4, aux_logits=True)
    x = torch.zeros(2, 3, 224, 224, device="meta")
    out = m.train()(x)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 4)] * 3
    assert m.eval()(x).shape == (2, 4)


def test_inception_modules_naive_and_with_bottlenecks():
    # the lecture's example: 28x28x256 input, 128 1x1, 192 3x3, 96 5x5 filters
    naive = M.InceptionNaive(256, 128, 192, 96)
    s = cnnlab.summary(naive, (1, 256, 28, 28))
    assert s.rows[-1]["output_shape"] == (1, 256, 28, 28)
    assert naive(torch.zeros(1, 256, 28, 28)).shape == (1, 672, 28, 28)
    assert round(s.total_macs / 1e6) == 854                      # "854M ops" on the slide
    reduced = M.Inception(256, 128, 64, 192, 64, 96, 64, kernel_5x5=5)
    assert reduced(torch.zeros(1, 256, 28, 28)).shape == (1, 480, 28, 28)
    assert cnnlab.summary(reduced, (1, 256, 28, 28)).total_macs < s.total_macs / 2


def test_se_block_gates_channels_and_adds_its_parameters():
    se = M.SEBlock(64, reduction=16)
    assert count_parameters(se) == 2 * 64 * 4 + 4 + 64
    x = torch.rand(2, 64, 5, 5)
    y = se(x)
    gate = y / x
    assert torch.allclose(gate, gate[:, :, :1, :1].expand_as(gate), atol=1e-6)   # one gate per channel
    assert ((gate > 0) & (gate < 1)).all()
    base, se18 = count_parameters(_meta(M.resnet18)), count_parameters(_meta(M.se_resnet, depth=18))
    per_stage = [(64, 2), (128, 2), (256, 2), (512, 2)]
    assert se18 - base == sum(b * (2 * c * (c // 16) + c // 16 + c) for c, b in per_stage)


def test_cifar_option_a_shortcut_is_subsampling_with_zero_channels():
    sc = M.ZeroPadShortcut(16, 32, 2)
    x = torch.randn(2, 16, 8, 8)
    y = sc(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert not y[:, :8].any() and not y[:, 24:].any()
    narrow = M.resnet_cifar(20, width=4)
    assert count_parameters(narrow) < 20_000 and narrow(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_zfnet_and_mobilenet_sizes_follow_the_papers():
    z = cnnlab.summary(_meta(M.zfnet), (1, 3, 224, 224))
    sizes = [r["output_shape"][2] for r in z.rows if r["kind"] in ("conv", "pool")]
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]
    mb = cnnlab.summary(_meta(M.mobilenet_v1), (1, 3, 224, 224))
    convs = [r for r in mb.rows if r["kind"] == "conv"]
    assert len(convs) == 27 and convs[0]["output_shape"] == (1, 32, 112, 112)
    assert convs[-1]["output_shape"] == (1, 1024, 7, 7)
    assert convs[1]["macs"] == 32 * 9 * 112 * 112                # depthwise: one 3x3 filter per channel
    assert math.isclose(mb.total_macs / 1e6, 569, rel_tol=0.01)  # the paper's 569 million mult-adds
