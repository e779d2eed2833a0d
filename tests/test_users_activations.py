"""An activation function of the user's, as Keras takes any callable (``Dense(1, activation=custom_fn)``, the
guide "Serialization and saving"; ``Activation(fn)``): computed with gpunn.ops on the pre-activation, its gradient
by gpunn's autodiff; saved as Keras saves a function, found again through custom_objects."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_keras, run_script_both_ways  # noqa: F401
from test_gradients import F, build, check_layer

import gpunn
from gpunn import activations, layers, ops

DEFINE = r'''
def define(keras):
    def custom_fn(x):
        return keras.ops.elu(x) + 1.0

    def swish_like(x):
        return x * keras.ops.sigmoid(x)

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation=custom_fn),
                              keras.layers.Activation(swish_like), keras.layers.Dense(2)])
    return model, {"custom_fn": custom_fn, "swish_like": swish_like}
'''

KERAS_SIDE = DEFINE + r'''
import json, os, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], "float32"), np.array(task["y"], "float32")
model, functions = define(keras)
model.set_weights([np.array(w, "float32") for w in task["weights"]])
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
model.save(os.path.join(task["dir"], "keras.keras"))
ours = keras.models.load_model(os.path.join(task["dir"], "gpunn.keras"), custom_objects=functions)
print(json.dumps({"loss": history.history["loss"], "weights": [w.tolist() for w in model.get_weights()],
                  "predict": model.predict(x, verbose=0).tolist(),
                  "gpunn_file": ours.predict(x, verbose=0).tolist(),
                  "config": model.layers[0].get_config()["activation"]}))
'''


def test_a_function_of_the_user_s_trains_and_saves_as_in_keras(tmp_path):
    namespace: dict = {}
    exec(DEFINE, namespace)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal((16, 2)).astype(np.float32)
    model, functions = namespace["define"](gpunn)
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in model.get_weights()]
    model.set_weights(weights)
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    model.save(tmp_path / "gpunn.keras")
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "weights": [w.tolist() for w in weights],
                                    "dir": str(tmp_path)})
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    for ours, keras_weight in zip(model.get_weights(), theirs["weights"]):
        np.testing.assert_allclose(ours, keras_weight, rtol=1e-5, atol=1e-6)
    predicted = model.predict(x, verbose=0)
    np.testing.assert_allclose(theirs["gpunn_file"], predicted, rtol=1e-5, atol=1e-6)
    assert model.layers[0].get_config()["activation"] == theirs["config"]
    loaded = gpunn.models.load_model(tmp_path / "keras.keras", custom_objects=functions)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="custom_fn"):  # without the function: named, not guessed
        gpunn.models.load_model(tmp_path / "keras.keras")


def _softsign_cubed(x):
    return ops.power(x / (1.0 + ops.abs(x)), 3.0) + ops.sin(x)


@pytest.mark.parametrize("use_bias", [True, False])
def test_the_gradient_of_a_function_of_the_user_s_matches_finite_differences(use_bias, rng, numpy_backend):
    check_layer(build(layers.Dense(3, activation=_softsign_cubed, use_bias=use_bias)),
                rng.standard_normal((5, F)), rng)
    check_layer(build(layers.Activation(_softsign_cubed)), rng.standard_normal((5, F)), rng)


def test_a_function_of_the_user_s_is_never_taken_for_a_built_in_of_its_name():
    def sigmoid(x):  # the user's, not the fused sigmoid a cross-entropy would absorb
        return ops.sigmoid(x) * 0.5

    spec = activations.get(sigmoid)
    assert spec.function is sigmoid and not spec.elementwise and spec.name != "sigmoid"
    assert spec.__name__ == "sigmoid" and activations.serialize(spec)["config"] == "sigmoid"
    model = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(1, activation=sigmoid)])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    x = np.ones((4, 3), np.float32)
    kernel, bias = model.get_weights()
    expected = 0.5 / (1.0 + np.exp(-(x @ kernel + bias)))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)


def test_a_function_changing_the_shape_is_refused_by_name():
    def halves(x):
        return x[:, :1]

    model = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(2, activation=halves)])
    with pytest.raises(ValueError, match=r"activation 'halves': returned shape \(4, 1\) for inputs of shape \(4, 2\)"):
        model.predict(np.ones((4, 3), np.float32), verbose=0)


OVER_TIME = r'''
def over_time_models(keras):
    def over_time(x):  # attention pooling's weights: a softmax over the steps, not the features
        return keras.ops.softmax(x, axis=1)

    inputs = keras.Input((5, 3))
    dense = keras.Model(inputs, keras.layers.Dense(2, activation=over_time)(inputs))
    activation = keras.Model(inputs, keras.layers.Activation(over_time)(keras.layers.Dense(2)(inputs)))
    return dense, activation
'''

KERAS_OVER_TIME = OVER_TIME + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], "float32"), np.array(task["y"], "float32")
results = []
for model, weights in zip(over_time_models(keras), task["weights"]):
    model.set_weights([np.array(w, "float32") for w in weights])
    predicted = model.predict(x, verbose=0).tolist()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    results.append({"predict": predicted, "loss": model.fit(x, y, epochs=2, batch_size=2, shuffle=False,
                                                            verbose=0).history["loss"]})
print(json.dumps(results))
'''


def test_a_function_of_the_user_s_sees_the_layer_s_output_shape_as_in_keras():
    namespace: dict = {}
    exec(OVER_TIME, namespace)
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((4, 5, 3)).astype(np.float32), rng.standard_normal((4, 5, 2)).astype(np.float32)
    models = namespace["over_time_models"](gpunn)
    weights = [model.get_weights() for model in models]
    theirs = run_keras(KERAS_OVER_TIME, {"x": x.tolist(), "y": y.tolist(),
                                         "weights": [[w.tolist() for w in ws] for ws in weights]})
    for model, expected in zip(models, theirs):
        np.testing.assert_allclose(model.predict(x, verbose=0), expected["predict"], rtol=1e-5, atol=1e-6)
        model.compile(optimizer=gpunn.optimizers.SGD(0.5), loss="mse")
        history = model.fit(x, y, epochs=2, batch_size=2, shuffle=False, verbose=0)
        np.testing.assert_allclose(history.history["loss"], expected["loss"], rtol=1e-5)


def test_a_function_without_a_gradient_and_a_layer_are_refused_by_name():
    model = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(2, activation=lambda t: np.ones(t.shape))])
    with pytest.raises(ValueError, match="activation '<lambda>': its result does not come from its input"):
        model.predict(np.ones((2, 3), np.float32), verbose=0)
    with pytest.raises(ValueError, match="activation: got the layer PReLU .* which gpunn does not run"):
        layers.Dense(2, activation=layers.PReLU())  # (its weights would be the Dense's, in Keras)


LAYERS_OF_ARGUMENTS_AS_ACTIVATIONS = r'''
import json
import sys

import numpy as np


def run(keras, folder):
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((4,)), layers.Dense(5, activation=layers.ELU(alpha=0.7)),
        layers.Dense(5, activation=layers.ReLU(threshold=0.2, negative_slope=0.1, max_value=3.0)),
        layers.Dense(5, activation=layers.Softmax()), layers.Dense(3, activation=layers.Softmax(axis=1))])
    model.set_weights([np.cos(np.arange(w.size) * 0.7 + i).reshape(w.shape).astype("float32")
                       for i, w in enumerate(model.get_weights())])
    x = np.linspace(-3, 3, 32, dtype="float32").reshape(8, 4)
    y = np.eye(3, dtype="float32")[np.arange(8) % 3]
    before = model.predict(x, verbose=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    model.save(f"{folder}/m.keras")
    again = keras.models.load_model(f"{folder}/m.keras")
    return {"before": before.tolist(), "loss": history.history["loss"],
            "after": model.predict(x, verbose=0).tolist(),
            "loaded equal": bool(np.allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)),
            "configs": [layer.get_config()["activation"]["class_name"] for layer in model.layers]}
'''


def test_activation_layers_of_other_arguments_as_activations_train_as_in_keras(tmp_path_factory):
    """ELU(alpha=0.7), ReLU(threshold=..., max_value=...), Softmax() and Softmax(axis=1) given as a Dense's
    activation: Keras takes any callable; gpunn computes them as the activation functions of their arguments,
    saved as the layers."""
    ours, theirs = run_script_both_ways(LAYERS_OF_ARGUMENTS_AS_ACTIVATIONS, tmp_path_factory)
    for key in ("before", "loss", "after"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
    # (Keras's ELU leaves alpha out of its config, so its own file loads another ELU)
    assert ours["loaded equal"] and ours["configs"] == theirs["configs"] == ["ELU", "ReLU", "Softmax", "Softmax"]


LAYER_AS_ACTIVATION = r'''
def layer_as_activation(keras):  # "Hands-On Machine Learning", chapter 11
    leaky_relu = keras.layers.LeakyReLU(negative_slope=0.2)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation=leaky_relu),
                             keras.layers.Dense(3, activation=keras.layers.ReLU(max_value=6.0)),
                             keras.layers.Dense(1)])
'''

KERAS_LAYER_AS_ACTIVATION = LAYER_AS_ACTIVATION + r'''
import json, os, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], "float32"), np.array(task["y"], "float32")
model = layer_as_activation(keras)
model.set_weights([np.array(w, "float32") for w in task["weights"]])
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
model.save(os.path.join(task["dir"], "keras.keras"))
ours = keras.models.load_model(os.path.join(task["dir"], "gpunn.keras"))
print(json.dumps({"loss": history.history["loss"], "predict": model.predict(x, verbose=0).tolist(),
                  "gpunn_file": ours.predict(x, verbose=0).tolist()}))
'''


def test_an_activation_layer_as_an_activation_trains_and_saves_as_in_keras(tmp_path):
    namespace: dict = {}
    exec(LAYER_AS_ACTIVATION, namespace)
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((8, 4)).astype(np.float32) * 3, rng.standard_normal((8, 1)).astype(np.float32)
    model = namespace["layer_as_activation"](gpunn)
    assert model.layers[0].activation.name == "leaky_relu" and model.layers[1].activation.name == "relu6"
    weights = model.get_weights()
    model.save(tmp_path / "gpunn.keras")
    theirs = run_keras(KERAS_LAYER_AS_ACTIVATION, {"x": x.tolist(), "y": y.tolist(), "dir": str(tmp_path),
                                                   "weights": [w.tolist() for w in weights]})
    np.testing.assert_allclose(theirs["gpunn_file"], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    loaded = gpunn.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)
