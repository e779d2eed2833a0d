"""Methods of gpunn's classes that a script's subclass overrides: where the nearest definition of a method comes
from, and the error for an override gpunn does not run.

Keras calls hooks of a model, a metric or a layer that a subclass may override (``train_step``, ``result``,
``call``...). gpunn runs many of them as Keras does; one it cannot run must be refused by name, before any work,
since running gpunn's own code in its place would train or report something other than what the script says.
"""
from __future__ import annotations

import functools
import inspect


class OverrideNotSupportedError(NotImplementedError):
    """A subclass overrides a method that gpunn would not call where Keras does."""


def is_gpunn_class(cls: type) -> bool:
    """Whether ``cls`` is one of gpunn's own classes, whose methods gpunn's code knows; a class of gpunn's written
    as a script writes a subclass (``keras.distillation.Distiller``: its ``call`` and ``compute_loss``) says
    ``_written_as_a_subclass`` and is run as a script's."""
    return cls.__module__.split(".")[0] == "gpunn" and not vars(cls).get("_written_as_a_subclass", False)


@functools.lru_cache(maxsize=4096)
def user_definition(cls: type, name: str) -> type | None:
    """The class of the script's that defines ``name`` for instances of ``cls``, or None when the definition they
    use is gpunn's (or there is none). Cached per class: eager steps ask it for every metric, regularizer and
    schedule they run."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return None if is_gpunn_class(klass) else klass
    return None


def nearest_gpunn_class(cls: type) -> type | None:
    return next((klass for klass in cls.__mro__ if is_gpunn_class(klass)), None)


def refuse(cls: type, name: str, where: str, instead: str) -> None:
    """Raise the error for ``cls.name``, an override gpunn would not run ``where`` (fit, evaluate...)."""
    owner = user_definition(cls, name) or cls
    member = f"`{name}` property" if isinstance(vars(owner).get(name), property) else f"{name}()"
    raise OverrideNotSupportedError(f"{owner.__name__}.{name}: {where} in gpunn does not use a {member} of your "
                                    f"own (it would be ignored); {instead}")


def names_training(function) -> bool:
    """Whether Keras passes ``training`` to ``function`` (a call() or compute_loss): when its signature names
    it, not when it only takes ``**kwargs`` (keras/src/layers/layer.py ``_call_has_training_arg``,
    keras/src/trainers/trainer.py ``_compute_loss_has_training_arg``)."""
    try:
        return "training" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
