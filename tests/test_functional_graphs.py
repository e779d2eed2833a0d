"""Functional models that are graphs, not chains (``layers/wiring.py``, ``layers/merging.py``): skip connections,
branches that meet in a merge layer, the input read again (Keras's "wide & deep").

Gradients are checked against finite differences in float64 for every merge layer, a value read by several
layers, a value merged with itself, a fused output activation after a merge and a frozen branch; training equals
Keras's on the same weights and batches; replays equal the eager step bit for bit; configs, summaries and model
files are Keras's, both ways."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_gradients_close, assert_same_training, numerical_gradient, numpy_backend, run_keras  # noqa: F401

import gpunn
from gpunn import layers

B, F = 5, 6


def _graph(case: str, dtype="float64"):
    """(model, loss) of a small graph for the finite-difference checks (its weights drawn from a fixed seed)."""
    gpunn.utils.set_random_seed(7)
    d = dict(dtype=dtype)
    inputs = gpunn.Input(shape=(F,), dtype=dtype)
    if case == "wide_and_deep":
        h = layers.Dense(5, activation="tanh", **d)(inputs)
        h = layers.Dense(4, activation="tanh", **d)(h)
        out = layers.Dense(2, **d)(layers.Concatenate(**d)([inputs, h]))
        return gpunn.Model(inputs, out), "mse"
    if case == "residual":
        h = layers.Dense(4, activation="tanh", **d)(inputs)
        r = layers.Dense(4, activation="sigmoid", **d)(h)
        r = layers.LayerNormalization(**d)(r)
        out = layers.Dense(2, **d)(layers.Add(**d)([h, r]))
        return gpunn.Model(inputs, out), "mse"
    if case in ("multiply", "subtract", "average", "maximum", "minimum"):
        merge = {"multiply": layers.Multiply, "subtract": layers.Subtract, "average": layers.Average,
                 "maximum": layers.Maximum, "minimum": layers.Minimum}[case]
        h = layers.Dense(4, activation="tanh", **d)(inputs)
        a = layers.Dense(4, activation="sigmoid", **d)(h)  # h read by three layers
        b = layers.Dense(4, **d)(h)
        merged = merge(**d)([a, b]) if case == "subtract" else merge(**d)([a, b, h])
        out = layers.Dense(2, **d)(merged)
        return gpunn.Model(inputs, out), "mse"
    if case == "merged_with_itself":
        h = layers.Dense(4, activation="tanh", **d)(inputs)
        twice = layers.Add(**d)([h, h])
        squared = layers.Multiply(**d)([twice, h])
        both = layers.Concatenate(**d)([squared, squared, h])
        return gpunn.Model(inputs, layers.Dense(2, **d)(both)), "mse"
    if case == "softmax_after_concatenate":  # the loss takes the Concatenate's output as logits
        a = layers.Dense(2, **d)(inputs)
        b = layers.Dense(1, **d)(layers.Dense(3, activation="tanh", **d)(inputs))
        out = layers.Activation("softmax", **d)(layers.Concatenate(**d)([a, b]))
        return gpunn.Model(inputs, out), "sparse_categorical_crossentropy"
    if case == "batch_norm_fixed_in_inference":  # trained gamma and beta, the moving statistics as they are
        h = layers.Dense(4, activation="tanh", **d)(inputs)
        normalized = layers.BatchNormalization(**d)(layers.Dense(4, **d)(h), training=False)
        return gpunn.Model(inputs, layers.Dense(2, **d)(layers.Add(**d)([h, normalized]))), "mse"
    if case in ("dot", "dot_normalized"):  # cosine similarity when normalized; (1, d) samples as Embedding gives
        a = layers.Reshape((1, 3), **d)(layers.Dense(3, activation="tanh", **d)(inputs))
        b = layers.Reshape((1, 3), **d)(layers.Dense(3, **d)(inputs))
        similarity = layers.Dot(axes=2, normalize=case == "dot_normalized", **d)([a, b])
        return gpunn.Model(inputs, layers.Dense(2, **d)(layers.Flatten(**d)(similarity))), "mse"
    if case == "frozen_branch":
        frozen = layers.Dense(4, activation="tanh", trainable=False, **d)
        a = frozen(inputs)
        b = layers.Dense(4, activation="tanh", **d)(inputs)
        out = layers.Dense(2, **d)(layers.Average(**d)([layers.Dense(4, **d)(a), b]))
        return gpunn.Model(inputs, out), "mse"
    raise KeyError(case)


GRAPHS = ["wide_and_deep", "residual", "multiply", "subtract", "average", "maximum", "minimum",
          "merged_with_itself", "softmax_after_concatenate", "frozen_branch", "batch_norm_fixed_in_inference", "dot",
          "dot_normalized"]


def _reference_loss(loss, predictions, y):
    if loss == "mse":
        return ((predictions - y) ** 2).mean()
    return -np.log(predictions[np.arange(len(y)), y]).mean()


@pytest.mark.parametrize("case", GRAPHS)
def test_graph_gradients_match_finite_differences(case, rng):
    model, loss = _graph(case)
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss=loss)
    x = rng.standard_normal((B, F))
    y = rng.integers(0, 3, B) if loss != "mse" else rng.standard_normal((B, 2))
    model.build()
    assert model._sources is not None, "the case must be a graph"

    def objective(_):
        return _reference_loss(loss, model.predict(x, verbose=0), y)

    numeric = numerical_gradient(objective, model.params)
    assert np.abs(numeric).min() >= 0 and np.count_nonzero(numeric) > numeric.size // 2
    before = np.array(model.params)
    model.train_on_batch(x, y)
    assert_gradients_close(np.array(model.grads), numeric, what=f"{case}: d loss / d params")
    # the update is the step's own gradient (the finite differences themselves are good to ~1e-9 only)
    np.testing.assert_allclose(np.array(model.params), before - 0.1 * np.array(model.grads), rtol=1e-12, atol=1e-15)


def test_layers_are_listed_in_keras_order_with_their_connections():
    inputs = gpunn.Input(shape=(8,), name="x")
    h1 = layers.Dense(16, activation="relu")(inputs)
    h2 = layers.Dense(16, activation="relu")(h1)
    c = layers.Concatenate()([inputs, h2])
    a = layers.Add()([h1, h2])
    c2 = layers.concatenate([c, a], axis=-1)
    model = gpunn.Model(inputs, layers.Dense(1)(c2))
    names = [layer.name for layer in model.layers]
    # Keras 3.15 lists this graph's layers in this order (by depth, then as a walk from the output meets them)
    assert [name.rsplit("_", 1)[0] if name[-1].isdigit() else name for name in names] == [
        "x", "dense", "dense", "concatenate", "add", "concatenate", "dense"]
    assert model.output_shape == (None, 1) and model.layers[3].output_shape == (24,)
    assert model.input is inputs and model.inputs == [inputs] and model.output is model.outputs[0]
    assert model.output_names == [model.layers[-1].name]


def test_wrong_merges_are_refused_by_name():
    a, b = gpunn.Input(shape=(3,)), gpunn.Input(shape=(3,))
    h = layers.Dense(4)(a)
    with pytest.raises(ValueError, match="takes inputs of one shape in gpunn, got samples of shapes"):
        layers.Add()([a, h])
    with pytest.raises(ValueError, match="exactly 2 inputs, got 3"):
        layers.Subtract()([h, h, h])
    with pytest.raises(ValueError, match="should be called on a list of inputs"):
        layers.Add()(h)
    with pytest.raises(ValueError, match="match except on that axis"):
        layers.Concatenate(axis=1)([gpunn.Input(shape=(2, 3)), gpunn.Input(shape=(2, 4))])
    with pytest.raises(ValueError, match="batch axis"):
        layers.Concatenate(axis=0)([a, a])
    with pytest.raises(ValueError, match="also from the input"):
        gpunn.Model(a, layers.Add()([a, b]))
    inner = gpunn.Model([a, b], layers.Add()([a, b]))  # (a model of several inputs, called inside another)
    with pytest.raises(ValueError, match="also from the input"):
        gpunn.Model(a, inner([a, b]))
    assert gpunn.Model([a, b], inner([a, b])).output_shape == (None, 3)
    shared = layers.Dense(3)
    with pytest.raises(ValueError, match="shared layers take one input shape"):
        gpunn.Model(a, layers.Add()([shared(a), shared(h)]))
    graph = gpunn.Model(a, layers.Add()([a, layers.Dense(3)(a)]))
    with pytest.raises(ValueError, match="is a graph, not a chain"):
        gpunn.Sequential([graph, layers.Dense(2)])
    with pytest.raises(AttributeError, match="no attribute 'pop'"):
        graph.pop()


def test_masks_reaching_a_merge_are_refused():
    tokens = gpunn.Input(shape=(5,), dtype="int32")
    e = layers.Embedding(20, 4, mask_zero=True)(tokens)
    f = layers.Embedding(20, 4)(tokens)
    with pytest.raises(ValueError, match="combines the masks of its inputs"):
        gpunn.Model(tokens, layers.GlobalAveragePooling1D()(layers.Add()([e, f])))


def test_merge_layers_on_arrays_compute_keras_formulas():
    a = np.array([[1.0, -2.0, 3.0]], dtype=np.float32)
    b = np.array([[0.5, 4.0, -1.0]], dtype=np.float32)
    c = np.array([[2.0, 2.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(layers.add([a, b, c]), (a + b) + c)
    np.testing.assert_array_equal(layers.subtract([a, b]), a - b)
    np.testing.assert_array_equal(layers.multiply([a, b, c]), (a * b) * c)
    np.testing.assert_array_equal(layers.average([a, b, c]), ((a + b) + c) / np.float32(3))
    np.testing.assert_array_equal(layers.maximum([a, b, c]), np.maximum(np.maximum(a, b), c))
    np.testing.assert_array_equal(layers.minimum([a, b, c]), np.minimum(np.minimum(a, b), c))
    np.testing.assert_array_equal(layers.concatenate([a, b]), np.concatenate([a, b], axis=-1))
    cube = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(layers.Concatenate(axis=1)([cube, cube]), np.concatenate([cube, cube], axis=1))
    assert layers.Concatenate(axis=1).get_config()["axis"] == 1


def test_maximum_gives_a_tie_to_the_first_input():
    layer = layers.Maximum(dtype="float64")
    x = [np.array([[1.0, 2.0]]), np.array([[1.0, 3.0]])]
    layer([*x])  # built and bound on its own
    _, backprop = layer.forward(x, True)
    first, second = backprop(np.array([[10.0, 20.0]]), (True, True))
    np.testing.assert_array_equal(first, [[10.0, 0.0]])
    np.testing.assert_array_equal(second, [[0.0, 20.0]])


def _trained_graph(jit):
    gpunn.utils.set_random_seed(4)
    inputs = gpunn.Input(shape=(F,))
    h = layers.Dense(16, activation="relu")(inputs)
    r = layers.Dropout(0.3)(layers.BatchNormalization()(layers.Dense(16, activation="relu")(h)))
    out = layers.Dense(3, activation="softmax")(layers.Concatenate()([inputs, layers.Add()([h, r])]))
    model = gpunn.Model(inputs, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((70, F)).astype(np.float32), rng.integers(0, 3, 70)
    return model, model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.2).history


def test_a_graph_replays_bit_for_bit_as_its_eager_steps():
    assert_same_training(_trained_graph(False), _trained_graph(True))


BUILD = '''
def build(keras, layers):
    inputs = keras.Input(shape=(6,), name="features")
    h1 = layers.Dense(12, activation="relu", name="h1")(inputs)
    h2 = layers.Dense(12, activation="tanh", name="h2")(h1)
    skip = layers.Add(name="skip")([h1, h2])
    gate = layers.Dense(12, activation="sigmoid", name="gate")(h1)
    gated = layers.Multiply(name="gated")([skip, gate])
    low = layers.Minimum(name="low")([h1, h2])
    wide = layers.Concatenate(name="wide")([inputs, gated, low])
    return keras.Model(inputs, layers.Dense(3, activation="softmax", name="out")(wide), name="graph")
'''

# Keras's side of the comparisons: the model given gpunn's weights, then what Keras shows of it
KERAS_SHOWS = '''
model.set_weights([np.array(w, dtype="float32") for w in task["weights"]])
texts = []
model.summary(line_length=108, print_fn=lambda text, line_break=False: texts.append(text))
out = {"layers": [layer.name for layer in model.layers], "config": model.get_config(), "summary": texts[0]}
'''

KERAS_SIDE = BUILD + r'''
import json, os, sys
os.environ["COLUMNS"] = "200"  # rich draws Keras's summary no wider than the terminal
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"])
model = build(keras, keras.layers)
''' + KERAS_SHOWS + r'''for name in ("mine.keras", "mine.h5"):
    mine = keras.saving.load_model(task["dir"] + "/" + name)
    out[name] = mine.predict(x, verbose=0).tolist()
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
out["trained"] = [w.tolist() for w in model.get_weights()]
out["predict"] = model.predict(x, verbose=0).tolist()
model.save(task["dir"] + "/theirs.keras")
model.save(task["dir"] + "/theirs.h5")
out["json"] = model.to_json()
print(json.dumps(out))
'''


def _connections(config):
    """What a functional config says of the graph: endpoints, and each layer's class and inbound nodes."""
    return (config["input_layers"], config["output_layers"],
            [(entry["name"], entry["class_name"], entry["inbound_nodes"]) for entry in config["layers"]])


