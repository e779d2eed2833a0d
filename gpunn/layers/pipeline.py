"""Pipeline (Keras 3: ``keras/src/layers/preprocessing/pipeline.py``): a series of layers applied one after the
other, as a plain layer (a preprocessing or augmentation pipeline: ``layers.Pipeline([layers.RandomFlip(),
layers.RandomZoom(0.2)])``), mapped over a ``tf.data`` dataset or called on arrays and in models.

As Keras's, its call defaults to ``training=True`` on its own (augmentations transform; given ``training``, each
layer gets it), its output carries the mask its layers pass on, and its files hold its layers' weights under
``layers`` (``layers/pipeline/layers/dense/vars``), as Keras's do. In a model it runs as a layer of the user's
holding them (a host call of the step, each layer its own forward and backward)."""
from __future__ import annotations

from . import symbolic, tf_pipeline, user_layer
from .base import Layer

_OMITTED = object()  # ``training`` not given to a call: Keras's default, True


class Pipeline(Layer):
    computes_in_call = True  # user_layer.runs_call: its computation is its call(), run as a user's layer's is
    training_by_default = True  # Keras's call(inputs, training=True): a model called without training transforms
    keras_config_has_dtype = False  # Keras's config holds the layers and the name alone

    def __init__(self, layers, name=None, **kwargs):
        if not isinstance(layers, (list, tuple)) or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError(f"layers: expected a list of layers, got {layers!r}")
        super().__init__(name=name, **kwargs)
        self.layers = list(layers)  # (Keras's files have them there)

    def output_mask_source(self, source):
        """The mask its layers pass on, one after the other, as Keras's Pipeline hands each the last's."""
        for layer in self.layers:
            source = layer.output_mask_source(source)
        return source

    def __call__(self, inputs=None, *more, training=_OMITTED, mask=None, **keywords):
        if tf_pipeline.is_pipeline_tensor(inputs):  # in tf.data's map: one host call on each batch's arrays
            return tf_pipeline.call_in_pipeline(self, inputs, None if training is _OMITTED else bool(training))
        if symbolic.is_symbolic(inputs) or user_layer.tracing() or more or keywords:
            training = None if training is _OMITTED else training
        else:
            training = True if training is _OMITTED else training
        return super().__call__(inputs, *more, training=training, mask=mask, **keywords)

    def build(self, input_shape):
        user_layer.build_user_layer(self, input_shape)

    def forward(self, x, training):
        return user_layer.forward(self, x, training)

    def call(self, inputs, training=True):
        for layer in self.layers:
            inputs = layer(inputs, training=training)
        return inputs

    def get_config(self):
        from . import serialize

        return {"layers": [serialize(layer) for layer in self.layers], "name": self.name}

    @classmethod
    def from_config(cls, config):
        from . import deserialize

        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError("`Pipeline` config must contain a `layers` key mapping to a list of serialized layers. "
                             f"Received config with layers={layers}.")
        config = dict(config)
        return cls([deserialize(entry) for entry in config.pop("layers")], **config)
