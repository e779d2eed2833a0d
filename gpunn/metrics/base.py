"""Metric: Keras's metric API (``update_state`` / ``result`` / ``reset_state``) over state a training step keeps
on the device.

Keras's metrics (keras/src/metrics/metric.py) hold variables that ``update_state`` adds into. Here each
metric declares its state as named float64 arrays (``state_shapes``), says how one batch adds into them
(``accumulate``: Ops primitives writing into workspace buffers, so a training step can run it, record it and
replay it without a host read or an allocation), and how the numbers are made from the state
(``finalize``, on the host, once per read). Where the state lives is not the metric's business:

- used on its own (``m.update_state(y_true, y_pred)``), in a host buffer of its own, updated through the CPU
  Ops;
- compiled into a model, in the model's running-metrics buffer on the device (``trainer/running_metrics.py``),
  which binds the metric to its part of that buffer: ``m.result()`` then reads the last ``fit`` / ``evaluate``
  state, ``m.reset_state()`` zeroes it, and ``m.update_state(...)`` takes a host copy of it and carries on there.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import overrides, step_calls
from ..autodiff.default_float import floatx
from ..autodiff.functions import convert_to_numpy
from ..layers import user_layer
from ..naming import snake_case, uniquify
from ..ops.workspace import Workspace
from ..tree import found_in
from . import user_metric
from .state import StateLayout, StateValue

_host_ops = None
# Where a subclass's own update_state, run inside a model's step, adds its batch (a name no subclass would use)
_STEP_TARGET = "_gpunn_step_target"


def host_ops():
    """The CPU Ops that standalone metrics update through (made on first use: NumpyOps loads Numba lazily)."""
    global _host_ops
    if _host_ops is None:
        from ..ops import NumpyOps

        _host_ops = NumpyOps()
    return _host_ops


# ---- names, as keras/src/utils/naming.py makes them ------------------------------------------------------------

def auto_name(class_name: str) -> str:
    """Keras's ``auto_name``: the snake-case class name, then ``_1``, ``_2``, ... for later instances
    (``Precision()`` twice in a program: "precision", then "precision_1")."""
    return uniquify(snake_case(class_name))


# ---- what result() returns ---------------------------------------------------------------------------------------

class ScalarResult(float):
    """A metric's value: a float, with ``.numpy()``, ``.dtype`` and ``.shape`` as Keras's result tensors have
    (float64: gpunn's metrics sum in float64)."""

    dtype = np.dtype(np.float64)
    shape = ()
    ndim = 0

    def numpy(self):
        return np.float64(self)


class ArrayResult(np.ndarray):
    """A metric's values (one per threshold, or per class): an ndarray, with ``.numpy()``."""

    def numpy(self):
        return np.asarray(self)


def as_result(value):
    if np.ndim(value) == 0:
        return ScalarResult(value)
    # a copy: a value read stays what it was when the state moves on (Keras's results are new arrays)
    return np.array(value, dtype=np.float64).view(ArrayResult)


def divide_no_nan(a, b):
    """a / b, 0 where b == 0 (Keras's ``ops.divide_no_nan``), on host arrays."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


class StateBinding:
    """A metric's state: its contiguous slice of a flat float64 buffer on ``ops``, the named views into it and
    their layout within the slice. ``owner``: the RunningMetrics whose buffer it is, or None for the metric's
    own host buffer."""

    __slots__ = ("ops", "flat", "views", "layout", "owner")

    def __init__(self, ops, flat, views, layout, owner=None):
        self.ops, self.flat, self.views, self.layout, self.owner = ops, flat, views, layout, owner


def _names_a_dtype(value) -> bool:
    """Whether ``value`` is a dtype or a dtype's name ("float32"), as a metric's ``dtype`` argument is."""
    if value is None or isinstance(value, bool):
        return False
    try:
        return np.dtype(value).kind in "fiub" and (not isinstance(value, str) or value == np.dtype(value).name)
    except (TypeError, ValueError):
        return False


class Metric:
    """Base class of gpunn's metrics. Subclasses define ``state_shapes``, ``accumulate`` and ``finalize``.

    ``label_layout``: "dense" for labels shaped like the output (one-hot rows, binary targets, regression
    targets), "class_ids" for one integer class id per sample.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "update_state" in cls.__dict__:  # gpunn's metrics' and the user's alike
            cls.update_state = _unless_in_a_layers_call(cls.__dict__["update_state"])

    direction: str | None = None  # "up" or "down": which way is better (Keras's _direction), None: unknown
    default_name: str | None = None  # None: named from the class as Keras's auto_name does
    label_layout = "dense"
    # Keras's MeanMetricWrapper of a function that means over the last axis (MSE, the hinges, cross-entropies...):
    # on 1-D y_true and y_pred, called on their own, one value per batch (``_host_inputs``)
    flat_batch_is_one_value = False

    @property
    def weighs_each_value(self) -> bool:
        """Whether the metric takes a weight per value of y_pred, not only per sample: Keras's metrics that count
        every value on its own (confusion counts over all outputs, BinaryAccuracy's elementwise matches) broadcast
        ``sample_weight`` to y_pred's shape. Such a batch is then the same as each value a row of its own."""
        return False

    # Keras's MeanMetricWrapper of an elementwise function, given a weight per value, means each row's weighted
    # values and weights: a value counts 1/width of a sample (Accuracy, BinaryAccuracy)
    means_each_row = False

    def __init__(self, name=None, dtype=None):
        if (_names_a_dtype(name) or name is None and isinstance(dtype, str)) and not _names_a_dtype(dtype):
            # Keras 3's order, Metric(dtype, name), by position (tf.keras 2's, kept here, is (name, dtype)): a
            # metric is not named after a dtype, and a dtype has a dtype's name
            name, dtype = dtype, name
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name: expected a string, got {type(name).__name__} {name!r}")
        self.name = name if name is not None else (self.default_name or auto_name(type(self).__name__))
        self._dtype = floatx() if dtype is None else str(np.dtype(dtype))
        self._state: StateBinding | None = None
        self._host_workspace = None  # (batch shape key, Workspace) of standalone updates

    # ---- what a metric declares ----------------------------------------------------------------------------
    def state_shapes(self, width: int | None) -> dict | None:
        """{name: shape} of the float64 state arrays for outputs ``width`` values wide (None while the width is
        unknown, for a metric whose state depends on it)."""
        if user_metric.is_user_metric(self):
            return user_metric.state_shapes(self)
        return {"total": (), "count": ()}

    def accumulate(self, ops, ws, y_true, predictions, state: dict, sample_weight=None) -> None:
        """Add one batch into ``state`` (float64 views) through Ops primitives, scratch buffers from ``ws`` (the
        caller's workspace for this metric and batch shape): no host read, nothing allocated after the first
        call with a given ``ws``. ``predictions`` (B, C) as the model outputs them; ``y_true`` in this metric's
        ``label_layout`` ((B, C), or (B,) class ids; (B,) for a one-unit output too); ``sample_weight``: None
        (as in ``fit``, where metrics stay unweighted) or (B,) weights of the predictions' dtype."""
        if not user_metric.is_user_metric(self):
            raise NotImplementedError
        update = functools.partial(user_metric.update, self, y_true, predictions, sample_weight, state)
        ops.run_python(step_calls.in_the_steps_loss(update, f"metric {self.name!r}"))  # (step_calls.py)

    def finalize(self, state: dict):
        """The metric's value from host copies of its state: a float, or an array (per threshold or class)."""
        if not user_metric.is_user_metric(self):
            raise NotImplementedError
        return user_metric.result(self, state)

    def check_layout(self, width: int, sparse_labels: bool) -> None:
        """Raise a clear error when this metric cannot take the compiled model's labels and output."""
        if user_metric.is_user_metric(self):
            return  # the user's update_state decides what it takes
        if self.label_layout == "dense" and sparse_labels and width != 1:
            raise ValueError(
                f"metrics: {type(self).__name__} ({self.name!r}) compares labels shaped like the model's output, "
                f"but the labels are class ids (one per sample) for a {width}-unit output; use one-hot targets "
                "(gpunn.utils.to_categorical) with 'categorical_crossentropy'")
        if self.label_layout == "class_ids" and not sparse_labels:
            raise ValueError(
                f"metrics: {type(self).__name__} ({self.name!r}) expects integer class ids (one per sample), but "
                f"the labels are shaped like the model's {width}-unit output; use its one-hot counterpart")

    # ---- helpers for subclasses ----------------------------------------------------------------------------
    def _buffer(self, ws, role, shape, dtype):
        # Named after the metric, so that metrics sharing a workspace keep their own buffers and constants.
        return ws.buffer(f"{self.name}.{role}", shape, dtype)

    def _zeros(self, ws, role, shape, dtype):
        return ws.zeros(f"{self.name}.{role}", shape, dtype)

    def _constant(self, ws, role, value, dtype):
        return ws.constant(f"{self.name}.{role}", value, dtype)

    # ---- Keras's API for a metric of the user's (user_metric.py) --------------------------------------------
    @property
    def takes_labels_as_given(self) -> bool:
        """A metric of the user's (its own update_state): it sees y_true as the data gave it, and its own
        reset_state runs at every reset."""
        return user_metric.is_user_metric(self) or self._user_overrides("update_state")

    # ---- a script's subclass of a built-in metric ------------------------------------------------------------
    # Keras runs a subclass's update_state, result and reset_state wherever the metric is used; so does gpunn,
    # around the built-in state (a subclass calling super() reaches the built-in computation).
    def _user_overrides(self, name: str) -> bool:
        """Whether a script's subclass of a built-in metric overrides ``name`` (a metric of the user's own, made
        with add_variable, is the user's throughout: user_metric.py)."""
        return not user_metric.is_user_metric(self) and overrides.user_definition(type(self), name) is not None

    @property
    def resets_itself(self) -> bool:
        """Whether the metric's own reset_state must run at every reset of a model's state (a user's Metric, or a
        built-in one's subclass overriding reset_state, whose state is then kept for it: running_metrics.py)."""
        return self.takes_labels_as_given or self._user_overrides("reset_state")

    def step_accumulate(self, ops, ws, y_true, predictions, state: dict, sample_weight=None) -> None:
        """``accumulate`` inside a model's step, or, for a subclass with its own ``update_state``, that
        ``update_state`` as a host call of the step, on Tensors of the batch, adding into ``state``."""
        if not self._user_overrides("update_state"):
            self.accumulate(ops, ws, y_true, predictions, state, sample_weight)
            return
        update = functools.partial(self._own_update_into, ops, state, y_true, predictions, sample_weight)
        ops.run_python(step_calls.in_the_steps_loss(update, f"metric {self.name!r}"))  # (step_calls.py)

    def _own_update_into(self, ops, state, y_true, predictions, sample_weight) -> None:
        from ..autodiff import Tensor

        self.__dict__[_STEP_TARGET] = (ops, state)
        try:
            self.update_state(Tensor(y_true), Tensor(predictions),
                              sample_weight=None if sample_weight is None else Tensor(sample_weight))
        finally:
            del self.__dict__[_STEP_TARGET]

    def _update_target(self, width):
        """(the state ``update_state`` adds into, the model's step state or None): the metric's own host state;
        or, when a subclass's own update_state runs in a model's step, a zeroed host state whose sums
        ``_add_into_step`` then adds into the model's."""
        target = self.__dict__.get(_STEP_TARGET)
        if target is None:
            return self._own_host_state(width), None
        return self._empty_host_state(self.state_shapes(width)).views, target

    @staticmethod
    def _add_into_step(part: dict, target) -> None:
        if target is None:
            return
        ops, state = target
        for name, total in state.items():
            device_part = ops.empty(np.shape(part[name]), dtype="float64")
            ops.upload(np.asarray(part[name], dtype=np.float64), device_part)
            ops.add(total, device_part, total)

    def value_of(self, state: dict):
        """The metric's value from host copies of its state: ``finalize``, or a subclass's own ``result()`` run on
        that state."""
        if not self._user_overrides("result"):
            return self.finalize(state)
        layout = StateLayout([{name: np.shape(view) for name, view in state.items()}])
        flat = np.zeros(layout.size, dtype=np.float64)
        views = layout.views(flat)[0]
        for name, view in state.items():
            views[name][...] = view
        bound, self._state = self._state, StateBinding(host_ops(), flat, views, layout)
        try:
            value = self.result()
        finally:
            self._state = bound
        value = convert_to_numpy(value)  # a Tensor computed with gpunn.ops, too
        return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable for ``update_state`` to add into (``assign_add``) and ``result`` to read."""
        return user_metric.add_user_variable(self, shape, initializer, dtype, aggregation, name)

    def add_weight(self, *args, **kwargs):
        """Keras's older name of ``add_variable``: ``add_weight(shape=(), initializer="zeros", dtype=None,
        name=None)``. tf.keras 2's took the name first, ``add_weight(name, shape=(), aggregation, synchronization,
        initializer, dtype)`` (``self.add_weight("total", initializer="zeros")``, as "Hands-On Machine Learning"'s
        HuberMetric writes it): a string first is that order."""
        order = ("name", "shape", "aggregation", "synchronization", "initializer", "dtype") if args and isinstance(
            args[0], str) else ("shape", "initializer", "dtype", "name")
        if len(args) > len(order):
            raise TypeError(f"add_weight() takes at most {len(order)} positional arguments ({', '.join(order)}); "
                            f"got {len(args)}")
        for key, value in zip(order, args):
            if key in kwargs:
                raise TypeError(f"add_weight() got multiple values for argument {key!r}")
            kwargs[key] = value
        unknown = sorted(set(kwargs) - {"name", "shape", "aggregation", "synchronization", "initializer", "dtype"})
        if unknown:
            raise TypeError(f"add_weight() got unexpected keyword argument(s) {unknown}")
        # (tf.keras 2's aggregation and synchronization were TensorFlow's enums for its distribution strategies: a
        # metric's state is summed over ranks here unless an aggregation is named as add_variable names them)
        aggregation = kwargs.get("aggregation")
        return self.add_variable(shape=kwargs.get("shape", ()), initializer=kwargs.get("initializer", "zeros"),
                                 dtype=kwargs.get("dtype"), name=kwargs.get("name"),
                                 aggregation=aggregation if isinstance(aggregation, str) else "sum")

    # ---- where the state lives -----------------------------------------------------------------------------
    def _bind(self, binding: StateBinding) -> None:
        self._state = binding
        if user_metric.is_user_metric(self):
            user_metric.bind(self, binding.views)

    def _own_host_state(self, width: int) -> dict:
        """Views of a host state this metric owns, for ``width``-wide outputs: the one it has, or a host copy of
        the state it is bound to (a model's last fit/evaluate state, carried on), or zeros when the layout
        changed (another output width)."""
        layout = StateLayout([self.state_shapes(width)])
        current = self._state
        if current is not None and current.layout.fields == layout.fields:
            if current.owner is None:
                return current.views
            flat = np.array(current.ops.to_numpy(current.flat), dtype=np.float64)
        else:
            flat = np.zeros(layout.size, dtype=np.float64)
        self._state = StateBinding(host_ops(), flat, layout.views(flat)[0], layout)
        return self._state.views

    # ---- Keras's API ---------------------------------------------------------------------------------------
    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch of host data (NumPy arrays or lists) to the state, as Keras's ``update_state``."""
        if getattr(y_pred, "_keras_mask", None) is not None or self.label_layout == "class_ids":
            # (per-step rows where padding must count for nothing, or class ids per step; other metrics take
            # their ranks themselves: a correlation's axis)
            y_true, y_pred, sample_weight = _per_step_rows_of_a_mask(y_true, y_pred, sample_weight)
        y_true, y_pred, weights = self._host_inputs(y_true, y_pred, sample_weight)
        state, target = self._update_target(y_pred.shape[-1])
        ops = host_ops()
        # One workspace for the current batch shape (a stream of equal batches reuses its buffers); a new one
        # when the shape changes, since a workspace's constants are made for one shape.
        key = (y_true.shape, y_true.dtype.str, y_pred.shape, y_pred.dtype.str, weights is not None)
        if self._host_workspace is None or self._host_workspace[0] != key:
            self._host_workspace = (key, Workspace(ops))
        self.accumulate(ops, self._host_workspace[1], y_true, y_pred, state, weights)
        self._add_into_step(state, target)

    def result(self):
        """The metric's value over everything added since the last reset: a float (with ``.numpy()``), or an
        array for a metric with several values (thresholds, classes)."""
        binding = self._state
        if binding is None:
            shapes = self.state_shapes(None)
            if shapes is None:
                return as_result(0.0)  # nothing seen yet, and the state's shape is not known yet
            binding = self._state = self._empty_host_state(shapes)
        return as_result(self.finalize(self._host_views(binding)))

    def reset_state(self) -> None:
        """Zero the state (on the device when it is a compiled model's)."""
        binding = self._state
        if binding is not None:
            binding.ops.fill(0, binding.flat)
        for variable in self.__dict__.get("_user_variables", []):
            variable.assign(0)
        for metric in self._sub_metrics():  # (Keras zeroes every variable the metric tracks, theirs included)
            metric.reset_state()

    def _sub_metrics(self) -> list:
        """The metrics a metric of the user's holds as attributes (an F1 of its own Precision and Recall), whose
        variables are among its own, as Keras tracks them."""
        if overrides.is_gpunn_class(type(self)):
            return []
        return found_in(list(vars(self).values()), lambda value: isinstance(value, Metric) and value is not self)

    def __getattr__(self, name):
        """Keras's metric variables by name (``precision.true_positives``, ``mean.total``, ``auc.true_negatives``):
        a host copy of that part of the state, as it is now. (Called only for a name the metric has not.)"""
        if isinstance(getattr(type(self), name, None), property):  # its own AttributeError, raised again
            return object.__getattribute__(self, name)
        state = self.__dict__.get("_state") if not name.startswith("_") else None
        if state is not None and name in state.layout.fields[0]:
            return as_result(self._host_views(state)[name])
        if not name.startswith("_") and state is None and "_state" in self.__dict__:
            shapes = self.state_shapes(None)
            if shapes is not None and name in shapes:
                return as_result(np.zeros(shapes[name]))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def reset_states(self) -> None:  # tf.keras 2 name
        self.reset_state()

    def __call__(self, *args, **kwargs):
        """Keras's: ``update_state`` with these arguments (``Mean()(values)`` takes one, ``AUC()(y, p)`` two),
        then ``result()``."""
        self.update_state(*args, **kwargs)
        return self.result()

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def variables(self) -> list:
        """Host copies of the state arrays (Keras: the metric's variables), in declaration order, each with its
        Keras name and path (``state.StateValue``); a metric of the user's: its variables."""
        held = [variable for metric in self._sub_metrics() for variable in metric.variables]
        if user_metric.is_user_metric(self):
            return list(self._user_variables) + held
        if overrides.nearest_gpunn_class(type(self)) is Metric:  # a Metric of the user's written from the base:
            return held  # no state of gpunn's
        binding = self._state
        if binding is None:  # (nothing added yet: the state as it starts, where its shapes are known already)
            shapes = self.state_shapes(None)
            if shapes is None:
                return held
            values = {name: np.zeros(shape) for name, shape in shapes.items()}
        else:
            values = {name: np.array(value) for name, value in self._host_views(binding).items()}  # (copies,
            # as Keras's variables read: the next batch or a reset leaves what a script read as it was)
        return [StateValue(value, name, f"{self.name}/{name}") for name, value in values.items()] + held

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    def stateless_update_state(self, *args, **kwargs):
        """Keras's, for JAX's stateless custom training loops: refused by name (as ``stateless_result`` and
        ``stateless_reset_state``)."""
        raise NotImplementedError(f"{type(self).__name__}.stateless_update_state: gpunn has no custom training loops "
                                  "(JAX's stateless ones included); use update_state / result / reset_state, or "
                                  "give the metric to compile")

    stateless_result = stateless_reset_state = stateless_update_state

    def copy(self) -> "Metric":
        """A new metric of the same configuration, with a state of its own."""
        return type(self).from_config(self.get_config())

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"

    # ---- host inputs ---------------------------------------------------------------------------------------
    @staticmethod
    def _host_views(binding: StateBinding) -> dict:
        """{name: host copy} of a bound state: one read of the metric's slice."""
        host = np.asarray(binding.ops.to_numpy(binding.flat), dtype=np.float64)
        return binding.layout.views(host)[0]

    @staticmethod
    def _empty_host_state(shapes) -> StateBinding:
        layout = StateLayout([shapes])
        flat = np.zeros(layout.size, dtype=np.float64)
        return StateBinding(host_ops(), flat, layout.views(flat)[0], layout)

    def _host_inputs(self, y_true, y_pred, sample_weight):
        """(y_true, y_pred (B, C), weights (B,) or None) as host arrays in the layout ``accumulate`` takes."""
        y_true, y_pred, sample_weight = (None if value is None else convert_to_numpy(value)
                                         for value in (y_true, y_pred, sample_weight))
        y_pred = np.asarray(y_pred)
        if y_pred.dtype not in (np.float32, np.float64):
            y_pred = y_pred.astype(np.float64)
        if y_pred.ndim == 0:
            raise ValueError(f"y_pred: expected one prediction per sample (a batch), got a scalar {y_pred!r}")
        if (sample_weight is not None and y_pred.ndim >= 2 and np.shape(sample_weight) == y_pred.shape
                and y_pred.shape[-1] > 1 and self.weighs_each_value and np.size(y_true) == y_pred.size):
            width = y_pred.size // len(y_pred)  # (the values of a sample)
            y_true, y_pred = np.reshape(y_true, (-1, 1)), y_pred.reshape(-1, 1)
            sample_weight = np.reshape(sample_weight, -1)
            if self.means_each_row:  # (a value then counts a share of its row, as in Keras's mean per row)
                sample_weight = sample_weight / np.asarray(width, sample_weight.dtype)
        if self.flat_batch_is_one_value and y_pred.ndim == 1 and np.ndim(y_true) == 1:
            # Keras's function (a mean over the last axis) reduces 1-D y_true and y_pred to one value, which its
            # Mean counts once: the batch is one row here
            if sample_weight is not None and np.ndim(sample_weight) > 0:
                raise ValueError(f"sample_weight: {self.name} of 1-D y_true and y_pred takes one value per batch (a "
                                 "mean over its only axis, as in Keras), which weights per sample cannot weigh; give "
                                 "y_true and y_pred as (samples, 1) columns")
            y_pred = y_pred.reshape(1, -1)
        rows = len(y_pred)
        y_pred = np.ascontiguousarray(y_pred.reshape(rows, int(np.prod(y_pred.shape[1:], dtype=np.int64))))
        y_true = np.asarray(y_true)
        if self.label_layout == "class_ids":
            ids = y_true.reshape(-1)
            if len(ids) != rows:
                raise ValueError(f"y_true: expected {rows} class ids (one per row of y_pred), got shape {y_true.shape}")
            if ids.dtype.kind == "f" and not np.array_equal(ids, np.round(ids)):
                raise ValueError("y_true: expected integer class ids, got non-integer values")
            width = y_pred.shape[1]
            if ids.size and (ids.min() < 0 or ids.max() >= width):
                raise ValueError(f"y_true: expected class ids in [0, {width}), got values from {ids.min()} to "
                                 f"{ids.max()}")
            y_true = np.ascontiguousarray(ids.astype(np.int64))
        else:
            if y_true.size != y_pred.size:
                raise ValueError(f"y_true: expected the shape of y_pred {np.shape(y_pred)}, got shape {y_true.shape}")
            y_true = np.ascontiguousarray(y_true.reshape(y_pred.shape).astype(y_pred.dtype))
        weights = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=y_pred.dtype)
            if weights.ndim == 0:
                weights = np.full(rows, weights, dtype=y_pred.dtype)
            elif weights.ndim == 2 and weights.shape[1] == 1:
                weights = weights[:, 0]
            if weights.shape != (rows,):
                raise ValueError(f"sample_weight: expected one weight per sample, shape ({rows},), got shape "
                                 f"{np.shape(sample_weight)}")
            weights = np.ascontiguousarray(weights)
        return y_true, y_pred, weights


