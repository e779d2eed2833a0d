"""A subclass of a built-in layer whose ``call()`` passes its inputs to ``super().call()`` in a training mode of
its own: Monte Carlo dropout, as *Hands-On Machine Learning* writes it,

    class MCDropout(keras.layers.Dropout):
        def call(self, inputs, training=False):
            return super().call(inputs, training=True)

gpunn's built-in layers compute with their own kernels, not with a ``call()``. Such a ``call()`` is read each time
the layer runs (it may read the layer's attributes), and once when the layer is made, by running it on a stand-in
input with a ``super().call()`` that records what it was given and returns a stand-in output. It must pass the
input on unchanged, call ``super().call()`` once and return what that returned; the layer then runs its kernels in
the mode that call chose (``training`` left out means inference, as the built-in ``call()``'s defaults say in
Keras). Any other ``call()`` (one that computes with the inputs or with the output) is refused by name when it is
read, before the layer runs.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from .. import overrides


class _StandIn:
    """What ``call()`` is given, or gets back from ``super().call()``, while gpunn reads it."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self) -> str:
        return f"<gpunn's stand-in for the {self.what} while call() is read>"


class _Reading:
    def __init__(self, layer, inputs: _StandIn, output: _StandIn):
        self.layer, self.inputs, self.output = layer, inputs, output
        self.calls: list[tuple] = []


class _ThreadReadings(threading.local):
    """The calls of the script's being read in this thread, innermost last (another thread reads its own)."""

    def __init__(self):
        self.readings: list[_Reading] = []


_THREAD = _ThreadReadings()


def is_training_override_class(cls) -> bool:
    """A class of the script's, under a built-in layer (not Layer or Lambda), that defines ``call()``."""
    if overrides.user_definition(cls, "call") is None:
        return False  # (gpunn's own classes stop here, while base.py, which imports this module, is loading)
    from .base import Layer
    from .lambda_layer import Lambda

    base = overrides.nearest_gpunn_class(cls)
    return base is not None and issubclass(base, Layer) and base not in (Layer, Lambda)


def adapt(cls) -> None:
    """Run the built-in ``forward`` of ``cls`` in the mode its ``call()`` chooses, and read that ``call()`` once
    the layer is made, so that one gpunn cannot run is refused before any work."""
    if not getattr(cls.forward, "_mode_from_call", False):
        cls.forward = _in_the_mode_call_chooses(cls.forward)
    if "__init__" in vars(cls) or not getattr(cls.__init__, "_reads_call", False):
        cls.__init__ = _reading_call_once_made(cls.__init__)


def _in_the_mode_call_chooses(forward):
    @functools.wraps(forward)
    def forward_in_chosen_mode(self, x, training, **kwargs):
        return forward(self, x, forced_mode(self, training), **kwargs)

    forward_in_chosen_mode._mode_from_call = True
    return forward_in_chosen_mode


def _reading_call_once_made(init):
    @functools.wraps(init)
    def init_then_read_call(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if type(self).__init__ is init_then_read_call:  # the outermost __init__: the layer is made
            for mode in (False, True):
                _read_call(self, mode, made_now=True)

    init_then_read_call._reads_call = True
    return init_then_read_call


def forced_mode(layer, training: bool) -> bool:
    """The mode the built-in kernels run in when the model runs ``layer`` in mode ``training``: call() read
    again at every run, since it may read the layer's attributes (a recorded step keeps the mode of the run it
    recorded, as a traced Keras step does)."""
    return _read_call(layer, bool(training))


def super_call(layer, inputs, training=None, **kwargs):
    """A built-in layer's ``call()``: inside a subclass's ``call()`` being read, the record of its arguments;
    called on a built-in layer itself, the layer's computation (``layer(inputs)``), as in Keras."""
    reading = _THREAD.readings[-1] if _THREAD.readings and _THREAD.readings[-1].layer is layer else None
    if reading is not None:
        reading.calls.append((inputs, training, kwargs))
        return reading.output
    if not is_training_override_class(type(layer)):
        return layer(inputs, training=training, **kwargs)
    raise TypeError(f"{type(layer).__name__}: super().call() of its built-in "
                    f"{overrides.nearest_gpunn_class(type(layer)).__name__} runs only inside its call()")


def _read_call(layer, mode: bool, made_now: bool = False) -> bool | None:
    """The mode call() gives super().call() when run in ``mode``. ``made_now``: read as the layer is made, to
    refuse a call() of another shape at once; one missing an attribute then may need what is set after (a
    ``from_config`` setting attributes), so it is read again when the layer runs (None now)."""
    call = type(layer).call
    reading = _Reading(layer, _StandIn("inputs"), _StandIn("output of super().call()"))
    _THREAD.readings.append(reading)
    try:
        named = overrides.names_training(call)
        returned = call(layer, reading.inputs, training=mode) if named else call(layer, reading.inputs)
    except Exception as error:
        if made_now and isinstance(error, AttributeError) and not reading.calls:
            return None
        raise _refusal(layer, f"this one does more (run on a stand-in input, it raised {type(error).__name__}: "
                              f"{error})") from error
    finally:
        _THREAD.readings.pop()
    if len(reading.calls) != 1:
        raise _refusal(layer, f"this one calls super().call() {len(reading.calls)} times, not once")
    inputs, training, kwargs = reading.calls[0]
    if inputs is not reading.inputs:
        raise _refusal(layer, "this one gives super().call() other inputs than its own")
    if any(value is not None for value in kwargs.values()):
        raise _refusal(layer, f"this one gives super().call() the argument(s) {sorted(kwargs)}")
    if returned is not reading.output:
        raise _refusal(layer, "this one returns something else than what super().call() returned")
    if training is not None and not isinstance(training, (bool, np.bool_)):
        raise _refusal(layer, f"this one gives super().call() training={training!r}, not True, False or None")
    return bool(training)


def _refusal(layer, why: str) -> overrides.OverrideNotSupportedError:
    cls = type(layer)
    owner = overrides.user_definition(cls, "call")
    base = overrides.nearest_gpunn_class(cls).__name__
    return overrides.OverrideNotSupportedError(
        f"{owner.__name__}.call: gpunn runs a call() of your own over its built-in {base} only when it passes its "
        f"inputs to super().call() with a training mode of its own and returns the result (as Monte Carlo "
        f"dropout does): {why}; subclass gpunn.layers.Layer (keras.layers.Layer) instead, holding a {base} made in "
        "__init__ and calling it in call(), or making the weights with add_weight()")
