"""Masks and layers of the user's (gpunn/layers/user_masks.py), against Keras 3 itself (the guide "Understanding
masking & padding"): a ``call(inputs, mask=None)`` gets its input's padding mask, a ``compute_mask`` of the
layer's own drops, passes or makes the mask its output carries, and a model trains on the same numbers as
Keras's (padded sequences giving what the unpadded ones give)."""
from __future__ import annotations

import json

import numpy as np

import gpunn
from helpers import assert_close_to_keras, eager_and_replayed, run_case_both_ways

CASE = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    layers, ops = keras.layers, keras.ops

    class MaskedMean(layers.Layer):
        """The usual idiom: the mask when there is one, else every step."""
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True
        def call(self, inputs, mask=None):
            if mask is None:
                return ops.mean(inputs, axis=1)
            m = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
            return ops.sum(inputs * m, axis=1) / ops.sum(m, axis=1)
        def compute_mask(self, inputs, mask=None):
            return None

    class TemporalSoftmax(layers.Layer):
        """The guide's: a softmax over the steps that are not padding (it asserts it got the mask)."""
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True
        def call(self, inputs, mask=None):
            assert mask is not None
            broadcast_float_mask = ops.expand_dims(ops.cast(mask, "float32"), -1)
            inputs_exp = ops.exp(inputs) * broadcast_float_mask
            inputs_sum = ops.sum(inputs_exp * broadcast_float_mask, axis=1, keepdims=True)
            return inputs_exp / inputs_sum

    class CustomEmbedding(layers.Layer):
        """The guide's: an embedding whose compute_mask makes the mask (ids that are not 0)."""
        def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
            super().__init__(**kwargs)
            self.input_dim, self.output_dim, self.mask_zero = input_dim, output_dim, mask_zero
        def build(self, input_shape):
            self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim), initializer="random_normal")
        def call(self, inputs):
            return ops.take(self.embeddings, ops.cast(inputs, "int32"), axis=0)
        def compute_mask(self, inputs, mask=None):
            if not self.mask_zero:
                return None
            return ops.not_equal(inputs, 0)

    class Passes(layers.Layer):
        """A compute_mask handing the mask on as it came."""
        def call(self, inputs):
            return ops.relu(inputs)
        def compute_mask(self, inputs, mask=None):
            return mask

    steps = case["steps"]
    inputs = keras.Input((steps,), dtype="int32")
    if case["kind"] == "custom_embedding":
        x = CustomEmbedding(10, 4, mask_zero=True)(inputs)
        x = layers.Dense(3)(Passes()(x))
        out = layers.Dense(1)(layers.GlobalAveragePooling1D()(x))
    elif case["kind"] == "temporal_softmax":
        x = layers.Embedding(10, 4, mask_zero=True)(inputs)
        x = TemporalSoftmax()(layers.Dense(1)(x))
        out = layers.Dense(1)(layers.Flatten()(x))
    else:
        x = layers.Embedding(10, 4, mask_zero=True)(inputs)
        out = layers.Dense(1)(MaskedMean()(layers.Dense(3, activation="tanh")(x)))
    model = keras.Model(inputs, out)
    rng = np.random.default_rng(case["seed"])
    model.set_weights([0.5 * rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    ids = rng.integers(1, 10, size=(12, steps))
    ids[:, case["real"]:] = 0  # padding after the real steps
    y = rng.normal(size=(12, 1)).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", **(extra_compile or {}))
    history = model.fit(ids, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    return {"loss": history.history["loss"], "predictions": model.predict(ids[:3], verbose=0).tolist()}
'''

CASES = [{"kind": kind, "steps": 6, "real": 4, "seed": k}
         for k, kind in enumerate(["masked_mean", "temporal_softmax", "custom_embedding"])]


def test_masks_reach_layers_of_the_user_as_in_keras():
    ours, theirs = run_case_both_ways(CASE, CASES)
    for case, mine, keras_s in zip(CASES, ours, theirs):
        assert_close_to_keras(mine["loss"], keras_s["loss"], case["kind"], rtol=1e-4, atol=1e-5)
        assert_close_to_keras(mine["predictions"], keras_s["predictions"], case["kind"], rtol=1e-4, atol=1e-5)


def test_padding_gives_what_the_unpadded_sequence_gives():
    """A mask-aware mean over padded steps equals the mean over the real steps alone, on gpunn as in Keras."""
    namespace: dict = {}
    exec(CASE, namespace)
    padded = namespace["run"](gpunn, {"kind": "masked_mean", "steps": 6, "real": 3, "seed": 0})
    assert np.all(np.isfinite(padded["predictions"]))

    class NoMask(gpunn.layers.Layer):
        def call(self, inputs, mask=None):
            return inputs if mask is None else inputs * 0.0

    inputs = gpunn.Input((4,))
    model = gpunn.Model(inputs, NoMask()(gpunn.layers.Dense(2)(inputs)))
    x = np.ones((2, 4), "float32")
    assert np.any(model.predict(x, verbose=0) != 0)  # no mask in a model without one: mask=None


def test_a_replayed_step_equals_the_eager_one():
    for case in CASES:
        eager, replayed = eager_and_replayed(CASE, case)
        assert json.dumps(eager) == json.dumps(replayed), case["kind"]


def test_eager_masks_are_keras_s():
    """The guide's eager mask API: ``compute_mask`` of Embedding and Masking, an output's ``_keras_mask``, passed
    on by a layer supporting masks and dropped by a pooling one, as Keras gives them."""
    from helpers import run_keras

    script = """
import json
import numpy as np
import keras
layers = keras.layers
ids = np.array([[711, 632, 71, 0, 0, 0], [73, 8, 3215, 55, 927, 0]])
emb = layers.Embedding(input_dim=5000, output_dim=4, mask_zero=True)
out = emb(ids)
steps = np.ones((1, 3, 2), "float32") * np.array([1, 0, 1], "float32")[None, :, None]
print(json.dumps({"compute_mask": np.asarray(emb.compute_mask(ids)).tolist(),
                  "keras_mask": np.asarray(out._keras_mask).tolist(),
                  "masking": np.asarray(layers.Masking()(steps)._keras_mask).tolist(),
                  "masking_compute": np.asarray(layers.Masking(mask_value=1.0).compute_mask(steps)).tolist(),
                  "dense": np.asarray(layers.Dense(2)(out)._keras_mask).tolist(),
                  "pooled": getattr(layers.GlobalAveragePooling1D()(out), "_keras_mask", None) is None,
                  "plain": emb.__class__(10, 2).compute_mask(ids) is None}))
"""
    theirs = run_keras(script, {})
    layers = gpunn.layers
    ids = np.array([[711, 632, 71, 0, 0, 0], [73, 8, 3215, 55, 927, 0]])
    emb = layers.Embedding(input_dim=5000, output_dim=4, mask_zero=True)
    out = emb(ids)
    steps = np.ones((1, 3, 2), "float32") * np.array([1, 0, 1], "float32")[None, :, None]
    ours = {"compute_mask": np.asarray(emb.compute_mask(ids)).tolist(),
            "keras_mask": np.asarray(out._keras_mask).tolist(),
            "masking": np.asarray(layers.Masking()(steps)._keras_mask).tolist(),
            "masking_compute": np.asarray(layers.Masking(mask_value=1.0).compute_mask(steps)).tolist(),
            "dense": np.asarray(layers.Dense(2)(out)._keras_mask).tolist(),
            "pooled": getattr(layers.GlobalAveragePooling1D()(out), "_keras_mask", None) is None,
            "plain": layers.Embedding(10, 2).compute_mask(ids) is None}
    assert ours == theirs


TRANSFORMED = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    ops = keras.ops

    class DropFirstStep(keras.layers.Layer):
        """Passes its input on; its output's mask is the incoming one less the first step (the masking guide's
        layer that modifies the mask, without taking it in call())."""
        def call(self, inputs):
            return inputs

        def compute_mask(self, inputs, mask=None):
            if mask is None:
                return None
            first = ops.concatenate([ops.zeros_like(mask[:, :1]), ops.ones_like(mask[:, 1:])], axis=1)
            return ops.logical_and(mask, ops.cast(first, "bool"))

    class CountMask(keras.layers.Layer):
        def call(self, inputs, mask=None):
            return ops.sum(ops.cast(mask, "float32"), axis=1, keepdims=True)

    inputs = keras.Input((4,), dtype="int32")
    model = keras.Model(inputs, CountMask()(DropFirstStep()(keras.layers.Embedding(10, 2, mask_zero=True)(inputs))))
    return model.predict(np.array([[3, 4, 0, 0], [5, 6, 7, 0]], "int32"), verbose=0).tolist()
'''


def test_a_compute_mask_transforming_the_incoming_mask_is_given_it():
    ours, theirs = run_case_both_ways(TRANSFORMED, [{}])
    assert ours == theirs == [[[1.0], [2.0]]]


EAGER = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    """The masking guide's eager calls: a layer given the mask an Embedding's output carries, or given it
    explicitly (``layer(y, mask=embedding.compute_mask(x))``), and GlobalAveragePooling1D on that output."""
    ids = np.array([[3, 4, 0, 0], [5, 0, 7, 0]], "int32")

    class SeesMask(keras.layers.Layer):
        def call(self, inputs, mask=None):
            self.seen = None if mask is None else np.asarray(mask).astype(int).tolist()
            return inputs

    embedding = keras.layers.Embedding(10, 2, mask_zero=True)
    embedding.build((None, 4))
    embedding.set_weights([np.arange(20, dtype="float32").reshape(10, 2)])
    out = embedding(ids)
    implicit, explicit = SeesMask(), SeesMask()
    implicit(out)
    explicit(np.asarray(out), mask=embedding.compute_mask(ids))
    return {"implicit": implicit.seen, "explicit": explicit.seen,
            "pooled": np.asarray(keras.layers.GlobalAveragePooling1D()(out)).tolist()}
'''


def test_eager_calls_take_the_mask_as_keras_s():
    ours, theirs = run_case_both_ways(EAGER, [{}])
    assert ours == theirs
    assert ours[0]["pooled"] == [[7.0, 8.0], [12.0, 13.0]]
