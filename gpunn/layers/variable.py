"""Variable: a layer's weight as Keras 3's Variable API shows it (``keras/src/backend/common/variables.py``).

A Keras layer owns its variables; a gpunn layer computes with views into a model's flat buffers, and which
model's buffers those are changes when a layer shared by two models runs in the other (see
``models/parameter_store.py``). So a Variable holds no array: it is the pair (layer, weight name), and every
read or write goes to where the layer's weight lives at that moment (``layer.bound.weights``). ``assign``
writes into that view in place: the flat buffer a model trains and a recorded (``jit_compile=True``) step
replays is the very array written, so the next step sees the value, recorded or not.

The subset kept: ``numpy()``, ``value``, ``assign`` / ``assign_add`` / ``assign_sub``, ``shape``, ``dtype``,
``ndim``, ``name``, ``path``, ``trainable``, ``constraint``, indexing, arithmetic and ``np.asarray(variable)`` (through
``__array__``: on the CPU the live array, as Keras's NumPy backend gives, so code that used the arrays
``layer.weights`` returned before keeps working). Beyond Keras: ``size`` and item assignment
(``variable[...] = value``), which that code may use. Unlike Keras, ``==`` compares identity (a Variable stays
usable in lists and as a dict key) and ``dtype`` is a NumPy dtype (equal to Keras's string, ``== "float32"``).
"""
from __future__ import annotations

import math

import numpy as np

from .. import compute_turns
from ..autodiff import Tensor
from ..autodiff.tensor import DETACHMENTS
from . import sublayers, variable_paths
from .call_result import host_result


