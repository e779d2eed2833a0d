"""Layers with tf.keras names and meanings."""
from __future__ import annotations

from .._registry import lookup
from .activation import Activation
from .activity_regularization import ActivityRegularization
from .alpha_dropout import AlphaDropout
from .base import Layer
from .batch_normalization import BatchNormalization
from .dense import Dense
from .dropout import Dropout
from .elu import ELU
from .embedding import Embedding
from .flatten import Flatten
from .gaussian_dropout import GaussianDropout
from .gaussian_noise import GaussianNoise
from .global_pooling import GlobalAveragePooling1D, GlobalAvgPool1D, GlobalMaxPool1D, GlobalMaxPooling1D
from .identity import Identity
from .input_layer import Input, InputLayer
from .layer_normalization import LayerNormalization
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,
                      concatenate, dot, maximum, minimum, multiply, subtract)
from .leaky_relu import LeakyReLU
from .preprocessing_normalization import Normalization
from .prelu import PReLU
from .relu import ReLU
from .rescaling import Rescaling
from .reshape import Reshape
from .softmax import Softmax
from .spatial_dropout import SpatialDropout1D
from .unit_normalization import UnitNormalization
from .variable import Variable

LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (Activation, ActivityRegularization, Add, AlphaDropout, Average, BatchNormalization, Concatenate, Dense,
                Dot, Dropout, ELU, Embedding, Flatten, GaussianDropout, GaussianNoise, GlobalAveragePooling1D,
                GlobalMaxPooling1D, Identity, InputLayer, LayerNormalization, LeakyReLU, Maximum, Minimum, Multiply,
                Normalization, PReLU, ReLU, Rescaling, Reshape, Softmax, SpatialDropout1D, Subtract,
                UnitNormalization)
}


def deserialize(config: dict) -> Layer:
    """A layer from ``{"class_name": ..., "config": ...}`` as written by a saved model."""
    cls = lookup("layer class_name", config["class_name"], {k.lower(): v for k, v in LAYER_CLASSES.items()})
    return cls.from_config(dict(config["config"]))


def serialize(layer: Layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


__all__ = ["Layer", "Input", "InputLayer", "Dense", "Activation", "ActivityRegularization", "AlphaDropout",
           "SpatialDropout1D", "UnitNormalization", "Dropout", "Flatten", "BatchNormalization",
           "LayerNormalization", "Softmax", "ReLU", "LeakyReLU", "ELU", "PReLU", "Normalization", "Rescaling",
           "GaussianNoise", "GaussianDropout", "Reshape", "Identity", "Embedding", "GlobalAveragePooling1D",
           "GlobalAvgPool1D", "GlobalMaxPooling1D", "GlobalMaxPool1D", "Add", "Subtract", "Multiply", "Average", "Maximum",
           "Minimum", "Concatenate", "Dot", "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate",
           "dot",
           "Variable", "deserialize", "serialize"]
