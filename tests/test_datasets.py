"""Data set loaders: the IDX reader, the MNIST-style cache and its offline error, digits, synthetic."""
import gzip
import hashlib
import io
import struct
import urllib.error

import numpy as np
import pytest

from gpunn import datasets
from gpunn.datasets import _cache, _idx, digits, fashion_mnist, mnist, synthetic

IDX_NAMES = _idx.IDX_FILES


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file built by hand from the format description (not with the module's writer)."""
    magic = 0x00000800 | array.ndim
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_set(directory, n_train=12, n_test=5, gz=(False, True, False, True), seed=0):
    """A tiny MNIST-shaped set under the standard names, some files gzip-compressed."""
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    for name, array, compress in zip(IDX_NAMES, arrays, gz):
        data = idx_bytes(array)
        if compress:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return arrays


# ---------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_images_and_labels(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], dtype=np.uint8)
    for name, array in (("img", images), ("lab", labels)):
        data = idx_bytes(array)
        path = tmp_path / (name + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(data) if compress else data)
    got_images = _idx.read_idx(tmp_path / ("img" + (".gz" if compress else "")), _idx.IMAGES_MAGIC)
    got_labels = _idx.read_idx(tmp_path / ("lab" + (".gz" if compress else "")), _idx.LABELS_MAGIC)
    assert got_images.dtype == np.uint8 and got_images.shape == (2, 3, 4)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    got_images[0, 0, 0] = 99  # Keras returns writable arrays
    assert got_images[0, 0, 0] == 99


def test_read_idx_wrong_magic_names_the_file(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.zeros((2, 2, 2), np.uint8)))  # an image file under a label name
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*0x00000801.*0x00000803"):
        _idx.read_idx(path, _idx.LABELS_MAGIC)


def test_read_idx_rejects_non_idx_and_non_ubyte(tmp_path):
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="garbage"):
        _idx.read_idx(garbage)
    floats = tmp_path / "floats"
    floats.write_bytes(struct.pack(">II", 0x00000D01, 1) + b"\0\0\0\0")  # 0x0D: float32 elements
    with pytest.raises(ValueError, match="unsigned-byte"):
        _idx.read_idx(floats)


def test_read_idx_size_mismatch(tmp_path):
    data = idx_bytes(np.zeros((4, 28, 28), np.uint8))
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(data[:-10]))
    with pytest.raises(ValueError, match=r"short\.gz.*\(4, 28, 28\)"):
        _idx.read_idx(short)
    long = tmp_path / "long"
    long.write_bytes(data + b"\0")
    with pytest.raises(ValueError, match="long"):
        _idx.read_idx(long)


def test_write_idx_round_trip(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    _idx.write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(_idx.read_idx(tmp_path / "a.gz", _idx.IMAGES_MAGIC), array)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == idx_bytes(array)


# ---------------------------------------------------------------- mnist / fashion_mnist cache


@pytest.mark.parametrize("module", [mnist, fashion_mnist])
def test_load_data_from_path(tmp_path, module):
    arrays = write_set(tmp_path)
    (x_train, y_train), (x_test, y_test) = module.load_data(path=tmp_path)
    assert x_train.shape == (12, 28, 28) and x_test.shape == (5, 28, 28)
    assert y_train.shape == (12,) and y_test.shape == (5,)
    assert all(a.dtype == np.uint8 for a in (x_train, y_train, x_test, y_test))
    for got, want in zip((x_train, y_train, x_test, y_test), arrays):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("module, name", [(mnist, "mnist"), (fashion_mnist, "fashion_mnist")])
def test_load_data_from_env_data_dir(tmp_path, monkeypatch, module, name):
    write_set(tmp_path / name, gz=(True, True, True, True))
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path))
    (x_train, _), (x_test, _) = module.load_data()
    assert x_train.shape == (12, 28, 28) and x_test.shape == (5, 28, 28)


def test_keras_npz_file_accepted(tmp_path):
    arrays = write_set(tmp_path / "idx")
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=npz)
    np.testing.assert_array_equal(x_test, arrays[2])
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(ValueError, match="path: expected a directory"):
        mnist.load_data(path=other)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("GPUNN_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _idx.data_dir("mnist") == tmp_path / ".gpunn" / "datasets" / "mnist"


def test_label_count_mismatch(tmp_path):
    write_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(4, np.uint8))))
    with pytest.raises(ValueError, match="5 images but .* 4 labels"):
        mnist.load_data(path=tmp_path)


