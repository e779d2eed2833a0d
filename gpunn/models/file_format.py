"""gpunn's own model file format: one safetensors file holding tensors and JSON metadata, with SHA-256 digests,
written atomically. ``model.save`` writes it for names other than .keras / .h5 / .hdf5 (or with
``save_format="safetensors"``, see ``file_kinds.py``); files of this format load whatever their name.

No pickle: any safetensors reader can open the weights. Writes
are atomic and leave no debris (``atomic_write.py``). Every file carries digests of its tensors and metadata
(``file_digests.py``), checked on every read: a damaged file is refused, naming what is damaged.

Format versions: 1 had no digests; such files are still read, unchecked, since users have them. 2 adds the
digests, and a version-2 file without them is refused as damaged. A file of a later version is refused with a
request to upgrade gpunn.

This module knows the format only; ``save.py`` and ``load.py`` compose it with a model's config, weights and
optimizer state.
"""
from __future__ import annotations

import json
import os

from .atomic_write import atomic_write_bytes
from .file_digests import DIGESTS_KEY, digest_record, find_damage
from .file_paths import check_load_path

MODEL_FORMAT = "gpunn.model"
WEIGHTS_FORMAT = "gpunn.weights"
FORMAT_VERSION = "2"
_UNCHECKED_VERSIONS = ("1",)  # written before the digests existed


class NotAModelFileError(ValueError):
    """The file was not written by gpunn's ``save`` / ``save_weights``, is damaged, or is of a newer format."""


def gpunn_version() -> str:
    from .. import __version__

    return __version__


def write_file(filepath, tensors: dict, metadata: dict, overwrite: bool = True) -> None:
    """``tensors`` (name -> host array) and ``metadata`` (str -> str) as one safetensors file, with their
    digests, atomically."""
    from safetensors.numpy import save

    metadata = {**metadata, DIGESTS_KEY: digest_record(tensors, metadata)}
    atomic_write_bytes(os.fspath(filepath), save(tensors, metadata=metadata), overwrite)


def _parse(filepath: str, data: bytes, what: str) -> tuple[dict, dict]:
    """(metadata, tensors) of the safetensors file ``data``; NotAModelFileError if it is not one."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    if not data:  # (what a save that failed, or a copy cut short, leaves)
        raise NotAModelFileError(f"filepath: {filepath!r} is empty (0 bytes), not {what}")
    if data[:4] == b"\x89HDF":
        raise NotAModelFileError(f"filepath: {filepath!r} is an HDF5 file (written by Keras?), not {what}")
    try:
        tensors = load(data)  # checks the layout: valid header, offsets that tile the data exactly
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_len])
    except (SafetensorError, ValueError, UnicodeDecodeError) as exc:
        raise NotAModelFileError(f"filepath: {filepath!r} is damaged or is not {what}: {exc}") from None
    return header.get("__metadata__") or {}, tensors


def _check_version(filepath: str, metadata: dict, checked: bool) -> None:
    version = metadata.get("format_version")
    if not (isinstance(version, str) and version.isdigit()):
        raise NotAModelFileError(f"filepath: {filepath!r} is damaged: its format version {version!r} is not a number")
    if int(version) > int(FORMAT_VERSION):
        raise NotAModelFileError(
            f"filepath: {filepath!r} was written by a newer gpunn ({metadata.get('gpunn_version', 'unknown')}, "
            f"file format version {version}); this gpunn ({gpunn_version()}) reads versions up to "
            f"{FORMAT_VERSION}: upgrade gpunn to load it"
        )
    if not checked and version not in _UNCHECKED_VERSIONS:
        raise NotAModelFileError(
            f"filepath: {filepath!r} is damaged: its SHA-256 digests (metadata {DIGESTS_KEY!r}), which every "
            f"file of format version {version} has, are missing"
        )


def read_file(filepath, expected_formats, data: bytes | None = None) -> tuple[dict, dict]:
    """(metadata, tensors) of a file whose metadata says one of ``expected_formats``, its digests checked;
    NotAModelFileError otherwise. ``data``: the file's bytes, when the caller has read them already."""
    filepath = check_load_path(filepath)
    if data is None:
        with open(filepath, "rb") as handle:
            data = handle.read()
    what = "a gpunn model file (written by model.save)"
    metadata, tensors = _parse(filepath, data, what)
    # Digests first: a damaged format name or version is reported as damage, not as a foreign file.
    checked = DIGESTS_KEY in metadata
    if checked:
        damage = find_damage(metadata[DIGESTS_KEY], tensors, {k: v for k, v in metadata.items() if k != DIGESTS_KEY})
        if damage:
            more = f"; and {len(damage) - 5} more" if len(damage) > 5 else ""
            raise NotAModelFileError(f"filepath: {filepath!r} is damaged: " + "; ".join(damage[:5]) + more)
    if metadata.get("format") not in expected_formats:
        raise NotAModelFileError(
            f"filepath: {filepath!r} is a safetensors file but not {what} (format {metadata.get('format')!r})"
        )
    _check_version(filepath, metadata, checked)
    return metadata, tensors