def _built():
    gpunn.utils.set_random_seed(11)  # the same weights whichever tests ran before
    namespace: dict = {}
    exec(BUILD, namespace)
    return namespace["build"](gpunn, layers)


def test_a_graph_trains_shows_and_saves_as_in_keras(tmp_path):
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((48, 6)).astype(np.float32), rng.integers(0, 3, 48)
    model = _built()
    model.save(tmp_path / "mine.keras")
    model.save(tmp_path / "mine.h5")
    initial = model.get_weights()
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "dir": str(tmp_path),
                                    "weights": [w.tolist() for w in initial]})
    assert [layer.name for layer in model.layers] == theirs["layers"]
    assert _connections(model.get_config()) == _connections(theirs["config"])
    texts = []
    model.summary(line_length=108, print_fn=texts.append)
    assert texts[0].split(" Total params")[0] == theirs["summary"].split(" Total params")[0]
    before = model.predict(x, verbose=0)
    for name in ("mine.keras", "mine.h5"):
        np.testing.assert_allclose(theirs[name], before, rtol=1e-5, atol=1e-6, err_msg=name)

    model.compile(optimizer=gpunn.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for ours, keras_weight in zip(model.get_weights(), theirs["trained"]):
        np.testing.assert_allclose(ours, keras_weight, rtol=1e-4, atol=1e-5)
    for loaded in (gpunn.models.load_model(tmp_path / "theirs.keras"), gpunn.models.load_model(tmp_path / "theirs.h5")):
        assert [layer.name for layer in loaded.layers] == theirs["layers"]
        np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)
    made = gpunn.models.model_from_json(theirs["json"])
    assert made.get_config() == model.get_config()


