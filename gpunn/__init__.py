"""gpunn: train MLPs fast on NVIDIA GPUs with a tf.keras-compatible API; the same script runs on the CPU.

    import gpunn
    model = gpunn.Sequential([gpunn.Input(shape=(784,)), gpunn.layers.Dense(128, activation="relu"),
                              gpunn.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=5, validation_split=0.1)

Importing gpunn needs neither CUDA nor MPI; the backend (NumPy or CuPy) is chosen on first use.
"""
__version__ = "0.1.0"

from . import (activations, backend, callbacks, config, constraints, datasets, distillation, distributed,
               distribution, dtype_policies, initializers, layers, losses, metrics, mixed_precision, models, optimizers,
               preprocessing, random, regularizers, saving, tree, utils)
from .dtype_policies import DTypePolicy, FloatDTypePolicy
from .initializers import Initializer
from .layers import Input, InputSpec, Layer
from .losses import Loss
from .metrics import Metric
from .models import Model, Sequential, load_model
from .optimizers import Optimizer
from .regularizers import Regularizer
from .standalone_variables import Variable
from .ops import get_ops, set_backend, use_backend
from .scopes import device, name_scope
from .utils.symbolic_values import KerasTensor
from .trainer.train_step import GraphFallbackWarning


def __getattr__(name: str):
    # gpunn.wrappers imports scikit-learn's pipelines and encoders: loaded on first use, not with gpunn
    if name == "wrappers":
        import importlib

        return importlib.import_module(".wrappers", __name__)
    from .beyond_mlps import missing  # Keras's names gpunn leaves out say so

    raise missing(__name__, name)


def version() -> str:
    """gpunn's version (``keras.version()``'s counterpart)."""
    return __version__


__all__ = [
    "Sequential", "Model", "Input", "load_model", "GraphFallbackWarning", "set_backend", "use_backend", "get_ops",
    # the base classes Keras 3 exports at its top level (class MyLayer(keras.Layer): ...)
    "Layer", "Loss", "Metric", "Optimizer", "Regularizer", "Initializer", "InputSpec", "DTypePolicy",
    "FloatDTypePolicy", "Variable", "dtype_policies", "mixed_precision", "device", "name_scope", "KerasTensor",
    "activations", "backend", "callbacks", "config", "constraints", "datasets", "distillation", "distributed",
    "distribution", "initializers", "layers", "losses", "metrics", "models", "optimizers", "preprocessing", "random",
    "regularizers", "saving", "tree", "utils", "wrappers", "__version__", "version",
]
