"""Shared math of BatchNormalization and LayerNormalization: normalise along one axis, then scale and shift.

Both compute xhat = (x - mean) / sqrt(var + eps) and y = gamma * xhat + beta; only the axis the statistics
are taken over differs (the batch for BatchNormalization, the features for LayerNormalization).
"""
from __future__ import annotations

from .. import initializers, regularizers
from .base import Layer, WeightSpec


def normalize_backward(dxhat, xhat, inv_std, axis):
    """dx for xhat = (x - mean(x)) * inv_std with the statistics taken along ``axis``."""
    n = xhat.shape[axis]
    mean_dxhat = dxhat.sum(axis=axis, keepdims=True) / n
    mean_dxhat_xhat = (dxhat * xhat).sum(axis=axis, keepdims=True) / n
    return (dxhat - mean_dxhat - xhat * mean_dxhat_xhat) * inv_std


class _ScaleShift(Layer):
    """The gamma/beta part: weights, config and the gradient of y = gamma * xhat + beta."""

    has_weights = True

    def __init__(self, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros", gamma_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ValueError(f"epsilon: expected a positive number, got {epsilon!r}")
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def weight_specs(self):
        features = (self.input_shape[-1],)
        specs = []
        if self.scale:
            specs.append(WeightSpec("gamma", features, self.gamma_initializer, self.gamma_regularizer))
        if self.center:
            specs.append(WeightSpec("beta", features, self.beta_initializer, self.beta_regularizer))
        return specs

    def normalize_scale_shift(self, x, x2, mean, var, stats_axis):
        """(y, backprop) for y = gamma * (x - mean) / sqrt(var + eps) + beta; ``stats_axis`` is the axis of
        ``x2`` the statistics were taken over, or None when they are constants (inference)."""
        inv_std = 1.0 / self.ops.xp.sqrt(var + self.epsilon)
        xhat = (x2 - mean) * inv_std
        y = self.scale_shift(xhat)

        def backprop(dy, need_dx=True):
            dxhat = self.scale_shift_backward(dy.reshape(xhat.shape), xhat)
            if not need_dx:
                return None
            if stats_axis is None:
                return (dxhat * inv_std).reshape(x.shape)
            return normalize_backward(dxhat, xhat, inv_std, axis=stats_axis).reshape(x.shape)

        return y.reshape(x.shape), backprop

    def scale_shift(self, xhat):
        w = self.bound.weights
        y = xhat * w["gamma"] if self.scale else xhat.copy()
        if self.center:
            y += w["beta"]
        return y

    def scale_shift_backward(self, dy, xhat):
        """Writes the gamma/beta gradients; returns d loss / d xhat."""
        g = self.bound.grads
        if g:  # a frozen layer (trainable=False) has no gradient views
            if self.scale:
                (dy * xhat).sum(axis=0, out=g["gamma"])
            if self.center:
                dy.sum(axis=0, out=g["beta"])
        return dy * self.bound.weights["gamma"] if self.scale else dy

    def get_config(self):
        return {
            **super().get_config(), "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
        }