def test_config_json_clone_and_files_keep_the_graph(tmp_path):
    model = _built()
    x = np.random.default_rng(3).standard_normal((9, 6)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    config = model.get_config()
    skip = next(entry for entry in config["layers"] if entry["name"] == "skip")
    assert [t["config"]["keras_history"][0] for t in skip["inbound_nodes"][0]["args"][0]] == ["h1", "h2"]
    clone = gpunn.models.clone_model(model)
    for again in (gpunn.Model.from_config(config), gpunn.models.model_from_json(model.to_json()), clone):
        assert type(again).__name__ == "Functional" and again.get_config() == config
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), expected)
    for name in ("m.keras", "m.h5", "m.safetensors"):
        model.save(tmp_path / name)
        loaded = gpunn.models.load_model(tmp_path / name)
        assert loaded.get_config() == config, name
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected, err_msg=name)


def test_a_graph_model_called_inside_another_brings_its_graph():
    inner = _built()
    inputs = gpunn.Input(shape=(6,))
    outer = gpunn.Model(inputs, layers.Dense(2, name="head")(inner(inputs)))
    assert outer.layers[1:] == [inner, outer.get_layer("head")]  # as in Keras: the model called is one entry
    assert [layer.name for layer in outer._graph_layers][1:] == [layer.name for layer in inner.layers][1:] + ["head"]
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    head = outer.get_layer("head").get_weights()
    np.testing.assert_allclose(outer.predict(x, verbose=0), inner.predict(x, verbose=0) @ head[0] + head[1],
                               rtol=1e-5, atol=1e-6)


# ---- a training mode fixed in a call -------------------------------------------------------------------------

TRANSFER = '''
def base_model(keras, layers, dtype="float32"):
    return keras.Sequential([keras.Input(shape=(10,), dtype=dtype),
                             layers.Dense(16, activation="relu", name="b1", dtype=dtype),
                             layers.BatchNormalization(name="bn", dtype=dtype), layers.Dropout(0.4, name="drop"),
                             layers.Dense(8, activation="relu", name="b2", dtype=dtype)], name="base")


def transfer(keras, layers, base, dtype="float32"):
    inputs = keras.Input(shape=(10,), name="features", dtype=dtype)
    x = base(inputs, training=False)
    outputs = layers.Dense(1, activation="sigmoid", name="head", dtype=dtype)(x)
    return keras.Model(inputs, outputs, name="transfer")
'''

