"""Shared layers: one layer called several times in a functional model (a siamese tower, one encoder for two
inputs, a block applied twice). Its weights are used by every call and their gradient is the sum over the calls;
checked against finite differences in float64 and against Keras 3 (order, connections, summary, training, files
both ways)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import (assert_gradients_close, assert_same_training, numerical_gradient, numpy_backend,  # noqa: F401
                     run_keras, run_script_both_ways)

SIAMESE = '''
def build(keras, layers, dtype="float32"):
    left = keras.Input(shape=(5,), name="left", dtype=dtype)
    right = keras.Input(shape=(5,), name="right", dtype=dtype)
    tower = layers.Dense(5, activation="tanh", name="tower", dtype=dtype)
    norm = layers.LayerNormalization(name="norm", dtype=dtype)
    encoded_left = norm(tower(left))
    encoded_right = norm(tower(right))
    again = tower(encoded_right)  # the tower on its own output: a call reading another call of it
    joined = layers.Concatenate(name="joined", dtype=dtype)([encoded_left, encoded_right, again])
    score = layers.Dense(1, activation="sigmoid", name="score", dtype=dtype)(joined)
    return keras.Model([left, right], score, name="siamese")
'''

KERAS_SIDE = SIAMESE + r'''
import json, os, sys
os.environ["COLUMNS"] = "200"
import numpy as np
import keras
task = json.loads(sys.stdin.read())
xl, xr, y = (np.array(task[k], dtype="float32") for k in ("xl", "xr", "y"))
model = build(keras, keras.layers)
model.set_weights([np.array(w, dtype="float32") for w in task["weights"]])
texts = []
model.summary(line_length=108, print_fn=lambda text, line_break=False: texts.append(text))
out = {"layers": [layer.name for layer in model.layers], "config": model.get_config(), "summary": texts[0]}
out["mine"] = keras.saving.load_model(task["dir"] + "/mine.keras").predict([xl, xr], verbose=0).tolist()
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit([xl, xr], y, batch_size=8, epochs=3, shuffle=False, verbose=0)
out["history"] = {k: [float(v) for v in values] for k, values in history.history.items()}
out["trained"] = [w.tolist() for w in model.get_weights()]
out["predict"] = model.predict([xl, xr], verbose=0).tolist()
model.save(task["dir"] + "/theirs.keras")
print(json.dumps(out))
'''


def _siamese(dtype="float32"):
    gpunn.utils.set_random_seed(8)
    namespace: dict = {}
    exec(SIAMESE, namespace)
    return namespace["build"](gpunn, layers, dtype)


def _data(dtype="float32", rows=32):
    rng = np.random.default_rng(6)
    xl, xr = rng.standard_normal((rows, 5)).astype(dtype), rng.standard_normal((rows, 5)).astype(dtype)
    return xl, xr, (np.abs(xl - xr).sum(axis=1, keepdims=True) > 4).astype(dtype)


def _nodes(config):
    return [(entry["name"], entry["inbound_nodes"]) for entry in config["layers"]], config["output_layers"]


def test_a_shared_layer_trains_shows_and_saves_as_in_keras(tmp_path):
    xl, xr, y = _data()
    model = _siamese()
    model.save(tmp_path / "mine.keras")
    theirs = run_keras(KERAS_SIDE, {"xl": xl.tolist(), "xr": xr.tolist(), "y": y.tolist(), "dir": str(tmp_path),
                                    "weights": [w.tolist() for w in model.get_weights()]})
    assert [layer.name for layer in model.layers] == theirs["layers"]
    assert _nodes(model.get_config()) == _nodes(theirs["config"])
    texts = []
    model.summary(line_length=108, print_fn=texts.append)
    assert texts[0].split(" Total params")[0] == theirs["summary"].split(" Total params")[0]
    np.testing.assert_allclose(theirs["mine"], model.predict([xl, xr], verbose=0), rtol=1e-5, atol=1e-6)
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit([xl, xr], y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-4, atol=1e-5, err_msg=key)
    for ours, keras_weight in zip(model.get_weights(), theirs["trained"]):
        np.testing.assert_allclose(ours, keras_weight, rtol=1e-4, atol=1e-5)
    loaded = gpunn.models.load_model(tmp_path / "theirs.keras")
    assert loaded._nodes == model._nodes
    np.testing.assert_allclose(loaded.predict([xl, xr], verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)


def test_a_shared_layer_s_gradient_is_the_sum_over_its_calls():
    model = _siamese("float64")
    tower = model.get_layer("tower")
    tower.kernel_regularizer = None
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="binary_crossentropy")
    xl, xr, y = _data("float64", rows=6)
    model.build()
    assert model.count_params() == 5 * 5 + 5 + 2 * 5 + 15 + 1  # each weight once

    def objective(_):
        p = np.clip(model.predict([xl, xr], verbose=0), 1e-7, 1 - 1e-7)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()

    numeric = numerical_gradient(objective, model.params)
    model.train_on_batch([xl, xr], y)
    assert_gradients_close(np.array(model.grads), numeric, what="shared tower and norm: d loss / d params")


def test_shared_layers_replay_bit_for_bit_and_clone():
    def run(jit):
        model = _siamese()
        model.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=jit)
        xl, xr, y = _data(rows=50)
        return model, model.fit([xl, xr], y, batch_size=16, epochs=2, verbose=0, validation_split=0.2).history

    eager = run(False)
    assert_same_training(eager, run(True))
    clone = gpunn.models.clone_model(eager[0])
    clone.set_weights(eager[0].get_weights())
    xl, xr, _ = _data()
    np.testing.assert_array_equal(clone.predict([xl, xr], verbose=0), eager[0].predict([xl, xr], verbose=0))
    assert clone._nodes == eager[0]._nodes and len(clone.layers) == len(eager[0].layers)


def test_a_shared_layer_refuses_another_input_shape_and_masks():
    inputs = gpunn.Input(shape=(4,))
    dense = layers.Dense(4)
    with pytest.raises(ValueError, match="holds weights for inputs of shape|shared layers take one input shape"):
        gpunn.Model(inputs, dense(layers.Dense(3)(dense(inputs))))
    ids = gpunn.Input(shape=(3,), dtype="int32")
    embedding = layers.Embedding(10, 2, mask_zero=True)
    with pytest.raises(ValueError, match="shared layers take no masks"):
        pooled = layers.GlobalAveragePooling1D()
        gpunn.Model(ids, layers.Add()([pooled(embedding(ids)), pooled(embedding(ids))]))


HELD_AND_SHARED = '''
import json
import sys

import numpy as np


def run(keras, folder):
    """A layer of one's own holding a layer (and one holding a model) that another model runs directly."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 5)).astype("float32")
    shared = keras.layers.Dense(4, activation="tanh")
    tower = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])

    class Block(keras.layers.Layer):
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner, self.d = inner, keras.layers.Dense(2)

        def call(self, inputs):
            return self.d(self.inner(inputs))

    inputs = keras.Input((5,))
    a = keras.Model(inputs, keras.layers.Concatenate()([Block(shared)(inputs), Block(tower)(inputs)]))
    b = keras.Sequential([keras.Input((5,)), shared])
    a.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in a.get_weights()])
    results = {"set_then_shared": np.asarray(shared.get_weights()[1]).tolist()}
    b.compile(optimizer="sgd", loss="mse")
    b.fit(x, np.ones((24, 4), "float32"), batch_size=8, shuffle=False, verbose=0)
    tower.compile(optimizer="sgd", loss="mse")
    tower.fit(x, np.ones((24, 3), "float32"), batch_size=8, shuffle=False, verbose=0)
    results["a_weights_after_b"] = [np.asarray(w).tolist() for w in a.get_weights()]
    results["a_predict_after_b"] = np.asarray(a.predict(x[:3], verbose=0)).tolist()
    a.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")  # (a step that changes nothing)
    a.fit(x, np.zeros((24, 4), "float32"), batch_size=8, shuffle=False, verbose=0)
    results["shared_after_a"] = [np.asarray(w).tolist() for w in shared.get_weights() + tower.get_weights()]
    a.save_weights(f"{folder}/a.weights.h5")
    b.fit(x, np.ones((24, 4), "float32"), batch_size=8, shuffle=False, verbose=0)
    a.load_weights(f"{folder}/a.weights.h5")
    results["shared_after_load"] = np.asarray(shared.get_weights()[1]).tolist()
    results["b_predict_after_load"] = np.asarray(b.predict(x[:3], verbose=0)).tolist()
    return results
