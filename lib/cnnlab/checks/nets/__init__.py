"""Checks of ps3 and ps4: networks the students build in PyTorch (LeNet-5, a
small VGG, a ResNet BasicBlock and a small ResNet), their layer tables, and
networks they train or fine-tune.

A student's network is compared with the reference of :mod:`cnnlab.models`:
the layers with parameters are matched (in the order the forward pass calls
them, so the order of definition does not matter), the reference's weights
are copied into the student's network, and both must then compute the same
function.  When they do not, the fingerprints below (the reference's weights
in a typically wrong arrangement: tanh for ReLU, no ReLU after the addition,
...) say what is most likely wrong.

torch is imported when a check runs, not when this module is imported.
"""

from .resnet import basic_block_reference, check_basic_block, check_small_resnet, small_resnet_reference
from .sequential import (LENET5_LABELS, check_layer_table, check_lenet5, check_lenet5_by_hand, check_small_vgg,
                         lenet5_by_hand_reference, small_vgg_reference)
from .trained import accuracy, check_accuracy, check_freeze, check_frozen_unchanged

__all__ = ["check_lenet5", "check_small_vgg", "check_layer_table", "check_lenet5_by_hand", "check_accuracy",
           "check_basic_block", "check_small_resnet", "check_freeze", "check_frozen_unchanged", "accuracy",
           "small_vgg_reference", "basic_block_reference", "small_resnet_reference", "lenet5_by_hand_reference",
           "LENET5_LABELS"]
