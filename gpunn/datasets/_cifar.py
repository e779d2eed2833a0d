"""What ``cifar10`` and ``cifar100`` share: the archive in the local cache, extracted once, and its batch files read
as keras/src/datasets/cifar.py ``load_batch`` reads them.

Keras fetches the archive with ``get_file(fname="cifar-10-batches-py-target", extract=True)``, which keeps it as
``~/.keras/datasets/cifar-10-batches-py-target_archive`` and extracts it again on every call. gpunn keeps it under
its published name in its own cache (``$GPUNN_DATA_DIR/<set>/``, else ``~/.gpunn/datasets/<set>/``) and extracts
the batch files it reads once, into the archive's own folder beside it; later loads read that folder and never
open the archive. Each batch is a Python 2 pickle of a dict (byte-string keys, lists of int labels, one uint8
array of images as rows of 3072 bytes: the red, green and blue 32x32 planes), read by an unpickler that rebuilds
only those values (``_restricted_pickle``).
"""
from __future__ import annotations

import gzip
import lzma
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._cache import cached_file, data_dir
from ._restricted_pickle import ArrayOnlyUnpickler, RefusedGlobalError

__all__ = ["CifarArchive", "batch_files", "load_batch", "stack_channels_last"]

# An image row of a batch: 3 colour planes of 32x32, channels first.
CHANNELS_FIRST_SHAPE = (3, 32, 32)
IMAGE_BYTES = 3 * 32 * 32

# What a damaged or truncated archive raises while it is read: tar's own errors, and those of the decompressors
# tarfile leaves unwrapped.
_DAMAGED_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


@dataclass(frozen=True)
class CifarArchive:
    """One of the two published archives and the files read from it."""

    name: str  # the set's cache directory name: "cifar10"
    fname: str  # the archive's published file name: "cifar-10-python.tar.gz"
    origin: str
    file_hash: str  # sha256, Keras's
    folder: str  # the folder the archive holds the batches in: "cifar-10-batches-py"
    batches: tuple  # the batch files load_data reads from that folder
    keras_fname: str  # Keras's get_file fname: its cache keeps "<keras_fname>_archive" and "<keras_fname>/"


def _cache_hints(archive: CifarArchive, folder: Path) -> dict:
    """The missing-file message's pointers to Keras's cache and to the already-extracted folder."""
    keras_datasets = "~/.keras/datasets"
    return {
        "keras_copy": f"{keras_datasets}/{archive.keras_fname}_archive",
        "other_ways": (
            f"put the extracted folder there instead, as {folder}/ holding {', '.join(archive.batches)} (Keras "
            f"extracts it to {keras_datasets}/{archive.keras_fname}/{archive.folder}/); or set GPUNN_DATA_DIR "
            f"so that DIR/{archive.name}/ holds either"
        ),
    }


def batch_files(archive: CifarArchive) -> dict[str, Path]:
    """The path of each of ``archive.batches``, extracting them from the archive first when the extracted folder
    lacks any (the archive itself is downloaded first when missing).

    Raises:
        FileNotFoundError: neither the extracted files nor the archive are there, and it could not be downloaded.
        ValueError: the archive is damaged, or does not hold the batch files.
    """
    folder = data_dir(archive.name) / archive.folder
    paths = {batch: folder / batch for batch in archive.batches}
    if not all(path.is_file() for path in paths.values()):
        archive_path = cached_file(archive.name, archive.fname, archive.origin, archive.file_hash,
                                   **_cache_hints(archive, folder))
        _extract_batches(archive_path, archive, folder)
    return paths


