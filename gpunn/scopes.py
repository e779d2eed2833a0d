"""Keras 3's top-level scopes: ``keras.device(name)`` and ``keras.name_scope(name)``.

``device("cpu")`` / ``device("gpu")`` (``"cpu:0"``, ``"cuda:0"``...) choose gpunn's backend inside the block:
NumPy on the CPU, CuPy on the GPU (``use_backend``); models and layers built there compute there, as Keras places
what a block creates on its device. ``name_scope`` is the context manager Keras's layers open around their
variables; gpunn names a layer's weights by the layer (``layer/kernel``) and takes the scope as a no-op,
keeping its ``name``."""
from __future__ import annotations

import re

from .ops import use_backend

_DEVICES = {"cpu": "numpy", "gpu": "cupy", "cuda": "cupy"}


class device:  # noqa: N801 (Keras's name)
    """Models and layers made inside run on ``device_name``'s backend (``"cpu"``: NumPy, ``"gpu"``: CuPy)."""

    def __init__(self, device_name):
        kind = re.fullmatch(r"\s*(\w+)(?::\d+)?\s*", str(device_name))
        self.backend = _DEVICES.get(kind.group(1).lower()) if kind else None
        if self.backend is None:
            raise ValueError(f"device_name: expected 'cpu' or 'gpu' (optionally ':<index>'), got {device_name!r}")
        self.name = device_name

    def __enter__(self):
        self._scope = use_backend(self.backend)
        self._scope.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self._scope.__exit__(*exc_info)


class name_scope:  # noqa: N801 (Keras's name)
    """Keras's ``name_scope(name)``: a context manager with the scope's ``name``; gpunn's weight paths follow the
    layers, so the scope changes nothing else."""

    def __init__(self, name, **kwargs):
        if not isinstance(name, str) or "/" in name:
            raise ValueError(f"Argument `name` must be a string and cannot contain character `/`. Received: "
                             f"name={name}")
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False
