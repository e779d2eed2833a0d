"""Normalization: y = (x - mean) / max(sqrt(variance), 1e-7), or with ``invert=True`` x * max(sqrt(variance),
1e-7) + mean, with the mean and variance given or learned by ``adapt(data)``.

Keras 3 (``keras/src/layers/preprocessing/normalization.py``), followed here:

- ``axis`` (default -1; an int, a tuple, or None): the axes with their own mean and variance, counted with the
  batch axis; the others are reduced. None: one mean and variance for every element.
- ``mean`` / ``variance`` given (both or neither): constants broadcast to the kept axes (aligned from the right);
  the layer then has no weights, and its config holds them.
- Otherwise the layer has the non-trainable weights ``mean``, ``variance`` (the kept axes' shape) and
  ``count`` (Keras keeps it, always 0, for old files), initialised to 0, 1 and 0: ``get_weights()`` returns
  the three, and a saved model keeps them. ``adapt(data)`` computes ``np.mean`` / ``np.var`` of the data over
  the reduced axes (an array), or Keras's running combination over the batches of an iterable, and writes them
  into those weights, wherever the layer computes (a model's buffers, or the layer's own arrays before it
  joins one).
- ``layer.mean`` / ``layer.variance`` are the statistics in the inputs' broadcast shape ((1, features) for
  axis -1), as Keras's; ``adapt_mean`` / ``adapt_variance`` are the weights themselves.

Where gpunn differs: with samples of one value (1-D data, or a declared input shape of (1,)) the per-index
statistics are per feature of shape (1,), where Keras's ``axis=-1`` on 1-D data keeps the batch axis (it warns
that a batch of scalars is normalised index by index); the batch axis can never be kept here.
"""
from __future__ import annotations

import math

import numpy as np

from .. import fuzz_factor
from .. import initializers
from ..data import as_numeric_array
from . import tf_pipeline
from .base import Layer, WeightSpec, weight_property
from .numeric_arguments import is_one_array
from .variable import Variable



def _axes(axis) -> tuple[int, ...]:
    if axis is None:
        return ()
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
        raise ValueError(f"axis: expected an int, a tuple of ints or None, got {axis!r}")
    return tuple(int(a) for a in axes)


