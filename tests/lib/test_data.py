"""cnnlab.data: shipped and generated datasets, transforms, and the real loaders on files the tests make."""

import gzip
import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cnnlab import data
from cnnlab.data import _real as real
from cnnlab.data import transforms as T


# ---------------------------------------------------------------- digits

def test_digits_are_sklearns_1797_split_stratified_and_resized():
    tr, te, full8 = data.digits("train"), data.digits("test"), data.digits("all", size=8)
    assert len(tr) + len(te) == len(full8) == 1797 and len(te) == 360
    assert tr.image_shape == (1, 32, 32) and full8.image_shape == (1, 8, 8)
    assert data.digits("train", size=28).image_shape == (1, 28, 28)
    assert np.bincount(te.targets.numpy()).min() >= 35              # every class in the test split
    from sklearn.datasets import load_digits
    raw = load_digits()
    assert torch.equal(full8.targets, torch.from_numpy(raw.target))
    assert torch.allclose(full8.tensors()[0][:, 0], torch.from_numpy(raw.images / 16).float(), atol=1 / 255)
    x, y = tr[0]
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1 and isinstance(y, int)
    assert torch.equal(data.digits("test", seed=0).data, te.data)
    assert not torch.equal(data.digits("test", seed=1).targets, te.targets)


# ---------------------------------------------------------------- glyphs

def test_glyphs_are_deterministic_balanced_and_look_like_mnist():
    a = data.glyphs("train", n=2000, seed=3)
    b = data.glyphs("train", n=2000, seed=3)
    assert torch.equal(a.data, b.data) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.data, data.glyphs("train", n=2000, seed=4).data)
    assert not torch.equal(a.data, data.glyphs("test", n=2000, seed=3).data)
    assert a.classes == list("0123456789") and a.image_shape == (1, 28, 28)
    assert torch.bincount(a.targets).tolist() == [200] * 10
    x = a.tensors()[0]
    # white ink on a black background: a bright stroke in every image, mostly dark pixels
    assert (x.amax(dim=(1, 2, 3)) > 0.6).all()
    assert x.mean() < 0.3
    corners = torch.cat([x[:, 0, :3, :3].flatten(), x[:, 0, -3:, -3:].flatten()])
    assert corners.mean() < 0.08
    # centred: the centre of mass of the ink sits near the middle
    h = torch.arange(28.0)
    cy = (x[:, 0].sum(2) * h).sum(1) / x[:, 0].sum((1, 2))
    assert (cy - 13.5).abs().mean() < 2.5


def test_glyph_kinds_sizes_and_fonts():
    letters = data.glyphs("test", n=52, kind="letters", size=32)
    assert letters.classes == [chr(c) for c in range(65, 91)] and letters.image_shape == (1, 32, 32)
    assert len(data.glyphs("test", n=36, kind="alphanumeric").classes) == 36
    one_font = data.glyphs("test", n=20, fonts=["DejaVuSans"])
    assert one_font.info["fonts"] == ["DejaVuSans"]
    with pytest.raises(ValueError, match="kind must be one of"):
        data.glyphs(kind="greek")
    with pytest.raises(FileNotFoundError, match="cnnlab.data.FONTS"):
        data.glyphs(n=10, fonts=["Comic Sans"])
    with pytest.raises(ValueError, match="split"):
        data.glyphs("validation")


def test_glyph_classes_differ_from_each_other():
    """A nearest-class-mean classifier separates the generated digits well: the labels mean something."""
    tr, te = data.glyphs("train", n=3000, size=16), data.glyphs("test", n=1000, size=16)
    xtr, ytr = tr.tensors()
    xte, yte = te.tensors()
    means = torch.stack([xtr[ytr == c].mean(0).flatten() for c in range(10)])
    pred = torch.cdist(xte.flatten(1), means).argmin(1)
    assert (pred == yte).float().mean() > 0.5                   # chance is 0.1


# ---------------------------------------------------------------- textures and images

def test_textures_split_the_images_without_overlap_and_are_deterministic():
    tr, te = data.textures("train", n=100), data.textures("test", n=50, size=24)
    assert tr.classes == list(data.TEXTURES) and te.image_shape == (1, 24, 24)
    assert torch.equal(tr.data, data.textures("train", n=100).data)
    assert torch.bincount(tr.targets).tolist() == [20] * 5
    with pytest.raises(ValueError, match="unknown texture image"):
        data.textures(names=["brick", "marble"])


