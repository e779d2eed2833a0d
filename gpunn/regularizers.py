"""Weight penalties added to the loss: ``l1``, ``l2``, ``l1_l2`` (Keras's defaults: 0.01).

Penalties and their gradients are written through Ops primitives into the caller's buffers, with scratch
and 0-d constants from a workspace: after the first call they allocate nothing.

A regularizer of one's own, as Keras's guides write it (a ``Regularizer`` subclass whose ``__call__(x)`` returns
the penalty, computed with ``gpunn.ops``), runs its ``__call__`` instead, as a host call of the step: the
penalty of the weight, and its gradient through ``gpunn/autodiff``.
"""
from __future__ import annotations

import contextlib
import functools
import math
import numbers
import warnings

import numpy as np

from . import custom_objects, keras_objects, overrides
from . import custom_objects as custom_objects_lookup  # ``deserialize`` has an argument of that name
from ._registry import lookup
from .autodiff import Tensor, gradients
from .autodiff import array_functions
from .autodiff import functions as autodiff_functions


class Regularizer:
    """penalty(W) = l1 * sum|W| + l2 * sum(W^2); its gradient is added to the weight's gradient in place."""

    l1 = l2 = 0.0  # the base class's factors: a subclass of one's own need not call __init__ (Keras's guide's doesn't)

    def __init__(self, l1=0.0, l2=0.0):
        for arg, value in (("l1", l1), ("l2", l2)):
            if not isinstance(value, numbers.Real) or not 0 <= value < math.inf:  # (NaN too)
                raise ValueError(f"{arg}: expected a finite non-negative number, got {value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        """Keras's ``regularizer(x)``: the penalty of ``x`` (an array, a Variable, or a Tensor in a function of
        one's own, differentiably)."""
        total = 0.0
        if self.l1:
            total = total + self.l1 * autodiff_functions.sum(autodiff_functions.absolute(x))
        if self.l2:
            total = total + self.l2 * autodiff_functions.sum(autodiff_functions.square(x))
        return total

    def runs_own_call(self) -> bool:
        """Whether a subclass of the script's computes the penalty in its own ``__call__``."""
        return overrides.user_definition(type(self), "__call__") is not None

    def penalty(self, ops, ws, weight, out) -> None:
        """out (0-d, the weight's dtype) = l1 * sum|W| + l2 * sum(W^2)."""
        if self.runs_own_call():
            ops.run_python(functools.partial(self._own_penalty, weight, out, _training_step[0]))
            return
        if not (self.l1 or self.l2):
            ops.fill(0, out)
            return
        scratch = _scratch(ws, weight)
        if self.l1:
            _scaled_sum(ops, ops.abs(weight, scratch), _constant(ws, self.l1, weight.dtype), out)
        if self.l2:
            squares = ops.multiply(weight, weight, scratch)
            if not self.l1:
                _scaled_sum(ops, squares, _constant(ws, self.l2, weight.dtype), out)
                return
            term = ws.buffer(f"regularizer.l2_term.{weight.dtype}", (), weight.dtype)
            _scaled_sum(ops, squares, _constant(ws, self.l2, weight.dtype), term)
            ops.add(out, term, out)

    def add_gradient(self, ops, ws, weight, grad) -> None:
        """grad += l1 * sign(W) + 2 * l2 * W."""
        if self.runs_own_call():
            ops.run_python(functools.partial(self._own_gradient, weight, grad))
            return
        scratch = _scratch(ws, weight)
        if self.l1:
            ops.sign(weight, scratch)
            ops.multiply(scratch, _constant(ws, self.l1, weight.dtype), scratch)
            ops.add(grad, scratch, grad)
        if self.l2:
            ops.multiply(weight, _constant(ws, 2.0 * self.l2, weight.dtype), scratch)
            ops.add(grad, scratch, grad)

    def get_config(self) -> dict:
        if overrides.user_definition(type(self), "get_config") is None and (
                overrides.user_definition(type(self), "__init__") is not None
                or overrides.nearest_gpunn_class(type(self)) is Regularizer):
            # Keras's base class has no configuration: a subclass of the user's saves through its own get_config
            # (one of L1, L2, L1L2 has theirs)
            raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")
        return {"l1": self.l1, "l2": self.l2}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    # ---- a __call__ of one's own -------------------------------------------------------------------------------
    # A training step computes the penalty (its loss) before the gradients (after backprop), of the same weights:
    # the script's __call__ runs once a step, as in Keras, its gradient kept for the step's add_gradient
    def _own_penalty(self, weight, out, training_step: bool) -> None:
        tensor = Tensor(weight, requires_grad=training_step)
        try:
            value = self(tensor)
        except Exception as exc:
            if hasattr(exc, "add_note"):  # (which of the script's objects the error came from)
                exc.add_note(f"Exception encountered in regularizer {type(self).__name__} (its __call__ on a weight "
                             "or, as an activity_regularizer, on a layer's output)")
            raise
        out[...] = value.value if isinstance(value, Tensor) else value
        if training_step:
            _KEPT[(id(self), id(weight))] = (self, weight, self._own_part(tensor, value))

    def _own_gradient(self, weight, grad) -> None:
        kept = _KEPT.pop((id(self), id(weight)), None)
        part = kept[2] if kept is not None and kept[0] is self and kept[1] is weight else \
            self._own_part(Tensor(weight, requires_grad=True), None)
        if part is _NO_GRADIENT:
            # as a loss of the user's: a penalty computed outside gpunn.ops would train nothing, without a word
            raise TypeError(f"regularizer {type(self).__name__}: its __call__ returned a value that does not depend "
                            "on the weight through gpunn.ops (keras.ops) functions, so it has no gradient; compute "
                            "the penalty with gpunn.ops on the weight it is given")
        if part is not None:
            grad += part

    def _own_part(self, tensor, value):
        """The gradient of the penalty ``value`` = this __call__ of ``tensor`` (computed when None), or
        ``_NO_GRADIENT``."""
        value = self(tensor) if value is None else value
        if not isinstance(value, Tensor) or not value.requires_grad:
            return _NO_GRADIENT
        (part,) = gradients(value, [tensor], value.value * 0 + 1)
        return part


# The gradients of the penalties of the scripts' regularizers, by (regularizer, weight), from a training step's
# penalty to its add_gradient; ``_training_step[0]``: whether the penalties computed now are a training step's (its
# recorded host calls keep the answer of when they were recorded)
_KEPT: dict = {}
_NO_GRADIENT = object()
_training_step = [False]


@contextlib.contextmanager
def in_training_step():
    """The penalties computed inside are a training step's: the scripts' regularizers keep their gradients."""
    before, _training_step[0] = _training_step[0], True
    try:
        yield
    finally:
        _training_step[0] = before


def _scratch(ws, weight):
    """A buffer shaped like ``weight``; keyed by shape and dtype, so the weights of a layer sharing ``ws`` reuse
    one buffer per shape instead of remaking it."""
    shape = "x".join(map(str, weight.shape))
    return ws.buffer(f"regularizer.scratch.{weight.dtype}.{shape}", weight.shape, weight.dtype)


def _constant(ws, value: float, dtype):
    """A 0-d constant keyed by its value and dtype: regularizers with different factors sharing ``ws`` each
    keep their own (a constant rewritten between calls would break a recorded step)."""
    return ws.constant(f"regularizer.{dtype}.{value!r}", value, dtype)


def _scaled_sum(ops, values, factor, out):
    """out = sum(values) * factor."""
    ops.sum(values, None, out)
    return ops.multiply(out, factor, out)


class L1(Regularizer):
    def __init__(self, l1=0.01):
        super().__init__(l1=0.01 if l1 is None else l1)  # (None: the default, as in Keras)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    def __init__(self, l2=0.01):
        super().__init__(l2=0.01 if l2 is None else l2)  # (None: the default, as in Keras)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    def __init__(self, l1=None, l2=None):  # (None: 0, as in Keras)
        if l1 is None and l2 is None:
            # A tf.keras 2 script's l1_l2() meant 0.01 each; Keras 3's penalizes nothing, and says nothing
            warnings.warn("L1L2 / l1_l2() without arguments penalizes nothing: Keras 3's factors default to 0 "
                          "(tf.keras 2's l1_l2() took l1=0.01, l2=0.01); give them, e.g. l1_l2(l1=0.01, l2=0.01)",
                          stacklevel=2)
        super().__init__(l1=0.0 if l1 is None else l1, l2=0.0 if l2 is None else l2)


class OrthogonalRegularizer(Regularizer):
    """Keras's: for a 2-D weight, ``factor * 0.5 * sum|P - diag(P)| / (n (n - 1) / 2)``, where P holds the dot products
    of its L2-normalized rows (``mode="rows"``, n rows) or columns (``"columns"``): the mean absolute cosine between
    two of them, pushing them towards orthogonality. Computed with gpunn.ops and differentiated through
    ``gpunn/autodiff``, as a host call of the step (like a regularizer of one's own)."""

    def __init__(self, factor=0.01, mode="rows"):
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not math.isfinite(factor) or factor < 0:
            raise ValueError(f"Invalid value for argument factor: expected a non-negative float.Received: "
                             f"factor={factor}")
        if mode not in {"rows", "columns"}:
            raise ValueError(f'Invalid value for argument `mode`. Expected one of {{"rows", "columns"}}. Received: '
                             f"mode={mode}")
        self.factor, self.mode = float(factor), mode

    def runs_own_call(self) -> bool:
        return True

    def __call__(self, inputs):
        shape = tuple(inputs.shape)
        if len(shape) != 2:
            raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={shape}")
        if self.mode == "rows":
            unit = array_functions.normalize(inputs, axis=1)
            product, size = autodiff_functions.matmul(unit, autodiff_functions.transpose(unit)), shape[0]
        else:
            unit = array_functions.normalize(inputs, axis=0)
            product, size = autodiff_functions.matmul(autodiff_functions.transpose(unit), unit), shape[1]
        off_diagonal = autodiff_functions.multiply(product, 1.0 - np.eye(size, dtype=np.dtype(inputs.dtype)))
        pairs = size * (size - 1.0) / 2.0
        return self.factor * 0.5 * autodiff_functions.sum(autodiff_functions.absolute(off_diagonal)) / pairs

    def get_config(self) -> dict:
        return {"factor": self.factor, "mode": self.mode}


orthogonal_regularizer = OrthogonalRegularizer  # Keras's snake-case alias


# Keras 3's snake-case names are the classes themselves (keras.regularizers.l2 is L2): l2(1e-4) makes one, and
# l2 given uncalled (kernel_regularizer=regularizers.l2) is the class, made with its defaults. l1_l2 is L1L2, whose
# factors default to 0 (tf.keras 2's l1_l2 function defaulted to 0.01 each).
l1, l2, l1_l2 = L1, L2, L1L2

# ("l1_l2" as a string, which Keras 3 does not take: tf.keras 2's, 0.01 each)
_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01), "l1l2": L1L2,
            "orthogonal_regularizer": OrthogonalRegularizer}
