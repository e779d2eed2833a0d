"""Activation functions, by name (``'relu'``) or as these callables (``gpunn.activations.relu``), following
Keras 3's ``keras/src/activations/activations.py`` and ``keras/src/activations/__init__.py`` (its names and
the aliases ``swish`` and ``hard_swish``).

Inside Dense layers the element-wise ones run fused with the bias add (the backend's ``bias_act_forward``);
softmax is a row-wise op, fused with cross-entropy when it ends a classifier; log_softmax and glu are row-wise
ops of Ops primitives (``layers/activation_step.py``). This module owns the names and what each needs for its
gradient; the backends implement them (and their tests check they implement these).

A name gets Keras's default parameters, as Keras's ``get`` returns the function itself: celu alpha 1.0,
soft_shrink and hard_shrink threshold 0.5, squareplus b 4 (each reaches the fused step as the spec's
``alpha``). The functions take Keras's keyword arguments and compute with the same fused step. Two of
Keras's names take other paths: ``threshold`` is a function only, as its two required arguments have
no defaults (Keras fails on the name too, ``threshold() missing 2 required positional arguments``; gpunn
says so when the layer is made), and ``sparsemax`` runs as gpunn.ops's (a sort per row, ``autodiff/sparsemax.py``,
the way an activation function of the user's runs), with the threshold of its definition (Keras 3.15's is wrong
whenever two or more inputs are in the support, keras-team/keras#23425, fixed in Keras's code since).
"""
from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._registry import lookup
from .number_arguments import finite_number, positive_number

# The element-wise activations (run in the fused bias + activation step), and those whose gradient needs the
# pre-activation z rather than the output y.
ELEMENTWISE = ("linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "silu",
               "selu", "softplus", "softsign", "hard_sigmoid", "exponential", "mish",
               "relu6", "hard_silu", "log_sigmoid", "celu", "hard_tanh", "soft_shrink", "hard_shrink",
               "tanh_shrink", "squareplus", "sparse_plus", "sparse_sigmoid")
NEEDS_PREACTIVATION = frozenset({"elu", "gelu", "silu", "softsign", "mish", "hard_silu", "hard_tanh", "tanh_shrink"})

# Each activation's one parameter, as Keras's defaults give it (the fused step's ``alpha``).
DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0, "celu": 1.0, "soft_shrink": 0.5, "hard_shrink": 0.5,
                 "squareplus": 4.0}


@dataclass(frozen=True)
class ActivationSpec:
    """What a layer needs to know about its activation: the name and its parameter (leaky_relu's slope, celu's
    alpha, the shrinks' threshold, squareplus's b)."""

    name: str
    alpha: float = 0.2
    # An activation function of the user's (Keras takes any callable): run on gpunn Tensors, its gradient by
    # gpunn's autodiff (``layers/activation_step.py``); its name is marked so that no built-in's is taken for it.
    function: Callable | None = None
    # An activation layer given as the activation (``Dense(50, activation=layers.LeakyReLU(0.2))``, as
    # "Hands-On Machine Learning" writes it): computed as its fused step, saved as the layer, as Keras saves it
    layer: object = field(default=None, compare=False)

    @property
    def elementwise(self) -> bool:
        """True when it runs in the fused bias+activation kernel."""
        return self.function is None and self.name in ELEMENTWISE

    @property
    def needs_preactivation(self) -> bool:
        return self.name in NEEDS_PREACTIVATION

    @property
    def __name__(self) -> str:  # as Keras's get returns the function, code reads its name
        return self.function.__name__ if self.function is not None else self.name

    def __eq__(self, other):
        """Equal to another spec of the same activation, and to the function it stands for: Keras's layers hold
        the function itself, so ``layer.activation == keras.activations.softmax`` is how scripts test it."""
        if isinstance(other, ActivationSpec):
            return (self.name, self.alpha, self.function) == (other.name, other.alpha, other.function)
        if callable(other) and not isinstance(other, type) and _NAME_OF.get(id(other)) is not None:
            return self.function is None and self.name == _NAME_OF[id(other)] and \
                self.alpha == DEFAULT_ALPHA.get(self.name, 0.0)
        if callable(other) and self.function is not None:
            return self.function is other
        return NotImplemented

    def __hash__(self):
        # as the function it equals, so that ``layer.activation in {keras.activations.relu}`` holds too
        if self.function is not None:
            return hash(self.function)
        if self.alpha == DEFAULT_ALPHA.get(self.name, 0.0) and self.name in _BY_NAME:
            return hash(_BY_NAME[self.name])
        return hash((self.name, self.alpha))

    def __call__(self, x):
        """The activation of ``x`` (an array, a gpunn Tensor inside a call(), or a model's symbolic value), with
        this spec's parameter: Keras's ``activations.get`` returns a function, which layers of the user's call."""
        if self.function is not None:
            return self.function(x)
        parameter = PARAMETER_NAME.get(self.name)
        return _BY_NAME[self.name](x, **({parameter: self.alpha} if parameter else {}))


