"""``get_build_config()`` / ``build_from_config(config)`` of models and layers, against Keras 3's: the input shape a
model or layer was built for, and an unbuilt one built from it with the same weights' shapes (KerasTuner saves it
beside each trial's weights and builds the trial's model from it before loading them)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

import gpunn

SCRIPT = r'''
import json, sys
import numpy as np


def run(keras, folder):
    layers = keras.layers
    out = {}
    flat = keras.Sequential([layers.Flatten(input_shape=(6, 4)), layers.Dense(3)])
    out["declared"] = flat.get_build_config()
    unbuilt = keras.Sequential([layers.Dense(3)])
    out["unbuilt"] = unbuilt.get_build_config()
    unbuilt.build((None, 5))
    out["built"] = unbuilt.get_build_config()
    called = keras.Sequential([layers.Dense(3)])
    called.predict(np.ones((2, 4), "float32"), verbose=0)
    out["called"] = [None] + list(called.get_build_config()["input_shape"][1:])  # (see "subclassed" below)
    inputs = keras.Input((4,))
    out["functional"] = keras.Model(inputs, layers.Dense(2)(inputs)).get_build_config()
    merged = layers.Concatenate()
    merged([keras.Input((5,)), keras.Input((3,))])
    out["merge_layer"] = merged.get_build_config()
    dense = layers.Dense(3)
    out["layer_unbuilt"] = dense.get_build_config()
    dense.build((None, 7))
    out["layer"] = dense.get_build_config()

    class Subclassed(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden, self.out = layers.Dense(4), layers.Dense(1)

        def call(self, inputs):
            wide, deep = inputs
            return self.out(layers.concatenate([wide, self.hidden(deep)]))

    two = Subclassed()
    out["subclassed_unbuilt"] = two.get_build_config()
    two.predict([np.ones((2, 3), "float32"), np.ones((2, 5), "float32")], verbose=0)
    # (Keras records the batch size of the first call; gpunn's shapes keep the batch axis None)
    out["subclassed"] = [[None] + list(shape[1:]) for shape in two.get_build_config()["input_shape"]]
    # an unbuilt model or layer built from another's config: the same weights' shapes
    rebuilt = keras.Sequential([layers.Flatten(), layers.Dense(3)])
    rebuilt.build_from_config(json.loads(json.dumps(flat.get_build_config())))
    again = Subclassed()
    again.build_from_config({"input_shape": [[None, 3], [None, 5]]})
    fresh = layers.Dense(2)
    fresh.build_from_config({"input_shape": [None, 9]})
    out["weights"] = {name: [list(w.shape) for w in model.get_weights()]
                      for name, model in (("rebuilt", rebuilt), ("subclassed", again), ("layer", fresh))}
    out["rebuilt_config"] = rebuilt.get_build_config()
    flat.build_from_config({"input_shape": [None, 6, 4]})  # built already, for that shape: nothing to do
    functional = keras.Model(inputs, layers.Dense(2)(inputs))
    functional.build_from_config({"input_shape": None})
    out["functional_weights"] = [list(w.shape) for w in functional.get_weights()]
    return out
'''


def test_build_configs_are_keras_s_and_build_models_of_the_same_weights(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs
    assert ours["declared"] == {"input_shape": [None, 6, 4]} and ours["functional"] == {"input_shape": None}
    assert ours["weights"]["rebuilt"] == [[24, 3], [3]]
    assert ours["merge_layer"] == {"input_shape": [[None, 5], [None, 3]]}


def test_a_model_built_for_another_shape_warns_and_keeps_its_weights(numpy_backend):
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(2)])
    before = [w.copy() for w in model.get_weights()]
    assert model.get_build_config() == {"input_shape": (None, 4)}
    with pytest.warns(UserWarning, match=r"cannot be built automatically.*built for input shape \(None, 4\)"):
        model.build_from_config({"input_shape": [None, 5]})
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.build_from_config(None)  # (Keras: an empty config builds nothing)
    with pytest.raises(ValueError, match=r"build_from_config: expected get_build_config\(\)'s dict"):
        model.build_from_config({"shape": [None, 4]})


def test_a_keras_config_of_several_build_shapes_builds_a_layer_of_the_user_s(numpy_backend):
    """Keras writes ``{"shapes_dict": {...}}`` for a build() of several shapes; its shapes go to them in order. A
    config of neither form is refused, not ignored."""
    class Two(gpunn.layers.Layer):
        def build(self, a_shape, b_shape):
            self.k = self.add_weight(shape=(a_shape[-1], b_shape[-1]))

        def call(self, a, b):
            return a

    two = Two()
    two.build_from_config({"shapes_dict": {"a_shape": (None, 3), "b_shape": (None, 2)}})
    assert two.built and tuple(two.k.shape) == (3, 2)
    with pytest.raises(ValueError, match=r"build_from_config: expected get_build_config\(\)'s dict"):
        gpunn.layers.Dense(2).build_from_config({"shape": [None, 3]})


UNBUILT_WITH_A_BUILT_LAYER = r'''
import json, sys
import numpy as np


def run(keras, folder):
    """TensorFlow's regression tutorial: a Sequential starting with an adapted Normalization, before its first data."""
    x = np.random.default_rng(0).normal(size=(20, 5)).astype("float32")
    normalizer = keras.layers.Normalization(axis=-1)
    normalizer.adapt(x)
    model = keras.Sequential([normalizer, keras.layers.Dense(3), keras.layers.Dense(1)])
    out = {"built": model.built, "weights": len(model.weights), "trainable": len(model.trainable_weights),
           "non_trainable": len(model.non_trainable_weights),
           "get_weights": [list(w.shape) for w in model.get_weights()]}
    model.set_weights([w * 2 for w in model.get_weights()])
    out["set"] = [w.tolist() for w in model.get_weights()]
    out["plain"] = len(keras.Sequential([keras.layers.Dense(3)]).get_weights())
    model.build((None, 5))
    out["after_build"] = [len(model.weights), len(model.trainable_weights), len(model.non_trainable_weights)]
    return out
'''


def test_an_unbuilt_model_lists_the_weights_of_its_built_layers_as_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(UNBUILT_WITH_A_BUILT_LAYER, tmp_path_factory)
    assert ours == theirs
    assert ours["get_weights"] == [[5], [5], []] and ours["after_build"] == [7, 4, 3]
