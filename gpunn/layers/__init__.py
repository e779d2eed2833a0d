"""Layers with tf.keras names and meanings."""
from __future__ import annotations

from .. import custom_objects
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
from .lambda_layer import Lambda
from .input_layer import Input, InputLayer
from .layer_normalization import LayerNormalization
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,
                      concatenate, dot, maximum, minimum, multiply, subtract)
from .leaky_relu import LeakyReLU
from .model_losses import AddedLosses
from .operation import Operation
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
    for cls in (Activation, ActivityRegularization, Add, AddedLosses, AlphaDropout, Average, BatchNormalization, Concatenate, Dense,
                Dot, Dropout, ELU, Embedding, Flatten, GaussianDropout, GaussianNoise, GlobalAveragePooling1D,
                GlobalMaxPooling1D, Identity, InputLayer, Lambda, LayerNormalization, LeakyReLU, Maximum, Minimum,
                Multiply, Normalization, Operation, PReLU, ReLU, Rescaling, Reshape, Softmax, SpatialDropout1D,
                Subtract, UnitNormalization)
}


def deserialize(config: dict) -> Layer:
    """A layer from ``{"class_name": ..., "config": ...}`` as written by a saved model; a class gpunn does not
    have is looked up among the user's own (``gpunn.custom_objects``)."""
    if str(config["class_name"]).lower() not in {k.lower() for k in LAYER_CLASSES}:
        custom = custom_objects.lookup(config.get("registered_name"), config["class_name"])
        if isinstance(custom, type) and issubclass(custom, Layer):
            return custom.from_config(dict(config["config"]))
    cls = lookup("layer class_name", config["class_name"], {k.lower(): v for k, v in LAYER_CLASSES.items()})
    return cls.from_config(dict(config["config"]))


def serialize(layer: Layer) -> dict:
    cls = type(layer)
    if cls.__module__.split(".")[0] != "gpunn":  # a layer class of the user's, found again by these
        return {"module": cls.__module__, "class_name": cls.__name__, "config": layer.get_config(),
                "registered_name": custom_objects.get_registered_name(cls)}
    return {"class_name": cls.__name__, "config": layer.get_config()}


__all__ = ["Layer", "Input", "InputLayer", "Lambda", "Dense", "Activation", "ActivityRegularization", "AlphaDropout",
           "SpatialDropout1D", "UnitNormalization", "Dropout", "Flatten", "BatchNormalization",
           "LayerNormalization", "Softmax", "ReLU", "LeakyReLU", "ELU", "PReLU", "Normalization", "Rescaling",
           "GaussianNoise", "GaussianDropout", "Reshape", "Identity", "Embedding", "GlobalAveragePooling1D",
           "GlobalAvgPool1D", "GlobalMaxPooling1D", "GlobalMaxPool1D", "Add", "Subtract", "Multiply", "Average", "Maximum",
           "Minimum", "Concatenate", "Dot", "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate",
           "dot",
           "Variable", "deserialize", "serialize"]