def _elementwise(name: str, x, alpha: float):
    """The activation of host data, computed by the CPU backend's fused step (Keras's functions return
    tensors; these return NumPy arrays). Inside a layer's call(), on a gpunn Tensor or a weight, the same step
    as a differentiable function (``autodiff.functions.fused_activation``)."""
    from .ops import NumpyOps

    if _symbolic(x):
        return _operation(name, x, alpha)
    if _traced(x):
        from .autodiff.functions import fused_activation

        return fused_activation(x, name, alpha)

    x = np.array(x, dtype=np.result_type(np.asarray(x).dtype, np.float32), copy=True)
    z2d = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
    out = np.empty_like(z2d) if name in NEEDS_PREACTIVATION else z2d
    NumpyOps().bias_act_forward(z2d, None, name, out, alpha)
    return out.reshape(x.shape)


# Each activation's parameter under the name its function (and keras.ops's) takes it.
PARAMETER_NAME = {"leaky_relu": "negative_slope", "elu": "alpha", "celu": "alpha", "soft_shrink": "threshold",
                  "hard_shrink": "threshold", "squareplus": "b"}


def _symbolic(x) -> bool:
    """A model's symbolic value (a functional model's, or a subclassed model's call() traced)."""
    return getattr(x, "_is_symbolic", False)


def _operation(name: str, x, alpha: float):
    """The activation of a symbolic value: the ``keras.ops`` function Keras's activation calls (its
    activations are ops calls), an operation of the model's graph."""
    from . import ops

    if name == "mish":  # Keras's Mish.static_call: x * tanh(softplus(x))
        return x * ops.tanh(ops.softplus(x))
    if name == "exponential":
        return ops.exp(x)
    if name == "gelu":
        return ops.gelu(x, approximate=False)
    parameter = PARAMETER_NAME.get(name)
    return getattr(ops, name)(x, **({parameter: alpha} if parameter else {}))


def _traced(x) -> bool:
    """A gpunn Tensor (``gpunn.ops`` results, the inputs of a layer's call()), or a layer's weight inside a
    call() (outside one, a weight is its array)."""
    from .autodiff import Tensor
    from .layers.user_layer import tracing

    return isinstance(x, Tensor) or (hasattr(x, "_autodiff_tensor") and tracing())


def _host_only(name: str, x) -> None:
    """Refuse by name a form of an activation that has no differentiable counterpart on a gpunn Tensor."""
    if _traced(x) or _symbolic(x):
        raise TypeError(f"{name} on a gpunn Tensor or a model's symbolic value: not differentiable here; write it "
                        "with gpunn.ops (gpunn.ops.clip, gpunn.ops.where, ...), or use a layer (layers.ReLU takes "
                        "max_value, negative_slope and threshold)")


