"""TimeDistributed (Keras 3: ``keras/src/layers/rnn/time_distributed.py``): one layer applied to each time step
of a (batch, steps, ...) input, the same weights for every step, the results stacked along the steps again.

Called as Keras calls it, step by step (a layer computing over its batch, BatchNormalization in training, sees one
step's rows at a time), as a layer of the user's holding the wrapped layer: a host call of the step, each inner
call running the wrapped layer's own forward and backward, their gradients summed. The wrapped layer's weights are
at Keras's paths (``time_distributed/dense/kernel``; in files ``layers/time_distributed/layer/vars``).
"""
from __future__ import annotations

from .. import ops
from . import sublayers, user_layer
from .base import Layer


class TimeDistributed(Layer):
    computes_in_call = True  # user_layer.runs_call: its computation is its call(), run as a user's layer's is
    supports_masking = True
    keras_call_takes_mask = True  # (Keras's passes a mask given to it on to its layer's call)

    def __init__(self, layer, **kwargs):
        if not (isinstance(layer, Layer) or sublayers.is_held_model(layer)):  # (a Sequential or functional model)
            raise ValueError(f"Please initialize `TimeDistributed` layer with a `keras.layers.Layer` instance. "
                             f"Received: {layer}")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape):
        shape = user_layer.sample_shape(input_shape)
        if len(shape) < 2:
            raise ValueError("`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions, "
                             f"received: {(None,) + tuple(shape)}")
        user_layer.build_user_layer(self, input_shape)

    def output_sample_shape(self, input_shape):
        shape = tuple(input_shape)
        return (shape[0],) + tuple(self.layer.output_sample_shape(shape[1:]))

    def forward(self, x, training):
        return user_layer.forward(self, x, training)

    def call(self, inputs, training=None):
        steps = [self.layer(inputs[:, i], training=training) for i in range(inputs.shape[1])]
        return ops.stack(steps, axis=1)

    def get_config(self):
        from . import serialize

        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from . import deserialize

        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)
