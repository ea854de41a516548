"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998).

The classic layout on a 1×32×32 input::

    C1: 6 filters 5×5      -> 6×28×28      156 parameters
    S2: 2×2 pooling        -> 6×14×14
    C3: 16 filters 5×5     -> 16×10×10   2,416   (every map sees all 6 maps)
    S4: 2×2 pooling        -> 16×5×5
    C5: 120 units (FC)     -> 120       48,120
    F6: 84 units           -> 84        10,164
    output: 10 units       -> 10           850
                                        ------
                                        61,706

Two simplifications of the 1998 paper, as in every modern course: C3 connects
every output map to all six input maps (the paper's sparse table has 1,516
weights instead of 2,416), and the subsampling layers have no trainable
coefficients. The output layer is a linear layer, not the paper's RBF units.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import shapes
from .._args import check_classes_channels, check_int

__all__ = ["LeNet5", "lenet5"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
_POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet5(nn.Module):
    """LeNet-5: two conv/pool stages and three fully connected layers.

    Parameters
    ----------
    num_classes : int
        Number of outputs (10 for digits).
    in_channels : int
        Channels of the input image (1 for grey).
    input_size : int
        Height = width of the input (32 in the paper; 28 works too and gives
        a 16×4×4 feature map before C5).
    activation : ``'relu'``, ``'tanh'`` or ``'sigmoid'``
        ``'tanh'`` with ``pool='avg'`` is the 1998 flavour; ReLU with max
        pooling (the default) trains faster.
    pool : ``'max'`` or ``'avg'``
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32,
                 activation: str = "relu", pool: str = "max") -> None:
        super().__init__()
        num_classes, in_channels = check_classes_channels(num_classes, in_channels)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if pool not in _POOLS:
            raise ValueError(f"pool must be one of {sorted(_POOLS)}, got {pool!r}")
        act, pool_layer = _ACTIVATIONS[activation], _POOLS[pool]
        # the feature map size entering C5, by the lecture formula (raises if the input is too small)
        n = check_int(input_size, "input_size", minimum=1)
        for _ in range(2):
            n = shapes.pool_output_size(shapes.conv_output_size(n, 5), 2, allow_remainder=True)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5),   # C1
            act(),
            pool_layer(kernel_size=2, stride=2),        # S2
            nn.Conv2d(6, 16, kernel_size=5),            # C3
            act(),
            pool_layer(kernel_size=2, stride=2),        # S4
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * n * n, 120),                 # C5
            act(),
            nn.Linear(120, 84),                         # F6
            act(),
            nn.Linear(84, num_classes),                 # output
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def lenet5(num_classes: int = 10, in_channels: int = 1, **kwargs) -> LeNet5:
    """LeNet-5 on 1×32×32 inputs: 61,706 parameters. See :class:`LeNet5` for the options."""
    return LeNet5(num_classes=num_classes, in_channels=in_channels, **kwargs)
