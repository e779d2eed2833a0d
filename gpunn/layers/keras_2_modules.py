"""Standalone Keras 2's modules of layers, which its scripts import from (``from keras.layers.core import Dense,
Dropout, Activation``, ``from keras.layers.advanced_activations import LeakyReLU``): each a namespace of
``gpunn.layers`` holding the layers Keras 2 kept there, so that ``from gpunn.layers.core import Dense`` works.
(``keras.layers.normalization`` is a module of gpunn's own, which gives its two layers on demand.)"""
from __future__ import annotations

import sys
import types

MODULES = {
    "core": ("Dense", "Dropout", "Activation", "Flatten", "Reshape", "Permute", "RepeatVector", "Lambda",
             "ActivityRegularization", "Masking", "SpatialDropout1D"),
    "advanced_activations": ("LeakyReLU", "PReLU", "ELU", "ReLU", "Softmax"),
    "embeddings": ("Embedding",),
    "merge": ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "add", "subtract",
              "multiply", "average", "maximum", "minimum", "concatenate", "dot"),
    "noise": ("GaussianNoise", "GaussianDropout", "AlphaDropout"),
}


def install(layers_module) -> None:
    """Make each of ``MODULES`` a submodule of ``layers_module`` (importable by name)."""
    for name, members in MODULES.items():
        module = types.ModuleType(f"{layers_module.__name__}.{name}",
                                  f"Keras 2's keras.layers.{name}: {', '.join(members)}")
        for member in members:
            setattr(module, member, getattr(layers_module, member))
        module.__all__ = list(members)
        sys.modules[module.__name__] = module
        setattr(layers_module, name, module)
