"""IDX files (the MNIST file format): reading and writing them, and finding or fetching a
four-file MNIST-style set in the local cache.

An IDX file is a 4-byte magic number ``0x0000TTNN`` (TT: element type, 0x08 = unsigned byte;
NN: number of dimensions), then NN big-endian uint32 dimension sizes, then the elements in
C order. Files may be gzip-compressed (``.gz``).
"""
from __future__ import annotations

import gzip
import os
import struct
import sys
from pathlib import Path

import numpy as np

from ._cache import data_dir, download, offline

__all__ = [
    "read_idx",
    "write_idx",
    "data_dir",
    "load_idx_set",
    "IDX_FILES",
]

# The element type this reader accepts: every MNIST-style set is unsigned bytes.
_UBYTE = 0x08
LABELS_MAGIC = 0x00000801  # ubyte, 1 dimension
IMAGES_MAGIC = 0x00000803  # ubyte, 3 dimensions

# The four files of an MNIST-style set, in the order load_data returns them.
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_idx(path, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (plain or ``.gz``) into a uint8 array.

    Args:
        path: the file.
        expected_magic: if given, the magic number the file must carry (``0x00000801`` for a
            label file, ``0x00000803`` for an image file).

    Returns:
        A writable ``uint8`` array shaped by the file's dimension sizes.

    Raises:
        ValueError: naming the file, when the magic number is wrong or the payload size does not
            match the header.
    """
    path = Path(path)
    with _open(path) as f:
        try:
            header = f.read(4)
        except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
            raise ValueError(f"{path}: not a readable IDX file ({e})") from e
        if len(header) < 4:
            raise ValueError(f"{path}: too short for an IDX file ({len(header)} bytes)")
        (magic,) = struct.unpack(">I", header)
        if expected_magic is not None and magic != expected_magic:
            raise ValueError(
                f"{path}: expected IDX magic number 0x{expected_magic:08x}, got 0x{magic:08x}"
            )
        if magic >> 16 != 0 or (magic >> 8) & 0xFF != _UBYTE:
            raise ValueError(
                f"{path}: expected an unsigned-byte IDX file (magic 0x000008NN), got 0x{magic:08x}"
            )
        ndim = magic & 0xFF
        raw_dims = f.read(4 * ndim)
        if len(raw_dims) != 4 * ndim:
            raise ValueError(f"{path}: IDX header truncated (expected {ndim} dimension sizes)")
        shape = struct.unpack(f">{ndim}I", raw_dims)
        out = np.empty(shape, dtype=np.uint8)
        buf = memoryview(out.reshape(-1))
        filled = 0
        try:
            # readinto straight into the array: no temporary bytes object of the payload's size.
            while filled < out.size:
                n = f.readinto(buf[filled:])
                if not n:
                    break
                filled += n
            trailing = len(f.read(1))
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: corrupt or truncated IDX file ({e})") from e
        if filled != out.size or trailing:
            got = f"{filled} bytes" if filled != out.size else "more bytes"
            raise ValueError(
                f"{path}: header says shape {shape} ({out.size} bytes of data), file holds {got}"
            )
    return out


def write_idx(path, array) -> None:
    """Write a uint8 array as an IDX file (gzip-compressed when ``path`` ends in ``.gz``)."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"array: expected dtype uint8, got {array.dtype}")
    path = Path(path)
    header = struct.pack(f">I{array.ndim}I", (_UBYTE << 8) | array.ndim, *array.shape)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header)
        f.write(array.tobytes())