KERAS_LOADS = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
mine = keras.saving.load_model(task["file"])
print(json.dumps(mine.predict(np.array(task["x"], dtype="float32"), verbose=0).tolist()))
'''


def _transfer_models(dtype="float32"):
    gpunn.utils.set_random_seed(11)  # the same weights whichever tests ran before
    namespace: dict = {}
    exec(TRANSFER, namespace)
    base = namespace["base_model"](gpunn, layers, dtype)
    return base, namespace["transfer"](gpunn, layers, base, dtype)


def _transfer_data(dtype="float32"):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((64, 10)).astype(dtype)
    return x, (x[:, 0] + x[:, 1] > 0).astype(dtype)


def test_a_frozen_base_called_with_training_false_trains_the_head_on_its_inference_outputs(tmp_path):
    """The transfer-learning guide's pattern, phase one: the head learns from what the base predicts (its
    BatchNormalization on the moving statistics, its Dropout off), as Keras 3.16 runs it (keras-team/keras#23364;
    Keras 3.15 let fit's mode override a call's ``training``)."""
    x, y = _transfer_data()
    base, model = _transfer_models()
    assert model._modes == (False, False, False, False, None)
    model.save(tmp_path / "mine.keras")
    theirs = run_keras(KERAS_LOADS, {"x": x.tolist(), "file": str(tmp_path / "mine.keras")})
    np.testing.assert_allclose(theirs, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    features = base.predict(x, verbose=0).astype(np.float64)
    kernel, bias = (w.astype(np.float64) for w in model.get_layer("head").get_weights())
    for _ in range(2):  # logistic regression on the base's outputs, batches of 16 in order
        for start in range(0, 64, 16):
            f, t = features[start:start + 16], y[start:start + 16]
            error = (1 / (1 + np.exp(-(f @ kernel + bias)))[:, 0] - t) / 16
            kernel -= 0.1 * f.T @ error[:, None]
            bias -= 0.1 * error.sum()
    base.trainable = False
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="binary_crossentropy")
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(model.get_layer("head").get_weights()[0], kernel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_layer("head").get_weights()[1], bias, rtol=1e-5, atol=1e-6)


def test_an_unfrozen_base_called_with_training_false_fine_tunes_in_inference_mode():
    """Phase two: every weight trained (the true gradient of the inference-mode loss), the moving statistics kept,
    the Dropout off: the loss a training step reports is the loss evaluate computes."""
    x, y = _transfer_data("float64")
    base, model = _transfer_models("float64")
    model.compile(optimizer=gpunn.optimizers.SGD(0.05), loss="binary_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # in inference mode: the moving statistics stay
    moving = [np.array(w) for w in base.get_layer("bn").non_trainable_weights]
    np.testing.assert_array_equal(moving[0], 0.0)

    def objective(_):
        p = model.predict(x[:16], verbose=0)[:, 0]
        return -(y[:16] * np.log(p) + (1 - y[:16]) * np.log(1 - p)).mean()

    numeric = numerical_gradient(objective, model.params)
    expected_loss = model.evaluate(x[:16], y[:16], verbose=0)
    assert model.train_on_batch(x[:16], y[:16]) == pytest.approx(expected_loss, rel=1e-12)
    assert_gradients_close(np.array(model.grads), numeric, what="d loss / d params")
    for before, after in zip(moving, base.get_layer("bn").non_trainable_weights):
        np.testing.assert_array_equal(np.array(after), before)


def test_fixed_modes_survive_configs_clones_and_files(tmp_path):
    _, model = _transfer_models()
    config = model.get_config()
    nodes = {entry["name"]: entry["inbound_nodes"] for entry in config["layers"]}
    # as Keras writes it: the base called with training=False is one entry, holding its layers
    assert nodes[model.layers[1].name][0]["kwargs"] == {"training": False} and nodes["head"][0]["kwargs"] == {}
    assert "bn" in [entry["config"]["name"] for entry in config["layers"][1]["config"]["layers"]]
    x = np.random.default_rng(2).standard_normal((7, 10)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    for again in (gpunn.Model.from_config(config), gpunn.models.clone_model(model)):
        assert again._modes == model._modes and again.get_config() == config
    for name in ("m.keras", "m.h5", "m.safetensors"):
        model.save(tmp_path / name)
        loaded = gpunn.models.load_model(tmp_path / name)
        assert loaded._modes == model._modes, name
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected, err_msg=name)
    with pytest.raises(ValueError, match="fixes the training mode"):
        gpunn.Sequential([model, layers.Dense(1)])
    with pytest.raises(ValueError, match="takes training=None"):
        layers.Dense(2)(gpunn.Input(shape=(3,)), training="no")


def test_dropout_fixed_in_training_drops_in_predict_too():
    """Monte Carlo dropout: ``Dropout(rate)(x, training=True)`` drops in predict and evaluate, as in Keras."""
    gpunn.utils.set_random_seed(5)
    inputs = gpunn.Input(shape=(30,))
    hidden = layers.Dense(30, activation="relu", bias_initializer="ones")(inputs)  # mostly positive
    model = gpunn.Model(inputs, layers.Dropout(0.5)(hidden, training=True))
    x = np.ones((4, 30), dtype=np.float32)
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert (first == 0).mean() > 0.3 and not np.array_equal(first, second)
    plain = gpunn.Model(inputs, layers.Dropout(0.5)(hidden))  # the same Dense: only the dropout differs
    kept = plain.predict(x, verbose=0)
    np.testing.assert_array_equal(kept, hidden.layer(x))
    assert (kept == 0).mean() < (first == 0).mean()


def test_keras_recorded_dropout_default_is_a_plain_call_but_a_fixed_mode_elsewhere_is_kept():
    """Keras up to 3.15 writes ``"training": false`` in the node of every plain Dropout call (its call()'s default):
    read from a Keras config, that is no fixed mode. On a BatchNormalization it is one; gpunn marks its own."""
    inputs = gpunn.Input(shape=(4,))
    hidden = layers.Dropout(0.5, name="drop")(layers.BatchNormalization(name="bn")(inputs))
    config = gpunn.Model(inputs, layers.Dense(1)(hidden)).get_config()
    nodes = {entry["name"]: entry["inbound_nodes"][0] for entry in config["layers"] if entry["inbound_nodes"]}
    nodes["drop"]["kwargs"] = {"training": False}  # as Keras 3.15 wrote it for the plain call
    assert gpunn.Model.from_config(config)._modes is None
    nodes["bn"]["kwargs"] = {"training": False}
    assert gpunn.Model.from_config(config)._modes == (False, None, None)
    fixed = gpunn.Model(inputs, layers.Dense(1)(layers.Dropout(0.5)(inputs, training=False)))
    assert gpunn.Model.from_config(fixed.get_config())._modes == (False, None)


# ---- several inputs ------------------------------------------------------------------------------------------

MULTI = '''
def build(keras, layers, dtype="float32", as_dict=False):
    input_wide = keras.Input(shape=(5,), name="wide", dtype=dtype)
    input_deep = keras.Input(shape=(6,), name="deep", dtype=dtype)
    hidden = layers.Dense(12, activation="relu", name="h1", dtype=dtype)(input_deep)
    hidden = layers.Dense(12, activation="tanh", name="h2", dtype=dtype)(hidden)
    concat = layers.concatenate([input_wide, hidden], name="concat", dtype=dtype)
    output = layers.Dense(1, name="out", dtype=dtype)(concat)
    inputs = {"wide": input_wide, "deep": input_deep} if as_dict else [input_wide, input_deep]
    return keras.Model(inputs=inputs, outputs=output, name="wide_deep")
