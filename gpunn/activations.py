"""Activation functions, by name (``'relu'``) or as these callables (``gpunn.activations.relu``).

Inside Dense layers the element-wise ones run fused with the bias add (the backend's ``bias_act_forward``);
softmax is a row-wise op, fused with cross-entropy when it ends a classifier. This module owns the names and
what each needs for its gradient; the backends implement them (and their tests check they implement these).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._registry import lookup

# The element-wise activations (run in the fused bias + activation step), and those whose gradient needs the
# pre-activation z rather than the output y.
ELEMENTWISE = ("linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "silu",
               "selu", "softplus", "softsign", "hard_sigmoid", "exponential", "mish")
NEEDS_PREACTIVATION = frozenset({"elu", "gelu", "silu", "softsign", "mish"})

DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}


@dataclass(frozen=True)
class ActivationSpec:
    """What a layer needs to know about its activation: the name and the slope parameter."""

    name: str
    alpha: float = 0.2

    @property
    def elementwise(self) -> bool:
        """True when it runs in the fused bias+activation kernel."""
        return self.name in ELEMENTWISE

    @property
    def needs_preactivation(self) -> bool:
        return self.name in NEEDS_PREACTIVATION


def _elementwise(name: str, x, alpha: float):
    """The activation of host data, computed by the CPU backend's fused step (Keras's functions return
    tensors; these return NumPy arrays)."""
    from .ops import NumpyOps

    x = np.array(x, dtype=np.result_type(np.asarray(x).dtype, np.float32), copy=True)
    z2d = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
    out = np.empty_like(z2d) if name in NEEDS_PREACTIVATION else z2d
    NumpyOps().bias_act_forward(z2d, None, name, out, alpha)
    return out.reshape(x.shape)


def linear(x):
    return np.asarray(x)


def relu(x):
    return _elementwise("relu", x, 0.0)


def leaky_relu(x, negative_slope=0.2):
    if not 0.0 < negative_slope < 1.0:
        # The backward pass reads the sign of the output, which needs a positive slope.
        raise ValueError(f"negative_slope: expected a number in (0, 1), got {negative_slope!r}")
    return _elementwise("leaky_relu", x, negative_slope)


def elu(x, alpha=1.0):
    if alpha != 1.0:
        raise ValueError(f"alpha: gpunn's fused ELU uses alpha=1.0 (Keras's default), got {alpha!r}")
    return _elementwise("elu", x, alpha)


def gelu(x, approximate=False):
    if approximate:
        raise ValueError("gelu: approximate=True is not supported; gpunn uses the exact erf form (approximate=False)")
    return _elementwise("gelu", x, 0.0)


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


def softmax(x, axis=-1):
    x = np.asarray(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


_BY_NAME = {
    "linear": linear, "relu": relu, "leaky_relu": leaky_relu, "elu": elu, "gelu": gelu,
    "sigmoid": sigmoid, "tanh": tanh, "silu": silu, "swish": silu, "softmax": softmax,
    "selu": selu, "softplus": softplus, "softsign": softsign, "hard_sigmoid": hard_sigmoid,
    "exponential": exponential, "mish": mish,
}
_NAME_OF = {id(f): n for n, f in _BY_NAME.items() if n != "swish"}


def get(identifier) -> ActivationSpec:
    """ActivationSpec for a name, one of this module's functions, an ActivationSpec, or None (linear)."""
    if identifier is None:
        return ActivationSpec("linear")
    if isinstance(identifier, ActivationSpec):
        return identifier
    if callable(identifier):
        name = _NAME_OF.get(id(identifier))
        if name is None:
            raise ValueError(
                f"activation: gpunn computes gradients by hand, so it takes its own activations only; got the "
                f"callable {getattr(identifier, '__name__', identifier)!r}. Use one of {sorted(_BY_NAME)}."
            )
        return ActivationSpec(name, DEFAULT_ALPHA.get(name, 0.0))
    fn = lookup("activation", identifier, _BY_NAME)
    name = "silu" if fn is silu else _NAME_OF[id(fn)]
    return ActivationSpec(name, DEFAULT_ALPHA.get(name, 0.0))


def serialize(spec: ActivationSpec) -> str:
    return spec.name
