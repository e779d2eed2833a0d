"""More of tf.keras's backend (``K.variable``, ``K.zeros``, ``K.random_normal``, ``K.gather``, ``K.function``...),
after Keras 3's copy of it (keras/src/legacy/backend.py), on ``gpunn.ops``, ``gpunn.random`` and ``gpunn.Variable``
(the array functions a loss is written with are ``autodiff/legacy_backend.py``'s).

The values ``K.variable`` / ``zeros`` / ``ones`` / ``eye`` make are Variables, as tf.keras's are: a loss or metric
of the script's reads one at each step, so ``K.set_value`` between fits changes what it computes (the class
weights of the well-known ``weighted_categorical_crossentropy``)."""
from __future__ import annotations

import math

import numpy as np

from . import ops, random
from .autodiff.default_float import floatx
from .standalone_variables import Variable


def variable(value, dtype=None, name=None, constraint=None):
    """A Variable holding ``value`` in ``dtype`` (floatx by default)."""
    return Variable(np.asarray(value, dtype=dtype or floatx()), dtype=dtype or floatx(), name=name)


def zeros(shape, dtype=None, name=None):
    return variable(np.zeros(shape), dtype, name)


def ones(shape, dtype=None, name=None):
    return variable(np.ones(shape), dtype, name)


def eye(size, dtype=None, name=None):
    return variable(np.eye(size), dtype, name)


def count_params(x) -> int:
    return math.prod(int(d) for d in np.shape(x))


def arange(start, stop=None, step=1, dtype="int32"):
    if stop is None and start < 0:
        start = 0
    return ops.arange(start, stop, step, dtype=dtype)


def tile(x, n):
    return ops.tile(x, [n] if isinstance(n, int) else n)


def gather(reference, indices):
    return ops.take(reference, indices, axis=0)


def repeat_elements(x, rep, axis):
    return ops.repeat(x, rep, axis=axis)


def reverse(x, axes):
    return ops.flip(x, axis=axes)


def cumprod(x, axis=0):
    return ops.cumprod(x, axis=axis)


def in_top_k(predictions, targets, k):
    return ops.in_top_k(targets, predictions, k)


def bias_add(x, bias, data_format=None):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"data_format: gpunn's values are channels_last; got {data_format!r}")
    return ops.add(x, bias)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return random.normal(shape, mean=mean, stddev=stddev, dtype=dtype or floatx(), seed=seed)


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return random.uniform(shape, minval=minval, maxval=maxval, dtype=dtype or floatx(), seed=seed)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return random.truncated_normal(shape, mean=mean, stddev=stddev, dtype=dtype or floatx(), seed=seed)


def random_bernoulli(shape, p=0.0, dtype=None, seed=None):
    return ops.cast(ops.less_equal(random.uniform(shape, seed=seed), p), dtype or floatx())


def random_normal_variable(shape, mean, scale, dtype=None, name=None, seed=None):
    return variable(random_normal(shape, mean, scale, dtype, seed), dtype, name)


def random_uniform_variable(shape, low, high, dtype=None, name=None, seed=None):
    return variable(random_uniform(shape, low, high, dtype, seed), dtype, name)


def dropout(x, level, noise_shape=None, seed=None):
    return random.dropout(x, level, noise_shape=noise_shape, seed=seed)


def function(inputs, outputs, updates=None, name=None, **kwargs):
    """tf.keras's ``K.function([model.input], [layer.output])``: a function of a list of input arrays giving the
    list of output arrays (a model made of those inputs and outputs, called in inference mode)."""
    from .models import Model

    if updates:
        raise ValueError("updates: gpunn's K.function computes values; updates of variables are not taken")
    single_output = not isinstance(outputs, (list, tuple))
    extractor = Model(inputs=inputs, outputs=outputs)

    def call(values):
        given = values if isinstance(values, (list, tuple)) else [values]
        result = extractor(given[0] if len(given) == 1 else list(given), training=False)
        arrays = [np.asarray(r) for r in (result if isinstance(result, (list, tuple)) else [result])]
        return arrays[0] if single_output else arrays

    return call


NAMES = ["variable", "zeros", "ones", "eye", "count_params", "arange", "tile", "gather", "repeat_elements", "reverse",
         "cumprod", "in_top_k", "bias_add", "random_normal", "random_uniform", "truncated_normal", "random_bernoulli",
         "random_normal_variable", "random_uniform_variable", "dropout", "function"]
