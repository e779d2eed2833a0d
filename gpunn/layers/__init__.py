"""Layers with tf.keras names and meanings."""
from __future__ import annotations

import sys

from .. import custom_objects as user_objects  # ``deserialize`` has an argument of that name
from .activation import Activation
from .activity_regularization import ActivityRegularization
from .alpha_dropout import AlphaDropout
from .base import Layer
from .batch_normalization import BatchNormalization
from .category_encoding import CategoryEncoding
from .dense import Dense
from .einsum_dense import EinsumDense
from .group_normalization import GroupNormalization
from .time_distributed import TimeDistributed
from .pipeline import Pipeline
from .discretization import Discretization
from .dropout import Dropout
from .elu import ELU
from .embedding import Embedding
from .flatten import Flatten
from .gaussian_dropout import GaussianDropout
from .gaussian_noise import GaussianNoise
from .global_pooling import GlobalAveragePooling1D, GlobalAvgPool1D, GlobalMaxPool1D, GlobalMaxPooling1D
from .hashed_crossing import HashedCrossing
from .hashing import Hashing
from .identity import Identity
from .image_preprocessing import (AutoContrast, CenterCrop, Equalization, RandomBrightness, RandomColorDegeneration,
                                  RandomColorJitter, RandomContrast, RandomCrop, RandomErasing, RandomFlip,
                                  RandomGaussianBlur, RandomGrayscale, RandomHue, RandomInvert, RandomPosterization,
                                  RandomRotation, RandomSaturation, RandomSharpness, RandomShear, RandomTranslation,
                                  RandomZoom, Resizing, Solarization)
from .lambda_layer import Lambda
from .input_layer import Input, InputLayer
from .input_spec import InputSpec
from .integer_lookup import IntegerLookup
from .layer_normalization import LayerNormalization
from .masking_layer import Masking
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,
                      concatenate, dot, maximum, minimum, multiply, subtract)
from .leaky_relu import LeakyReLU
from .model_losses import AddedLosses
from .operation import Operation
from .preprocessing_normalization import Normalization
from .permute import Permute
from .prelu import PReLU
from .relu import ReLU
from .repeat_vector import RepeatVector
from .rescaling import Rescaling
from .reshape import Reshape
from .rms_normalization import RMSNormalization
from .softmax import Softmax
from .spatial_dropout import SpatialDropout1D
from .string_lookup import StringLookup
from .text_vectorization import TextVectorization
from .unit_normalization import UnitNormalization
from .variable import Variable

LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (Activation, ActivityRegularization, Add, AddedLosses, AlphaDropout, Average, BatchNormalization,
                CategoryEncoding, Concatenate, Dense, Discretization, EinsumDense, GroupNormalization, HashedCrossing,
                Hashing, IntegerLookup, Dot, Dropout, ELU, Embedding, Flatten, GaussianDropout, GaussianNoise,
                TimeDistributed, Pipeline, GlobalAveragePooling1D,
                GlobalMaxPooling1D, Identity, InputLayer, Lambda, LayerNormalization, LeakyReLU, Masking, Maximum,
                Minimum,
                Multiply, Normalization, Operation, Permute, PReLU, ReLU, RepeatVector, Rescaling, Reshape,
                RMSNormalization, Softmax,
                SpatialDropout1D, StringLookup, TextVectorization,
                Subtract, UnitNormalization, Resizing, CenterCrop, RandomCrop, RandomFlip, RandomZoom,
                RandomTranslation, RandomRotation, RandomContrast, RandomBrightness, RandomSaturation, RandomHue,
                RandomColorJitter, RandomGrayscale, RandomInvert, Solarization, RandomPosterization,
                RandomColorDegeneration, RandomSharpness, RandomShear, RandomErasing, RandomGaussianBlur,
                AutoContrast, Equalization)
}


def deserialize(config: dict, custom_objects=None) -> Layer:
    """A new layer from its serialized form (``serialize``'s, Keras's, or gpunn's older ``{"class_name",
    "config"}``), its class found by ``gpunn.custom_objects.resolve``; the layers and other objects nested in its
    config stay configs, which the class's ``from_config`` rebuilds (as in Keras)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise TypeError(f"config: expected a serialized layer {{'class_name': ..., 'config': {{...}}}} (as "
                        f"layers.serialize returns), got {type(config).__name__} {str(config)[:200]}")
    with user_objects.custom_object_scope(custom_objects):
        if "module" in config:  # Keras's layout: its dtype policy and nested objects as gpunn's layer takes them
            from ..models.keras_file_config import layer_from_keras

            config = layer_from_keras(config)
            if config["config"].get("dtype") == "float32":  # Keras's default policy, written on every layer: gpunn's
                config["config"] = {k: v for k, v in config["config"].items() if k != "dtype"}  # layer takes its model's
        cls = user_objects.resolve(config, "layer class_name", {k.lower(): v for k, v in LAYER_CLASSES.items()},
                                   Layer)
        return cls.from_config(dict(config["config"]))


def serialize(layer: Layer) -> dict:
    """Keras's ``serialize_keras_object(layer)``: layers and other objects held in its config serialized too."""
    from ..serialization import serialize_keras_object

    if not isinstance(layer, Layer):
        raise TypeError(f"layer: expected a gpunn Layer, got {type(layer).__name__}")
    return serialize_keras_object(layer)


# tf.keras 2's layers.experimental.preprocessing (imported after the classes it names)
from . import experimental  # noqa: E402
from . import keras_2_modules as _keras_2_modules  # noqa: E402

_keras_2_modules.install(sys.modules[__name__])  # Keras 2's keras.layers.core, .advanced_activations...

__all__ = ["experimental", "Layer", "Input", "InputLayer", "InputSpec", "Lambda", "Dense", "EinsumDense",
           "GroupNormalization", "TimeDistributed", "Pipeline", "Activation",
           "ActivityRegularization",
           "AlphaDropout", "SpatialDropout1D", "UnitNormalization", "Dropout", "Flatten", "BatchNormalization",
           "CategoryEncoding", "Masking",
           "LayerNormalization", "RMSNormalization", "Softmax", "ReLU", "LeakyReLU", "ELU", "PReLU", "Normalization",
           "Rescaling", "GaussianNoise", "GaussianDropout", "Reshape", "RepeatVector", "Permute", "Identity",
           "Embedding", "GlobalAveragePooling1D", "GlobalAvgPool1D", "GlobalMaxPooling1D", "GlobalMaxPool1D", "Add",
           "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "add", "subtract",
           "multiply", "average", "maximum", "minimum", "concatenate", "dot", "Discretization", "HashedCrossing",
           "Hashing",
           "IntegerLookup", "StringLookup", "TextVectorization", "Variable", "deserialize", "serialize",
           "Resizing", "CenterCrop", "RandomCrop", "RandomFlip", "RandomZoom", "RandomTranslation", "RandomRotation",
           "RandomContrast", "RandomBrightness", "RandomSaturation", "RandomHue", "RandomColorJitter",
           "RandomGrayscale", "RandomInvert", "Solarization", "RandomPosterization", "RandomColorDegeneration",
           "RandomSharpness", "RandomShear", "RandomErasing", "RandomGaussianBlur", "AutoContrast", "Equalization"]


def __dir__():
    from ..api_listing import public_names  # (Keras's listing: api_listing.py)

    return public_names(globals(), ('experimental',))


def __getattr__(name: str):
    from ..beyond_mlps import stand_in  # Keras's names gpunn leaves out say so (beyond_mlps.py)

    return stand_in(__name__, name)
