"""GroupNormalization (Keras 3: ``keras/src/layers/normalization/group_normalization.py``): each sample's channels
split into ``groups``, each group normalized over its channels and the other non-batch axes, then scaled and
shifted per channel (``groups=-1``: one group per channel, instance normalization; ``groups=1``: layer
normalization over every axis but the batch).

Written as Keras writes it, on gpunn.ops, and run as a layer of the user's is (a host call of the step, its
gradient by gpunn's autodiff); in float32 at least, as Keras computes it.
"""
from __future__ import annotations

from .. import constraints, initializers, ops, regularizers
from . import user_layer
from .base import Layer


class GroupNormalization(Layer):
    computes_in_call = True  # user_layer.runs_call: its computation is its call(), run as a user's layer's is
    supports_masking = True

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        if isinstance(groups, bool) or not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError("Received an invalid value for argument `groups`, expected a positive integer (or `-1` "
                             f"for instance normalization). Received: groups={groups}")
        super().__init__(**kwargs)
        self.groups, self.axis, self.epsilon, self.center, self.scale = groups, axis, epsilon, center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def build(self, input_shape):
        user_layer.build_user_layer(self, input_shape, self._make_weights)

    def _make_weights(self, batch_shape):
        dim = batch_shape[self.axis]
        if self.groups == -1:
            self.groups = dim
        if dim < self.groups:
            raise ValueError(f"Number of groups ({self.groups}) cannot be more than the number of channels ({dim}).")
        if dim % self.groups != 0:
            raise ValueError(f"Number of groups ({self.groups}) must be a multiple of the number of channels ({dim}).")
        self.gamma = self.add_weight(shape=(dim,), name="gamma", initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight(shape=(dim,), name="beta", initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None

    def output_sample_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x, training):
        return user_layer.forward(self, x, training)

    def call(self, inputs):
        shape = tuple(inputs.shape)
        axis = self.axis % len(shape)
        grouped = list(shape)
        grouped[0] = -1
        grouped[axis] = shape[axis] // self.groups
        grouped.insert(axis, self.groups)
        x = ops.reshape(inputs, grouped)
        dtype = x.dtype
        if dtype.itemsize < 4:  # (Keras: half precision overflows; computed in float32)
            x = ops.cast(x, "float32")
        reduced = [k for k in range(1, len(grouped)) if k != axis]
        mean, variance = ops.moments(x, axes=reduced, keepdims=True)
        broadcast = [1] * len(shape)
        broadcast[axis] = shape[axis] // self.groups
        broadcast.insert(axis, self.groups)
        inv = ops.rsqrt(variance + self.epsilon)
        if self.scale:
            inv = inv * ops.reshape(self.gamma, broadcast)
        shift = -mean * inv
        if self.center:
            shift = shift + ops.reshape(self.beta, broadcast)
        out = ops.cast(x * inv + shift, dtype)
        return ops.reshape(out, (-1,) + shape[1:])

    def get_config(self):
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }
