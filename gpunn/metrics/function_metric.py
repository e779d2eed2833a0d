"""A metric given as a function ``fn(y_true, y_pred)`` of the user's, written with ``gpunn.ops`` or tf.keras's
backend functions (``K.mean``, ``K.round``...): what Keras makes of it, a ``MeanMetricWrapper`` named after the
function. Its values are averaged per sample, weighted when the metric is weighted; a function returning one
value per batch counts once per batch, as Keras's ``Mean`` counts it (so a tf.keras-era ``recall_m`` reports the
mean of its per-batch values, as it did there).

The function runs on the batch's own arrays (NumPy or CuPy) as a host call of the step (``Ops.run_python``), its
sums added into the metric's device state like any metric's.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import custom_objects, step_calls
from ..autodiff import user_functions
from ..autodiff.functions import convert_to_numpy
from .base import Metric, divide_no_nan


class MeanMetricWrapper(Metric):
    """Keras's ``keras.metrics.MeanMetricWrapper(fn, name=None, dtype=None, **kwargs)``: the mean of
    ``fn(y_true, y_pred, **kwargs)`` over the samples (or batches, for one value per batch) seen."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"fn: expected a function of (y_true, y_pred), got {type(fn).__name__}")
        # unnamed: 'mean_metric_wrapper' (then _1, _2...), as Keras's; compile names the one it makes of a
        # function after the function (registry.get)
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def state_shapes(self, width):
        return {"total": (), "count": ()}

    takes_labels_as_given = True

    def check_layout(self, width, sparse_labels):
        """Any layout: the function decides what it takes."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        """One batch of host data, handed to the function as given (Keras's ``MeanMetricWrapper.update_state``)."""
        state, target = self._update_target(None)  # a subclass's own update_state in a step: the model's, too
        y_pred = np.asarray(convert_to_numpy(y_pred))
        weights = None if sample_weight is None else np.broadcast_to(
            np.asarray(convert_to_numpy(sample_weight), dtype=np.float64).reshape(-1), (len(y_pred),))
        user_functions.metric_step(f"metric {self.name!r}", self._function(), np.asarray(convert_to_numpy(y_true)), y_pred,
                                   weights, state["total"], state["count"])
        self._add_into_step(state, target)

    def _function(self):
        return functools.partial(self._fn, **self._fn_kwargs) if self._fn_kwargs else self._fn

    def copy(self) -> "MeanMetricWrapper":
        """A new wrapper of the same function object (no lookup by name)."""
        return type(self)(self._fn, name=self.name, dtype=self._dtype, **self._fn_kwargs)

    def accumulate(self, ops, ws, y_true, predictions, state, sample_weight=None):
        what = f"metric {self.name!r}"
        update = functools.partial(user_functions.metric_step, what, self._function(), y_true, predictions,
                                   sample_weight, state["total"], state["count"])
        ops.run_python(step_calls.in_the_steps_loss(update, what))  # (step_calls.py)

    def finalize(self, state):
        return float(divide_no_nan(state["total"], state["count"]))

    def get_config(self):
        return {"name": self.name, "dtype": self._dtype, "fn": custom_objects.get_registered_name(self._fn),
                **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        """The wrapper of the function the config names: the user's own (``custom_objects``), else gpunn's."""
        from .registry import function_by_name

        config = dict(config)
        fn = config.pop("fn")
        return cls(function_by_name(fn) if isinstance(fn, str) else fn, **config)
