"""``dir()`` of gpunn's public namespaces lists their API, as Keras's does, not the modules they are made of or
import: "Hands-On ML" (2nd ed., ch. 11) lists ``[m for m in dir(keras.layers) if "relu" in m.lower()]`` and the
activation functions from ``dir(keras.activations)``."""
from __future__ import annotations

from types import ModuleType

import gpunn


def test_dir_lists_the_api_not_the_modules():
    assert [m for m in dir(gpunn.layers) if "relu" in m.lower()] == ["LeakyReLU", "PReLU", "ReLU"]
    activations = [m for m in dir(gpunn.activations) if not m.startswith("_")]
    assert {"relu", "selu", "gelu", "softmax", "get", "serialize", "deserialize"} <= set(activations)
    assert not {"np", "dataclass", "Callable", "annotations", "DEFAULT_ALPHA"} & set(activations)
    for namespace in (gpunn.layers, gpunn.initializers, gpunn.losses, gpunn.metrics, gpunn.callbacks,
                      gpunn.regularizers, gpunn.constraints, gpunn.models, gpunn.utils, gpunn.optimizers):
        modules = [name for name in dir(namespace) if isinstance(getattr(namespace, name), ModuleType)]
        # the submodules Keras's namespaces list too (keras.optimizers: legacy, schedules)
        assert modules in ([], ["experimental"], ["legacy", "schedules"]), (namespace.__name__, modules)
    assert {"Dense", "Input", "Layer"} <= set(dir(gpunn.layers)) and "SGD" in dir(gpunn.optimizers)
    assert isinstance(gpunn.layers.dense, ModuleType)  # (still reachable: only the listing leaves it out)
