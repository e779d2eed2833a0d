"""The Keras code of "Hands-On Machine Learning" (3rd ed.), chapter 12 (custom models), run by Keras 3 and by gpunn
from one script: a residual block called four times in a subclassed model and added four times to a Sequential,
a block called twice inside another layer's call(), a function as a weight constraint, an Initializer subclass
saved and loaded, ``Mean()(values)``, a layer of several inputs called on arrays."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

import gpunn

SCRIPT = r'''
import json, sys
import numpy as np


def drawn(model, scale=0.3):
    model.set_weights([np.random.default_rng(k).normal(0, scale, w.shape).astype("float32")
                       for k, w in enumerate(model.get_weights())])


def run(keras, folder):
    out = {}
    ops, layers = keras.ops, keras.layers
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 3)).astype("float32")
    y = (x[:, :1] * 2 - x[:, 1:2]).astype("float32")

    class ResidualBlock(layers.Layer):
        def __init__(self, n_layers, n_neurons, **kwargs):
            super().__init__(**kwargs)
            self.hidden = [layers.Dense(n_neurons, activation="relu", kernel_initializer="he_normal")
                           for _ in range(n_layers)]

        def call(self, inputs):
            Z = inputs
            for layer in self.hidden:
                Z = layer(Z)
            return inputs + Z

    class ResidualRegressor(keras.Model):
        def __init__(self, output_dim, **kwargs):
            super().__init__(**kwargs)
            self.hidden1 = layers.Dense(5, activation="relu", kernel_initializer="he_normal")
            self.block1 = ResidualBlock(2, 5)
            self.block2 = ResidualBlock(2, 5)
            self.out = layers.Dense(output_dim)

        def call(self, inputs):
            Z = self.hidden1(inputs)
            for _ in range(1 + 3):
                Z = self.block1(Z)
            Z = self.block2(Z)
            return self.out(Z)

    model = ResidualRegressor(1)
    model(x[:2])
    drawn(model)
    model.compile(loss="mse", optimizer=keras.optimizers.Nadam(0.01))
    out["regressor_weights"] = len(model.weights)
    out["regressor_loss"] = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    out["regressor_predict"] = model.predict(x[:3], verbose=0).tolist()

    block1 = ResidualBlock(2, 5)
    model = keras.Sequential([layers.Dense(5, activation="relu", kernel_initializer="he_normal"),
                              block1, block1, block1, block1, ResidualBlock(2, 5), layers.Dense(1)])
    model.build((None, 3))
    drawn(model)
    model.compile(loss="mse", optimizer=keras.optimizers.Nadam(0.01))
    out["sequential_layers"] = [layer.name for layer in model.layers]
    out["sequential_weights"] = len(model.weights)
    out["sequential_loss"] = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    out["sequential_predict"] = model.predict(x[:3], verbose=0).tolist()

    class Twice(layers.Layer):  # a block called twice inside another layer's call()
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.block = ResidualBlock(2, 3)

        def call(self, inputs):
            return self.block(self.block(inputs))

    inputs = keras.Input((3,))
    model = keras.Model(inputs, layers.Dense(1)(Twice()(inputs)))
    drawn(model)
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.05))
    out["twice_weights"] = len(model.weights)
    out["twice_loss"] = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]

    def my_positive_weights(weights):  # the chapter's (Keras's jax backend needs its Variable made a tensor)
        weights = ops.convert_to_tensor(weights)
        return ops.where(weights < 0., ops.zeros_like(weights), weights)

    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, kernel_constraint=my_positive_weights),
                              layers.Dense(1)])
    drawn(model)
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.05))
    out["constrained_loss"] = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    kernel = model.layers[0].get_weights()[0]
    out["constrained_min"] = float(kernel.min())
    model.save(f"{folder}/constrained.keras")
    loaded = keras.models.load_model(f"{folder}/constrained.keras",
                                     custom_objects={"my_positive_weights": my_positive_weights})
    out["constrained_loaded"] = np.allclose(loaded.predict(x[:3], verbose=0), model.predict(x[:3], verbose=0))

    class MyGlorot(keras.initializers.Initializer):
        def __init__(self, scale=2.0):
            self.scale = scale

        def __call__(self, shape, dtype=None):
            return ops.ones(shape, dtype=dtype or "float32") * self.scale

        def get_config(self):
            return {"scale": self.scale}

    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, kernel_initializer=MyGlorot(0.5))])
    model.save(f"{folder}/initializer.keras")
    loaded = keras.models.load_model(f"{folder}/initializer.keras", custom_objects={"MyGlorot": MyGlorot})
    out["initializer_loaded"] = [type(loaded.layers[0].kernel_initializer).__name__,
                                 loaded.layers[0].kernel_initializer.scale,
                                 loaded.predict(x[:2], verbose=0).tolist()]
    entry = keras.initializers.serialize(MyGlorot(3.0))
    out["initializer_entry"] = [entry["class_name"], entry["config"], entry["registered_name"]]

    mean = keras.metrics.Mean()
    out["mean_calls"] = [float(mean(2.0)), float(mean([4.0, 6.0])), float(keras.metrics.Sum()([1.0, 2.0, 3.0])),
                         float(keras.metrics.Mean()([1.0, 3.0], sample_weight=[3.0, 1.0]))]

    class MyMultiLayer(layers.Layer):
        def call(self, X):
            X1, X2 = X
            return X1 + X2, X1 * X2, X1 / X2

    X1, X2 = np.array([[3.0, 6.0], [2.0, 7.0]], "float32"), np.array([[6.0, 12.0], [4.0, 3.0]], "float32")
    out["multi_layer"] = [np.asarray(part).tolist() for part in MyMultiLayer()((X1, X2))]
    return out
'''


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(SCRIPT, tmp_path_factory)


@pytest.mark.parametrize("case", ["regressor", "sequential"])
def test_a_residual_block_called_four_times_trains_as_in_keras(both, case):
    ours, theirs = both
    assert ours[f"{case}_weights"] == theirs[f"{case}_weights"]
    np.testing.assert_allclose(ours[f"{case}_loss"], theirs[f"{case}_loss"], rtol=2e-5)
    np.testing.assert_allclose(ours[f"{case}_predict"], theirs[f"{case}_predict"], rtol=2e-5, atol=1e-6)


def test_a_sequential_lists_a_layer_added_again_as_keras_does(both):
    ours, theirs = both
    assert ours["sequential_layers"] == theirs["sequential_layers"]
    assert ours["sequential_layers"][1:5] == ["residual_block_2"] * 4


def test_a_block_called_twice_inside_a_layer_trains_as_in_keras(both):
    ours, theirs = both
    assert ours["twice_weights"] == theirs["twice_weights"] == 6
    np.testing.assert_allclose(ours["twice_loss"], theirs["twice_loss"], rtol=2e-5)


def test_a_function_constraint_projects_and_is_saved_by_name(both):
    ours, theirs = both
    np.testing.assert_allclose(ours["constrained_loss"], theirs["constrained_loss"], rtol=2e-5)
    assert ours["constrained_min"] == theirs["constrained_min"] == 0.0
    assert ours["constrained_loaded"] and theirs["constrained_loaded"]


def test_an_initializer_class_of_the_user_s_saves_and_loads(both):
    ours, theirs = both
    assert ours["initializer_loaded"] == theirs["initializer_loaded"]
    assert ours["initializer_entry"] == theirs["initializer_entry"] == ["MyGlorot", {"scale": 3.0}, "MyGlorot"]


def test_metric_called_on_values_and_a_layer_of_several_inputs_called_on_arrays(both):
    ours, theirs = both
    np.testing.assert_allclose(ours["mean_calls"], theirs["mean_calls"])
    assert ours["mean_calls"] == [2.0, 4.0, 6.0, 1.5]
    np.testing.assert_allclose(ours["multi_layer"], theirs["multi_layer"])


def _sequential_with_a_repeated_layer():
    dense = gpunn.layers.Dense(3)
    return gpunn.Sequential([gpunn.Input((3,)), dense, dense, gpunn.layers.Dense(1)])


def test_a_sequential_calling_a_layer_again_refuses_configs_and_pop_by_name(numpy_backend, tmp_path):
    """Keras's config of such a Sequential lists the layer once, and the file it writes fails to load: gpunn
    refuses to write one; its weights file works."""
    model = _sequential_with_a_repeated_layer()
    with pytest.raises(ValueError, match="calls a layer more than once in its chain"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()
    with pytest.raises(ValueError, match="calls a layer more than once"):
        model.pop()
    model.save_weights(tmp_path / "m.weights.h5")
    other = _sequential_with_a_repeated_layer()
    other.load_weights(tmp_path / "m.weights.h5")
    x = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_load_model_takes_a_model_class_in_custom_objects(numpy_backend, tmp_path):
    class Regressor(gpunn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = gpunn.layers.Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    model = Regressor()
    x = np.ones((2, 3), "float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "r.keras")
    loaded = gpunn.models.load_model(tmp_path / "r.keras", custom_objects={"Regressor": Regressor})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