_BY_CLASS = {"L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer,
             "Regularizer": Regularizer}
# what get() takes as a name: Keras's snake-case names and its class names ("OrthogonalRegularizer")
_BY_ANY_NAME = {**{name.lower(): cls for name, cls in _BY_CLASS.items() if name != "Regularizer"}, **_BY_NAME}


class FunctionRegularizer(Regularizer):
    """A function of a weight giving its penalty (``kernel_regularizer=l1_reg``, as Keras's Regularizer
    docstring writes one): computed, and differentiated, as a ``__call__`` of one's own."""

    def __init__(self, function):
        self.function = function

    def __call__(self, x):
        return self.function(x)

    @property
    def __name__(self) -> str:  # as Keras keeps the function itself, scripts read its name
        return getattr(self.function, "__name__", type(self.function).__name__)

    def runs_own_call(self) -> bool:
        return True

    def get_config(self) -> dict:
        raise TypeError("a FunctionRegularizer is written as its function (serialize)")


def get(identifier) -> Regularizer | None:
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if keras_objects.is_keras_object(identifier):  # (Keras's own: tf.keras.regularizers.l2(1e-4))
        return keras_objects.as_gpunn(identifier, "regularizer")
    if isinstance(identifier, dict) and identifier.get("class_name") == "function":  # a function of the user's
        return FunctionRegularizer(custom_objects.function_of_entry(identifier, "regularizer"))
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier) and not isinstance(identifier, type):
        return FunctionRegularizer(identifier)
    if isinstance(identifier, dict):
        cls = custom_objects.resolve(identifier, "regularizer", {k.lower(): v for k, v in _BY_CLASS.items()},
                                     Regularizer)
        return cls.from_config(dict(identifier.get("config") or {}))
    if isinstance(identifier, str) and identifier not in _BY_NAME:
        custom = custom_objects.lookup(identifier)  # a function of the user's, by its registered name (a file's)
        if custom is not None and not isinstance(custom, (type, str)):
            return get(custom)
    return lookup("regularizer", identifier, _BY_ANY_NAME)()


def deserialize(config, custom_objects=None):
    """Keras's ``deserialize``: the object ``config`` describes (a config dict, or a name), the user's classes
    and functions taken from ``custom_objects`` too."""
    with custom_objects_lookup.custom_object_scope(custom_objects):
        return get(config)


def serialize(regularizer: Regularizer | None):
    if isinstance(regularizer, FunctionRegularizer):
        return custom_objects.function_entry(regularizer.function)
    return None if regularizer is None else custom_objects.class_entry(regularizer, regularizer.get_config())


def __dir__():
    from .api_listing import public_names  # (Keras's listing: api_listing.py)

    return public_names(globals())