def _extract_batches(archive_path: Path, archive: CifarArchive, folder: Path) -> None:
    """Copy the batch files out of the archive into ``folder``, all of them or none.

    Only the named regular files are read, and written under names chosen here, so no member of the archive can
    land anywhere else. They are staged in a temporary folder and renamed into place once the whole archive was
    read: an interrupted or failed extraction never leaves a partial file under a batch's name.
    """
    wanted = {f"{archive.folder}/{batch}": batch for batch in archive.batches}
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{archive.folder}.", suffix=".part"))
    try:
        try:
            with tarfile.open(archive_path, "r:*") as tar:
                # One pass in archive order: every seek is forward, so the archive is decompressed once.
                for member in tar:
                    batch = wanted.pop(posixpath.normpath(member.name), None)
                    if batch is None:
                        continue
                    if not member.isfile():
                        raise ValueError(f"{archive_path}: {member.name} is not a regular file; expected the "
                                         f"{archive.name} archive published at {archive.origin}")
                    with tar.extractfile(member) as source, open(staging / batch, "wb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
                # Read on to the end of the compressed stream, where gzip (and xz, bz2) check their checksum of
                # the whole: a flipped bit inside a batch's bytes is found there, not by tar.
                while tar.fileobj.read(1 << 20):
                    pass
        except _DAMAGED_ARCHIVE_ERRORS as e:
            raise ValueError(
                f"{archive_path}: damaged or not a tar archive ({type(e).__name__}: {e}); delete it so that the "
                f"next load downloads it again, or put the archive published at {archive.origin} there"
            ) from e
        if wanted:
            raise ValueError(f"{archive_path}: the archive lacks {', '.join(sorted(wanted))}; expected the "
                             f"{archive.name} archive published at {archive.origin}")
        folder.mkdir(exist_ok=True)
        for batch in archive.batches:
            os.replace(staging / batch, folder / batch)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _entry(batch: dict, key: str, path: Path):
    # Keras decodes every key from bytes (the files are Python 2 pickles); a str key is taken as it is.
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    found = ", ".join(sorted(k.decode(errors="replace") if isinstance(k, bytes) else str(k) for k in batch))
    raise ValueError(f"{path}: no {key!r} entry in this CIFAR batch (it holds: {found})")


def load_batch(path: Path, label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """One batch file's images and labels, as keras/src/datasets/cifar.py ``load_batch`` reads them.

    Args:
        path: the batch file.
        label_key: the entry holding the labels (``"labels"``; CIFAR-100's ``"fine_labels"``,
            ``"coarse_labels"``).

    Returns:
        ``(images, labels)``: uint8 images of shape ``(n, 3, 32, 32)`` (channels first, as stored), and the
        labels as ``np.asarray`` makes them from the file's list (int64), shape ``(n,)``.

    Raises:
        RefusedGlobalError: the pickle names a global other than NumPy's array rebuilders.
        ValueError: the file is not a readable CIFAR batch.
    """
    try:
        with open(path, "rb") as f:
            # encoding="bytes": the Python 2 strings (keys, array payloads) come back as bytes, as in Keras.
            batch = ArrayOnlyUnpickler(f, source=path, encoding="bytes").load()
    except RefusedGlobalError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever a garbled pickle raises, the file is the problem
        raise ValueError(f"{path}: not a readable CIFAR batch ({type(e).__name__}: {e}); delete it so that the "
                         "next load extracts it again from the archive") from e
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a pickled dict (a CIFAR batch), got {type(batch).__name__}")
    images, labels = _entry(batch, "data", path), _entry(batch, label_key, path)
    try:
        labels = np.asarray(labels)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: {label_key!r} is not a list of integer labels ({e})") from e
    if not (isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim >= 1
            and images.size == len(images) * IMAGE_BYTES):
        described = (f"{images.dtype} array of shape {images.shape}" if isinstance(images, np.ndarray)
                     else type(images).__name__)
        raise ValueError(f"{path}: 'data' must be a uint8 array of {IMAGE_BYTES}-byte image rows, got {described}")
    # An empty list is accepted as NumPy types it (float64), as Keras's np.reshape of it does.
    if labels.ndim != 1 or (labels.dtype.kind not in "iu" and labels.size) or len(labels) != len(images):
        raise ValueError(f"{path}: {label_key!r} must be {len(images)} integer labels, one per image, got "
                         f"{labels.dtype} of shape {labels.shape}")
    return images.reshape((len(images),) + CHANNELS_FIRST_SHAPE), labels


def stack_channels_last(batches) -> np.ndarray:
    """Batches of ``(n, 3, 32, 32)`` images as one C-ordered ``(N, 32, 32, 3)`` array (Keras's default
    ``image_data_format``, "channels_last"), each copied once into place."""
    images = np.empty((sum(len(b) for b in batches), 32, 32, 3), dtype=np.uint8)
    start = 0
    for batch in batches:
        images[start:start + len(batch)] = batch.transpose(0, 2, 3, 1)
        start += len(batch)
    return images
