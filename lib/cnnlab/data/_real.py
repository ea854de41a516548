"""Loaders of the real MNIST, Fashion-MNIST and CIFAR-10, for readers who are online.

Files are downloaded once into a cache folder (``root``, else ``$CNNLAB_DATA``,
else ``~/.cache/cnnlab``), checked against their published MD5 sums and
parsed from the original formats: IDX (gzip) for the MNISTs, the Python
pickle batches of the CIFAR-10 tarball. Nothing here runs in the book or
the tests: offline, a loader fails with a :class:`DownloadError` that says
where to put the files by hand, and that :func:`cnnlab.data.digits` and
:func:`cnnlab.data.glyphs` need no download.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._dataset import ImageDataset

__all__ = ["mnist", "fashion_mnist", "cifar10", "cache_dir", "DownloadError", "read_idx", "read_cifar_batch",
           "fetch", "Resource", "RESOURCES"]


class DownloadError(OSError):
    """A dataset file could not be downloaded or did not match its checksum."""


@dataclass(frozen=True)
class Resource:
    """One file of a dataset: its name, its MD5 sum, and the URLs to try in turn."""
    filename: str
    md5: str
    urls: tuple[str, ...]


_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")


def _idx_set(mirrors, md5s) -> dict[str, Resource]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return {n: Resource(n, m, tuple(u + n for u in mirrors)) for n, m in zip(names, md5s)}


# MD5 sums as published with the datasets (and used by torchvision)
RESOURCES: dict[str, dict[str, Resource]] = {
    "mnist": _idx_set(_MNIST_MIRRORS, ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                                       "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
    "fashion_mnist": _idx_set(_FASHION_MIRRORS, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                                 "25c81989df183df01b3e8a0aad5dffbe",
                                                 "bef4ecab320f06d8554ea6380940ec79",
                                                 "bb300cfdad3c16e7a12a480ee83cd310")),
    "cifar10": {"cifar-10-python.tar.gz": Resource(
        "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
        ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",))},
}

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder datasets are cached in: ``root``, else ``$CNNLAB_DATA``, else ``~/.cache/cnnlab``."""
    if root is None:
        root = os.environ.get("CNNLAB_DATA") or Path.home() / ".cache" / "cnnlab"
    return Path(root).expanduser()


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _offline_message(dataset: str, folder: Path, resources: list[Resource], reasons: list[str]) -> str:
    files = "\n".join(f"  {r.filename}  (md5 {r.md5}) from {r.urls[0]}" for r in resources)
    return (f"could not download {dataset}: {'; '.join(reasons)}.\n"
            f"You seem to be offline (or the servers are unreachable). Either\n"
            f"- download these files on a machine that is online and put them in {folder}:\n{files}\n"
            f"  (or point root=... or the CNNLAB_DATA environment variable at a folder that has them), or\n"
            f"- use the data that needs no download: cnnlab.data.digits() (1,797 real handwritten digits) "
            f"or cnnlab.data.glyphs() (an MNIST-like set made here).")