def linear(x):
    return x if _traced(x) or _symbolic(x) else np.asarray(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's ``ReLU.static_call``: x above ``threshold`` (0 at and below it), clipped to [0, max_value],
    minus negative_slope * max(threshold - x, 0). The defaults are the fused relu; a slope alone the fused
    leaky_relu, max_value=6 alone the fused relu6."""
    for argument, value in (("negative_slope", negative_slope), ("threshold", threshold)):
        finite_number(argument, value)
    if max_value is not None:
        finite_number("max_value", max_value)
    if negative_slope == 0.0 and threshold == 0.0:
        if max_value is None:
            return _elementwise("relu", x, 0.0)
        if max_value == 6:
            return _elementwise("relu6", x, 0.0)
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return _elementwise("leaky_relu", x, negative_slope)
    if _traced(x) or _symbolic(x):
        return _relu_through_ops(x, negative_slope, max_value, threshold)
    x = _float_array(x)
    dtype = x.dtype.type
    if negative_slope != 0.0:
        negative_part = np.maximum(dtype(threshold) - x, 0) if threshold != 0 else np.maximum(-x, 0)
    if threshold != 0.0:
        y = np.where(x > dtype(threshold), x, dtype(0))
    elif max_value == 6:  # Keras takes its relu6 here, and clips no further
        y, max_value = _elementwise("relu6", x, 0.0), None
    else:
        y = _elementwise("relu", x, 0.0)
    if max_value is not None:
        y = np.minimum(np.maximum(y, dtype(0)), dtype(max_value))
    if negative_slope != 0.0:
        y = y - dtype(negative_slope) * negative_part
    return y


def _relu_through_ops(x, negative_slope, max_value, threshold):
    """``relu`` with its arguments, as gpunn.ops's functions of ``x`` (differentiable on a Tensor, operations of
    the graph on a model's symbolic value): the formula of Keras's ``ReLU.static_call``, as the host form above."""
    from . import ops

    if threshold != 0.0:
        y = ops.where(ops.greater(x, threshold), x, ops.zeros_like(x))
    elif max_value == 6:  # Keras takes its relu6 here, and clips no further
        y, max_value = ops.relu6(x), None
    else:
        y = ops.relu(x)
    if max_value is not None:
        y = ops.clip(y, 0.0, max_value)
    if negative_slope != 0.0:
        y = ops.subtract(y, ops.multiply(negative_slope, ops.relu(ops.subtract(threshold, x))))
    return y


def relu6(x):
    """min(max(x, 0), 6)."""
    return _elementwise("relu6", x, 0.0)


def leaky_relu(x, negative_slope=0.2):
    if not 0.0 < negative_slope < 1.0:
        # The backward pass reads the sign of the output, which needs a positive slope.
        raise ValueError(f"negative_slope: expected a number in (0, 1), got {negative_slope!r}")
    return _elementwise("leaky_relu", x, negative_slope)


def elu(x, alpha=1.0):
    if alpha != 1.0:  # the fused step's ELU is Keras's default one; another alpha computes as gpunn.ops.elu
        finite_number("alpha", alpha)
        return _through_ops("elu", x, alpha=alpha)
    return _elementwise("elu", x, alpha)


def gelu(x, approximate=False):
    if approximate:  # the fused step's GELU is the exact erf form; the tanh one computes as gpunn.ops.gelu
        return _through_ops("gelu", x, approximate=True)
    return _elementwise("gelu", x, 0.0)


def _through_ops(name: str, x, **arguments):
    """gpunn.ops's function ``name`` of ``x``: differentiable on a Tensor, an operation of the graph on a model's
    symbolic value, a NumPy array of host data."""
    from . import ops

    if _symbolic(x) or _traced(x):
        return getattr(ops, name)(x, **arguments)
    return getattr(ops, name)(_float_array(x), **arguments).value


def sigmoid(x):
    return _elementwise("sigmoid", x, 0.0)


def tanh(x):
    return _elementwise("tanh", x, 0.0)


def silu(x):
    return _elementwise("silu", x, 0.0)


swish = silu


# Keras 3's definitions (keras/src/activations/activations.py); the formulas and gradients are in
# kernels/activations.py.

def selu(x):
    """scale * x for x > 0, scale * alpha * (exp(x) - 1) otherwise (alpha = 1.67326324, scale = 1.05070098)."""
    return _elementwise("selu", x, 0.0)


def softplus(x):
    """log(exp(x) + 1)."""
    return _elementwise("softplus", x, 0.0)


def softsign(x):
    """x / (abs(x) + 1)."""
    return _elementwise("softsign", x, 0.0)


def hard_sigmoid(x):
    """Keras 3's hard sigmoid: relu6(x + 3) / 6, i.e. 0 below -3, 1 above 3, x / 6 + 0.5 between (Keras 2 used
    0.2 x + 0.5)."""
    return _elementwise("hard_sigmoid", x, 0.0)


def exponential(x):
    """exp(x)."""
    return _elementwise("exponential", x, 0.0)


def mish(x):
    """x * tanh(softplus(x))."""
    return _elementwise("mish", x, 0.0)


def hard_silu(x):
    """x * hard_sigmoid(x): 0 below -3, x above 3, x (x + 3) / 6 between."""
    return _elementwise("hard_silu", x, 0.0)


hard_swish = hard_silu


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x)."""
    return _elementwise("log_sigmoid", x, 0.0)