# ---- label layouts inside a step ---------------------------------------------------------------------------------

def dense_labels(y_true, predictions):
    """Labels shaped like the predictions: (B,) labels of a one-unit output seen as (B, 1) (a view)."""
    if y_true.ndim == 1 and predictions.ndim == 2:
        return y_true.reshape(-1, 1)
    return y_true


def class_ids(metric, ops, ws, y_true):
    """(B,) integer class ids: the labels themselves, or an integer copy of float ids."""
    ids = y_true.reshape(-1)
    if ids.dtype.kind in "iu":
        return ids
    return ops.cast_into(ids, metric._buffer(ws, "class_ids", ids.shape, np.intp))  # (float to int: a cast)


def one_hot_rows(metric, ops, ws, ids, width, dtype, role="one_hot"):
    """(B, width) one-hot rows of ``ids`` gathered from an identity matrix (a gather writes into its buffer
    without allocating), into the buffer ``role`` (a metric needing two sets of rows names them apart). The
    diagonal is set on every call (width elements), so a replay needs no set-up."""
    identity = metric._zeros(ws, "identity", (width, width), dtype)
    ops.fill(1, identity.reshape(-1)[::width + 1])
    return ops.take_rows(identity, ids, out=metric._buffer(ws, role, (len(ids), width), dtype))


