"""Layers computed by :mod:`cnnlab.gpu`, drop-in replacements for ``torch.nn``'s.

Each class subclasses its ``torch.nn`` counterpart and changes only the
forward computation: constructor arguments, initialisation, parameter names,
``state_dict`` keys and ``isinstance`` checks are torch's. So a checkpoint
saved from one loads into the other, and :func:`use_cnnlab_layers` can swap
them into any model in place (the parameters stay the same objects, so an
optimizer built before the swap keeps working)::

    model = torchvision_style_net()
    use_cnnlab_layers(model)        # now trains on the course's own ops
    use_torch_layers(model)         # and back, to compare
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import _ops as ops

__all__ = ["Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "LocalResponseNorm", "BatchNorm2d",
           "use_cnnlab_layers", "use_torch_layers", "SWAPS"]


class _Named:
    def _get_name(self):  # shows in print(model): the swap is visible
        return "cnnlab." + type(self).__name__


class Conv2d(_Named, torch.nn.Conv2d):
    """``torch.nn.Conv2d`` computed by :func:`cnnlab.gpu.conv2d`. x (N, C, H, W) -> (N, K, OH, OW)."""

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":  # reflect/replicate/circular: pad first, as torch does
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return ops.conv2d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return ops.conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_Named, torch.nn.Conv1d):
    """``torch.nn.Conv1d`` computed by :func:`cnnlab.gpu.conv1d`. x (N, C, L) -> (N, K, OL)."""

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return ops.conv1d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return ops.conv1d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class MaxPool2d(_Named, torch.nn.MaxPool2d):
    """``torch.nn.MaxPool2d`` computed by :func:`cnnlab.gpu.max_pool2d`."""

    def forward(self, input):
        return ops.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                              ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class AvgPool2d(_Named, torch.nn.AvgPool2d):
    """``torch.nn.AvgPool2d`` computed by :func:`cnnlab.gpu.avg_pool2d`."""

    def forward(self, input):
        return ops.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                              self.count_include_pad, self.divisor_override)


class AdaptiveAvgPool2d(_Named, torch.nn.AdaptiveAvgPool2d):
    """``torch.nn.AdaptiveAvgPool2d`` computed by :func:`cnnlab.gpu.adaptive_avg_pool2d`."""

    def forward(self, input):
        return ops.adaptive_avg_pool2d(input, self.output_size)


class LocalResponseNorm(_Named, torch.nn.LocalResponseNorm):
    """``torch.nn.LocalResponseNorm`` computed by :func:`cnnlab.gpu.local_response_norm`."""

    def forward(self, input):
        return ops.local_response_norm(input, self.size, self.alpha, self.beta, self.k)


class BatchNorm2d(_Named, torch.nn.BatchNorm2d):
    """``torch.nn.BatchNorm2d`` computed by :func:`cnnlab.gpu.batch_norm2d`.

    The same arguments (``num_features, eps, momentum, affine,
    track_running_stats``), parameters (``weight``, ``bias``) and buffers
    (``running_mean``, ``running_var``, ``num_batches_tracked``) as torch's,
    and the same rules: in training mode normalise with the batch's
    statistics and update the running ones (``momentum=None``: their
    cumulative average); in evaluation mode use the running statistics, or the
    batch's when the layer keeps none (``track_running_stats=False``).
    """

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return ops.batch_norm2d(input, self.running_mean if keep else None, self.running_var if keep else None,
                                self.weight, self.bias, use_batch, factor, self.eps)


#: torch.nn class -> its cnnlab counterpart (exact classes only: a user's own
#: subclass of nn.Conv2d may change forward and is left alone)
SWAPS = {
    torch.nn.Conv1d: Conv1d,
    torch.nn.Conv2d: Conv2d,
    torch.nn.MaxPool2d: MaxPool2d,
    torch.nn.AvgPool2d: AvgPool2d,
    torch.nn.AdaptiveAvgPool2d: AdaptiveAvgPool2d,
    torch.nn.LocalResponseNorm: LocalResponseNorm,
    torch.nn.BatchNorm2d: BatchNorm2d,
}


def _swap(model, table):
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for module in model.modules():
        new = table.get(type(module))
        if new is not None:
            # the classes differ only in methods, so the module changes class in place:
            # same parameters, buffers and hooks
            module.__class__ = new
    return model


def use_cnnlab_layers(model: torch.nn.Module) -> torch.nn.Module:
    """Make every ``torch.nn`` convolution, pooling and normalisation layer of ``model`` compute
    with :mod:`cnnlab.gpu`, in place; returns ``model``.

    Swapped: ``Conv1d``, ``Conv2d``, ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``,
    ``LocalResponseNorm``, ``BatchNorm2d`` (exactly those classes). Parameters, buffers, hooks and
    ``state_dict`` keys do not change, so an optimizer created before keeps working.
    Undo with :func:`use_torch_layers`.
    """
    return _swap(model, SWAPS)


def use_torch_layers(model: torch.nn.Module) -> torch.nn.Module:
    """Undo :func:`use_cnnlab_layers`: every cnnlab layer computes with torch's own op again."""
    return _swap(model, {new: old for old, new in SWAPS.items()})
