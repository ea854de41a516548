"""cnnlab.data -- datasets that ship or are made here, as ``torch.utils.data`` datasets.

No download is needed for

* :func:`digits` -- scikit-learn's 1,797 real handwritten digits, resized to 28 or 32 pixels;
* :func:`glyphs` -- an MNIST-like set of digits or letters drawn from matplotlib's fonts
  with random warps, stroke widths, blur and noise; any size (60,000 + 10,000 in seconds);
* :func:`textures` -- texture patches cut from scikit-image's images;
* :func:`image` -- scikit-image's sample photos as tensors.

For readers who are online, :func:`mnist`, :func:`fashion_mnist` and
:func:`cifar10` download the originals into a cache folder (``root=``,
``$CNNLAB_DATA`` or ``~/.cache/cnnlab``), check their MD5 sums and parse the
IDX and pickle formats; offline they raise :class:`DownloadError` saying what
to do.

Every loader returns an :class:`ImageDataset`: ``ds[i]`` is a float tensor
``(C, H, W)`` in [0, 1] and an int label; ``ds.classes`` names the labels;
``transform=`` takes :mod:`cnnlab.data.transforms` (or torchvision's).
Same arguments and ``seed``, same data.
"""

from . import transforms
from ._dataset import ImageDataset
from ._glyphs import FONTS, KINDS, glyphs
from ._real import DownloadError, cache_dir, cifar10, fashion_mnist, mnist, read_cifar_batch, read_idx
from ._shipped import IMAGES, TEXTURES, digits, image, textures

__all__ = ["ImageDataset", "digits", "glyphs", "textures", "image", "mnist", "fashion_mnist", "cifar10",
           "cache_dir", "DownloadError", "read_idx", "read_cifar_batch", "transforms", "FONTS", "KINDS", "IMAGES",
           "TEXTURES"]
