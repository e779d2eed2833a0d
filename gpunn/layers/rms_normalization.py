"""RMSNormalization (Keras 3: ``keras/src/layers/normalization/rms_normalization.py``): each sample divided by its
root mean square over ``axis`` (default -1), then multiplied by the trained ``scale`` (initializer ones), as
Keras's ``ops.rms_normalization``: ``y = x / sqrt(mean(x^2) + epsilon) * scale`` (epsilon default 1e-6).

As in Keras, ``scale`` has the shape of the normalised axes, in sorted order, and multiplies the inputs by
NumPy's broadcasting, so it lines up with their trailing axes whichever axes are normalised (inputs (batch, 4, 4)
with axis=1 have scale (4,) multiplying along the last axis); and building turns ``axis`` into a list (sorted),
which ``get_config`` then writes. A scale that does not broadcast to the inputs' shape is refused when the layer
is built (Keras fails at the call, or returns a larger output than its declared shape).

Backward, with r = 1 / sqrt(mean(x^2) + epsilon), xhat = x r and n the count of the normalised axes:
d scale = sum of dy xhat over the batch and the axes scale is broadcast along; with dxhat = dy scale,
dx = r (dxhat - xhat sum(dxhat xhat) / n), the sum taken over the normalised axes.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import initializers
from .base import Layer, WeightSpec, weight_property


def _checked_axis(axis):
    """``axis`` as an int or a list of ints (Keras's two forms), refused by name otherwise."""
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not axes or any(isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)) for a in axes):
        raise TypeError(f"axis: expected an int or a non-empty list of ints, got {axis!r}")
    return [int(a) for a in axes] if isinstance(axis, (list, tuple)) else int(axis)


def _checked_epsilon(epsilon) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not math.isfinite(epsilon) \
            or epsilon < 0:
        raise ValueError(f"epsilon: expected a finite number >= 0, got {epsilon!r}")
    return float(epsilon)


def _broadcasts_to(shape, target) -> bool:
    """Whether an array of ``shape`` times one of ``target`` has the shape ``target`` (NumPy's broadcasting)."""
    try:
        return np.broadcast_shapes(target, shape) == tuple(target)
    except ValueError:  # the shapes do not broadcast at all
        return False


class RMSNormalization(Layer):
    has_weights = True
    scale = weight_property("scale")

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = _checked_axis(axis)
        self.epsilon = _checked_epsilon(epsilon)

    def build(self, input_shape):
        shape = (None,) + tuple(input_shape)  # Keras counts the batch axis
        rank = len(shape)
        axes = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -rank <= a < rank or a % rank == 0:
                raise ValueError(f"axis: {a} is out of bounds for inputs of shape {shape} (the batch axis 0 "
                                 f"cannot be normalised). Received: axis={self.axis}")
        if len({a % rank for a in axes}) != len(axes):
            raise ValueError(f"axis: {self.axis} names an axis twice for inputs of shape {shape}")
        scale_shape = tuple(shape[a] for a in axes)
        if None in scale_shape:  # the scale is a weight: its shape must be known when it is made
            raise ValueError(f"axis: {self.axis} normalises an axis of unknown length of inputs of shape {shape}; "
                             "the scale weight needs its length")
        samples = tuple(input_shape)
        if not _broadcasts_to(scale_shape, samples):
            raise ValueError(
                f"axis: {self.axis} gives a scale of shape {scale_shape}, which Keras multiplies into the inputs "
                f"by broadcasting along their trailing axes; it does not broadcast to the samples' shape {samples}")
        self.axis = axes  # as Keras's build leaves it, and get_config writes it
        super().build(input_shape)

    def weight_specs(self):
        shape = (None,) + tuple(self.input_shape)
        return [WeightSpec("scale", tuple(shape[a] for a in self.axis), initializers.get("ones"))]

    def _normalized_axes(self, ndim: int) -> tuple:
        return tuple(sorted(a % ndim for a in self.axis))

    def _scale_reduction(self, x_shape, scale_shape):
        """(axes, shape with those kept): where d scale sums dy * xhat, the batch and the other axes the scale is
        broadcast along (it lines up with the trailing axes)."""
        lead = len(x_shape) - len(scale_shape)
        kept = (1,) * lead + tuple(scale_shape)
        axes = tuple(i for i in range(len(x_shape)) if i < lead or (kept[i] == 1 and x_shape[i] != 1))
        return axes, kept

    def forward(self, x, training):
        ops, dtype = self.ops, x.dtype
        scale = self.bound.weights["scale"]
        ws = self.workspace(x.shape[0])
        axes = self._normalized_axes(x.ndim)
        reduced = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        count = ws.constant("count", math.prod(x.shape[a] for a in axes), dtype)
        scratch = ws.buffer("scratch", x.shape, dtype)
        inverse_rms = ops.sum(ops.multiply(x, x, scratch), axes, ws.buffer("inverse_rms", reduced, dtype),
                              keepdims=True)
        ops.divide(inverse_rms, count, inverse_rms)  # the mean square, as Keras's mean: a sum, then a division
        ops.add(inverse_rms, ws.constant("epsilon", self.epsilon, dtype), inverse_rms)
        ops.sqrt(inverse_rms, inverse_rms)
        ops.divide(ws.constant("one", 1.0, dtype), inverse_rms, inverse_rms)
        xhat = ops.multiply(x, inverse_rms, ws.buffer("xhat", x.shape, dtype))
        y = ops.multiply(xhat, scale, ws.buffer("y", x.shape, dtype))

        def backprop(dy, need_dx=True):
            # Reads only this forward's buffers (xhat, inverse_rms): they stay until the next step of this size.
            grads = self.bound.grads
            if grads:  # a frozen layer has no gradient views
                grad = grads["scale"]
                summed, kept = self._scale_reduction(x.shape, grad.shape)
                ops.sum(ops.multiply(dy, xhat, scratch), summed, grad.reshape(kept), keepdims=True)
            if not need_dx:
                return None
            dxhat = ops.multiply(dy, scale, ws.buffer("dxhat", x.shape, dtype))
            along = ops.sum(ops.multiply(dxhat, xhat, scratch), axes, ws.buffer("along", reduced, dtype),
                            keepdims=True)
            ops.divide(along, count, along)
            dx = ops.multiply(xhat, along, ws.buffer("dx", x.shape, dtype))
            ops.subtract(dxhat, dx, dx)
            return ops.multiply(dx, inverse_rms, dx)

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
