"""``gpunn.models``: Sequential and load_model, as in tf.keras."""
from .file_format import NotAModelFileError
from .load import load_model
from .sequential import NotBuiltError, Sequential
from .cloning import clone_model, model_from_json

__all__ = ["Sequential", "load_model", "clone_model", "model_from_json", "NotAModelFileError", "NotBuiltError"]