def celu(x, alpha=1.0):
    """x above 0, alpha * (exp(x / alpha) - 1) at and below."""
    positive_number("alpha", alpha)  # the gradient and the compiled exp part assume alpha > 0
    return _elementwise("celu", x, alpha)


def hard_tanh(x):
    """x clipped to [-1, 1]."""
    return _elementwise("hard_tanh", x, 0.0)


def soft_shrink(x, threshold=0.5):
    """x - threshold above threshold, x + threshold below -threshold, 0 between (and for NaN, as Keras's)."""
    finite_number("threshold", threshold)
    return _elementwise("soft_shrink", x, threshold)


def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, 0 elsewhere (and for NaN, as Keras's)."""
    finite_number("threshold", threshold)
    return _elementwise("hard_shrink", x, threshold)


def tanh_shrink(x):
    """x - tanh(x)."""
    return _elementwise("tanh_shrink", x, 0.0)


def squareplus(x, b=4):
    """(x + sqrt(x^2 + b)) / 2."""
    finite_number("b", b)
    return _elementwise("squareplus", x, b)


def sparse_plus(x):
    """0 at and below -1, x at and above 1, (x + 1)^2 / 4 between."""
    return _elementwise("sparse_plus", x, 0.0)


def sparse_sigmoid(x):
    """0 at and below -1, 1 at and above 1, (x + 1) / 2 between."""
    return _elementwise("sparse_sigmoid", x, 0.0)


def threshold(x, threshold, default_value):
    """x where x > threshold, default_value elsewhere (Keras's numpy backend). A function only: its two
    arguments have no defaults, so the name cannot make a layer's activation (see ``get``)."""
    if _symbolic(x) or _traced(x):
        from . import ops

        return ops.threshold(x, threshold, default_value)
    x = _float_array(x)
    return np.where(x > x.dtype.type(threshold), x, x.dtype.type(default_value))


def softmax(x, axis=-1):
    if _symbolic(x):
        from . import ops

        return ops.softmax(x, axis=axis)
    if _traced(x):
        from .autodiff.functions import softmax as traced_softmax

        return traced_softmax(x, axis=axis)
    x = np.asarray(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x - max(x) - log(sum(exp(x - max(x)))) along ``axis`` (Keras's numpy backend)."""
    if _symbolic(x):
        from . import ops

        return ops.log_softmax(x, axis=axis)
    if _traced(x):
        from .autodiff.functions import log_softmax as traced_log_softmax

        return traced_log_softmax(x, axis=axis)
    x = _float_array(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def glu(x, axis=-1):
    """a * sigmoid(b), where a and b are the two halves of x along ``axis`` (which must have an even size)."""
    if _symbolic(x):
        from . import ops

        return ops.glu(x, axis=axis)
    _host_only("glu", x)
    x = _float_array(x)
    if x.shape[axis] % 2:
        raise ValueError(f"axis size must be divisible by 2. Received: x.shape={x.shape} with axis={axis}")
    first, second = np.split(x, 2, axis)
    return first * sigmoid(second)


def sparsemax(x, axis=-1):
    """The projection of ``x`` onto the probability simplex along ``axis``: ``max(x - tau, 0)``, summing to 1
    (``gpunn.ops.sparsemax``)."""
    from . import ops

    if _symbolic(x) or _traced(x):
        return ops.sparsemax(x, axis=axis)
    return ops.sparsemax(_float_array(x), axis=axis).value


def _float_array(x):
    """x as a float array, as ``_elementwise`` takes it (at least float32)."""
    x = np.asarray(x)
    return x.astype(np.result_type(x.dtype, np.float32), copy=False)


_BY_NAME = {
    "linear": linear, "relu": relu, "leaky_relu": leaky_relu, "elu": elu, "gelu": gelu,
    "sigmoid": sigmoid, "tanh": tanh, "silu": silu, "swish": silu, "softmax": softmax,
    "selu": selu, "softplus": softplus, "softsign": softsign, "hard_sigmoid": hard_sigmoid,
    "exponential": exponential, "mish": mish, "relu6": relu6, "hard_silu": hard_silu,
    "hard_swish": hard_silu, "log_sigmoid": log_sigmoid, "celu": celu, "hard_tanh": hard_tanh,
    "soft_shrink": soft_shrink, "hard_shrink": hard_shrink, "tanh_shrink": tanh_shrink,
    "squareplus": squareplus, "sparse_plus": sparse_plus, "sparse_sigmoid": sparse_sigmoid,
    "threshold": threshold, "log_softmax": log_softmax, "glu": glu, "sparsemax": sparsemax,
}
_ALIASES = {"swish", "hard_swish"}  # Keras serializes them under the function's own name
_NAME_OF = {id(f): n for n, f in _BY_NAME.items() if n not in _ALIASES}


def get(identifier) -> ActivationSpec:
    """ActivationSpec for a name, one of this module's functions, an ActivationSpec, or None (linear)."""
    if identifier is None:
        return get("linear")  # (the spec "linear" gives, equal to ``linear`` as Keras's get(None) is)
    if isinstance(identifier, ActivationSpec):
        return identifier
    if isinstance(identifier, dict):  # a serialized function of the user's (Keras's {"class_name": "function"...})
        from .serialization import deserialize_keras_object

        return get(deserialize_keras_object(identifier))
    if callable(identifier):
        name = _NAME_OF.get(id(identifier)) or _tensorflow_activation(identifier)
        if name is None:
            return _from_layer(identifier) or _users_function(identifier)
    else:
        try:
            name = _NAME_OF[id(lookup("activation", identifier, _BY_NAME))]
        except ValueError:
            # tf.keras 2 found a name the script registered (get_custom_objects().update({"swish": Activation(f)}),
            # @register_keras_serializable): so does gpunn
            from .custom_objects import lookup as custom_lookup

            found = custom_lookup(identifier)
            if not callable(found) or isinstance(found, type):
                raise
            return get(found)
    if name == "sparsemax":  # a sort per row: computed as gpunn.ops's, as a function of the user's is
        return ActivationSpec(name, 0.0, sparsemax)
    if name == "threshold":
        # Keras's get returns the function and the layer's call fails with this TypeError; gpunn says it when
        # the layer is made.
        raise TypeError("activation 'threshold': threshold() missing 2 required positional arguments: 'threshold' "
                        "and 'default_value' (Keras's threshold has no defaults, so its name cannot be a layer's "
                        "activation; call gpunn.activations.threshold(x, threshold, default_value) on arrays)")
    return ActivationSpec(name, DEFAULT_ALPHA.get(name, 0.0))


# TensorFlow's functions that tf.keras scripts pass as activations (``Dense(128, activation=tf.nn.relu)``, as the
# DeepLearning.AI courses write them), by their Python name: each computes what Keras's activation of that name
# computes, with the same defaults (tf.nn.leaky_relu's alpha 0.2, tf.nn.gelu's exact form), so they become it.
_TENSORFLOW_ACTIVATIONS = {
    "relu": "relu", "relu6": "relu6", "elu": "elu", "selu": "selu", "leaky_relu": "leaky_relu", "gelu": "gelu",
    "sigmoid": "sigmoid", "tanh": "tanh", "softplus": "softplus", "softsign": "softsign", "swish": "silu",
    "silu": "silu", "softmax": "softmax", "softmax_v2": "softmax", "log_softmax": "log_softmax",
    "log_softmax_v2": "log_softmax", "exp": "exponential", "identity": "linear",
}


def _tensorflow_activation(function) -> str | None:
    """The name of gpunn's activation that ``function``, one of TensorFlow's (tf.nn.relu, tf.nn.softmax,
    tf.math.tanh...), computes; None for any other function."""
    if (getattr(function, "__module__", None) or "").split(".")[0] != "tensorflow":
        return None
    return _TENSORFLOW_ACTIVATIONS.get(getattr(function, "__name__", None))


def deserialize(config, custom_objects=None) -> ActivationSpec:
    """Keras's ``activations.deserialize``: a name, or a serialized function of the user's (found through
    ``custom_objects``, the scopes or its registration)."""
    from .custom_objects import custom_object_scope

    with custom_object_scope(custom_objects):
        return get(config)


def _from_layer(identifier) -> ActivationSpec | None:
    """The spec of a layer given as an activation, as Keras takes any callable: an activation layer without
    weights, computed as a fused step (LeakyReLU, ReLU, ELU of Keras's defaults...) or as the activation function
    of its arguments (``activation_function``: ELU(alpha=0.7), Softmax()). Another layer (PReLU, with its weights)
    is refused by name: gpunn runs it in the model's graph, with its own step. None: not a layer."""
    from .layers.base import Layer

    from .layers.activation import Activation

    if not isinstance(identifier, Layer):
        return None
    if type(identifier) is Activation:  # (tf.keras 2's get_custom_objects().update({"swish": Activation(swish)}))
        return identifier.activation
    # (an activation layer; asked only then, since another may not know its weights before it is built)
    weightless = (hasattr(identifier, "fused_spec") or hasattr(identifier, "activation_function")) and not (
        identifier.weight_specs())
    spec = identifier.fused_spec() if hasattr(identifier, "fused_spec") and weightless else None
    if spec is None and weightless and hasattr(identifier, "activation_function"):
        # (ELU(alpha=0.7), ReLU(threshold=...), Softmax(): the function of their arguments, through gpunn.ops)
        function = identifier.activation_function()
        if isinstance(function, ActivationSpec):
            return ActivationSpec(function.name, function.alpha, layer=identifier)
        return ActivationSpec(f"function:{type(identifier).__name__}", 0.0, function, layer=identifier)
    if spec is None:
        raise ValueError(f"activation: got the layer {type(identifier).__name__} {identifier.name!r}, which gpunn "
                         "does not run as another layer's activation: put it after this one (Dense(2), then "
                         f"{type(identifier).__name__}(...)), or give an activation's name or function")
    return ActivationSpec(spec.name, spec.alpha, layer=identifier)


def _users_function(function) -> ActivationSpec:
    """An activation of the user's: any callable computing with gpunn.ops (keras.ops) on its argument, as Keras
    takes one (``Dense(1, activation=custom_fn)``); its config is Keras's function entry."""
    from .custom_objects import get_registered_name

    return ActivationSpec(f"function:{get_registered_name(function)}", 0.0, function)


def serialize(activation):
    """What Keras saves an activation as: a built-in's name (of an ActivationSpec, or of one of this module's
    functions), or for a function of the user's Keras's entry ({"module": "builtins", "class_name": "function",
    "config": its registered name, ...}), which ``get`` reads back where the function is known (custom_objects,
    register_keras_serializable)."""
    if isinstance(activation, ActivationSpec) and activation.layer is not None:  # (saved as the layer, as Keras)
        from .serialization import serialize_keras_object

        return serialize_keras_object(activation.layer)
    if isinstance(activation, ActivationSpec) and activation.function is not None:
        activation = activation.function
    if isinstance(activation, ActivationSpec):
        return activation.name
    if isinstance(activation, types.FunctionType) and id(activation) not in _NAME_OF:
        from .serialization import serialize_keras_object

        return serialize_keras_object(activation)
    name = _NAME_OF.get(id(activation)) if callable(activation) else None
    if name is None:
        raise ValueError(f"activation: expected one of gpunn.activations' functions or what activations.get "
                         f"returns, got {activation!r}")
    return name


def __dir__():
    from .api_listing import public_names  # (Keras's listing: api_listing.py)

    return public_names(globals())