'''

KERAS_MULTI = MULTI + r'''
import json, os, sys
os.environ["COLUMNS"] = "200"
import numpy as np
import keras
task = json.loads(sys.stdin.read())
xw, xd, y = (np.array(task[k], dtype="float32") for k in ("xw", "xd", "y"))
model = build(keras, keras.layers)
''' + KERAS_SHOWS + r'''for name in ("mine.keras", "mine.h5"):
    out[name] = keras.saving.load_model(task["dir"] + "/" + name).predict([xw, xd], verbose=0).tolist()
model.compile(optimizer=keras.optimizers.SGD(0.02), loss="mse")
model.fit((xw, xd), y, batch_size=16, epochs=3, shuffle=False, verbose=0)
out["trained"] = [w.tolist() for w in model.get_weights()]
out["predict"] = model.predict((xw, xd), verbose=0).tolist()
model.save(task["dir"] + "/theirs.keras")
model.save(task["dir"] + "/theirs.h5")
as_dict = build(keras, keras.layers, as_dict=True)
out["dict_layers"] = [layer.name for layer in as_dict.layers]
out["dict_config"] = as_dict.get_config()
print(json.dumps(out))
'''


def _multi(dtype="float32", as_dict=False):
    gpunn.utils.set_random_seed(11)  # the same weights whichever tests ran before
    namespace: dict = {}
    exec(MULTI, namespace)
    return namespace["build"](gpunn, layers, dtype, as_dict)


def _multi_data(dtype="float32", rows=48):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((rows, 8)).astype(dtype)
    return x[:, :5], x[:, 2:], (x[:, :3].sum(axis=1, keepdims=True)).astype(dtype)


def test_several_inputs_train_show_and_save_as_in_keras(tmp_path):
    xw, xd, y = _multi_data()
    model = _multi()
    model.save(tmp_path / "mine.keras")
    model.save(tmp_path / "mine.h5")
    theirs = run_keras(KERAS_MULTI, {"xw": xw.tolist(), "xd": xd.tolist(), "y": y.tolist(), "dir": str(tmp_path),
                                     "weights": [w.tolist() for w in model.get_weights()]})
    assert [layer.name for layer in model.layers] == theirs["layers"]
    assert _connections(model.get_config()) == _connections(theirs["config"])
    assert _connections(_multi(as_dict=True).get_config()) == _connections(theirs["dict_config"])
    assert [layer.name for layer in _multi(as_dict=True).layers] == theirs["dict_layers"]
    texts = []
    model.summary(line_length=108, print_fn=texts.append)
    assert texts[0].split(" Total params")[0] == theirs["summary"].split(" Total params")[0]
    before = model.predict([xw, xd], verbose=0)
    for name in ("mine.keras", "mine.h5"):
        np.testing.assert_allclose(theirs[name], before, rtol=1e-5, atol=1e-6, err_msg=name)
    model.compile(optimizer=gpunn.optimizers.SGD(0.02), loss="mse")
    model.fit((xw, xd), y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for ours, keras_weight in zip(model.get_weights(), theirs["trained"]):
        np.testing.assert_allclose(ours, keras_weight, rtol=1e-4, atol=1e-5)
    for name in ("theirs.keras", "theirs.h5"):
        loaded = gpunn.models.load_model(tmp_path / name)
        assert [layer.name for layer in loaded.layers] == theirs["layers"]
        np.testing.assert_allclose(loaded.predict([xw, xd], verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)


def test_several_inputs_take_lists_tuples_and_dicts_everywhere(tmp_path):
    xw, xd, y = _multi_data()
    model = _multi(as_dict=True)
    assert model.input_shape == [(None, 6), (None, 5)]  # a dict's inputs in the order of its sorted keys
    assert [i.name for i in model.inputs] == ["deep", "wide"] and set(model.input) == {"wide", "deep"}
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit({"wide": xw, "deep": xd}, y, batch_size=16, epochs=2, verbose=0,
                        validation_data=({"deep": xd, "wide": xw}, y))
    assert len(history.history["val_loss"]) == 2
    expected = model.predict({"wide": xw, "deep": xd}, verbose=0)
    # a list for a dict whose keys are not in sorted order: refused, as Keras refuses it (test_dict_inputs_given_a_list)
    with pytest.raises(ValueError, match="sorted order"):
        model.predict([xd, xw], verbose=0)
    np.testing.assert_allclose(model.predict({"deep": xd, "wide": xw}, batch_size=7, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    # one call of 48 rows against predict's batches of 32 and 16: BLAS may round the two differently
    np.testing.assert_allclose(model({"wide": xw, "deep": xd}), expected, rtol=1e-5, atol=1e-6)
    assert model.evaluate({"wide": xw, "deep": xd}, y, verbose=0) == model.evaluate({"deep": xd, "wide": xw}, y,
                                                                                   verbose=0)
    model.train_on_batch({"wide": xw[:4], "deep": xd[:4]}, y[:4])
    for name in ("m.keras", "m.h5", "m.safetensors"):
        model.save(tmp_path / name)
        loaded = gpunn.models.load_model(tmp_path / name)
        assert [i.name for i in loaded.inputs] == ["deep", "wide"], name
        np.testing.assert_array_equal(loaded.predict({"wide": xw, "deep": xd}, verbose=0),
                                      model.predict({"wide": xw, "deep": xd}, verbose=0), err_msg=name)
    clone = gpunn.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict({"wide": xw, "deep": xd}, verbose=0),
                                  model.predict({"wide": xw, "deep": xd}, verbose=0))


def test_several_inputs_are_checked_by_name_before_any_work():
    xw, xd, y = _multi_data()
    model = _multi()
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match=r"x: the model has 2 inputs \['wide', 'deep'\]; expected a list or tuple"):
        model.fit(xw, y, verbose=0)
    with pytest.raises(ValueError, match="a list of 3"):
        model.fit([xw, xd, xd], y, verbose=0)
    with pytest.raises(ValueError, match=r"x\[1\]: expected samples of shape \(6,\)"):
        model.fit([xw, xw], y, verbose=0)
    with pytest.raises(ValueError, match="different numbers of samples"):
        model.fit([xw, xd[:-1]], y, verbose=0)
    with pytest.raises(ValueError, match="missing \\['deep'\\]"):
        model.predict({"wide": xw}, verbose=0)
    with pytest.raises(ValueError, match="x\\[0\\]"):
        bad = xw.copy()
        bad[0, 0] = np.nan
        model.fit([bad, xd], y, verbose=0)
    assert model.optimizer.iterations == 0


def test_an_embedding_input_beside_a_feature_input():
    tokens = gpunn.Input(shape=(4,), dtype="int32", name="tokens")
    features = gpunn.Input(shape=(3,), name="features")
    pooled = layers.GlobalAveragePooling1D()(layers.Embedding(10, 5)(tokens))
    model = gpunn.Model([tokens, features], layers.Dense(1)(layers.Concatenate()([pooled, features])))
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(1)
    ids, x, y = rng.integers(0, 10, (20, 4)), rng.standard_normal((20, 3)), rng.standard_normal((20, 1))
    model.fit([ids, x], y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"x\[0\]"):
        model.fit([ids + 10, x], y, epochs=1, verbose=0)


def test_several_inputs_gradients_match_finite_differences(rng):
    model = _multi("float64")
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    xw, xd, y = (a.astype(np.float64) for a in _multi_data("float64", rows=B))
    model.build()

    def objective(_):
        return ((model.predict([xw, xd], verbose=0) - y) ** 2).mean()

    numeric = numerical_gradient(objective, model.params)
    model.train_on_batch([xw, xd], y)
    assert_gradients_close(np.array(model.grads), numeric, what="two inputs: d loss / d params")


def test_several_inputs_replay_bit_for_bit_as_eager():
    def run(jit):
        gpunn.utils.set_random_seed(2)
        model = _multi()
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        xw, xd, y = _multi_data(rows=70)
        return model, model.fit([xw, xd], y, batch_size=16, epochs=3, verbose=0, validation_split=0.2).history

    assert_same_training(run(False), run(True))


def test_several_inputs_from_generators_and_datasets():
    """Batches of (inputs, y) where the inputs are a tuple or a dict, as Keras's data adapters take them."""
    xw, xd, y = _multi_data()
    model = _multi()
    model.compile(optimizer="adam", loss="mse")

    def batches():
        while True:
            for start in range(0, 48, 16):
                yield (xw[start:start + 16], xd[start:start + 16]), y[start:start + 16]

    class ByName(gpunn.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            rows = slice(16 * i, 16 * (i + 1))
            return {"wide": xw[rows], "deep": xd[rows]}, y[rows]

    history = model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0, validation_data=ByName(), shuffle=False)
    assert len(history.history["val_loss"]) == 2
    assert model.evaluate(ByName(), verbose=0) == pytest.approx(model.evaluate([xw, xd], y, verbose=0), rel=1e-5)
    expected = model.predict([xw, xd], verbose=0)  # in batches of 32: the last digits may differ from 16's
    np.testing.assert_allclose(model.predict(ByName(), verbose=0), expected, rtol=1e-5, atol=1e-6)

    class InputsOnly(ByName):  # a dict batch is the inputs alone, as Keras's unpack_x_y_sample_weight takes it
        def __getitem__(self, i):
            return super().__getitem__(i)[0]

    np.testing.assert_allclose(model.predict(InputsOnly(), verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_a_model_called_in_a_graph_keeps_its_layers_order_through_configs_clones_and_files(tmp_path):
    """The nested model's layers take their places in the whole graph's Keras order, so that a model rebuilt
    from its config (a file, a clone) puts every weight back on its layer."""
    i = gpunn.Input(shape=(4,))
    inner = gpunn.Model(i, layers.Dense(4, name="in_c")(layers.Dense(4, name="in_b")(layers.Dense(4, name="in_a")(i))))
    x = gpunn.Input(shape=(4,), name="x")
    side = layers.Dense(4, name="s3")(layers.Dense(4, name="s2")(layers.Dense(4, name="s1")(x)))
    model = gpunn.Model(x, layers.Dense(2, name="out")(layers.Add(name="add")([inner(x), side])))
    names = [layer.name for layer in model._graph_layers]
    data = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    expected = model.predict(data, verbose=0)
    assert [layer.name for layer in gpunn.models.model_from_json(model.to_json())._graph_layers] == names
    clone = gpunn.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(data, verbose=0), expected)
    for name in ("m.keras", "m.h5", "m.safetensors"):
        model.save(tmp_path / name)
        loaded = gpunn.models.load_model(tmp_path / name)
        assert [layer.name for layer in loaded._graph_layers] == names, name
        np.testing.assert_array_equal(loaded.predict(data, verbose=0), expected, err_msg=name)


def test_one_input_in_a_list_or_dict_and_builds_of_several_inputs():
    """As Keras: a model of one input takes it in a list of one or a dict by its name; a model called on a list
    of one symbolic input; build() of several inputs checks the shapes it is given."""
    a = gpunn.Input(shape=(3,), name="a")
    model = gpunn.Model(a, layers.Dense(2)(a))
    x = np.ones((4, 3), dtype=np.float32)
    expected = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict([x], verbose=0), expected)
    np.testing.assert_array_equal(model.predict({"a": x}, verbose=0), expected)
    with pytest.raises(ValueError, match="one input is"):
        model.predict({"b": x}, verbose=0)
    outer_input = gpunn.Input(shape=(3,))
    assert gpunn.Model(outer_input, model([outer_input])).output_shape == (None, 2)
    with pytest.raises(ValueError, match="has one input"):
        model([outer_input, outer_input])
    two = _multi()
    two.build([(None, 5), (None, 6)])
    two.build([(5,), (6,)])
    with pytest.raises(ValueError, match="input_shape: the model's inputs"):
        two.build([(None, 5), (None, 7)])
    xw, xd, _ = _multi_data()
    assert two.predict([xw, xd], verbose=0).shape == (48, 1)


def test_a_dropout_fixed_in_a_keras_3_16_file_stays_fixed(tmp_path):
    """Keras 3.16 records only the modes a script passed: its files' training=False on a Dropout is kept."""
    inputs = gpunn.Input(shape=(4,))
    model = gpunn.Model(inputs, layers.Dense(1)(layers.Dropout(0.5, name="drop")(inputs, training=False)))
    model.save(tmp_path / "m.keras")
    import json
    import zipfile

    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    for entry in config["config"]["layers"]:
        for node in entry["inbound_nodes"]:
            node.pop("gpunn_fixed_training", None)  # as Keras writes it
    members["config.json"] = json.dumps(config).encode()
    for version, expected in (("3.16.0", (False, None)), ("3.15.1", None)):
        metadata = json.loads(members["metadata.json"])
        metadata["keras_version"] = version
        metadata.pop("gpunn", None)
        members["metadata.json"] = json.dumps(metadata).encode()
        with zipfile.ZipFile(tmp_path / f"{version}.keras", "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        assert gpunn.models.load_model(tmp_path / f"{version}.keras")._modes == expected, version


def _random_graph(seed: int):
    """A small float64 graph drawn from ``seed``: one or two inputs, then layers each reading an earlier value (a
    Dense, an activation, a normalization, an identity, a PReLU) or merging two or three others (any merge
    layer)."""
    import random

    draw, d = random.Random(seed), dict(dtype="float64")
    inputs = [gpunn.Input(shape=(4,), dtype="float64") for _ in range(draw.choice([1, 2]))]
    values = list(inputs)
    unary = [lambda: layers.Dense(4, activation="tanh", **d), lambda: layers.Dense(4, **d),
             lambda: layers.Activation("sigmoid", **d), lambda: layers.LayerNormalization(**d),
             lambda: layers.Identity(**d), lambda: layers.PReLU(alpha_initializer="random_normal", **d)]
    merges = [layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum, layers.Minimum,
              layers.Concatenate]
    for _ in range(draw.randint(3, 7)):
        if draw.random() < 0.4 and len(values) >= 2:
            # Distinct operands: Subtract(x, x) is exactly 0, where a PReLU downstream has its kink, which finite
            # differences cannot see past (merging a value with itself is checked in _graph above)
            merge = draw.choice(merges)
            count = min(len(values), 2 if merge is layers.Subtract else draw.randint(2, 3))
            value = merge(**d)([values[i] for i in draw.sample(range(len(values)), count)])
            if merge is layers.Concatenate:
                value = layers.Dense(4, **d)(value)
        else:
            value = draw.choice(unary)()(values[draw.randrange(len(values))])
        values.append(value)
    return gpunn.Model(inputs if len(inputs) > 1 else inputs[0], layers.Dense(2, **d)(values[-1])), len(inputs)


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_gradients_match_finite_differences(seed):
    model, count = _random_graph(seed)
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((5, 4)) for _ in range(count)]
    x, y = (xs if count > 1 else xs[0]), rng.standard_normal((5, 2))
    model.build()

    def objective(_):
        return ((model.predict(x, verbose=0) - y) ** 2).mean()

    numeric = numerical_gradient(objective, model.params)
    model.train_on_batch(x, y)
    assert_gradients_close(np.array(model.grads), numeric, rtol=1e-5, what=f"random graph {seed}")



KERAS_DOT = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
out = {}
for name, case in task["cases"].items():
    a, b = np.array(case["a"], dtype="float32"), np.array(case["b"], dtype="float32")
    layer = keras.layers.Dot(axes=case["axes"], normalize=case["normalize"])
    out[name] = {"value": np.asarray(layer([a, b])).tolist(), "shape": list(layer.compute_output_shape(
        [(None,) + a.shape[1:], (None,) + b.shape[1:]])), "config": {k: layer.get_config()[k] for k in ("axes", "normalize")}}
users = keras.Input(shape=(1,), name="user", dtype="int32")
items = keras.Input(shape=(1,), name="item", dtype="int32")
user_vector = keras.layers.Flatten(name="uf")(keras.layers.Embedding(6, 4, name="ue")(users))
item_vector = keras.layers.Flatten(name="if")(keras.layers.Embedding(7, 4, name="ie")(items))
score = keras.layers.Dot(axes=1, name="score")([user_vector, item_vector])
model = keras.Model([users, items], keras.layers.Activation("sigmoid", name="prob")(score))
model.set_weights([np.array(w, dtype="float32") for w in task["weights"]])
model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
u, i, y = (np.array(task[k]) for k in ("u", "i", "y"))
model.fit((u, i), y.astype("float32"), batch_size=8, epochs=3, shuffle=False, verbose=0)
out["trained"] = [w.tolist() for w in model.get_weights()]
print(json.dumps(out))
'''


