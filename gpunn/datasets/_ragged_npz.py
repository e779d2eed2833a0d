"""Reading Keras's ``imdb.npz`` and ``reuters.npz``: ``.npz`` archives of ragged ``dtype=object`` arrays.

Keras publishes these sets with each sequence a Python list inside an object array, and NumPy can store
an object array only as a pickle stream, so ``np.load(allow_pickle=False)`` refuses them. Rather than
``allow_pickle=True`` (which would run whatever a tampered file's pickle asks for), the pickle is read
by an unpickler that may rebuild NumPy arrays and nothing else (``_restricted_pickle``), as Keras 3 itself
reads these files (keras/src/datasets/npz_utils.py). Numeric members are read with pickling off altogether.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np

from ._restricted_pickle import ArrayOnlyUnpickler

__all__ = ["load_ragged_npz"]


def _read_member(stream: io.BytesIO) -> np.ndarray:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        _, _, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version in ((2, 0), (3, 0)):
        # Format 3.0 differs from 2.0 only in the header's text encoding, not in its layout.
        _, _, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    if dtype.hasobject:
        # The pickle follows the header; NumPy's own defaults for old (Python 2) pickles apply.
        return ArrayOnlyUnpickler(stream, encoding="ASCII", fix_imports=True).load()
    stream.seek(0)
    return np.lib.format.read_array(stream, allow_pickle=False)


def load_ragged_npz(path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path``, by name; object arrays may hold only NumPy arrays,
    lists and plain Python values.

    Raises:
        RefusedGlobalError (a pickle.UnpicklingError): the file's pickle asks for anything else.
    """
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                with archive.open(member) as raw:
                    arrays[member[: -len(".npy")]] = _read_member(io.BytesIO(raw.read()))
    return arrays
