"""HDF5 (through h5py) for the Keras file formats: files built in memory, so that ``atomic_write.py`` writes
them; files read whole and defensively; and the SHA-256 record that gpunn stores in the HDF5 files it writes.

Reading follows the guards of Keras's own reader (keras/src/saving/saving_lib.py ``safe_get_h5_group`` /
``safe_get_h5_dataset``): only hard links are followed (no soft or external links), no external or virtual
datasets, and a dataset that declares far more bytes than it stores (a "shape bomb") is refused. Datasets must
hold numbers; nothing is ever unpickled (HDF5 has no pickle; object-dtype data is refused).

The digest record covers every dataset (by its path, with its dtype and shape) and every attribute (by
``<group path>@<name>``, the root's by name alone), as ``file_digests.py`` lays it out; it is stored in the
root attribute ``file_digests.DIGESTS_KEY``. Keras ignores attributes it does not know.
"""
from __future__ import annotations

import io
import json
import math

import numpy as np

from .file_digests import DIGESTS_KEY, digest_record, find_damage
from .file_format import NotAModelFileError

# The root attribute that says gpunn wrote the file (with the version of what it adds): such a file must carry
# its digest record.
GPUNN_MARKER = "gpunn_h5_version"
# Keras's limit for one attribute's bytes (legacy_h5_format.HDF5_OBJECT_HEADER_LIMIT): longer lists of names are
# split over attributes '<name>0', '<name>1', ...
HDF5_OBJECT_HEADER_LIMIT = 64512
_BOMB_FLOOR_BYTES = 1 << 30
_BOMB_MAX_EXPANSION = 1000


class HDF5Contents:
    """Everything an HDF5 file holds: ``datasets`` {path: array}, ``attributes`` {key: decoded value} and
    ``groups`` (the paths of its groups, '' being the root)."""

    def __init__(self):
        self.datasets: dict[str, np.ndarray] = {}
        self.attributes: dict[str, object] = {}
        self.groups: set[str] = {""}

    def attribute(self, group: str, name: str, default=None):
        return self.attributes.get(attribute_key(group, name), default)

    def names_attribute(self, group: str, name: str) -> list[str]:
        """A list-of-names attribute, joined back from Keras's chunks ('<name>0', '<name>1', ...) if split."""
        whole = self.attribute(group, name)
        if whole is not None:
            return _as_names(whole)
        names, chunk = [], 0
        while attribute_key(group, f"{name}{chunk}") in self.attributes:
            names += _as_names(self.attribute(group, f"{name}{chunk}"))
            chunk += 1
        return names


def attribute_key(group: str, name: str) -> str:
    return f"{group}@{name}" if group else name


