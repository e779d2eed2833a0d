"""BatchNormalization over the last axis (Keras defaults: momentum 0.99, epsilon 1e-3).

Training normalises with the batch's mean and (biased) variance and updates the moving statistics;
inference uses the moving statistics. As in Keras 3, a layer with ``trainable=False`` runs in inference mode
also while the model trains: its moving statistics are used and left unchanged. Under data parallelism each
rank normalises its own shard.
"""
from __future__ import annotations

import functools

from .. import initializers
from . import masking, step_state_updates, unused_keras_arguments
from .base import WeightSpec, weight_property
from .normalization import _ScaleShift


class BatchNormalization(_ScaleShift):
    keras_call_takes_mask = True  # (Keras's computes its moments over the steps a mask keeps; gpunn's refuses one)
    keras_values_follow_mask = True  # (so a mask its input carries is refused too, not left: given_mask.py)
    moving_mean = weight_property("moving_mean")
    moving_variance = weight_property("moving_variance")

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 renorm=False, renorm_clipping=None, renorm_momentum=0.99, synchronized=False, **kwargs):
        # (Keras's order, which scripts pass by position)
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        # (renorm_momentum only matters with renorm, as in Keras)
        unused_keras_arguments.refuse_used(
            "BatchNormalization", "has no batch renormalization and no moments synchronized across replicas",
            renorm=renorm, renorm_clipping=renorm_clipping, synchronized=synchronized)
        if axis not in (-1,):
            raise ValueError(f"axis: only the last axis (-1) is supported, got {axis!r}")
        if not 0.0 <= momentum <= 1.0:  # (1: the moving statistics stay as they are, as in Keras)
            raise ValueError(f"momentum: expected a number in [0, 1], got {momentum!r}")
        self.axis, self.momentum = axis, float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def weight_specs(self):
        features = (self.input_shape[-1],)
        return super().weight_specs() + [
            WeightSpec("moving_mean", features, self.moving_mean_initializer, trainable=False),
            WeightSpec("moving_variance", features, self.moving_variance_initializer, trainable=False),
        ]

    def output_mask_source(self, source):
        masking.refuse(self, source, "computes the batch's mean and variance over the unmasked steps")
        return None

    def forward(self, x, training):
        x2 = x.reshape(-1, x.shape[-1])
        ws = self.workspace(x.shape[0])
        # Keras: a frozen BatchNormalization runs in inference mode (``training and self.trainable``), with the
        # flag the model was compiled with (the bound one), so that a step keeps one mode until the next compile.
        # So does an empty batch (a data-parallel rank's share of a last batch smaller than the number of ranks):
        # it has no statistics to learn from.
        training = training and self.bound.trainable and x2.shape[0] > 0
        if training:
            mean, var, centered = self.moments(ws, x2, axis=0)
            # (in a model's training step, once the step has computed its loss and metrics: step_state_updates.py;
            # the batch's mean and var stay in their buffers until then)
            step_state_updates.make(functools.partial(self.update_moving_statistics, ws, mean, var),
                                    owner=self.bound.weights)  # (the weights: a second call's twin shares them)
        else:
            step_state_updates.settle(self.bound.weights)  # (an update of this step's training call comes first)
            # The moving statistics as (1, F) views: the statistics' shape in training, so both modes share
            # the workspace's buffers.
            w = self.bound.weights
            var = w["moving_variance"].reshape(1, -1)
            centered = self.ops.subtract(x2, w["moving_mean"].reshape(1, -1), ws.buffer("xhat", x2.shape, x2.dtype))
        return self.normalize_scale_shift(x, ws, centered, var, stats_axis=0 if training else None)

    def update_moving_statistics(self, ws, mean, var):
        """Keras: moving = moving * momentum + batch * (1 - momentum), in place."""
        ops, w = self.ops, self.bound.weights
        dtype = w["moving_mean"].dtype
        momentum = ws.constant("momentum", self.momentum, dtype)
        rest = ws.constant("one_minus_momentum", 1.0 - self.momentum, dtype)
        for moving, batch in ((w["moving_mean"], mean), (w["moving_variance"], var)):
            scaled = ops.multiply(batch.reshape(moving.shape), rest, ws.buffer("moving_update", moving.shape, dtype))
            ops.multiply(moving, momentum, moving)
            ops.add(moving, scaled, moving)

    def get_config(self):
        return {
            **super().get_config(), "axis": self.axis, "momentum": self.momentum,
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        }
