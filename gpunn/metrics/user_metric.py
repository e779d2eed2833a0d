"""A Metric subclass of the user's, written as Keras's guides write one: state variables made with
``add_variable`` / ``add_weight`` in ``__init__``, ``update_state(y_true, y_pred, sample_weight=None)`` adding
into them with ``assign_add`` / ``assign`` and ``gpunn.ops`` functions, ``result()`` computing from them.

Standalone, the variables hold host arrays of their own. Compiled into a model, they are views of the metric's
part of the model's running-metrics buffer (``trainer/running_metrics.py``): ``update_state`` runs as a host
call of the step (``Ops.run_python``) and writes there on the device, the buffer is zeroed at every reset (what
Keras's default ``reset_state`` does), summed across ranks at epoch ends (Keras's default aggregation, "sum"),
and ``result()`` is called on host copies of it.
"""
from __future__ import annotations

import numpy as np

from ..autodiff import Tensor
from ..autodiff.functions import _value, convert_to_numpy
from ..autodiff.tensor import array_module


class MetricVariable(Tensor):
    """A metric's state variable: a Tensor whose array is updated in place (``assign``, ``assign_add``,
    ``assign_sub``), so that the same object reads whatever buffer the metric is bound to."""

    def __init__(self, key: str, name: str, value, path: str | None = None):
        super().__init__(value, requires_grad=False)
        self.key, self.name = key, name
        self.path = path or name  # (Keras's: 'categorical_true_positives/true_positives')

    def numpy(self) -> np.ndarray:
        """A copy of the values, as a Keras Variable's: what a script reads stays as read when the next batch adds
        into the state, or a reset zeroes it."""
        return np.array(super().numpy())

    def _bind(self, array) -> None:
        self.value = array

    def _array(self, value):
        """``value`` as an array of this variable's module: another library's tensor (a ``tf.reduce_sum`` of an
        update_state written with TensorFlow, as tf.keras's guides write one) is converted, never kept in place
        of the variable's buffer."""
        xp = array_module(self.value)
        value = _value(value, xp)
        if isinstance(value, (xp.ndarray, np.ndarray, int, float, np.generic)):
            return value
        return xp.asarray(np.asarray(value))

    def assign(self, value):
        self.value[...] = self._array(value)
        return self

    def assign_add(self, delta):
        self.value[...] += self._array(delta)
        return self

    def assign_sub(self, delta):
        self.value[...] -= self._array(delta)
        return self

    def __repr__(self) -> str:
        return f"<MetricVariable {self.name} shape={self.shape}>"


def add_user_variable(metric, shape, initializer, dtype, aggregation, name) -> MetricVariable:
    """A new state variable of ``metric`` (Keras's ``Metric.add_variable``)."""
    from .. import initializers

    if aggregation not in ("sum", "mean", "none", "only_first_replica"):
        raise ValueError(f"aggregation: expected 'sum', 'mean', 'none' or 'only_first_replica', got {aggregation!r}")
    if not hasattr(metric, "_state"):
        raise RuntimeError("You forgot to call `super().__init__()` in the `__init__()` method of the metric "
                           f"{type(metric).__name__}. Go add it!")
    variables = metric.__dict__.setdefault("_user_variables", [])
    shape = tuple(int(n) for n in np.atleast_1d(shape)) if np.ndim(shape) or shape != () else ()
    if isinstance(initializer, (int, float)):
        value = np.full(shape, initializer, dtype=np.float64)
    elif initializer is not None and not isinstance(initializer, str) and not callable(initializer):  # values
        given = np.asarray(convert_to_numpy(initializer), dtype=np.float64)
        if given.shape != shape:
            raise ValueError(f"initializer: an array of values for variable {name!r} must have its shape {shape}, "
                             f"got shape {given.shape}")
        value = given.copy()
    else:
        value = np.asarray(initializers.get(initializer if initializer is not None else "zeros")(shape, "float64"),
                           dtype=np.float64)
    # state lives in float64, as every metric's does here (Keras: the metric's dtype, float32)
    variable = MetricVariable(f"{len(variables)}.{name or 'variable'}", name or "variable", value,
                              f"{metric.name}/{name or 'variable'}")
    variable.aggregation = aggregation  # (how ranks combine it: combine_across_ranks)
    variables.append(variable)
    return variable


def combine_across_ranks(owners: list, fields: list, host, comm):
    """The state of all ranks from each rank's ``host`` state (``fields``: per owner, {name: (offset, shape)}):
    every built-in state is a sum; a variable of a metric of the user's combines as its ``aggregation`` says, as
    Keras's replicas combine it: "sum" summed, "mean" averaged, "only_first_replica" and "none" rank 0's (a
    maximum kept with ``assign`` is the same on every rank only when it is taken from one)."""
    combined = np.asarray(comm.allreduce_host(host), dtype=np.float64)
    spans = [(at, at + int(np.prod(shape)), variable.aggregation)
             for owner, owned in zip(owners, fields) if is_user_metric(owner)
             for variable in owner._user_variables if variable.aggregation != "sum"
             for at, shape in [owned[variable.key]]]
    if spans:
        first = np.asarray(comm.broadcast_object(np.asarray(host, dtype=np.float64).tolist()), dtype=np.float64)
        for start, stop, aggregation in spans:
            combined[start:stop] = combined[start:stop] / comm.size if aggregation == "mean" else first[start:stop]
    return combined


def is_user_metric(metric) -> bool:
    return bool(metric.__dict__.get("_user_variables"))


def state_shapes(metric) -> dict:
    return {v.key: v.shape for v in metric._user_variables}


def bind(metric, views: dict) -> None:
    for variable in metric._user_variables:
        variable._bind(views[variable.key])


def update(metric, y_true, y_pred, sample_weight, views) -> None:
    """One batch into the state ``views``: the user's update_state on its variables bound to them."""
    bind(metric, views)
    metric.update_state(Tensor(y_true), Tensor(y_pred),
                        sample_weight=None if sample_weight is None else Tensor(sample_weight))


def result(metric, views: dict):
    """The user's result() on host copies of the state: a float, or an array."""
    bind(metric, {key: np.array(value, dtype=np.float64) for key, value in views.items()})
    value = metric.result()
    value = value.numpy() if isinstance(value, Tensor) else np.asarray(value, dtype=np.float64)
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)
