"""Checks of the ``filepath`` given to save and load, made before any work, with errors that name the path."""
from __future__ import annotations

import os


def _as_path(filepath) -> str:
    try:
        path = os.fspath(filepath)
    except TypeError:
        raise TypeError(
            f"filepath: expected a file path (str or os.PathLike), got {type(filepath).__name__} {filepath!r}"
        ) from None
    path = os.fsdecode(path)
    if not path:
        raise ValueError("filepath: expected a file path, got ''")
    return path


def _nearest_existing(path: str) -> str:
    """``path`` itself or its closest ancestor that exists."""
    probe = os.path.abspath(path)
    while not os.path.lexists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    return probe


def check_save_path(filepath, overwrite: bool = True, example: str = "model.keras") -> str:
    """``filepath`` as a str, if a file can be saved there (missing directories are created by the save);
    ``example``: the file name a refusal of a directory suggests."""
    path = _as_path(filepath)
    if os.path.isdir(path) or path.endswith((os.sep, "/")):  # ('mymodel/': a directory's name, made or not)
        raise IsADirectoryError(
            f"filepath: {path!r} {'is' if os.path.isdir(path) else 'names'} a directory; save needs a file path "
            f"such as {os.path.join(path, example)!r}"
        )
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"filepath: {path!r} exists and overwrite=False")
    blocker = _nearest_existing(os.path.dirname(os.path.abspath(path)))
    if not os.path.isdir(blocker):
        raise NotADirectoryError(f"filepath: cannot save to {path!r}: {blocker!r} is a file, not a directory")
    return path


def check_load_path(filepath) -> str:
    """``filepath`` as a str, if it names an existing regular file."""
    path = _as_path(filepath)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise IsADirectoryError(f"filepath: {path!r} is a TensorFlow SavedModel (a folder with saved_model.pb, "
                                    "tf.keras 2's save format), which gpunn does not read, as Keras 3 does not: "
                                    "save the model from tf.keras as a .keras or .h5 file")
        raise IsADirectoryError(f"filepath: {path!r} is a directory, not a model file")
    if os.path.isfile(path):
        return path
    if os.path.isfile(path + ".index"):
        raise FileNotFoundError(f"filepath: {path!r} names a TensorFlow checkpoint ({os.path.basename(path)}.index "
                                "and .data-* files, tf.keras 2's save_weights format), which gpunn does not read, "
                                "as Keras 3 does not: save the weights from tf.keras as a .weights.h5 or .h5 file")
    if os.path.exists(path):
        raise OSError(f"filepath: {path!r} is not a regular file (a device, a pipe or a socket?)")
    if os.path.islink(path):
        raise FileNotFoundError(f"filepath: no such file {path!r}: it is a symbolic link to a missing file")
    blocker = _nearest_existing(os.path.dirname(os.path.abspath(path)))
    if not os.path.isdir(blocker):
        raise FileNotFoundError(f"filepath: no such file {path!r}: {blocker!r} is a file, not a directory")
    raise FileNotFoundError(f"filepath: no such file {path!r}")
