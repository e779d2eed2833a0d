"""Files with the layout of the published CIFAR archives, for tests: Python 2 pickles of batch dicts, in tar.gz
archives holding ``cifar-10-batches-py/`` or ``cifar-100-python/``.

The published batches were written by Python 2's cPickle (protocol 2): keys and file names are Python 2 ``str``
(the SHORT_BINSTRING / BINSTRING opcodes, read back as bytes under ``encoding="bytes"``), the images a NumPy 1 array
(``numpy.core.multiarray._reconstruct``). ``python2_pickle`` writes the same opcodes from Python 3.
"""
from __future__ import annotations

import io
import pickle
import struct
import tarfile

import numpy as np

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_ARCHIVE = "cifar-100-python.tar.gz"


class _Python2Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can be changed
    dispatch = dict(pickle._Pickler.dispatch)

    def save_python2_str(self, obj):
        # Python 2's str: the bytes themselves, not a unicode string (nor, for bytes, a call to _codecs.encode).
        data = obj if isinstance(obj, bytes) else obj.encode("ascii")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_python2_str
    dispatch[str] = save_python2_str


def python2_pickle(obj) -> bytes:
    """``obj`` pickled as Python 2's cPickle.dump(obj, f, 2) of NumPy 1 arrays wrote it."""
    out = io.BytesIO()
    _Python2Pickler(out, protocol=2).dump(obj)
    # NumPy 2 names its module numpy._core; NumPy 1, which wrote the published files, numpy.core.
    return out.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def batch_dict(rng, count, label_keys, label_ranges, name="batch"):
    """A batch as the published ones hold it: bytes keys, uint8 rows of 3072 bytes, lists of int labels."""
    batch = {b"batch_label": f"{name} of {count}".encode(),
             b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
             b"filenames": [f"image_{i:05d}.png".encode() for i in range(count)]}
    for key, high in zip(label_keys, label_ranges):
        batch[key.encode()] = [int(v) for v in rng.integers(0, high, count)]
    return batch


def write_tar_gz(path, members: dict) -> None:
    """A tar.gz archive of ``{member name: bytes, or None for a folder}``; gzip level 0 (stored blocks, still
    checksummed): the random images would not compress, and a higher level only costs time."""
    with tarfile.open(path, "w:gz", compresslevel=0) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def cifar10_members(train_rows=10000, test_rows=37, seed=0):
    """``{member: bytes}`` of a CIFAR-10 archive (the published order of its batches is shuffled too) and the
    batch dicts. Keras's loader needs 10,000 rows in each training batch."""
    rng = np.random.default_rng(seed)
    batches = {name: batch_dict(rng, train_rows, ["labels"], [10], name) for name in CIFAR10_TRAIN}
    batches["test_batch"] = batch_dict(rng, test_rows, ["labels"], [10], "test_batch")
    # every label occurs among the first training images, so that a classifier trained on the set has 10 outputs
    first_labels = [(name, row) for name in CIFAR10_TRAIN for row in range(train_rows)][:10]
    for label, (name, row) in enumerate(first_labels):
        batches[name][b"labels"][row] = label
    order = ["data_batch_4", "test_batch", "data_batch_3", "data_batch_2", "data_batch_5", "data_batch_1"]
    members = {f"{CIFAR10_FOLDER}/": None}
    members.update({f"{CIFAR10_FOLDER}/{name}": python2_pickle(batches[name]) for name in order})
    members[f"{CIFAR10_FOLDER}/batches.meta"] = python2_pickle({b"label_names": [b"airplane"] * 10})
    return members, batches


def cifar100_members(train_rows=120, test_rows=45, seed=1):
    rng = np.random.default_rng(seed)
    batches = {name: batch_dict(rng, rows, ["fine_labels", "coarse_labels"], [100, 20], name)
               for name, rows in (("train", train_rows), ("test", test_rows))}
    members = {f"{CIFAR100_FOLDER}/": None}
    members.update({f"{CIFAR100_FOLDER}/{name}": python2_pickle(batch) for name, batch in batches.items()})
    members[f"{CIFAR100_FOLDER}/meta"] = python2_pickle({b"fine_label_names": [b"apple"] * 100})
    return members, batches