def add_into(ops, ws, metric, role, batch_part, total):
    """total (float64 state view) += batch_part, widened by a copy first when it is of another dtype."""
    if batch_part.dtype != total.dtype:
        wide = metric._buffer(ws, role + ".wide", batch_part.shape, total.dtype)
        ops.copy_into(batch_part, wide)
        batch_part = wide
    ops.add(total, batch_part, total)


def _updated_in_a_layers_call(metric) -> bool:
    """True for an update to skip: one from a call() of the user's run on ones to learn shapes, which is no call
    of the user's. One from a call() a model runs is refused: Keras 3 lists a metric a layer holds among the
    model's metrics and logs it on TensorFlow and torch (and refuses to update it in a step on jax); gpunn does
    neither, and would leave it counting unseen."""
    running = user_layer.running_call()
    if running is None:
        traced = user_layer.traced_model()
        if traced is not None:
            raise user_layer.RefusedInTrace(
                f"metric {metric.name!r}: updated in the call() of model {type(traced).__name__} "
                f"{traced.name!r}; gpunn runs a subclassed model's call() once, on symbolic inputs, to learn its "
                "graph, so it cannot count values there (Keras logs such a metric on TensorFlow and torch, and "
                "refuses it on JAX). Update the metric in a compute_loss(x, y, y_pred, sample_weight) of the "
                "model's own, where gpunn logs it, or give it to compile(metrics=[...])")
        return False
    if running[0] == "alone":
        return False
    kind, layer = running
    if kind == "trial":
        return True
    raise NotImplementedError(
        f"metric {metric.name!r}: updated in the call() of layer {layer.name!r} while a model runs it; gpunn does "
        "not report the metrics a layer updates (they would be missing from the logs and never reset). Give the "
        "metric to compile(metrics=[...]), or, for a layer that computes the loss from targets it takes as inputs "
        "(an endpoint layer), return what the metric needs as an output and compute the metric on it. Calling "
        "the layer on its own (layer(x)) updates it")


