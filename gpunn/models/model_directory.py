"""Keras 3's unzipped model: ``model.save(path, zipped=False)`` writes the members of a ``.keras`` archive as files
of a directory (``config.json``, ``metadata.json``, ``model.weights.h5``, ``assets/...``), which ``load_model``
reads back, as Keras's ``saving_lib._save_model_to_dir`` / ``_load_model_from_dir`` do.

Each member is written atomically (``atomic_write.py``) into the directory, which may hold other files (a model
card beside the model, as on the Hugging Face Hub): they are kept. The weights go first and the config last: a save
that dies halfway leaves every file whole, the new weights beside the config before (the same model's, or weights
whose shapes the load refuses for its layers, by name).
"""
from __future__ import annotations

import io
import os
import zipfile

from .atomic_write import atomic_write_bytes
from .keras_format import CONFIG_MEMBER, METADATA_MEMBER, WEIGHTS_MEMBER

ASSETS = "assets"
_WRITE_ORDER = (WEIGHTS_MEMBER, METADATA_MEMBER, CONFIG_MEMBER)  # (the config last: see the module docstring)


def check_directory_path(filepath) -> str:
    """``filepath`` for ``zipped=False``: Keras's rule (no ``.keras`` name), and not an existing file."""
    path = os.fsdecode(os.fspath(filepath))
    if path.endswith(".keras"):
        raise ValueError(f"filepath: when using `zipped=False`, the `filepath` argument should not end in "
                         f"`.keras` (Keras's rule: it names a directory). Received: filepath={path!r}")
    if os.path.lexists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"filepath: {path!r} is a file; zipped=False saves the model as a directory")
    return path


def is_model_directory(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, CONFIG_MEMBER))


def write_model_directory(path: str, archive_bytes: bytes, overwrite: bool) -> None:
    """The members of the ``.keras`` archive ``archive_bytes`` as files under ``path``."""
    if not overwrite and is_model_directory(path):
        raise FileExistsError(f"filepath: {path!r} holds a saved model and overwrite=False")
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
        members = {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}
    ordered = [name for name in _WRITE_ORDER if name in members]
    for name in sorted(set(members) - set(ordered)) + ordered:
        atomic_write_bytes(os.path.join(path, *name.split("/")), members[name], overwrite=True)


def model_directory_bytes(path: str) -> bytes:
    """The directory's model as the bytes of a ``.keras`` archive (its Keras members only), for the reader of
    ``.keras`` files."""
    members = {}
    for name in (CONFIG_MEMBER, METADATA_MEMBER, WEIGHTS_MEMBER):
        if os.path.isfile(os.path.join(path, name)):
            with open(os.path.join(path, name), "rb") as handle:
                members[name] = handle.read()
    assets = os.path.join(path, ASSETS)
    for root, _, files in os.walk(assets):
        for file_name in sorted(files):
            full = os.path.join(root, file_name)
            with open(full, "rb") as handle:
                members["/".join([ASSETS, *os.path.relpath(full, assets).split(os.sep)])] = handle.read()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