def test_sample_images():
    a = data.image("astronaut")
    assert a.shape == (3, 512, 512) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    assert data.image("camera").shape == (1, 512, 512)
    assert data.image("astronaut", gray=True).shape == (1, 512, 512)
    assert data.image("coins", size=64).shape == (1, 64, 81)        # shorter side 64, aspect kept
    assert data.image("cat", size=(32, 48)).shape == (3, 32, 48)
    assert data.image("logo").shape[0] == 3                         # RGBA -> RGB
    with pytest.raises(ValueError, match="astronaut"):
        data.image("lena")


# ---------------------------------------------------------------- dataset and transforms

def test_dataset_transforms_subsets_and_loader():
    ds = data.digits("train", transform=T.Normalize(0.5, 0.25), target_transform=lambda y: y + 100)
    x, y = ds[0]
    raw = ds.data[0].float() / 255
    assert torch.allclose(x, (raw - 0.5) / 0.25) and y == int(ds.targets[0]) + 100
    few = ds.take_per_class(3, seed=1)
    assert len(few) == 30 and torch.bincount(few.targets).tolist() == [3] * 10
    assert torch.equal(few.data, ds.take_per_class(3, seed=1).data)
    xb, yb = next(iter(DataLoader(ds, batch_size=8)))
    assert xb.shape == (8, 1, 32, 32) and yb.shape == (8,)
    with pytest.raises(ValueError, match="fewer than k"):
        ds.take_per_class(1000)
    with pytest.raises(TypeError, match="callable"):
        data.digits(transform="normalize")