'''


def test_a_layer_holding_a_layer_another_model_trains_sees_its_training(tmp_path_factory):
    """Keras's layer owns its variables, so the layer holding it lists the same ones; gpunn's outer layer kept
    views of the values it was last bound with, and its model copied them back over the other model's training."""
    ours, theirs = run_script_both_ways(HELD_AND_SHARED, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        weight_lists = key in ("a_weights_after_b", "shared_after_a")  # (arrays of several shapes)
        for a, b in zip(ours[key], value) if weight_lists else [(ours[key], value)]:
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6, err_msg=key)


def _two_models_sharing_a_layer():
    shared = layers.Dense(6, activation="tanh")
    a = gpunn.Sequential([layers.Input((5,)), shared, layers.Dense(2)])
    b = gpunn.Sequential([layers.Input((5,)), shared, layers.Dense(3)])
    return a, b


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "replayed"])
@pytest.mark.parametrize("where", ["loss", "metric", "metric object"])
def test_a_model_sharing_the_trained_models_layers_called_in_its_loss_or_metric_is_refused(numpy_backend, where,
                                                                                          jit_compile):
    """Called there, it took the shared layers to its own buffers, from which the next step copied the old values
    back: the shared layer never trained (and a replayed step's metric froze it too), without a word."""
    a, b = _two_models_sharing_a_layer()
    probe = np.ones((4, 5), "float32")

    def with_b(y_true, y_pred):
        return gpunn.ops.mean(gpunn.ops.square(y_true - y_pred), axis=-1) + 0.0 * gpunn.ops.mean(b(probe))

    class WithB(gpunn.metrics.Metric):
        def __init__(self):
            super().__init__(name="with_b")
            self.total = self.add_weight(name="total", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(gpunn.ops.mean(b(probe)))

        def result(self):
            return self.total

    compiled = {"loss": dict(loss=with_b), "metric": dict(loss="mse", metrics=[with_b]),
                "metric object": dict(loss="mse", metrics=[WithB()])}[where]
    a.compile(optimizer="sgd", jit_compile=jit_compile, **compiled)
    before = a.get_weights()
    x, y = np.ones((16, 5), "float32"), np.ones((16, 2), "float32")
    with pytest.raises(ValueError, match=r"layer 'dense(_\d+)?' of model 'sequential(_\d+)?' was called while the "
                                         r"model's step computes its loss and metrics"):
        a.fit(x, y, batch_size=8, verbose=0)
    for value, kept in zip(a.get_weights(), before):
        np.testing.assert_array_equal(value, kept)
    assert b.predict(probe, verbose=0).shape == (4, 3)  # (outside a's steps, b runs)


@pytest.mark.parametrize("how", ["the layer", "a model holding it"])
def test_a_models_layer_called_again_inside_a_lambda_is_refused(numpy_backend, how):
    """It ran twice in one pass on one workspace: the second run wrote over the first one's output (which the
    Lambda may read: wrong predictions), over what the first one's backward pass read, and the second backprop over
    the first one's weight gradients (silently other training)."""
    d = layers.Dense(4, activation="tanh")
    inner = gpunn.Sequential([layers.Input((4,)), d])
    call = (lambda t: d(t)) if how == "the layer" else (lambda t: inner(t))
    model = gpunn.Sequential([layers.Input((5,)), layers.Dense(4), layers.Lambda(call), d, layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 5), "float32"), np.ones((8, 2), "float32")
    before = model.get_weights()
    refused = (rf"layer {d.name!r} is called inside the call\(\) of layer 'lambda(_\d+)?' and is also a layer of "
               r"the model")
    with pytest.raises(ValueError, match=refused):
        model.fit(x, y, verbose=0)
    for value, kept in zip(model.get_weights(), before):
        np.testing.assert_array_equal(value, kept)
    for run in (lambda: model.evaluate(x, y, verbose=0), lambda: model.predict(x, verbose=0), lambda: model(x)):
        with pytest.raises(ValueError, match=refused):
            run()


def test_a_lambda_reading_a_layers_output_and_calling_that_layer_again_is_refused_in_predict(numpy_backend):
    """The second run wrote over the first one's output, which the Lambda added: predictions off by about 1."""
    d = layers.Dense(4, activation="tanh")
    inputs = layers.Input((4,))
    model = gpunn.Model(inputs, layers.Lambda(lambda t: d(t) + t)(d(inputs)))
    with pytest.raises(ValueError, match="is also a layer of the model running it"):
        model.predict(np.ones((3, 4), "float32"), verbose=0)


PERCEPTUAL = '''
import json
import sys

