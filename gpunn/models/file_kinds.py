"""Which format a model file is written in (from its name, as Keras 3 chooses: keras/src/saving/saving_api.py
``save_model``), and which one a file is in (from its first bytes, so that files saved before the name chose the
format, e.g. gpunn's safetensors files named 'model.h5', still load).

- ``.keras``: Keras 3's zip format (``keras_format.py``);
- ``.h5`` / ``.hdf5``: tf.keras's HDF5 format (``h5_format.py``); for ``save_weights``, a name ending in
  ``.weights.h5`` gets Keras 3's weights file instead, as Keras 3's ``save_weights`` writes it;
- any other name, or ``save_format="safetensors"``: gpunn's safetensors format (``file_format.py``).
"""
from __future__ import annotations

import warnings

from ..user_stacklevel import user_stacklevel
from .hdf5_io import is_hdf5

SAFETENSORS, KERAS, H5, KERAS_WEIGHTS = "safetensors", "keras", "h5", "keras_weights"
_SAVE_FORMATS = {"safetensors": SAFETENSORS, "keras": KERAS, "h5": H5, "hdf5": H5}


def _check_save_format(save_format, choices) -> str | None:
    if save_format is None:
        return None
    if isinstance(save_format, str) and save_format.lower() in choices:
        return _SAVE_FORMATS[save_format.lower()]
    if isinstance(save_format, str) and save_format.lower() == "tf":
        raise ValueError("save_format: 'tf' (a TensorFlow SavedModel) is not supported; use "
                         f"{sorted(choices)} or a file name ending in .keras or .h5")
    raise ValueError(f"save_format: expected one of {sorted(choices)} or None, got {save_format!r}")


def model_file_kind(filepath: str, save_format=None) -> str:
    """The format ``model.save(filepath, save_format=...)`` writes: a name ending in .keras, .h5 or .hdf5 chooses
    among Keras's formats, as in Keras 3, which warns that ``save_format`` is deprecated and follows the name (a
    .keras name holding HDF5 would load nowhere); ``save_format="safetensors"`` (gpunn's own) writes that whatever
    the name; another name takes ``save_format`` (gpunn's safetensors without one)."""
    name = filepath.lower()
    by_name = KERAS if name.endswith(".keras") else H5 if name.endswith((".h5", ".hdf5")) else None
    if by_name is not None and save_format and str(save_format).lower() != SAFETENSORS:
        warnings.warn("The `save_format` argument is deprecated in Keras 3. We recommend removing this argument as "
                      f"it can be inferred from the file path. Received: save_format={save_format}", UserWarning,
                      stacklevel=user_stacklevel())  # Keras's warning
        return by_name
    chosen = _check_save_format(save_format, ("safetensors", "keras", "h5", "hdf5"))
    if chosen is not None:
        return chosen
    return by_name or SAFETENSORS


def weights_file_kind(filepath: str, save_format=None) -> str:
    """The format ``model.save_weights(filepath, save_format=...)`` writes."""
    chosen = _check_save_format(save_format, ("safetensors", "h5", "hdf5"))
    if chosen is not None:
        return chosen
    name = filepath.lower()
    if name.endswith(".keras"):
        raise ValueError(f"filepath: {filepath!r}: a .keras file holds a whole model; use model.save() for it, or "
                         "give save_weights a name ending in .weights.h5 (as Keras requires)")
    if name.endswith(".weights.h5"):
        return KERAS_WEIGHTS
    if name.endswith((".h5", ".hdf5")):
        return H5
    return SAFETENSORS


def file_kind(data: bytes) -> str:
    """KERAS for a zip archive, H5 for an HDF5 file, SAFETENSORS otherwise (its reader says what is wrong)."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return KERAS
    if is_hdf5(data):
        return H5
    return SAFETENSORS