class Normalization(Layer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)
    has_weights = True
    adapt_mean = weight_property("mean", "The adapted mean (the weight, in the kept axes' shape).")
    adapt_variance = weight_property("variance", "The adapted variance (the weight, in the kept axes' shape).")
    count = weight_property("count", "Kept, always 0, as Keras keeps it for files of older versions.")

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes(axis)
        if (mean is None) != (variance is None):
            raise ValueError("mean, variance: when setting values directly, give both mean and variance (got "
                             f"mean={mean!r} and variance={variance!r})")
        if mean is not None:
            mean_array, variance_array = (np.asarray(v, dtype=np.float64) for v in (mean, variance))
            if mean_array.shape != variance_array.shape:
                raise ValueError(f"mean, variance: expected the same shape, got {mean_array.shape} and "
                                 f"{variance_array.shape}")
            if mean_array.ndim > len(self.axis):
                raise ValueError(f"mean: its rank {mean_array.ndim} exceeds the number of kept axes "
                                 f"({len(self.axis)}, axis={axis!r})")
        self.input_mean, self.input_variance = mean, variance
        if not isinstance(invert, (bool, np.bool_)):
            raise ValueError(f"invert: expected True or False, got {invert!r}")
        self.invert = bool(invert)
        self._given_host = None  # the given mean and variance in the broadcast shape, float64
        self._given_device: dict = {}  # (backend, dtype) -> (mean, variance) arrays
        self._broadcast_variables: dict = {}

    # ---- shapes ---------------------------------------------------------------------------------------
    def build(self, input_shape):
        input_shape = tuple(input_shape)
        ndim = len(input_shape) + 1
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(f"axis: expected values in [-{ndim}, {ndim}) for inputs of shape "
                             f"{(None,) + input_shape}, got {self.axis}")
        keep = tuple(sorted(a % ndim for a in self.axis))
        if 0 in keep:
            raise ValueError(f"axis: the batch axis (0) cannot have its own mean and variance (axis={self.axis}); "
                             "use the feature axes, e.g. -1, or None for one mean and variance")
        full = (None,) + input_shape
        self._keep_axis = keep
        self._reduce_axis = tuple(d for d in range(ndim) if d not in keep)
        self._broadcast_shape = (1,) + tuple(full[d] if d in keep else 1 for d in range(1, ndim))
        self._mean_and_var_shape = tuple(full[d] for d in keep)
        if self.input_mean is not None:
            self._given_host = tuple(self._broadcast(name, value, full) for name, value in
                                     (("mean", self.input_mean), ("variance", self.input_variance)))
            self._given_device.clear()
        super().build(input_shape)

    def _broadcast(self, argument, value, full_shape):
        """Keras's broadcasting of a given mean or variance: dimensions aligned with the kept axes from the right."""
        value = np.asarray(value, dtype=np.float64)
        expanded = [1] * len(self._broadcast_shape)
        try:
            if value.ndim > len(self._keep_axis):
                raise ValueError
            for i in range(1, value.ndim + 1):
                expanded[self._keep_axis[-i]] = value.shape[-i]
            return np.ascontiguousarray(np.broadcast_to(value.reshape(expanded), self._broadcast_shape))
        except ValueError:
            raise ValueError(f"{argument}: a value of shape {value.shape} does not broadcast to the kept axes "
                             f"{self._keep_axis} of inputs of shape {full_shape}") from None

    def weight_specs(self):
        if self.input_mean is not None:
            return []
        shape = self._mean_and_var_shape
        zeros, ones = initializers.get("zeros"), initializers.get("ones")
        return [WeightSpec("mean", shape, zeros, trainable=False),
                WeightSpec("variance", shape, ones, trainable=False),
                WeightSpec("count", (), zeros, trainable=False)]

    # ---- the statistics as Keras shows them ---------------------------------------------------------
    @property
    def mean(self):
        return self._statistic(0, "mean")

    @property
    def variance(self):
        return self._statistic(1, "variance")

    def _statistic(self, index, name):
        """Keras's ``layer.mean`` / ``layer.variance``: None before the build, else in the broadcast shape."""
        if not self.built:
            return None
        found = self._broadcast_variables.get(name)
        if found is None:
            if self.input_mean is not None:
                found = Variable(self, name, read=lambda: self._given_host[index].astype(self.dtype or "float32"))
            else:
                found = Variable(self, name, view_shape=self._broadcast_shape)
            self._broadcast_variables[name] = found
        return found

    def _statistics(self, ops, dtype):
        """(mean, variance) as backend arrays in the broadcast shape: views of the weights, or the given
        constants, on this backend in this dtype (made once)."""
        if self.input_mean is None:
            w = self.bound.weights
            return w["mean"].reshape(self._broadcast_shape), w["variance"].reshape(self._broadcast_shape)
        key = (id(ops), np.dtype(dtype).str)
        found = self._given_device.get(key)
        if found is None or found[0] is not ops:
            found = self._given_device[key] = (ops,) + tuple(ops.asarray(v, dtype=dtype) for v in self._given_host)
        return found[1], found[2]

    # ---- computation --------------------------------------------------------------------------------
    def forward(self, x, training):
        ops, dtype = self.ops, x.dtype
        ws = self.workspace(x.shape[0])
        mean, variance = self._statistics(ops, dtype)
        denominator = ops.sqrt(variance, ws.buffer("denominator", variance.shape, dtype))
        ops.maximum(denominator, ws.constant("epsilon", fuzz_factor.epsilon(), dtype), denominator)
        y = ws.buffer("y", x.shape, dtype)
        if self.invert:
            ops.add(ops.multiply(x, denominator, y), mean, y)
            scale = ops.multiply
        else:
            ops.divide(ops.subtract(x, mean, y), denominator, y)
            scale = ops.divide

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            return scale(dy, denominator, ws.buffer("dx", x.shape, dtype))

        return y, backprop

    # ---- adapt ----------------------------------------------------------------------------------------
    def adapt(self, data):
        """Learn the mean and variance of ``data``: an array of samples (NumPy, CuPy, pandas, a tensor, a list of
        rows), or an iterable of such batches (a list of arrays, a generator, a PyDataset, a tf.data dataset), as
        Keras's ``adapt``. Call it before fit/predict."""
        from ..ops import get_ops
        from .calling import bind_standalone, compute_dtype

        if self.input_mean is not None:
            raise ValueError("adapt: this Normalization was given its mean and variance; make it without them "
                             "(Normalization(axis=...)) to learn them from data")
        rows = isinstance(data, (list, tuple)) and data and not hasattr(data[0], "shape") and \
            not _holds_arrays(data[0])  # numbers, not batches (nor (x, y) batches)
        if is_one_array(data) or rows:
            x = self._adapt_batch(as_numeric_array("data", data))
            mean, variance = np.mean(x, axis=self._reduce_axis), np.var(x, axis=self._reduce_axis)
        else:
            mean, variance = self._adapt_batches(data)
        bind_standalone(self, get_ops(), compute_dtype(self))  # no model has bound it: arrays of its own
        self.adapt_mean.assign(np.asarray(mean))
        self.adapt_variance.assign(np.asarray(variance))

    def _adapt_batch(self, x):
        """``x`` as a batch of this layer's samples (building the layer for them when it is not built)."""
        if self.built:
            shape = tuple(self.input_shape)
        elif self.declared_input_shape is not None:
            shape = tuple(self.declared_input_shape)
        else:
            shape = tuple(x.shape[1:]) or (1,)
        if tuple(x.shape[1:]) != shape:
            if tuple(x.shape[1:]) + (1,) == shape:  # (n,) for samples of shape (1,): Keras adds the axis
                x = x.reshape(x.shape + (1,))
            else:
                raise ValueError(f"data: expected samples of shape {shape} (the layer's input), got samples of "
                                 f"shape {tuple(x.shape[1:])} (array shape {x.shape})")
        if not self.built:
            self.build(shape)
        return x

    def _adapt_batches(self, data):
        """Keras's running mean and variance over the batches of an iterable (the lack-of-fit sum of squares)."""
        if tf_pipeline.is_tf_dataset(data) and len(getattr(data.element_spec, "shape", (0, 0))) == 1:
            data = data.batch(128)  # a dataset of single samples, as Keras batches it (it reads batches)
        if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, dict):
            indexed = data
            data = (indexed[i] for i in range(len(indexed)))  # a list of batches, or a PyDataset (by index)
        try:
            batches = iter(data)
        except TypeError:
            raise TypeError(f"data: expected an array or an iterable of batches, got {type(data).__name__}") from None
        total_mean = total_var = None
        total_count = 0
        for batch in batches:
            if isinstance(batch, tuple):  # (x, y) batches: Keras adapts to x
                batch = batch[0]
            elif isinstance(batch, list) and _holds_arrays(batch):
                raise TypeError(
                    f"data: adapt() takes batches of arrays, or (x, y) tuples whose x it learns from; a batch came "
                    f"as a list of {len(batch)} arrays (a torch DataLoader of a TensorDataset(x, y) yields [x, y]), "
                    "which Keras refuses too: adapt to the features alone (layer.adapt(x), or a loader of x's)")
            x = self._adapt_batch(as_numeric_array("data", batch)).astype(np.float64)
            batch_mean, batch_var = np.mean(x, axis=self._reduce_axis), np.var(x, axis=self._reduce_axis)
            batch_count = math.prod(x.shape[d] for d in self._reduce_axis) if self._reduce_axis else 1
            if total_mean is None:
                total_mean, total_var = np.zeros_like(batch_mean), np.zeros_like(batch_var)
            total_count += batch_count
            batch_weight = batch_count / total_count
            existing_weight = 1.0 - batch_weight
            new_mean = total_mean * existing_weight + batch_mean * batch_weight
            total_var = ((total_var + (total_mean - new_mean) ** 2) * existing_weight
                         + (batch_var + (batch_mean - new_mean) ** 2) * batch_weight)
            total_mean = new_mean
        if total_mean is None:
            raise ValueError("data: adapt() received an empty iterable (no batches); pass an array or at least one "
                             "batch")
        return total_mean, total_var

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert,
                "mean": np.array(self.input_mean).tolist(), "variance": np.array(self.input_variance).tolist()}


def _holds_arrays(items) -> bool:
    """A list or tuple of arrays (a batch's parts), not one row of numbers."""
    return isinstance(items, (list, tuple)) and bool(items) and all(hasattr(item, "shape") and
                                                                    getattr(item, "ndim", 0) > 0 for item in items)
