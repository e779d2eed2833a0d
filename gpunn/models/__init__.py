"""``gpunn.models``: Sequential, Model (functional chains), load_model and save_model, as in tf.keras."""
from .file_format import NotAModelFileError
from .load import load_model
from .save import save_model
from .sequential import NotBuiltError, Sequential
from .cloning import clone_model, model_from_json, model_from_yaml
from .functional import Functional, Model

__all__ = ["Sequential", "Model", "Functional", "load_model", "save_model", "clone_model", "model_from_json",
           "model_from_yaml", "NotAModelFileError", "NotBuiltError"]


def __dir__():
    from ..api_listing import public_names  # (Keras's listing: api_listing.py)

    return public_names(globals())