def test_dot_computes_and_trains_as_keras_s():
    """Values, shapes and configs of Dot on arrays against Keras's; a two-input recommender (an Embedding per id,
    their dot product, a sigmoid) trains to Keras's weights."""
    rng = np.random.default_rng(3)
    cases = {
        "flat": {"a": rng.standard_normal((4, 5)), "b": rng.standard_normal((4, 5)), "axes": 1, "normalize": False},
        "flat_cosine": {"a": rng.standard_normal((4, 5)), "b": rng.standard_normal((4, 5)), "axes": -1,
                        "normalize": True},
        "rows": {"a": rng.standard_normal((3, 1, 4)), "b": rng.standard_normal((3, 1, 4)), "axes": 2,
                 "normalize": False},
        "columns": {"a": rng.standard_normal((3, 4, 1)), "b": rng.standard_normal((3, 1, 4)), "axes": [1, 2],
                    "normalize": True},
    }
    users, items = gpunn.Input(shape=(1,), name="user", dtype="int32"), gpunn.Input(shape=(1,), name="item",
                                                                                   dtype="int32")
    user_vector = layers.Flatten(name="uf")(layers.Embedding(6, 4, name="ue")(users))
    item_vector = layers.Flatten(name="if")(layers.Embedding(7, 4, name="ie")(items))
    model = gpunn.Model([users, items], layers.Activation("sigmoid", name="prob")(
        layers.Dot(axes=1, name="score")([user_vector, item_vector])))
    u, i = rng.integers(0, 6, (24, 1)), rng.integers(0, 7, (24, 1))
    y = (u[:, 0] + i[:, 0]) % 2
    task = {"cases": {name: {**case, "a": case["a"].tolist(), "b": case["b"].tolist()} for name, case in cases.items()},
            "weights": [w.tolist() for w in model.get_weights()], "u": u.tolist(), "i": i.tolist(), "y": y.tolist()}
    theirs = run_keras(KERAS_DOT, task)
    for name, case in cases.items():
        layer = layers.Dot(axes=case["axes"], normalize=case["normalize"])
        got = layer([case["a"].astype(np.float32), case["b"].astype(np.float32)])
        np.testing.assert_allclose(got, theirs[name]["value"], rtol=1e-5, atol=1e-6, err_msg=name)
        assert [None] + list(layer.output_shape) == theirs[name]["shape"], name
        assert {k: layer.get_config()[k] for k in ("axes", "normalize")} == theirs[name]["config"], name
    model.compile(optimizer=gpunn.optimizers.SGD(0.5), loss="binary_crossentropy")
    model.fit((u, i), y.astype(np.float32), batch_size=8, epochs=3, shuffle=False, verbose=0)
    for ours, keras_weight in zip(model.get_weights(), theirs["trained"]):
        np.testing.assert_allclose(ours, keras_weight, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="other than the batch and the dot axis have size 1"):
        layers.Dot(axes=2)([gpunn.Input(shape=(2, 3)), gpunn.Input(shape=(2, 3))])
    with pytest.raises(ValueError, match="one size along its axes"):
        layers.Dot(axes=1)([gpunn.Input(shape=(3,)), gpunn.Input(shape=(4,))])