class Variable:
    __slots__ = ("_layer", "_name", "_view_shape", "_read")

    def __init__(self, layer, name: str, view_shape: tuple | None = None, read=None):
        """``view_shape``: the shape the weight is shown in (a reshape of the stored one, e.g. Normalization's
        broadcast mean); ``read``: a callable returning a read-only value instead of the layer's weight."""
        self._layer = layer
        self._name = name
        self._view_shape = None if view_shape is None else tuple(view_shape)
        self._read = read

    # ---- where the value lives ------------------------------------------------------------------------
    @property
    def _array(self):
        if self._read is not None:
            return self._read()
        traced = self._traced()
        if traced is not None:  # inside a differentiated call(): the array that call computes with
            return traced.value
        layer = self._layer
        array = layer.bound.weights.get(self._name)
        if array is None:
            layer._standalone_weights()
            array = layer.bound.weights.get(self._name)
        if array is None:
            raise ValueError(
                f"variable {self.path!r}: layer {layer.name!r} holds no weight {self._name!r} yet; build it (add "
                "it to a built model, or call it on data) first"
            )
        return array

    @property
    def _current(self):
        """The backend array itself (a view into the model's buffer)."""
        array = self._array
        return array if self._view_shape is None else array.reshape(self._view_shape)

    @property
    def value(self):
        """The current value, as Keras's ``value``: the backend array itself (a view into the model's buffer); in
        a call() being differentiated, the Tensor the weight is there (Keras's traced value), which carries the
        gradient."""
        traced = self._traced()
        return traced if traced is not None else self._current

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the current value (in a call() being differentiated, a value off the gradient: counted,
        as a Tensor's ``numpy()`` is, for the warning of a weight left without one, ``user_layer.py``)."""
        traced = self._traced()
        if traced is not None and traced.requires_grad:
            DETACHMENTS.count += 1
        ops = self._ops()
        return np.array(ops.to_numpy(self._current) if ops is not None else self._current, copy=True)

    def _ops(self):
        return getattr(self._layer, "ops", None)

    # ---- writing --------------------------------------------------------------------------------------
    # Writes take a compute turn (compute_turns.py): between, not inside, another thread's training steps
    def assign(self, value):
        """Write ``value`` (same shape; NumPy, CuPy or a number for a 0-d weight) into the weight in place."""
        with compute_turns.turn(self._ops()):
            target = self._writable()
            value = self._converted(value)
            target[...] = value
        return value

    def assign_add(self, value):
        with compute_turns.turn(self._ops()):
            target = self._writable()
            target[...] = target + self._converted(value)
        return self._current

    def assign_sub(self, value):
        with compute_turns.turn(self._ops()):
            target = self._writable()
            target[...] = target - self._converted(value)
        return self._current

    def __setitem__(self, index, value) -> None:
        with compute_turns.turn(self._ops()):
            target = self._writable()
            ops = self._ops()
            target[index] = ops.asarray(value, dtype=target.dtype) if ops is not None else value

    def _writable(self):
        if self._read is not None:
            raise ValueError(f"variable {self.path!r}: it is a constant of the layer (given to its constructor), "
                             "not a weight; it cannot be assigned")
        return self._current

    def _converted(self, value):
        """``value`` on the weight's device and in its dtype, after checking its shape."""
        if isinstance(value, Variable):
            value = value.value
        if isinstance(value, Tensor):  # an assignment in a call(): its value, never differentiated (as in Keras)
            value = value.value
        ops = self._ops()
        target = self._current
        if ops is not None and not ops.on_host and isinstance(value, ops.xp.ndarray):
            array = value.astype(target.dtype, copy=False)
        else:
            host = value.get() if hasattr(value, "__cuda_array_interface__") and hasattr(value, "get") else value
            host = np.asarray(host)
            if host.dtype.kind not in "biuf":
                raise TypeError(f"value: expected numbers for variable {self.path!r}, got dtype {host.dtype}")
            array = ops.asarray(host, dtype=target.dtype) if ops is not None else host.astype(target.dtype)
        if tuple(array.shape) != tuple(target.shape):
            raise ValueError(
                f"value: variable {self.path!r} has shape {tuple(target.shape)}, got a value of shape "
                f"{tuple(array.shape)} (Keras's assign takes the variable's exact shape)"
            )
        return array

    # ---- description ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str:
        """Keras's ``variable.path``: the scopes the layer was built in, its name, the weight's
        (``variable_paths.py``)."""
        if getattr(self._layer, "standalone_variable", False):  # keras.Variable made on its own: its name
            return self._name
        return f"{variable_paths.prefix(self._layer)}{self._layer.name}/{self._name}"

    @property
    def shape(self) -> tuple:
        return tuple(self._current.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def dtype(self) -> str:
        """The name of the value's dtype ('float32'), a string as Keras's."""
        return np.dtype(self._current.dtype).name

    @property
    def trainable(self) -> bool:
        """As in Keras, where ``layer.trainable = False`` sets the flag of each of its trainable variables: a
        trainable-kind weight of a trainable layer (moving statistics and constants never are), unless frozen
        by itself (the setter)."""
        if self._read is not None:
            return False
        spec = next((s for s in self._layer.weight_specs() if s.name == self._name), None)
        return bool(spec is not None and spec.trainable and self._layer.trainable
                    and self._name not in sublayers.frozen_variables(self._layer))

    @trainable.setter
    def trainable(self, value):
        """Keras's flag of one variable: ``layer.kernel.trainable = False`` freezes the kernel alone (the bias
        trains on); as a layer's flag, it takes effect for a model at its next ``compile()``. A layer's own
        ``trainable`` setter sets it back on each of its variables, as Keras's does."""
        from .base import check_trainable

        value = check_trainable(value)
        if value == self.trainable:
            return
        spec = next((s for s in self._layer.weight_specs() if s.name == self._name), None)
        if self._read is not None or spec is None or not spec.trainable:
            raise AttributeError(f"{self.path}.trainable: the weight is not trained by any optimizer (moving "
                                 "statistics, a layer's constants): gpunn keeps its flag False")
        if not self._layer.trainable:
            raise AttributeError(f"{self.path}.trainable: layer {self._layer.name!r} is frozen (trainable=False), "
                                 "so none of its weights trains: set layer.trainable = True first")
        frozen = sublayers.frozen_variables(self._layer)
        sublayers.set_frozen_variables(self._layer, frozen - {self._name} if value else frozen | {self._name})

    def _trained_spec(self):
        """The WeightSpec training uses for this weight (its regularizer and constraint), None for a read-only one."""
        if self._read is not None:
            return None
        return next((s for s in self._layer.trained_weight_specs() if s.name == self._name), None)

    @property
    def constraint(self):
        """As in Keras: the weight's constraint (applied after each optimizer update while it trains), or None."""
        spec = self._trained_spec()
        return None if spec is None else spec.constraint

    @property
    def regularizer(self):
        """As in Keras: the weight's regularizer (its penalty added to the loss while it trains), or None."""
        spec = self._trained_spec()
        return None if spec is None else spec.regularizer

    @property
    def aggregation(self) -> str:
        """Keras's: how replicas combine the variable ('none' unless given; gpunn's data-parallel ranks average
        every gradient and keep identical weights)."""
        return getattr(self._layer, "aggregation", "none") if getattr(self._layer, "standalone_variable", False) \
            else "none"

    @property
    def synchronization(self) -> str:
        return getattr(self._layer, "synchronization", "auto") if getattr(self._layer, "standalone_variable", False) \
            else "auto"

    overwrite_with_gradient = False  # (Keras's flag for float8 scales; gpunn's optimizers update every weight)

    def __repr__(self) -> str:
        try:
            value = self.numpy()
        except ValueError:
            return f"<Variable path={self.path}, not built>"
        return f"<Variable path={self.path}, shape={value.shape}, dtype={value.dtype.name}, value={value}>"

    # ---- in a call() differentiated by gpunn/autodiff (a layer of the user's: user_layer.py) ----------------
    def _traced(self):
        """The Tensor this weight is while its layer's call is being differentiated, else None."""
        traced = getattr(self._layer, "_traced_weights", None)
        return None if traced is None or self._read is not None else traced.get(self._name)

    def _autodiff_tensor(self):
        """The weight as gpunn.ops functions take it: the traced Tensor, else a constant of its value."""
        traced = self._traced()
        return traced if traced is not None else Tensor(self._current)

    # ---- as an array ----------------------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        if self._traced() is not None and self._traced().requires_grad:
            return self._traced().__array__(dtype)  # raises: the weight's gradient would be dropped
        value = self._current
        ops = self._ops()
        host = ops.to_numpy(value) if ops is not None else np.asarray(value)
        if copy is not False and isinstance(value, np.ndarray):
            host = np.array(host, copy=True)  # a snapshot, as Keras's (a device array's host copy is one already)
        return host if dtype is None else host.astype(dtype, copy=False)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError(f"variable {self.path!r} is 0-d: it has no len()")
        return self.shape[0]

    def __getitem__(self, index):
        """A slice of the value: a new array (a Keras tensor is), on the CPU with ``.numpy()``."""
        traced = self._traced()
        return traced[index] if traced is not None else host_result(self._current[index].copy())

    def __float__(self) -> float:
        return float(self._scalar())

    def __int__(self) -> int:
        return int(self._scalar())

    def _scalar(self):
        if self.ndim:
            raise TypeError(f"variable {self.path!r} has shape {self.shape}: only 0-d variables convert to a number")
        return np.asarray(self)[()]

    def __bool__(self):
        raise TypeError("A Keras Variable cannot be used as a boolean.")  # Keras's message

    def __neg__(self):
        return -self._traced() if self._traced() is not None else host_result(-self._current)

    def __pos__(self):
        return self._traced() if self._traced() is not None else host_result(self._current.copy())

    def __abs__(self):
        return abs(self._traced()) if self._traced() is not None else host_result(abs(self._current))

    def __invert__(self):
        return host_result(~np.asarray(self))

    def __round__(self, ndigits=None):
        return host_result(np.round(np.asarray(self), ndigits or 0))


def _logical(function, reflected: bool = False):
    """Keras's ``&``, ``|``, ``^`` of a Variable: the logical and, or, xor of the values (bool results)."""
    def method(self, other):
        other = np.asarray(other)
        mine = np.asarray(self)
        return host_result(function(other, mine) if reflected else function(mine, other))

    return method


for _name, _function in (("and", np.logical_and), ("or", np.logical_or), ("xor", np.logical_xor)):
    setattr(Variable, f"__{_name}__", _logical(_function))
    setattr(Variable, f"__r{_name}__", _logical(_function, reflected=True))
del _name, _function


def _binary(name):
    def method(self, other):
        traced = self._traced()
        if traced is not None or isinstance(other, Variable) and other._traced() is not None:
            # inside a differentiated call(): the arithmetic of Tensors, which keeps the weight's gradient
            return getattr(self._autodiff_tensor(), name)(other)
        if isinstance(other, Variable):
            other = other.value
        # the arithmetic of gpunn.ops (Tensors), whose result dtypes are Keras's (float32 Variable + int32 array:
        # float32), where NumPy's operators would widen to float64; with a Tensor (a value being differentiated in
        # a call()), the Tensor it makes, which carries the gradient on
        result = getattr(Tensor(self._current), name)(other)
        if isinstance(other, Tensor) or getattr(other, "_autodiff_tensor", None) is not None:
            return result
        return host_result(result.value)

    method.__name__ = name
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    setattr(Variable, f"__{_name}__", _binary(f"__{_name}__"))
    setattr(Variable, f"__r{_name}__", _binary(f"__r{_name}__"))
for _name in ("lt", "le", "gt", "ge"):
    setattr(Variable, f"__{_name}__", _binary(f"__{_name}__"))
del _name
