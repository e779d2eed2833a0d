"""Shared math of BatchNormalization and LayerNormalization: normalise along one axis, then scale and shift.

Both compute xhat = (x - mean) / sqrt(var + eps) and y = gamma * xhat + beta; only the axis the statistics
are taken over differs (the batch for BatchNormalization, the features for LayerNormalization).

Every step writes through Ops primitives into the layer's workspace for the batch size (statistics, xhat,
inv_std, y, dx and scratch), with scalars held there as 0-d constants: after the first step of a given size
nothing is allocated. Statistics keep the reduced axis (shape (1, F) or (B, 1)), so training and inference
share their buffers. Reductions are NumPy's own: mean and var are computed as ``np.mean`` / ``np.var`` do
(a sum, then a division by the count), so the numbers are theirs.
"""
from __future__ import annotations

from .. import constraints, initializers, regularizers
from ..number_arguments import positive_number
from .base import Layer, WeightSpec, weight_property


def _stats_shape(shape, axis):
    """The shape of statistics taken along ``axis`` of a 2-D array, with that axis kept (length 1)."""
    return (1, shape[1]) if axis == 0 else (shape[0], 1)


def normalize_backward(ops, ws, dxhat, xhat, inv_std, axis, out):
    """out = dx for xhat = (x - mean(x)) * inv_std with the statistics taken along ``axis``:
    (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) * inv_std."""
    dtype, shape = xhat.dtype, _stats_shape(xhat.shape, axis)
    count = ws.constant("stats_count", xhat.shape[axis], dtype)
    mean_dxhat = ops.sum(dxhat, axis, ws.buffer("mean_dxhat", shape, dtype), keepdims=True)
    ops.divide(mean_dxhat, count, mean_dxhat)
    product = ops.multiply(dxhat, xhat, ws.buffer("scratch", xhat.shape, dtype))
    mean_dxhat_xhat = ops.sum(product, axis, ws.buffer("mean_dxhat_xhat", shape, dtype), keepdims=True)
    ops.divide(mean_dxhat_xhat, count, mean_dxhat_xhat)
    ops.subtract(dxhat, mean_dxhat, out)
    ops.multiply(xhat, mean_dxhat_xhat, product)
    ops.subtract(out, product, out)
    return ops.multiply(out, inv_std, out)


class _ScaleShift(Layer):
    """The gamma/beta part: weights, config and the gradient of y = gamma * xhat + beta."""

    has_weights = True
    gamma = weight_property("gamma")
    beta = weight_property("beta")

    def __init__(self, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros", gamma_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.epsilon, self.center, self.scale = positive_number("epsilon", epsilon), bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.resolve("beta_constraint", beta_constraint)
        self.gamma_constraint = constraints.resolve("gamma_constraint", gamma_constraint)

    def weight_specs(self):
        features = (self.input_shape[-1],)
        specs = []
        if self.scale:
            specs.append(WeightSpec("gamma", features, self.gamma_initializer, self.gamma_regularizer,
                                    self.gamma_constraint))
        if self.center:
            specs.append(WeightSpec("beta", features, self.beta_initializer, self.beta_regularizer,
                                    self.beta_constraint))
        return specs

    def moments(self, ws, x2, axis):
        """(mean, var, centered) of the 2-D ``x2`` along ``axis`` as ``np.mean`` / ``np.var`` compute them;
        ``centered`` = x2 - mean is written into the "xhat" buffer, which normalisation then scales in place."""
        ops, dtype, shape = self.ops, x2.dtype, _stats_shape(x2.shape, axis)
        count = ws.constant("stats_count", x2.shape[axis], dtype)
        mean = ops.sum(x2, axis, ws.buffer("mean", shape, dtype), keepdims=True)
        ops.divide(mean, count, mean)
        centered = ops.subtract(x2, mean, ws.buffer("xhat", x2.shape, dtype))
        squares = ops.multiply(centered, centered, ws.buffer("scratch", x2.shape, dtype))
        var = ops.sum(squares, axis, ws.buffer("var", shape, dtype), keepdims=True)
        ops.divide(var, count, var)
        return mean, var, centered

    def normalize_scale_shift(self, x, ws, centered, var, stats_axis):
        """(y, backprop) for y = gamma * centered / sqrt(var + eps) + beta, ``centered`` being x - mean in the
        "xhat" buffer (2-D); ``stats_axis`` is the axis the statistics were taken over, or None when they are
        constants (inference)."""
        ops, dtype = self.ops, centered.dtype
        inv_std = ops.add(var, ws.constant("epsilon", self.epsilon, dtype), ws.buffer("inv_std", var.shape, dtype))
        ops.sqrt(inv_std, inv_std)
        ops.divide(ws.constant("one", 1.0, dtype), inv_std, inv_std)
        xhat = ops.multiply(centered, inv_std, centered)
        y = self.scale_shift(ws, xhat)

        def backprop(dy, need_dx=True):
            # Reads only this forward's buffers (xhat, inv_std): they stay until the next step of this size.
            dxhat = self.scale_shift_backward(ws, dy.reshape(xhat.shape), xhat)
            if not need_dx:
                return None
            dx = ws.buffer("dx", xhat.shape, dtype)
            if stats_axis is None:
                ops.multiply(dxhat, inv_std, dx)
            else:
                normalize_backward(ops, ws, dxhat, xhat, inv_std, stats_axis, dx)
            return dx.reshape(x.shape)

        return y.reshape(x.shape), backprop

    def scale_shift(self, ws, xhat):
        """y = xhat * gamma + beta (either part left out when the layer has no scale or no center)."""
        ops, w = self.ops, self.bound.weights
        y = ws.buffer("y", xhat.shape, xhat.dtype)
        if self.scale:
            ops.multiply(xhat, w["gamma"], y)
        else:
            ops.copy_into(xhat, y)
        if self.center:
            ops.add(y, w["beta"], y)
        return y

    def scale_shift_backward(self, ws, dy, xhat):
        """Writes the gamma/beta gradients; returns d loss / d xhat."""
        ops, g = self.ops, self.bound.grads
        if g:  # a frozen layer (trainable=False) has no gradient views
            if self.scale:
                ops.sum(ops.multiply(dy, xhat, ws.buffer("scratch", xhat.shape, xhat.dtype)), 0, g["gamma"])
            if self.center:
                ops.sum(dy, 0, g["beta"])
        if not self.scale:
            return dy
        return ops.multiply(dy, self.bound.weights["gamma"], ws.buffer("dxhat", xhat.shape, xhat.dtype))

    def get_config(self):
        return {
            **super().get_config(), "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }


def __getattr__(name: str):
    # Keras 2's ``from keras.layers.normalization import BatchNormalization``: this module holds their shared maths,
    # and gives the layers by name (imported here on demand: they import this module)
    if name == "BatchNormalization":
        from .batch_normalization import BatchNormalization

        return BatchNormalization
    if name == "LayerNormalization":
        from .layer_normalization import LayerNormalization

        return LayerNormalization
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
