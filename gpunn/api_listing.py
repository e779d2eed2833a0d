"""What ``dir()`` lists for gpunn's public namespaces (``gpunn.layers``, ``gpunn.activations``...): their public
names, as Keras's namespaces list theirs, not the modules they are made of or import (``dense``, ``np``), which
scripts listing a namespace would print ("Hands-On ML" lists ``dir(keras.layers)`` for the ReLU variants). The
modules stay importable and reachable as attributes."""
from __future__ import annotations

from types import ModuleType


def public_names(namespace: dict, submodules: tuple = ()) -> list:
    """The public names of ``namespace`` (a module's globals): gpunn's classes, functions and objects, without the
    modules (but for ``submodules``, which Keras's namespace has too: ``keras.optimizers.schedules``), constants
    (``DEFAULT_ALPHA``) and what it imports from elsewhere (``dataclass``, ``Callable``)."""
    return sorted(name for name, value in namespace.items()
                  if not name.startswith("_") and not (name.isupper() and not callable(value))
                  and (name in submodules if isinstance(value, ModuleType) else _gpunn_s(value)))


def _gpunn_s(value) -> bool:
    module = getattr(value, "__module__", None) if callable(value) else type(value).__module__
    return (module or "").split(".")[0] == "gpunn"
