"""Keras's ``variable.path``: the names of the models and layers whose build or call made the variable, then the
layer's, then the weight's (``sequential/dense/kernel``), fixed when the variable is made (keras/src/backend/
common/name_scope.py). A Sequential builds its layers under its name, a subclassed model traces its call() under
its own, a layer of the user's builds its inner layers under its; a functional model's layers are built as they are
called on its inputs, under none (``dense/kernel``), as is a layer built or called on its own, or whose weights
were made in ``__init__``.

gpunn fixes a layer's prefix when its first weight is made or it is first built, whichever comes first.
"""
from __future__ import annotations

import contextlib
import threading


class _ThreadScopes(threading.local):
    """The names of the models being built in this thread, outermost first (another thread builds its own)."""

    def __init__(self):
        self.names: list[str] = []


_THREAD = _ThreadScopes()


@contextlib.contextmanager
def scope(name: str):
    """Layers first built (or weights first made) inside get ``name/`` in their paths."""
    _THREAD.names.append(name)
    try:
        yield
    finally:
        _THREAD.names.pop()


@contextlib.contextmanager
def outside(name: str):
    """The scopes open now, but the innermost when it is ``name``: what a layer named as its model sees (a model
    whose call() runs as one layer, ``models/own_weights.py``, which opens that scope itself)."""
    removed = bool(_THREAD.names) and _THREAD.names[-1] == name
    if removed:
        _THREAD.names.pop()
    try:
        yield
    finally:
        if removed:
            _THREAD.names.append(name)


def fix_prefix(layer) -> None:
    """Keep the prefix of the scopes open now, unless the layer has one already."""
    layer.__dict__.setdefault("_path_prefix", "".join(f"{name}/" for name in _THREAD.names))


def prefix(layer) -> str:
    return layer.__dict__.get("_path_prefix", "")