def _find(directory: Path, base: str) -> Path | None:
    for candidate in (directory / base, directory / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_message(name: str, directory: Path, missing, mirrors, reason: str) -> str:
    files = "\n".join(f"    {directory / base}  (or {base}.gz)" for base in missing)
    sources = "\n".join(f"    {m}" for m in mirrors)
    return (
        f"{name}: data files not found in {directory}, and {reason}\n"
        f"Put these files there (plain or gzip-compressed):\n{files}\n"
        f"They are the standard IDX files published at:\n{sources}\n"
        "(or pass load_data(path=DIR), or set GPUNN_DATA_DIR so that DIR/"
        f"{name}/ holds them).\n"
        "For a data set that needs no download, use gpunn.datasets.digits "
        "(scikit-learn's 8x8 digits, shipped offline)."
    )


def _fetch(name: str, directory: Path, missing, mirrors, md5s) -> None:
    if offline():
        raise FileNotFoundError(
            _missing_message(name, directory, missing, mirrors, "downloading is off (GPUNN_OFFLINE is set).")
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileNotFoundError(
            _missing_message(name, directory, missing, mirrors, f"the directory cannot be created ({e}).")
        ) from e
    for base in missing:
        dest = directory / f"{base}.gz"
        errors = []
        for mirror in mirrors:
            url = mirror + f"{base}.gz"
            print(f"Downloading {url}", file=sys.stderr)
            try:
                download(url, dest, md5s.get(base))
                break
            except Exception as e:  # noqa: BLE001 - any failure means "try the next mirror"
                errors.append(f"{url}: {e}")
        else:
            reason = "downloading failed:\n" + "".join(f"    {err}\n" for err in errors).rstrip("\n")
            raise FileNotFoundError(_missing_message(name, directory, missing, mirrors, reason))


def _keras_cache_name(path):
    """Keras's ``load_data(path="mnist.npz")`` (its default, written out): a bare ``.npz`` file name names Keras's
    cached copy under ``~/.keras/datasets`` (``$KERAS_HOME/datasets``), read from there where Keras fetched it;
    else gpunn's own cache serves, as for no path."""
    if path is None or not str(path).endswith(".npz"):
        return path
    given = Path(path).expanduser()
    if given.is_file() or given.is_absolute() or given.parent != Path("."):
        return path
    keras_copy = Path(os.environ.get("KERAS_HOME") or "~/.keras").expanduser() / "datasets" / given.name
    return keras_copy if keras_copy.is_file() else None


def _load_npz(path: Path):
    """Keras's cached form of these sets (``~/.keras/datasets/mnist.npz``), read as is."""
    if path.suffix != ".npz":
        raise ValueError(
            f"path: expected a directory holding the IDX files (or a Keras .npz file), got the file {path}"
        )
    with np.load(path, allow_pickle=False) as f:
        keys = ("x_train", "y_train", "x_test", "y_test")
        absent = [k for k in keys if k not in f.files]
        if absent:
            raise ValueError(f"{path}: expected arrays {', '.join(keys)}; missing {', '.join(absent)}")
        x_train, y_train, x_test, y_test = (f[k] for k in keys)
    return (x_train, y_train), (x_test, y_test)


def load_idx_set(name: str, path, mirrors, md5s=None):
    """Read an MNIST-style set from its cache directory, downloading missing files first.

    Args:
        name: the data set's directory name under the cache root (``mnist``, ``fashion_mnist``).
        path: an explicit directory holding the files (or a Keras ``.npz`` file of the set), or None
            for the default cache.
        mirrors: base URLs, tried in order, each serving ``<file>.gz``.
        md5s: optional ``{file base name: md5 of the .gz}`` used to check downloads.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` as uint8 arrays.

    Raises:
        FileNotFoundError: files missing and not downloadable; the message lists what to put where.
        ValueError: a file is not a valid IDX file, or image and label counts disagree.
    """
    directory = data_dir(name, _keras_cache_name(path))
    if directory.is_file():
        return _load_npz(directory)
    missing = [base for base in IDX_FILES if _find(directory, base) is None]
    if missing:
        _fetch(name, directory, missing, list(mirrors), dict(md5s or {}))
    found = [_find(directory, base) for base in IDX_FILES]
    x_train = read_idx(found[0], IMAGES_MAGIC)
    y_train = read_idx(found[1], LABELS_MAGIC)
    x_test = read_idx(found[2], IMAGES_MAGIC)
    y_test = read_idx(found[3], LABELS_MAGIC)
    for x, y, xf, yf in ((x_train, y_train, found[0], found[1]), (x_test, y_test, found[2], found[3])):
        if len(x) != len(y):
            raise ValueError(f"{xf} holds {len(x)} images but {yf} holds {len(y)} labels")
    return (x_train, y_train), (x_test, y_test)
