"""cnnlab.experiments -- the experiments of the book's chapters, as functions.

The chapters call them at full (CPU-sized) scale to draw their figures, and
the tests call them at reduced scale to assert the phenomena they show: one
place for each result.

* :mod:`~cnnlab.experiments.deeper` -- :func:`degradation` (plain and residual
  networks of two depths, He et al. 2016) and :func:`batch_norm_effect` (the
  same network with and without batch normalisation);
* :mod:`~cnnlab.experiments.augmentation` -- :func:`augmentation_effect`:
  test accuracy with few labels, with and without data augmentation;
* :mod:`~cnnlab.experiments.compare` -- :func:`side_by_side`: every
  architecture of the lectures trained on the same data with the same budget;
* :mod:`~cnnlab.experiments.transfer` -- :func:`transfer`,
  :func:`transfer_curves`, :func:`freeze_stages`: the shipped
  ``resnet20-letters`` weights reused on handwritten digits, and
  :func:`transfer_glyphs`, the same on 300 glyph digits (problem set 4);
* :mod:`~cnnlab.experiments.seeing` -- what a trained network looks at:
  :func:`occlusion`, :func:`grad_cam`, :func:`guided_backprop`,
  :func:`saliency`, :func:`maximise`, :func:`deep_dream`, :func:`features`,
  :func:`tsne`, and :func:`object_task`, a synthetic task whose answer is known
  (``from cnnlab.experiments import seeing``).

>>> from cnnlab import experiments
>>> runs = experiments.degradation(depths=(20, 56), n=2000, epochs=4)   # doctest: +SKIP
>>> rows = experiments.side_by_side(n=1500, epochs=3)                   # doctest: +SKIP
"""

from . import seeing
from .augmentation import augmentation_effect, augmentations
from .compare import ARCHITECTURES, side_by_side
from .deeper import batch_norm_effect, degradation
from .transfer import (GLYPH_VARIANTS, STAGES, TRANSFER_METHODS, freeze_stages, transfer, transfer_curves,
                       transfer_glyphs)

__all__ = ["degradation", "batch_norm_effect", "augmentation_effect", "augmentations", "seeing", "side_by_side",
           "ARCHITECTURES", "transfer", "transfer_curves", "freeze_stages", "transfer_glyphs", "GLYPH_VARIANTS",
           "STAGES", "TRANSFER_METHODS"]