def test_transforms():
    x = torch.rand(3, 20, 20)
    torch.manual_seed(0)
    assert T.RandomCrop(16, padding=2)(x).shape == (3, 16, 16)
    assert T.Resize(10)(x).shape == (3, 10, 10)
    assert T.Pad(2)(x).shape == (3, 24, 24)
    assert torch.equal(T.RandomHorizontalFlip(p=1.0)(x), x.flip(-1))
    assert torch.equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    assert T.Grayscale()(x).shape == (1, 20, 20)
    ident = T.RandomAffine(degrees=0, translate=0, scale=(1, 1))(x)
    assert torch.allclose(ident, x, atol=1e-5)
    u8 = np.full((4, 5, 3), 255, dtype=np.uint8)
    assert torch.equal(T.ToTensor()(u8), torch.ones(3, 4, 5))
    pipeline = T.Compose([T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    assert torch.equal(pipeline(u8), torch.ones(3, 4, 5))
    with pytest.raises(TypeError, match="ToTensor"):
        T.Normalize(0, 1)(np.zeros((4, 4)))


# ---------------------------------------------------------------- real loaders, on files made here

def _idx_bytes(array: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def mnist_server(tmp_path, monkeypatch):
    """Tiny MNIST-format files in a 'server' folder reached by file:// URLs; RESOURCES point there."""
    server = tmp_path / "server"
    server.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.array([5, 0, 4, 1, 9, 2], dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.array([7, 2, 1], dtype=np.uint8),
    }
    resources = {}
    for name, arr in arrays.items():
        path = server / name
        path.write_bytes(gzip.compress(_idx_bytes(arr)))
        resources[name] = real.Resource(name, _md5(path), ("file:///nonexistent/mirror/" + name,
                                                           path.as_uri()))
    monkeypatch.setitem(real.RESOURCES, "mnist", resources)
    return server, arrays, tmp_path / "cache"


def test_mnist_downloads_verifies_and_parses_idx(mnist_server):
    server, arrays, cache = mnist_server
    ds = data.mnist("train", root=cache)                        # first mirror fails, second works
    assert (cache / "mnist" / "train-images-idx3-ubyte.gz").exists()
    assert torch.equal(ds.data[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte.gz"]))
    assert ds.targets.tolist() == [5, 0, 4, 1, 9, 2] and ds.classes[5] == "5"
    te = data.mnist("test", root=cache)
    assert te.image_shape == (1, 28, 28) and te.targets.tolist() == [7, 2, 1]
    # cached: works without the server
    for f in server.iterdir():
        f.unlink()
    assert torch.equal(data.mnist("train", root=cache, download=False).data, ds.data)


def test_cache_dir_follows_root_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "env"))
    assert data.cache_dir() == tmp_path / "env"
    assert data.cache_dir(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("CNNLAB_DATA")
    assert data.cache_dir().parts[-2:] == (".cache", "cnnlab")


def test_a_download_with_the_wrong_checksum_is_rejected_and_not_kept(mnist_server, monkeypatch):
    server, _, cache = mnist_server
    name = "t10k-labels-idx1-ubyte.gz"
    bad = real.Resource(name, "0" * 32, real.RESOURCES["mnist"][name].urls)
    monkeypatch.setitem(real.RESOURCES["mnist"], name, bad)
    with pytest.raises(data.DownloadError, match="MD5 sum"):
        data.mnist("test", root=cache)
    assert not (cache / "mnist" / name).exists() and not (cache / "mnist" / (name + ".part")).exists()


def test_a_damaged_cached_file_is_reported_and_left_alone(mnist_server):
    _, _, cache = mnist_server
    folder = cache / "mnist"
    folder.mkdir(parents=True)
    damaged = folder / "t10k-images-idx3-ubyte.gz"
    damaged.write_bytes(b"not what it should be")
    with pytest.raises(data.DownloadError, match="Delete it to download it again"):
        data.mnist("test", root=cache)
    assert damaged.read_bytes() == b"not what it should be"


def test_offline_failure_says_what_to_do(tmp_path, monkeypatch):
    offline = {n: real.Resource(n, r.md5, ("http://127.0.0.1:9/" + n,))
               for n, r in real.RESOURCES["fashion_mnist"].items()}
    monkeypatch.setitem(real.RESOURCES, "fashion_mnist", offline)
    with pytest.raises(data.DownloadError) as err:
        data.fashion_mnist("train", root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "fashion_mnist") in msg
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert "digits()" in msg and "glyphs()" in msg and "offline" in msg
    with pytest.raises(data.DownloadError, match="download=False"):
        data.cifar10(root=tmp_path, download=False)


def test_read_idx_rejects_damaged_files(tmp_path):
    good = tmp_path / "a.idx"
    good.write_bytes(_idx_bytes(np.arange(12, dtype=np.int32).reshape(3, 4)))
    assert data.read_idx(good).tolist() == np.arange(12).reshape(3, 4).tolist()
    short = tmp_path / "b.idx"
    short.write_bytes(_idx_bytes(np.zeros((3, 4), np.uint8))[:-2])
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(short)
    junk = tmp_path / "c.idx"
    junk.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(junk)


def _cifar_batch(images: np.ndarray, labels) -> bytes:
    # like the originals (pickled by Python 2): bytes keys, data (N, 3072) uint8, labels a list
    return pickle.dumps({b"batch_label": b"testing", b"labels": list(labels),
                         b"data": images.reshape(len(images), -1), b"filenames": [b"x.png"] * len(images)},
                        protocol=2)


def test_cifar10_parses_the_pickle_batches_of_the_tarball(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    batches = {f"data_batch_{i}": rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8) for i in range(1, 6)}
    batches["test_batch"] = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    tar_path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        members = {k: _cifar_batch(v, range(len(v))) for k, v in batches.items()}
        members["batches.meta"] = pickle.dumps({b"label_names": [n.encode() for n in names],
                                                b"num_vis": 3072}, protocol=2)
        for k, blob in members.items():
            info = tarfile.TarInfo("cifar-10-batches-py/" + k)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    res = real.Resource("cifar-10-python.tar.gz", _md5(tar_path), (tar_path.as_uri(),))
    monkeypatch.setitem(real.RESOURCES, "cifar10", {res.filename: res})
    tr = data.cifar10("train", root=tmp_path / "cache")
    assert len(tr) == 10 and tr.image_shape == (3, 32, 32) and tr.classes == names
    assert torch.equal(tr.data[:2], torch.from_numpy(batches["data_batch_1"]))
    assert torch.equal(tr.data[8:], torch.from_numpy(batches["data_batch_5"]))
    te = data.cifar10("test", root=tmp_path / "cache")
    assert torch.equal(te.data, torch.from_numpy(batches["test_batch"])) and te.targets.tolist() == [0, 1, 2, 3]


def test_cifar_reader_refuses_pickles_that_run_code():
    class Evil:
        def __reduce__(self):
            return (print, ("this ran",))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data.read_cifar_batch(io.BytesIO(pickle.dumps({"data": Evil()})))