import numpy as np


def run(keras, folder):
    """A perceptual loss: a separate feature model compares targets and predictions."""
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(24, 5)).astype("float32"), rng.normal(size=(24, 4)).astype("float32")
    features = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(2)])
    features.set_weights([(0.6 * np.cos(np.arange(np.size(w)) + 1.0)).reshape(np.shape(w)).astype("float32")
                          for w in features.get_weights()])
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="relu"), keras.layers.Dense(4)])
    model.set_weights([(0.5 * np.sin(np.arange(np.size(w)) + 2.0)).reshape(np.shape(w)).astype("float32")
                       for w in model.get_weights()])

    def perceptual(y_true, y_pred):
        return keras.ops.mean(keras.ops.square(features(y_true) - features(y_pred)), axis=-1)

    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=perceptual)
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    return {"loss": history["loss"], "evaluate": model.evaluate(x, y, verbose=0),
            "weights": [np.asarray(w).tolist() for w in model.get_weights() + features.get_weights()]}
'''


def test_a_feature_model_called_on_y_pred_in_a_loss_passes_its_gradient_as_keras(tmp_path_factory):
    """Keras differentiates through it; gpunn refused it with a message blaming NumPy. Its weights stay as they
    are in both (the loss function's model is no part of the trained one)."""
    ours, theirs = run_script_both_ways(PERCEPTUAL, tmp_path_factory)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=2e-5)
    assert ours["evaluate"] == pytest.approx(theirs["evaluate"], rel=2e-5)
    for a, b in zip(ours["weights"], theirs["weights"]):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