def _as_names(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _decode(value):
    """An attribute's value as str, list of str, number or list of numbers."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SOU":
            return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in value.reshape(-1).tolist()]
        if value.size == 0:
            return []  # Keras writes an empty list of names as an empty float array
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _canonical_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


# ---- writing ----------------------------------------------------------------------------------------------


class HDF5Writer:
    """Collects datasets and attributes, then writes them as one HDF5 file's bytes, with the digest record."""

    def __init__(self):
        self.datasets: dict[str, np.ndarray] = {}
        self.attributes: dict[str, tuple[str, str, object]] = {}  # key -> (group, name, value)
        self.groups: list[str] = []

    def group(self, path: str) -> None:
        """Create ``path`` even when nothing is put into it (Keras writes empty groups for weightless layers)."""
        self.groups.append(path)

    def dataset(self, path: str, value) -> None:
        # np.array, not np.ascontiguousarray, which would make a scalar (the step count) of shape (1,).
        self.datasets[path] = np.array(value, order="C").reshape(np.shape(value))  # 0-d stays 0-d (Keras's count)

    def attribute(self, group: str, name: str, value) -> None:
        self.attributes[attribute_key(group, name)] = (group, name, value)

    def names_attribute(self, group: str, name: str, names: list[str]) -> None:
        """Keras's ``save_attributes_to_hdf5_group``: a list of names as bytes, split in chunks that each fit the
        HDF5 object header."""
        data = np.asarray([n.encode("utf-8") for n in names]) if names else np.asarray([])
        chunks = 1
        parts = np.array_split(data, chunks)
        while any(part.nbytes > HDF5_OBJECT_HEADER_LIMIT for part in parts):
            chunks += 1
            parts = np.array_split(data, chunks)
        if chunks == 1:
            self.attribute(group, name, data)
        else:
            for index, part in enumerate(parts):
                self.attribute(group, f"{name}{index}", part)

    def to_bytes(self) -> bytes:
        import h5py

        texts = {key: _canonical_text(_decode(value)) for key, (_, _, value) in self.attributes.items()}
        record = digest_record(self.datasets, texts)
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            for path in self.groups:
                f.require_group(path)
            for path, value in self.datasets.items():
                f.create_dataset(path, data=value)
            for group, name, value in self.attributes.values():
                (f.require_group(group) if group else f).attrs[name] = value
            f.attrs[DIGESTS_KEY] = record
        return buffer.getvalue()


# ---- reading ----------------------------------------------------------------------------------------------


class UnsafeHDF5Error(ValueError):
    """The file uses an HDF5 feature gpunn refuses to follow (a link, an external dataset, a shape bomb...)."""


def _read_dataset(path: str, dataset) -> np.ndarray:
    if dataset.external:
        raise UnsafeHDF5Error(f"dataset {path!r} is stored outside the file (an external dataset)")
    if dataset.is_virtual:
        raise UnsafeHDF5Error(f"dataset {path!r} is a virtual dataset")
    if dataset.dtype.kind not in "biuf":
        raise UnsafeHDF5Error(f"dataset {path!r} holds {dataset.dtype} data, not numbers")
    declared = math.prod(dataset.shape or ()) * dataset.dtype.itemsize
    stored = dataset.id.get_storage_size()
    if declared > _BOMB_FLOOR_BYTES and declared > _BOMB_MAX_EXPANSION * max(stored, 1):
        raise UnsafeHDF5Error(f"dataset {path!r} declares {declared} bytes but stores {stored}")
    return np.asarray(dataset[()])


def _walk(contents: HDF5Contents, group, path: str) -> None:
    import h5py

    for name, value in group.attrs.items():
        contents.attributes[attribute_key(path, name)] = _decode(value)
    for name in group:
        child_path = f"{path}/{name}" if path else name
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise UnsafeHDF5Error(f"{child_path!r} is a {type(link).__name__}, which gpunn does not follow")
        child = group[name]
        if isinstance(child, h5py.Group):
            contents.groups.add(child_path)
            _walk(contents, child, child_path)
        elif isinstance(child, h5py.Dataset):
            contents.datasets[child_path] = _read_dataset(child_path, child)
            for attr, value in child.attrs.items():
                contents.attributes[attribute_key(child_path, attr)] = _decode(value)
        else:
            raise UnsafeHDF5Error(f"{child_path!r} is a {type(child).__name__}, neither a group nor a dataset")


def read_hdf5(data: bytes) -> HDF5Contents:
    """The whole HDF5 file ``data``. Raises OSError (not HDF5, or damaged beyond what HDF5 can read),
    UnsafeHDF5Error, or h5py's own errors (KeyError, ValueError, RuntimeError) on damage found while reading."""
    import h5py

    contents = HDF5Contents()
    with h5py.File(io.BytesIO(data), "r") as f:
        _walk(contents, f, "")
    return contents


def damage_in(contents: HDF5Contents) -> list[str] | None:
    """What does not match the file's digest record: None when the file has no record (Keras wrote it, or an
    older gpunn), else one phrase per damaged item (none for an intact file)."""
    record = contents.attributes.get(DIGESTS_KEY)
    if record is None:
        return None
    if not isinstance(record, str):
        return [f"its digest record (attribute {DIGESTS_KEY!r}) is not readable"]
    texts = {key: _canonical_text(value) for key, value in contents.attributes.items() if key != DIGESTS_KEY}
    return find_damage(record, contents.datasets, texts)


def is_hdf5(data: bytes) -> bool:
    """HDF5's signature, at the start or after a user block (512, 1024, 2048, ... bytes)."""
    signature = b"\x89HDF\r\n\x1a\n"
    offset = 0
    while offset + 8 <= len(data):
        if data[offset:offset + 8] == signature:
            return True
        offset = 512 if offset == 0 else offset * 2
    return False


def read_checked(filepath: str, data: bytes, where: str = "") -> HDF5Contents:
    """The whole HDF5 file ``data``, its digest record checked when it has one; NotAModelFileError (naming
    ``filepath``, and ``where`` in it) when it is not HDF5, is damaged, or uses what gpunn refuses to follow."""
    # (what h5py and the digest check raise on damaged bytes: overflowing sizes, undecodable or mistyped names)
    damaged_file = (OSError, UnsafeHDF5Error, KeyError, ValueError, RuntimeError, TypeError, OverflowError,
                    UnicodeError)
    try:
        contents = read_hdf5(data)
        damage = damage_in(contents)
    except damaged_file as exc:
        raise NotAModelFileError(f"filepath: {filepath!r}{where} is an HDF5 file that is damaged, or is not a gpunn "
                                 f"model file nor a Keras one ({type(exc).__name__}: {exc})") from None
    if damage:
        more = f"; and {len(damage) - 5} more" if len(damage) > 5 else ""
        raise NotAModelFileError(f"filepath: {filepath!r}{where} is damaged: " + "; ".join(damage[:5]) + more)
    if damage is None and contents.attributes.get(GPUNN_MARKER) is not None:
        raise NotAModelFileError(f"filepath: {filepath!r}{where} is damaged: its SHA-256 digests (attribute "
                                 f"{DIGESTS_KEY!r}), which every HDF5 file gpunn writes has, are missing")
    return contents