KERAS_NESTED = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x = np.array(task["x"], dtype="float32")
base = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(8, activation="relu", name="b1"),
                         keras.layers.BatchNormalization(name="bn"), keras.layers.Dropout(0.3, name="drop"),
                         keras.layers.Dense(5, name="b2")], name="base")
features = keras.Input(shape=(5,), name="f_in")
tower = keras.Model(features, keras.layers.Add(name="f_add")([features, keras.layers.Dense(5, name="f1")(features)]),
                    name="tower")
inputs = keras.Input(shape=(6,), name="x")
hidden = tower(base(inputs, training=False))
model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden), name="outer")
rng = np.random.default_rng(0)
model.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.5 + (1.0 if "variance" in w.path else 0.0)
                   for w in model.weights])
model.save(task["dir"] + "/nested.keras")
model.save(task["dir"] + "/nested.h5")
print(json.dumps({"predict": model.predict(x, verbose=0).tolist(), "json": model.to_json(),
                  "names": [w.path for w in model.weights]}))
'''


def test_keras_files_of_a_model_calling_models_load_with_them_as_entries(tmp_path):
    """A Keras model that calls a Sequential (with training=False) and a functional model as layers, saved by
    Keras: gpunn loads it with each called model one entry of ``model.layers``, their layers running in their
    places, every weight from its place in the file (a .keras file's paths, an HDF5 file's order), the fixed
    mode kept; the same model from Keras's JSON."""
    x = np.random.default_rng(1).standard_normal((7, 6)).astype(np.float32)
    theirs = run_keras(KERAS_NESTED, {"x": x.tolist(), "dir": str(tmp_path)})
    for name in ("nested.keras", "nested.h5"):
        model = gpunn.models.load_model(tmp_path / name)
        assert [layer.name for layer in model.layers] == ["x", "base", "tower", "head"], name
        assert [layer.name for layer in model._graph_layers] == ["x", "b1", "bn", "drop", "b2", "f1", "f_add", "head"]
        assert model._modes == (False, False, False, False, None, None, None), name
        np.testing.assert_allclose(model.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-5,
                                   err_msg=name)
    from_json = gpunn.models.model_from_json(theirs["json"])
    assert [layer.name for layer in from_json.layers] == [layer.name for layer in model.layers]
    assert from_json._modes == model._modes
