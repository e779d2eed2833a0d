"""Utilities, as ``keras.utils``."""
from ..backend import clear_session
from ..dtypes import standardize_dtype
from ..layers.feature_space import FeatureSpace
from ..io_utils import disable_interactive_logging, enable_interactive_logging, is_interactive_logging_enabled
from ..custom_objects import (CustomObjectScope, custom_object_scope, get_custom_objects, get_registered_name,
                              get_registered_object, register_keras_serializable)
from ..random import set_random_seed
from ..serialization import deserialize_keras_object, serialize_keras_object
from .config import Config
from .file_utils import get_file
from .image_dataset import image_dataset_from_directory
from .image_files import array_to_img, img_to_array, load_img, save_img
from .model_visualization import model_to_dot, plot_model
from .np_utils import to_categorical
from .progbar import Progbar
from .numerical_utils import normalize
from .py_dataset import PyDataset, Sequence
from .sequence_utils import pad_sequences
from .split_dataset import split_dataset
from .step_data import pack_x_y_sample_weight, unpack_x_y_sample_weight
from .text_dataset import text_dataset_from_directory
from .symbolic_values import get_source_inputs, is_keras_tensor
from .timeseries import timeseries_dataset_from_array

__all__ = ["Config", "FeatureSpace", "CustomObjectScope", "custom_object_scope", "get_custom_objects",
           "get_registered_name", "get_registered_object", "register_keras_serializable", "serialize_keras_object",
           "deserialize_keras_object", "to_categorical", "set_random_seed", "normalize", "clear_session",
           "PyDataset", "Sequence", "get_file", "pad_sequences", "model_to_dot", "plot_model",
           "pack_x_y_sample_weight", "unpack_x_y_sample_weight", "get_source_inputs", "is_keras_tensor",
           "standardize_dtype", "enable_interactive_logging", "disable_interactive_logging",
           "is_interactive_logging_enabled", "Progbar", "timeseries_dataset_from_array",
           "text_dataset_from_directory", "split_dataset", "image_dataset_from_directory", "load_img",
           "img_to_array", "array_to_img", "save_img"]


def __dir__():
    from ..api_listing import public_names  # (Keras's listing: api_listing.py)

    return public_names(globals())
