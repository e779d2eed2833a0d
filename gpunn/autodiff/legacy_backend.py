"""tf.keras's backend functions (``from tensorflow.keras import backend as K``: ``K.mean``, ``K.round``,
``K.epsilon``...), which custom metrics and losses of tf.keras-era scripts are written with (the ``recall_m`` /
``precision_m`` / ``f1_m`` metrics, a ``root_mean_squared_error`` loss). Each follows Keras 3's copy of them
(keras/src/legacy/backend.py), on the differentiable functions of ``functions.py``.
"""
from __future__ import annotations

import numpy as np

from ..fuzz_factor import epsilon, set_epsilon  # noqa: F401  (K.epsilon, K.set_epsilon)
from . import functions as F
from .default_float import floatx, set_floatx  # noqa: F401  (keras.backend's)
from .tensor import Tensor, array_module


def cast_to_floatx(x):
    return F.cast(x, floatx()) if isinstance(x, Tensor) else np.asarray(x, dtype=floatx())


def _float(x):
    """Booleans become floatx (Keras's mean / std / var of a boolean tensor)."""
    value = x.value if isinstance(x, Tensor) else np.asarray(x)
    return F.cast(x, floatx()) if value.dtype == np.bool_ else x


def mean(x, axis=None, keepdims=False):
    return F.mean(_float(x), axis=axis, keepdims=keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    return F.sum(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    return F.max(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    return F.min(x, axis=axis, keepdims=keepdims)


def prod(x, axis=None, keepdims=False):
    return F.prod(x, axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    return F.std(_float(x), axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False):
    return F.var(_float(x), axis=axis, keepdims=keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    return F.all(F.cast(x, "bool"), axis=axis, keepdims=keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    return F.any(F.cast(x, "bool"), axis=axis, keepdims=keepdims)


def argmax(x, axis=-1):
    return F.argmax(x, axis=axis)


def argmin(x, axis=-1):
    return F.argmin(x, axis=axis)


def sqrt(x):
    """The square root of max(x, 0), as tf.keras's."""
    return F.sqrt(F.maximum(x, 0.0))


def clip(x, min_value, max_value):
    if isinstance(min_value, (int, float)) and isinstance(max_value, (int, float)) and max_value < min_value:
        max_value = min_value
    return F.clip(x, -np.inf if min_value is None else min_value, np.inf if max_value is None else max_value)


def pow(x, a):  # noqa: A001 (Keras's name)
    return F.power(x, a)


def flatten(x):
    return F.reshape(x, (-1,))


def batch_flatten(x):
    return F.reshape(x, (F.shape(x)[0], -1))


def permute_dimensions(x, pattern):
    return F.transpose(x, pattern)


def transpose(x):
    return F.transpose(x)


def squeeze(x, axis):
    return F.squeeze(x, axis=axis)


def expand_dims(x, axis=-1):
    return F.expand_dims(x, axis)


def concatenate(tensors, axis=-1):
    return F.concatenate(tensors, axis=axis)


def logsumexp(x, axis=None, keepdims=False):
    return F.logsumexp(x, axis=axis, keepdims=keepdims)


def repeat(x, n):
    """(samples, dim) repeated n times as (samples, n, dim): Keras's legacy ``repeat`` (RepeatVector's)."""
    if len(F._shape(x)) != 2:
        raise ValueError(f"Expected input `x` to have rank 2. Received: rank(x)={len(F._shape(x))}")
    return F.tile(F.expand_dims(x, 1), (1, int(n), 1))


def stack(x, axis=0):
    return F.stack(x, axis=axis)


def dot(x, y):
    return F.matmul(x, y)


def switch(condition, then_expression, else_expression):
    then_value = then_expression() if callable(then_expression) else then_expression
    else_value = else_expression() if callable(else_expression) else else_expression
    return F.where(F.cast(condition, "bool"), then_value, else_value)


def l2_normalize(x, axis=None):
    """x / sqrt(max(sum(x^2), 1e-12)), as ``tf.linalg.l2_normalize``."""
    return F.multiply(x, F.rsqrt(F.maximum(F.sum(F.square(x), axis=axis, keepdims=True), 1e-12)))


def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    if alpha != 0.0 or threshold != 0.0:
        negative = F.where(F.greater_equal(x, threshold), 0.0, F.multiply(alpha, F.subtract(x, threshold)))
        positive = F.where(F.greater_equal(x, threshold), x, 0.0)
        out = F.add(positive, negative)
    else:
        out = F.relu(x)
    return out if max_value is None else F.minimum(out, max_value)


def hard_sigmoid(x):
    return F.clip(F.add(F.multiply(x, 0.2), 0.5), 0.0, 1.0)


def binary_crossentropy(target, output, from_logits=False):
    """Element-wise; probabilities clipped to [eps, 1 - eps] and eps added inside the logs, as tf.keras's."""
    if from_logits:
        return F.binary_crossentropy(target, output, from_logits=True)
    eps = epsilon()
    output = F.clip(output, eps, 1.0 - eps)
    bce = F.add(F.multiply(target, F.log(F.add(output, eps))),
                F.multiply(F.subtract(1, target), F.log(F.add(F.subtract(1, output), eps))))
    return F.negative(bce)


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    return F.categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    return F.sparse_categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)


def constant(value, dtype=None, shape=None, name=None):
    value = np.asarray(value, dtype=dtype or floatx())
    return Tensor(np.broadcast_to(value, shape).copy() if shape is not None else value)


def ones_like(x, dtype=None, name=None):
    return F.ones_like(x, dtype=dtype)


def zeros_like(x, dtype=None, name=None):
    return F.zeros_like(x, dtype=dtype)


def int_shape(x) -> tuple:
    return F.shape(x)


def shape(x):
    return F.shape(x)


def ndim(x) -> int:
    return F.ndim(x)


def dtype(x) -> str:
    value = x.value if isinstance(x, Tensor) else np.asarray(x)
    return str(value.dtype)


def get_value(x):
    """The value on the host: a NumPy array, or for a value that has one (a Tensor, a layer's Variable, an
    optimizer's learning rate or step count) its ``numpy()``, a NumPy scalar for those two as in tf.keras."""
    if isinstance(x, Tensor) or (hasattr(x, "numpy") and hasattr(x, "assign")):
        return x.numpy()
    xp = array_module(x)
    return x.get() if xp is not np and hasattr(x, "get") else np.asarray(x)


def batch_get_value(tensors) -> list:
    return [get_value(x) for x in tensors]


def set_value(x, value) -> None:
    """``x.assign(value)``: x is a layer's Variable or an optimizer's ``learning_rate`` / ``iterations``, as in
    tf.keras's ``K.set_value(model.optimizer.learning_rate, 1e-3)``."""
    if not callable(getattr(x, "assign", None)):
        raise TypeError(f"set_value: x must be a variable (a layer's weight, an optimizer's learning_rate or "
                        f"iterations, K.variable(...)), got {type(x).__name__} {x!r} (a metric's variables are "
                        "read-only copies: metric.reset_state() zeroes them)")
    x.assign(value)


def batch_set_value(tuples) -> None:
    for x, value in tuples:
        set_value(x, value)


eval = get_value  # noqa: A001 (Keras's name)

# the ones that are keras.ops's functions under the same name and meaning
abs = F.absolute  # noqa: A001
cast, cos, sin, exp, log, tanh, sigmoid, softplus, softsign = (F.cast, F.cos, F.sin, F.exp, F.log, F.tanh,
                                                                F.sigmoid, F.softplus, F.softsign)
maximum, minimum, square, sign, round, equal, not_equal = (F.maximum, F.minimum, F.square, F.sign,  # noqa: A001
                                                           F.round, F.equal, F.not_equal)
greater, greater_equal, less, less_equal = F.greater, F.greater_equal, F.less, F.less_equal
reshape, one_hot, stop_gradient, elu, softmax = F.reshape, F.one_hot, F.stop_gradient, F.elu, F.softmax


def cumsum(x, axis=0):
    return F.cumsum(x, axis=axis)

NAMES = ["epsilon", "set_epsilon", "floatx", "set_floatx", "cast_to_floatx", "mean", "sum", "max", "min", "prod",
         "std", "var", "all", "any", "argmax", "argmin", "sqrt", "clip", "pow", "flatten", "batch_flatten",
         "permute_dimensions", "transpose", "squeeze", "expand_dims", "concatenate", "stack", "dot", "switch",
         "l2_normalize", "relu", "hard_sigmoid", "binary_crossentropy", "categorical_crossentropy",
         "sparse_categorical_crossentropy", "constant", "ones_like", "zeros_like", "int_shape", "shape", "ndim",
         "dtype", "get_value", "batch_get_value", "set_value", "batch_set_value", "eval", "abs", "cast", "cos", "sin",
         "exp", "log", "tanh", "sigmoid", "softplus", "softsign", "maximum", "minimum", "square", "sign", "round",
         "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "reshape", "one_hot", "stop_gradient",
         "cumsum", "elu", "softmax", "logsumexp", "repeat"]