def fetch(resource: Resource, folder: Path, dataset: str = "dataset", allow_download: bool = True,
          together_with: tuple[Resource, ...] = ()) -> Path:
    """Path of ``resource`` in ``folder``, downloading it first if needed; the MD5 sum is checked.

    A file that is already there but does not match is not touched: the
    error says so, and the user decides (delete it to download again).
    ``together_with`` lists the other files the caller needs, so that an
    offline error names them all.
    """
    needed = [resource] + [r for r in together_with if not (folder / r.filename).exists()]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / resource.filename
    if path.exists():
        got = _md5(path)
        if got != resource.md5:
            raise DownloadError(f"{path} exists but its MD5 sum is {got}, not {resource.md5}: the file is "
                                f"damaged or a different version. Delete it to download it again, or replace "
                                f"it with the original file.")
        return path
    if not allow_download:
        raise DownloadError(_offline_message(dataset, folder, needed, ["download=False and the file is missing"]))
    reasons = []
    part = folder / (resource.filename + ".part")
    for url in resource.urls:
        try:
            with urllib.request.urlopen(url, timeout=30) as response, open(part, "wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reasons.append(f"{url}: {getattr(err, 'reason', err)}")
            part.unlink(missing_ok=True)
            continue
        got = _md5(part)
        if got != resource.md5:
            part.unlink(missing_ok=True)
            reasons.append(f"{url}: MD5 sum {got} instead of {resource.md5}")
            continue
        part.replace(path)
        return path
    raise DownloadError(_offline_message(dataset, folder, needed, reasons))


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (gzip-compressed if its name ends in ``.gz``), the format of MNIST.

    Header: two zero bytes, a type code (0x08 unsigned byte, 0x09 signed
    byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of
    dimensions, then each dimension as a big-endian int32; then the data.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (its first bytes are {raw[:4].hex()}, "
                         f"expected 0000 then a type code such as 08 and the number of dimensions)")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4).astype(np.int64)
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = raw[4 + 4 * ndim:]
    if len(body) != expected:
        raise ValueError(f"{path}: the header announces shape {tuple(dims)} ({expected} bytes of data) "
                         f"but the file holds {len(body)} bytes; the file is truncated or damaged")
    return np.frombuffer(body, dtype=dtype).reshape(tuple(dims)).astype(dtype.newbyteorder("="))


class _SafeUnpickler(pickle.Unpickler):
    """Only what CIFAR batches contain: dicts, lists, strings, bytes and NumPy arrays."""
    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch file")


def read_cifar_batch(f) -> dict:
    """Parse one CIFAR-10 batch (a pickled dict with ``data`` (N, 3072) uint8 and ``labels``).

    Returns ``{"data": (N, 3, 32, 32) uint8 array, "labels": int64 array}``;
    for ``batches.meta``, the dict with ``label_names`` (str keys).
    """
    obj = _SafeUnpickler(f, encoding="latin1").load()
    if not isinstance(obj, dict):
        raise ValueError(f"a CIFAR batch must hold a dict, got {type(obj).__name__}")
    obj = {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "label_names" in obj:
        obj["label_names"] = [v.decode() if isinstance(v, bytes) else v for v in obj["label_names"]]
        return obj
    if "data" not in obj or "labels" not in obj:
        raise ValueError(f"a CIFAR batch must have 'data' and 'labels', got keys {sorted(obj)}")
    data = np.asarray(obj["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"CIFAR 'data' must be (N, 3072) = N images of 3×32×32, got {data.shape}")
    labels = np.asarray(obj["labels"], dtype=np.int64)
    if len(labels) != len(data):
        raise ValueError(f"CIFAR batch has {len(data)} images but {len(labels)} labels")
    return {"data": data.reshape(-1, 3, 32, 32), "labels": labels}


def _check_split(split):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def _idx_dataset(name, classes, split, root, download_, transform, target_transform) -> ImageDataset:
    _check_split(split)
    folder = cache_dir(root) / name
    prefix = "train" if split == "train" else "t10k"
    img_r, lab_r = (RESOURCES[name][f"{prefix}-{kind}-ubyte.gz"] for kind in ("images-idx3", "labels-idx1"))
    images = read_idx(fetch(img_r, folder, name, download_, together_with=(lab_r,)))
    labels = read_idx(fetch(lab_r, folder, name, download_))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{name} {split}: images {images.shape} and labels {labels.shape} do not match")
    return ImageDataset(torch.from_numpy(images.astype(np.uint8))[:, None], torch.from_numpy(labels.astype(np.int64)),
                        classes, transform, target_transform, name=f"{name}({split!r})",
                        info=dict(split=split, folder=str(folder)))


def mnist(split: str = "train", root=None, download: bool = True, transform=None,
          target_transform=None) -> ImageDataset:
    """MNIST (LeCun et al.): 60,000 train / 10,000 test handwritten digits, 1×28×28. Needs a download."""
    return _idx_dataset("mnist", [str(i) for i in range(10)], split, root, download, transform, target_transform)


def fashion_mnist(split: str = "train", root=None, download: bool = True, transform=None,
                  target_transform=None) -> ImageDataset:
    """Fashion-MNIST (Zalando): 60,000 / 10,000 images of clothes, 1×28×28, 10 classes. Needs a download."""
    return _idx_dataset("fashion_mnist", FASHION_CLASSES, split, root, download, transform, target_transform)


def cifar10(split: str = "train", root=None, download: bool = True, transform=None,
            target_transform=None) -> ImageDataset:
    """CIFAR-10 (Krizhevsky): 50,000 / 10,000 colour images 3×32×32, 10 classes. Needs a download (163 MB)."""
    _check_split(split)
    folder = cache_dir(root) / "cifar10"
    r = RESOURCES["cifar10"]["cifar-10-python.tar.gz"]
    path = fetch(r, folder, "cifar10", download)
    wanted = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    batches, classes = {}, None
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            base = member.name.rsplit("/", 1)[-1]
            if not member.isfile() or base not in wanted + ["batches.meta"]:
                continue
            data = tar.extractfile(member).read()
            parsed = read_cifar_batch(io.BytesIO(data))
            if base == "batches.meta":
                classes = parsed["label_names"]
            else:
                batches[base] = parsed
    absent = [w for w in wanted if w not in batches]
    if absent or classes is None:
        raise ValueError(f"{path} lacks {absent or ['batches.meta']}; is it the CIFAR-10 python version?")
    images = np.concatenate([batches[w]["data"] for w in wanted])
    labels = np.concatenate([batches[w]["labels"] for w in wanted])
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), classes, transform, target_transform,
                        name=f"cifar10({split!r})", info=dict(split=split, folder=str(folder)))