def _unless_in_a_layers_call(update_state):
    if getattr(update_state, "_checks_layer_calls", False):
        return update_state

    @functools.wraps(update_state)
    def checked_update_state(self, *args, **kwargs):
        if _updated_in_a_layers_call(self):
            return None
        return update_state(self, *args, **kwargs)

    checked_update_state._checks_layer_calls = True
    return checked_update_state


Metric.update_state = _unless_in_a_layers_call(Metric.update_state)


def _per_step_rows_of_a_mask(y_true, y_pred, sample_weight):
    """Per-step predictions (samples, steps..., classes), as Keras's metrics take them: each step a row of its
    own (a sample's weight over each of its steps), weighted by the padding mask they carry (an eager output of a
    masked layer, ``_keras_mask``) so that padding counts for nothing. Anything else as it came."""
    mask = getattr(y_pred, "_keras_mask", None)
    shape = np.shape(y_pred)
    if len(shape) < 3 or (mask is not None and np.shape(mask) != shape[:-1]):
        return y_true, y_pred, sample_weight
    steps = int(np.prod(shape[1:-1]))
    weights = None if mask is None else np.asarray(mask, dtype=np.float64).reshape(-1)
    if sample_weight is not None:
        given = np.asarray(convert_to_numpy(sample_weight), dtype=np.float64)
        given = np.repeat(given.reshape(-1), steps) if given.size == shape[0] else given.reshape(-1)
        weights = given if weights is None else weights * given
    y_true = np.asarray(convert_to_numpy(y_true))
    rows = shape[0] * steps
    y_true = y_true.reshape((rows,) + y_true.shape[len(shape) - 1:]) if y_true.ndim >= len(shape) - 1 else y_true
    return y_true, np.asarray(y_pred).reshape(rows, shape[-1]), weights