def _no_network(*args, **kwargs):
    raise AssertionError("no download may be attempted")


def test_offline_error_lists_files_and_alternative(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUNN_OFFLINE", "1")
    monkeypatch.setattr(_cache.urllib.request, "urlopen", _no_network)
    target = tmp_path / "empty"
    with pytest.raises(FileNotFoundError) as info:
        mnist.load_data(path=target)
    message = str(info.value)
    assert str(target) in message
    for name in IDX_NAMES:
        assert name in message
    assert "GPUNN_OFFLINE" in message
    assert "storage.googleapis.com/cvdf-datasets/mnist" in message
    assert "gpunn.datasets.digits" in message
    assert not target.exists()  # offline: nothing created either


def test_failed_download_error(tmp_path, monkeypatch):
    monkeypatch.delenv("GPUNN_OFFLINE", raising=False)

    def unreachable(url, timeout=None):
        assert timeout is not None and timeout <= 30  # a short timeout, never a hang
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(_cache.urllib.request, "urlopen", unreachable)
    with pytest.raises(FileNotFoundError, match="downloading failed") as info:
        fashion_mnist.load_data(path=tmp_path)
    assert "Name or service not known" in str(info.value)
    assert "fashion-mnist" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no partial files left behind


def test_download_fills_cache_atomically(tmp_path, monkeypatch):
    """Missing files are fetched (as .gz, checksum-checked); a bad checksum leaves nothing."""
    monkeypatch.delenv("GPUNN_OFFLINE", raising=False)
    source = tmp_path / "server"
    arrays = write_set(source, gz=(True, True, True, True))
    served = {name: (source / f"{name}.gz").read_bytes() for name in IDX_NAMES}
    md5s = {name: hashlib.md5(data).hexdigest() for name, data in served.items()}
    requested = []

    def fake_urlopen(url, timeout=None):
        requested.append(url)
        return io.BytesIO(served[url.rsplit("/", 1)[1][:-3]])

    monkeypatch.setattr(_cache.urllib.request, "urlopen", fake_urlopen)
    cache = tmp_path / "cache"
    cache.mkdir()
    # One file already present (plain): only the other three are fetched.
    (cache / IDX_NAMES[1]).write_bytes(idx_bytes(arrays[1]))
    (x_train, y_train), (x_test, y_test) = _idx.load_idx_set("toy", cache, ["http://mirror/"], md5s)
    assert sorted(requested) == sorted(f"http://mirror/{n}.gz" for n in IDX_NAMES if n != IDX_NAMES[1])
    np.testing.assert_array_equal(x_test, arrays[2])
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [IDX_NAMES[1]] + [f"{n}.gz" for n in IDX_NAMES if n != IDX_NAMES[1]])

    bad_cache = tmp_path / "bad"
    bad_cache.mkdir()
    wrong = dict(md5s, **{IDX_NAMES[0]: "0" * 32})
    with pytest.raises(FileNotFoundError, match="checksum mismatch"):
        _idx.load_idx_set("toy", bad_cache, ["http://mirror/"], wrong)
    assert list(bad_cache.iterdir()) == []


# ---------------------------------------------------------------- digits


def test_digits_shapes_dtypes_range():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape[1:] == (8, 8) and x_test.shape[1:] == (8, 8)
    assert len(x_train) + len(x_test) == 1797
    assert abs(len(x_test) - 0.2 * 1797) <= 10
    assert x_train.dtype == np.float32 and y_train.dtype == np.uint8
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert set(np.unique(y_test)) == set(range(10))  # stratified: every digit in the test set
    counts = np.bincount(y_test, minlength=10)
    assert counts.max() - counts.min() <= 2


def test_digits_deterministic_and_seeded():
    (a, ya), (b, yb) = digits.load_data(seed=7)
    (c, yc), (d, yd) = digits.load_data(seed=7)
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(yd, yb)
    (e, _), _ = digits.load_data(seed=8)
    assert not np.array_equal(a, e)
    (f, _), (g, _) = digits.load_data(test_split=0.5)
    assert abs(len(f) - len(g)) <= 10


def test_digits_bad_split():
    with pytest.raises(ValueError, match="test_split"):
        digits.load_data(test_split=1.5)


# ---------------------------------------------------------------- synthetic


