"""Reading the Python pickles inside Keras's data set files without running what a tampered file asks for.

Keras publishes two kinds: the object arrays of ``imdb.npz`` and ``reuters.npz`` (NumPy arrays of lists), and
the CIFAR batches (Python 2 pickles of dicts holding byte strings, lists of ints and one uint8 array). Pickle
opcodes rebuild the builtin values (dict, list, tuple, bytes, str, int, float) without importing anything; the
arrays need exactly three globals. Any other global (a class, or a function such as ``os.system`` that a
``__reduce__`` gadget would call) is refused when the pickle names it, before it is imported or called, as
Keras 3 does (keras/src/datasets/npz_utils.py ``RestrictedUnpickler``, used by keras/src/datasets/cifar.py).
"""
from __future__ import annotations

import pickle

__all__ = ["ARRAY_GLOBALS", "ArrayOnlyUnpickler", "RefusedGlobalError"]

# Rebuilding a NumPy array needs exactly these globals; both spellings of ``multiarray`` are listed so files
# pickled under NumPy 1 (``numpy.core``, as all of Keras's files are) and NumPy 2 (``numpy._core``) load.
ARRAY_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
})


class RefusedGlobalError(pickle.UnpicklingError, ValueError):
    """A data set file's pickle named a global other than NumPy's array rebuilders.

    An ``UnpicklingError``, as Keras raises; also a ``ValueError``, the error of a bad data file elsewhere in
    gpunn (the command line reports those in one line rather than with a traceback).
    """


class ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds builtin values and NumPy arrays, and refuses every other global.

    Args:
        file: the binary stream holding the pickle.
        source: the file's name, put in the refusal's message (optional).
        **kwargs: ``pickle.Unpickler``'s (``encoding``, ``fix_imports``, ``errors``).
    """

    def __init__(self, file, *, source=None, **kwargs):
        super().__init__(file, **kwargs)
        self.source = source

    def find_class(self, module, name):
        if (module, name) in ARRAY_GLOBALS:
            return super().find_class(module, name)
        where = f"{self.source}: " if self.source is not None else ""
        raise RefusedGlobalError(
            f"{where}refusing to load {module}.{name} from a data set file: only NumPy arrays are expected "
            "(the file may be corrupt or tampered with)"
        )
