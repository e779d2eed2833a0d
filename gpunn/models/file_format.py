"""The model file format: one safetensors file holding tensors and JSON metadata, written atomically.

No pickle: any safetensors reader can open the weights. The file name is the user's ('model.h5' too). Writes
are atomic: the bytes go to a temporary file in the same directory, which then replaces the target, so a
crash mid-save leaves the previous file intact. This module knows the format only; ``save.py`` and
``load.py`` compose it with a model's config, weights and optimizer state.
"""
from __future__ import annotations

import json
import os
import tempfile

MODEL_FORMAT = "gpunn.model"
WEIGHTS_FORMAT = "gpunn.weights"
FORMAT_VERSION = "1"


class NotAModelFileError(ValueError):
    """The file exists but was not written by gpunn's ``save`` / ``save_weights``."""


def gpunn_version() -> str:
    from .. import __version__

    return __version__


def atomic_write_bytes(filepath: str, data: bytes, overwrite: bool = True) -> None:
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"filepath: {filepath!r} exists and overwrite=False")
    directory = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".gpunn-", suffix=".tmp", dir=directory)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a saved model gets the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_file(filepath, tensors: dict, metadata: dict, overwrite: bool = True) -> None:
    """``tensors`` (name -> host array) and ``metadata`` (str -> str) as one safetensors file, atomically."""
    from safetensors.numpy import save

    atomic_write_bytes(filepath, save(tensors, metadata=metadata), overwrite)


def read_file(filepath, expected_formats) -> tuple[dict, dict]:
    """(metadata, tensors) of a file whose metadata says one of ``expected_formats``; NotAModelFileError
    otherwise."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"filepath: no such file {filepath!r}")
    with open(filepath, "rb") as handle:
        data = handle.read()
    what = "a gpunn model file (written by model.save)"
    if data[:4] == b"\x89HDF":
        raise NotAModelFileError(f"filepath: {filepath!r} is an HDF5 file (written by Keras?), not {what}")
    try:
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_len])
        tensors = load(data)
    except (SafetensorError, ValueError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAModelFileError(f"filepath: {filepath!r} is not {what}: {exc}") from None
    metadata = header.get("__metadata__") or {}
    if metadata.get("format") not in expected_formats:
        raise NotAModelFileError(
            f"filepath: {filepath!r} is a safetensors file but not {what} (format {metadata.get('format')!r})"
        )
    return metadata, tensors
