"""``gpunn.models``: Sequential and load_model, as in tf.keras."""
from .file_format import NotAModelFileError
from .load import load_model
from .sequential import NotBuiltError, Sequential

__all__ = ["Sequential", "load_model", "NotAModelFileError", "NotBuiltError"]