def _least_squares_accuracy(x, y, n_classes, n_fit):
    design = np.c_[x, np.ones(len(x))].astype(np.float64)
    weights = np.linalg.lstsq(design[:n_fit], np.eye(n_classes)[y[:n_fit]], rcond=None)[0]
    return np.mean(np.argmax(design[n_fit:] @ weights, axis=1) == y[n_fit:])


def test_make_classification_is_learnable():
    x, y = synthetic.make_classification(4000, 64, n_classes=10, seed=3)
    assert x.shape == (4000, 64) and x.dtype == np.float32 and y.shape == (4000,)
    assert set(np.unique(y)) == set(range(10))
    assert _least_squares_accuracy(x, y, 10, 3000) > 0.8  # chance is 0.1


def test_make_classification_noise_controls_difficulty():
    x_easy, y_easy = synthetic.make_classification(3000, 32, n_classes=5, seed=1, noise=0.2)
    x_hard, y_hard = synthetic.make_classification(3000, 32, n_classes=5, seed=1, noise=5.0)
    assert _least_squares_accuracy(x_easy, y_easy, 5, 2000) > 0.97
    assert _least_squares_accuracy(x_hard, y_hard, 5, 2000) < 0.6


def test_make_classification_deterministic_and_dtype():
    a = synthetic.make_classification(100, 5, seed=4, dtype="float64")
    b = synthetic.make_classification(100, 5, seed=4, dtype="float64")
    assert a[0].dtype == np.float64
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], synthetic.make_classification(100, 5, seed=5, dtype="float64")[0])
    with pytest.raises(ValueError, match="n_samples"):
        synthetic.make_classification(0, 5)
    with pytest.raises(ValueError, match="dtype"):
        synthetic.make_classification(10, 5, dtype="int32")


def test_make_regression_shapes_and_signal():
    x, y = synthetic.make_regression(3000, 10, n_outputs=2, seed=0)
    assert x.shape == (3000, 10) and y.shape == (3000, 2)
    assert x.dtype == np.float32 and y.dtype == np.float32
    design = np.c_[x, np.ones(len(x))].astype(np.float64)
    weights = np.linalg.lstsq(design[:2000], y[:2000], rcond=None)[0]
    residual = y[2000:] - design[2000:] @ weights
    r2 = 1 - residual.var(axis=0) / y[2000:].var(axis=0)
    assert np.all(r2 > 0.5)  # predictable from x, yet not entirely linear
    assert np.all(r2 < 0.98)
    assert synthetic.make_regression(5, 3)[1].shape == (5, 1)


def test_synthetic_load_data_default_is_mnist_sized():
    (x_train, y_train), (x_test, y_test) = synthetic.load_data()
    assert x_train.shape == (48000, 784) and x_test.shape == (12000, 784)
    assert x_train.dtype == np.float32 and y_train.dtype == np.uint8 and y_test.shape == (12000,)


def test_synthetic_load_data_split():
    (x_train, y_train), (x_test, y_test) = synthetic.load_data(n_samples=1000, n_features=20, n_classes=3,
                                                               test_split=0.25, seed=2)
    assert x_train.shape == (750, 20) and x_test.shape == (250, 20)
    assert set(np.unique(np.r_[y_train, y_test])) == {0, 1, 2}


# ---------------------------------------------------------------- load by name


def test_submodules_exposed():
    assert datasets.mnist is mnist and datasets.digits is digits
    assert datasets.fashion_mnist is fashion_mnist and datasets.synthetic is synthetic


def test_load_unknown_name_suggests():
    with pytest.raises(ValueError) as info:
        datasets.load("mnst")
    message = str(info.value)
    assert "dataset" in message and "'mnst'" in message
    assert "Did you mean 'mnist'?" in message
    for name in ("digits", "mnist", "fashion_mnist", "synthetic"):
        assert name in message
    with pytest.raises(ValueError, match="dataset") as info:
        datasets.load("imagenet")
    assert "Did you mean" not in str(info.value)


def test_load_dispatches_with_kwargs(tmp_path):
    (x, _), _ = datasets.load("synthetic", n_samples=50, n_features=3, test_split=0.2)
    assert x.shape == (40, 3)
    write_set(tmp_path)
    (x, _), _ = datasets.load("Fashion-MNIST", path=tmp_path)
    assert x.shape == (12, 28, 28)
