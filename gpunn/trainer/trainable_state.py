"""Which weights a model trains: the ``trainable`` flags as of its last ``compile()``, as in Keras.

Keras (``trainers/trainer.py``, ``compile``): "Trainable variables are determined at `compile()` time. If you
modify the `trainable` property of a layer after calling `compile()`, those changes will not take effect during
`fit()` unless `compile()` is called again." ``compile`` records ``_compiled_trainable_state`` (the model and each
layer, with its flag); ``make_train_function(force=True)`` also picks up the flags of the moment (Keras's
``Layer.trainable`` setter names it as the way to apply a change during training); and ``fit``, ``evaluate``,
``train_on_batch`` and ``test_on_batch`` warn, once per change, with Keras's
``_warn_if_trainable_state_changed`` message when a flag differs from the compiled one. Until the first training
step after a compile, the flags of the moment are taken (Keras builds its optimizer and training function at the
first ``fit``, on every backend); after it, a change waits for the next compile, as on Keras's TensorFlow backend
(its JAX backend refuses the step).
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

from ..layers import sublayers
from ..user_stacklevel import user_stacklevel


class Flags(NamedTuple):
    """A layer's ``trainable`` flag, and the names of its weights frozen by themselves (``layer.kernel.trainable
    = False``: Keras's flag per variable)."""
    trainable: bool
    frozen: frozenset = frozenset()


def flags_of(owner) -> Flags:
    return Flags(owner.trainable, sublayers.frozen_variables(owner))


def current(model) -> dict:
    """{the model and each of its layers, and the layers they hold: its flags now}, Keras's
    ``_compiled_trainable_state`` (which holds each layer's flag; gpunn's each weight's too)."""
    state = {model: flags_of(model)}
    for layer in model._layers:
        state.update((owner, flags_of(owner)) for _, owner in sublayers.owners(layer))
    return state


def check_nested(model) -> None:
    """Refuse a layer frozen (or unfrozen) on its own inside a layer of the user's (``layers/sublayers.py``)."""
    for layer in model._layers:
        sublayers.check_flags(layer)


def in_effect(model) -> tuple[bool, tuple[bool, ...], tuple[frozenset, ...]]:
    """(the model's flag, each layer's flag, each layer's weights frozen by themselves: paths below it) that
    training uses: the compiled ones; a layer added since the last compile (which drops the training step) is
    taken with its flags of now (see ``record_added_layers``)."""
    compiled = model._compiled_trainable_state or {}

    def flags(owner) -> Flags:
        return compiled.get(owner) or flags_of(owner)

    frozen = tuple(frozenset(f"{path}/{name}" if path else name for path, owner in sublayers.owners(layer)
                             for name in flags(owner).frozen) for layer in model._layers)
    return flags(model).trainable, tuple(flags(layer).trainable for layer in model._layers), frozen


def record_added_layers(model) -> None:
    """When a training step is made: layers added since the compile join the compiled state with their flag of
    now, so that a later change of theirs also waits for the next compile (and is warned about)."""
    compiled = model._compiled_trainable_state
    if compiled is not None:
        for layer in model._layers:
            for _, owner in sublayers.owners(layer):
                compiled.setdefault(owner, flags_of(owner))


def warn_if_changed(model) -> None:
    """Keras's warning when a flag changed since the model was compiled; then the change is not warned again.
    Before the first training step since the compile, the flags of now are taken, as Keras makes its optimizer
    and training function at the first ``fit`` (a layer frozen between ``compile`` and ``fit`` stays frozen)."""
    compiled = model._compiled_trainable_state
    if not compiled:
        return
    now = current(model)
    changed = [owner.name for owner, flag in now.items() if owner in compiled and compiled[owner] != flag]
    if not changed or now == model._warned_trainable_state:
        return
    if not model._trained_since_compile:  # (silently, as Keras on TensorFlow and JAX alike)
        check_nested(model)
        model._compiled_trainable_state = now
        return
    model._warned_trainable_state = now
    warnings.warn(
        "A layer's `trainable` state has changed since the model was compiled; gpunn keeps training with the "
        "state of the last compile(). Please recompile your model (e.g. `model.compile(...)`) before calling "
        f"`fit()` or `evaluate()` so the change takes effect. Changed layers: {changed}",
        stacklevel=user_stacklevel(),
    )
