"""Keras's functional API for a chain of layers: ``keras.Model(inputs, outputs)`` (keras/src/models/functional.py).

A chain trains exactly as the Sequential model of the same layers; it shows what Keras's functional models show
(the InputLayer in ``layers`` and ``summary``, no ``add``); its config and model files are Keras's functional
layout, read by Keras and read from Keras's; what gpunn's functional models cannot be (several inputs, shared
layers) is refused by name. Graphs that are not chains: ``test_functional_graphs.py``."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_same_training, assert_trains_as_flat_and_loads, numpy_backend, run_keras  # noqa: F401

import gpunn
from gpunn import layers


def _data(rows=60):
    rng = np.random.default_rng(1)
    return rng.standard_normal((rows, 6)).astype(np.float32), rng.integers(0, 3, rows)


def _stack():
    return [layers.Dense(16, activation="relu"), layers.BatchNormalization(), layers.Dropout(0.2),
            layers.Dense(3, activation="softmax")]


def _functional(name="mlp"):
    inputs = gpunn.Input(shape=(6,), name="features")
    x = inputs
    for layer in _stack():
        x = layer(x)
    return gpunn.Model(inputs=inputs, outputs=x, name=name)


def _fit(model, jit):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit)
    x, y = _data()
    return model, model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.2).history


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
def test_a_chain_trains_as_the_sequential_of_its_layers_bit_for_bit(jit):
    functional_model = _functional()
    sequential_model = gpunn.Sequential([gpunn.Input(shape=(6,))] + _stack())
    sequential_model.set_weights(functional_model.get_weights())
    sequential_model.layers[2].seed = functional_model.layers[3].seed  # the Dropout masks
    gpunn.utils.set_random_seed(3)  # the same shuffles
    functional = _fit(functional_model, jit)
    gpunn.utils.set_random_seed(3)
    sequential = _fit(sequential_model, jit)
    assert_same_training(functional, sequential)
    x, _ = _data()
    np.testing.assert_array_equal(functional[0].predict(x, verbose=0), sequential[0].predict(x, verbose=0))


def test_it_shows_what_keras_functional_models_show(capsys):
    inputs = gpunn.Input(shape=(6,), name="features")
    assert inputs.shape == (None, 6)
    hidden = layers.Dense(16, activation="relu", name="hidden")(inputs)
    assert hidden.shape == (None, 16) and hidden.ndim == 2
    outputs = layers.Dense(3, name="out")(hidden)
    model = gpunn.Model(inputs=inputs, outputs=outputs)
    assert [layer.name for layer in model.layers] == ["features", "hidden", "out"]
    assert model.get_layer(index=0) is inputs and model.get_layer("out") is model.layers[2]
    assert model.input_shape == (None, 6) and model.output_shape == (None, 3)
    assert model.inputs == [inputs]
    assert len(model.layers[1].weights) == 2  # built by the call, as in Keras
    assert isinstance(model, gpunn.Model) and isinstance(gpunn.Sequential(), gpunn.Model)
    model.summary()
    text = capsys.readouterr().out
    assert "features (InputLayer)" in text and "(None, 6)" in text and "Total params: 163" in text
    with pytest.raises(AttributeError, match="no attribute 'add'"):
        model.add(layers.Dense(2))


def test_a_sequential_model_called_in_the_chain_brings_its_layers():
    base = gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(8, activation="relu", name="base_dense")])
    inputs = gpunn.Input(shape=(6,))
    outputs = layers.Dense(2, name="head")(base(inputs))
    model = gpunn.Model(inputs, outputs)
    assert model.layers[1:] == [base, model.get_layer("head")]  # as in Keras: the model called is one entry
    assert [layer.name for layer in model._graph_layers][1:] == ["base_dense", "head"]
    x, _ = _data(5)
    hidden = np.maximum(x @ base.layers[0].get_weights()[0] + base.layers[0].get_weights()[1], 0)
    np.testing.assert_allclose(model.predict(x, verbose=0), hidden @ model.layers[2].get_weights()[0]
                               + model.layers[2].get_weights()[1], rtol=1e-5)


def test_shared_layers_and_outside_inputs_are_refused_by_name():
    a, b = gpunn.Input(shape=(3,)), gpunn.Input(shape=(3,))
    out_a = layers.Dense(2)(a)
    with pytest.raises(ValueError, match="do not come from the inputs given"):
        gpunn.Model(inputs=b, outputs=out_a)
    unused = gpunn.Model(inputs=[a, b], outputs=out_a)  # as in Keras, an input may go unused, listed where Keras does
    assert [layer.name for layer in unused.layers] == [a.name, b.name, out_a.layer.name]
    ones = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_allclose(unused.predict([ones, ones], verbose=0), unused.layers[2](ones), rtol=1e-6)
    shared = layers.Dense(3)  # a layer called twice (tests/test_shared_layers.py): the same weights each time
    twice = gpunn.Model(a, shared(shared(a)))
    np.testing.assert_allclose(twice.predict(ones, verbose=0), shared(shared(ones)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"expected keras.Model\(inputs=..., outputs=...\)"):
        gpunn.Model()

    class Mine(gpunn.Model):
        def call(self, x):
            return [x.shape]

    with pytest.raises(ValueError, match="must return what layers compute from the inputs"):
        Mine().predict(np.ones((2, 3)), verbose=0)  # a subclassed model, whose call() returns no tensor


def test_nested_inputs_and_outputs_are_refused_by_name():
    """Keras flattens [o1, [o2, o3]] and gives data and predictions back nested; gpunn takes one level, and says
    so rather than calling a list of tensors "not the result of calling layers"."""
    a, b = gpunn.Input((3,)), gpunn.Input((3,))
    o1, o2 = layers.Dense(1)(a), layers.Dense(1)(b)
    for make, argument in ((lambda: gpunn.Model([a, b], [o1, [o2]]), "outputs"),
                           (lambda: gpunn.Model([a, b], {"p": o1, "q": (o2,)}), "outputs"),
                           (lambda: gpunn.Model([a, [b]], o1), "inputs")):
        with pytest.raises(ValueError, match=rf"^{argument}: nested structures are not supported .* one flat list"):
            make()


def test_config_json_and_clone_keep_it_functional():
    model = _functional()
    config = model.get_config()
    assert config["input_layers"] == ["features", 0, 0] and config["output_layers"][0] == model.layers[-1].name
    assert config["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == ["features", 0, 0]
    for again in (gpunn.Model.from_config(config), gpunn.models.model_from_json(model.to_json()),
                  gpunn.models.clone_model(model)):
        assert type(again).__name__ == "Functional"
        assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
        assert again.get_config() == config


KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x = np.array(task["x"], dtype="float32")
out = {}
for name in ("mine.keras", "mine.h5"):
    mine = keras.saving.load_model(task["dir"] + "/" + name)
    out[name] = {"class": type(mine).__name__, "layers": [layer.name for layer in mine.layers],
                 "predict": mine.predict(x, verbose=0).tolist()}
inputs = keras.Input(shape=(6,), name="feats")
h = keras.layers.Dense(8, activation="relu")(inputs)
h = keras.layers.BatchNormalization()(h)
h = keras.layers.Dropout(0.3)(h)
outputs = keras.layers.Dense(3, activation="softmax")(h)
model = keras.Model(inputs, outputs, name="theirs")
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, np.array(task["y"]), epochs=2, verbose=0)
model.save(task["dir"] + "/theirs.keras")
model.save(task["dir"] + "/theirs.h5")
out["keras_predict"] = model.predict(x, verbose=0).tolist()
out["keras_json"] = model.to_json()
out["keras_config"] = model.get_config()
print(json.dumps(out))
'''


def test_model_files_and_configs_both_ways_with_keras(tmp_path):
    x, y = _data()
    model = _fit(_functional(), False)[0]
    model.save(tmp_path / "mine.keras")
    model.save(tmp_path / "mine.h5")
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "dir": str(tmp_path)})
    ours = model.predict(x, verbose=0)
    for name in ("mine.keras", "mine.h5"):
        assert theirs[name]["class"] == "Functional"
        assert theirs[name]["layers"] == [layer.name for layer in model.layers]
        np.testing.assert_allclose(theirs[name]["predict"], ours, rtol=1e-5, atol=1e-6, err_msg=name)
    for name in ("theirs.keras", "theirs.h5"):
        loaded = gpunn.models.load_model(tmp_path / name)
        assert type(loaded).__name__ == "Functional" and loaded.layers[0].name == "feats"
        np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs["keras_predict"], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
        assert loaded.optimizer.iterations > 0  # the optimizer state came along
    for made in (gpunn.models.model_from_json(theirs["keras_json"]), gpunn.Model.from_config(theirs["keras_config"])):
        assert [layer.name for layer in made.layers] == ["feats", "dense", "batch_normalization", "dropout",
                                                         "dense_1"]
        assert made.output_shape == (None, 3)


def test_keras_configs_gpunn_cannot_build_are_refused_when_read():
    config = _functional().get_config()
    reads = config["layers"][3]["inbound_nodes"][0]["args"][0]["config"]["keras_history"]
    reads[1] = 1  # the second call of a layer called once
    with pytest.raises(ValueError, match="has no call 1"):
        gpunn.Model.from_config(config)
    config = _functional().get_config()
    config["layers"][2]["inbound_nodes"][0]["args"].append(config["layers"][2]["inbound_nodes"][0]["args"][0])
    with pytest.raises(ValueError, match="called on 2 arguments"):
        gpunn.Model.from_config(config)


def test_input_takes_keras_s_batch_shape_and_refuses_sparse_inputs():
    inputs = gpunn.Input(batch_shape=(8, 5))
    assert inputs.shape == (8, 5) and gpunn.Input(batch_shape=(None, 5)).shape == (None, 5)
    assert inputs.batch_shape == (8, 5) and gpunn.layers.InputLayer(shape=(3,)).batch_shape == (None, 3)
    model = gpunn.Model(inputs, gpunn.layers.Dense(2)(inputs))
    assert model.get_config()["layers"][0]["config"]["batch_shape"] == [8, 5]
    assert gpunn.Input(shape=(3,), sparse=False, ragged=False).shape == (None, 3)
    with pytest.raises(ValueError, match="batch_shape: give either"):
        gpunn.Input(shape=(5,), batch_shape=(None, 5))
    with pytest.raises(ValueError, match="batch_shape: expected the batch size"):
        gpunn.Input(batch_shape=(5,))
    with pytest.raises(ValueError, match="sparse: gpunn's inputs are dense"):
        gpunn.Input(shape=(5,), sparse=True)


INTERMEDIATE_KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
inputs, side = keras.Input((5,), name="features"), keras.Input((3,), name="side")
hidden = keras.layers.Dense(3, name="hidden")(keras.layers.Dense(4, name="first")(inputs))
joined = keras.layers.Add(name="joined")([hidden, side])
outputs = keras.layers.Dense(2, name="head")(joined)
whole = keras.Model([inputs, side], outputs)
for name, values in zip(["first", "hidden", "head"], task["weights"]):
    whole.get_layer(name).set_weights([np.array(v, "float32") for v in values])
from_hidden = keras.Model(inputs=[hidden, side], outputs=outputs)
from_joined = keras.Model(inputs=joined, outputs=outputs)
x = [np.array(task["hidden"], "float32"), np.array(task["side"], "float32")]
print(json.dumps({"layers": [type(l).__name__ for l in from_hidden.layers],
                  "input_shapes": [list(t.shape) for t in from_hidden.inputs],
                  "from_hidden": from_hidden.predict(x, verbose=0).tolist(),
                  "from_joined": from_joined.predict(np.array(task["hidden"], "float32"), verbose=0).tolist(),
                  "loaded": keras.saving.load_model(task["file"]).predict(x, verbose=0).tolist()}))
'''


def test_a_model_from_a_layers_output_reads_a_new_input_as_keras(tmp_path):
    """``keras.Model(inputs=<a layer's output>, outputs=...)`` (keras-io's FeatureSpace tutorial trains such a
    model): as Keras's ``clone_graph_nodes``, a new input of that output's shape ("...CLONE") stands for it; the
    layers after it are the model's, shared with the model they were called in."""
    rng = np.random.default_rng(0)
    inputs, side = gpunn.Input((5,), name="features"), gpunn.Input((3,), name="side")
    first, hidden_layer = layers.Dense(4, name="first"), layers.Dense(3, name="hidden")
    head = layers.Dense(2, name="head")
    hidden = hidden_layer(first(inputs))
    joined = layers.Add(name="joined")([hidden, side])
    outputs = head(joined)
    whole = gpunn.Model([inputs, side], outputs)
    weights = [[rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()]
               for layer in (first, hidden_layer, head)]
    for layer, values in zip((first, hidden_layer, head), weights):
        layer.set_weights(values)
    from_hidden = gpunn.Model(inputs=[hidden, side], outputs=outputs)
    from_joined = gpunn.Model(inputs=joined, outputs=outputs)
    assert [type(layer).__name__ for layer in from_hidden.layers] == ["InputLayer", "InputLayer", "Add", "Dense"]
    assert from_hidden.layers[0].name == "hiddenCLONE" and from_hidden.input[1] is side
    assert from_hidden.count_params() == head.count_params() and from_hidden.layers[-1] is head
    h, s = rng.normal(size=(6, 3)).astype("float32"), rng.normal(size=(6, 3)).astype("float32")
    expected = (h + s) @ weights[2][0] + weights[2][1]
    np.testing.assert_allclose(from_hidden.predict([h, s], verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_joined.predict(h, verbose=0), h @ weights[2][0] + weights[2][1], rtol=1e-5,
                               atol=1e-6)
    # trained, it trains the layers the whole model has
    from_joined.compile(optimizer="sgd", loss="mse")
    from_joined.fit(h, np.zeros((6, 2), "float32"), epochs=1, verbose=0)
    assert not np.array_equal(head.get_weights()[0], weights[2][0])
    np.testing.assert_allclose(whole.layers[-1].get_weights()[0], head.get_weights()[0])
    for layer, values in zip((first, hidden_layer, head), weights):
        layer.set_weights(values)
    from_hidden.save(tmp_path / "from_hidden.keras")
    loaded = gpunn.models.load_model(tmp_path / "from_hidden.keras")
    np.testing.assert_allclose(loaded.predict([h, s], verbose=0), expected, rtol=1e-5, atol=1e-6)
    theirs = run_keras(INTERMEDIATE_KERAS_SIDE, {
        "weights": [[w.tolist() for w in values] for values in weights], "hidden": h.tolist(), "side": s.tolist(),
        "file": str(tmp_path / "from_hidden.keras")})
    assert theirs["layers"] == ["InputLayer", "InputLayer", "Add", "Dense"]
    assert theirs["input_shapes"] == [[None, 3], [None, 3]]
    for key, ours in (("from_hidden", expected), ("from_joined", h @ weights[2][0] + weights[2][1]),
                      ("loaded", expected)):
        np.testing.assert_allclose(theirs[key], ours, rtol=1e-5, atol=1e-6, err_msg=key)


def test_a_dicts_keys_naming_no_input_are_left_unused_with_a_warning_as_keras_leaves_them():
    """A table's columns given whole (``dict(dataframe)``, a tf.data pipeline of every column): the model takes
    its inputs' columns; the others are named in a warning."""
    a, b = gpunn.Input((1,), name="a"), gpunn.Input((1,), name="b")
    both = gpunn.Model({"a": a, "b": b}, layers.Dense(1, kernel_initializer="ones")(layers.Concatenate()([a, b])))
    one = gpunn.Model({"a": a}, layers.Dense(1, kernel_initializer="ones")(a))
    x = {"a": np.ones((4, 1), "float32"), "b": np.full((4, 1), 2.0, "float32"), "extra": np.zeros((4, 3))}
    unused = r"the dict holds keys that name none of the model's inputs, which are left unused: \['extra'\]"
    with pytest.warns(UserWarning, match=unused):
        np.testing.assert_allclose(both.predict(x, verbose=0), 3.0)
    with pytest.warns(UserWarning, match=unused):
        np.testing.assert_allclose(both(x), 3.0)
    both.compile(optimizer="sgd", loss="mse")
    with pytest.warns(UserWarning, match=unused):
        both.fit(x, np.zeros((4, 1)), verbose=0)
    with pytest.warns(UserWarning, match=r"left unused: \['b', 'extra'\] \(the input: 'a'\)"):
        np.testing.assert_allclose(one.predict(x, verbose=0), 1.0)
    with pytest.raises(ValueError, match=r"expected a dict of the model's inputs \['a', 'b'\]; missing \['b'\]"):
        both.predict({"a": x["a"], "extra": x["extra"]}, verbose=0)


def test_tensorflow_dtypes_name_their_dtype_as_in_tf_keras_scripts():
    """``keras.Input(shape=(1,), dtype=tf.string)``, ``dtype=tf.float32``: TensorFlow's DType objects (a stand-in of
    their class here: TensorFlow is not a dependency) are taken by their names."""
    class DType:
        def __init__(self, name):
            self.name = name

    DType.__module__ = "tensorflow.python.framework.dtypes"
    text, number, ids = (gpunn.Input((1,), dtype=DType("string")), gpunn.Input((2,), dtype=DType("float32")),
                         gpunn.Input((3,), dtype=DType("int64")))
    assert (text.input_dtype, number.dtype, ids.input_dtype) == ("string", "float32", "int64")
    assert layers.Dense(2, dtype=DType("float64")).dtype == "float64"


KERAS_OBJECTS = r'''
import json, sys
import numpy as np
import keras
import gpunn

task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"])


def trained(lib, optimizer, loss, metrics):
    gpunn.utils.set_random_seed(3)
    hidden = gpunn.layers.Dense(8, activation="relu", kernel_initializer=lib.initializers.HeNormal(seed=4),
                                bias_initializer=lib.initializers.Constant(0.1),
                                kernel_regularizer=lib.regularizers.L2(1e-3),
                                kernel_constraint=lib.constraints.MaxNorm(2.0))
    model = gpunn.Sequential([gpunn.Input((4,)), hidden, gpunn.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    kinds = [type(getattr(hidden, kind)).__module__.split(".")[0] for kind in
             ("kernel_initializer", "bias_initializer", "kernel_regularizer", "kernel_constraint")]
    return {"kinds": kinds, **{key: [float(v) for v in values] for key, values in history.items()}}


theirs = trained(keras, keras.optimizers.Adam(0.01), keras.losses.BinaryCrossentropy(from_logits=True),
                 [keras.metrics.BinaryAccuracy(threshold=0.0), keras.metrics.AUC(name="auc")])
ours = trained(gpunn, gpunn.optimizers.Adam(0.01), gpunn.losses.BinaryCrossentropy(from_logits=True),
               [gpunn.metrics.BinaryAccuracy(threshold=0.0), gpunn.metrics.AUC(name="auc")])
print(json.dumps({"theirs": theirs, "ours": ours}))
'''


def test_kerass_own_metrics_losses_and_optimizers_become_gpunns():
    """``metrics=[tf.metrics.BinaryAccuracy(threshold=0.0)]`` (the TF text-classification tutorial), a Keras loss,
    optimizer, initializer (``tf.initializers.zeros()``: the TF time-series tutorial), penalty or constraint
    object: gpunn's of the same class and config, named as Keras names them (not a Keras metric
    averaged as a function over the batches)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4))
    result = run_keras(KERAS_OBJECTS, {"x": x.tolist(), "y": (x[:, 0] > 0).astype(int).tolist()})
    assert sorted(result["theirs"]) == ["auc", "binary_accuracy", "kinds", "loss"]
    assert result["theirs"]["kinds"] == ["gpunn"] * 4  # (initializers, penalties and constraints too: gpunn's)
    assert result["theirs"] == result["ours"]


def _titanic_head(nested: bool):
    """The TF csv tutorial's model: a preprocessing head of a dict of numeric and string inputs (a functional model
    of several inputs), called on those inputs inside the model it trains; or the same layers called in turn."""
    gpunn.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    data = {"sex": rng.choice(["male", "female"], 64), "age": rng.uniform(1, 80, 64).astype("float32"),
            "fare": rng.uniform(5, 500, 64).astype("float32"), "alone": rng.choice(["y", "n"], 64)}
    inputs = {name: gpunn.Input((1,), name=name, dtype="string" if values.dtype.kind == "U" else "float32")
              for name, values in data.items()}
    norm = layers.Normalization()
    norm.adapt(np.stack([data["age"], data["fare"]], axis=1))
    parts = [norm(layers.Concatenate()([inputs["age"], inputs["fare"]]))]
    for name in ("sex", "alone"):
        lookup = layers.StringLookup(vocabulary=np.unique(data[name]))
        parts.append(layers.CategoryEncoding(num_tokens=lookup.vocabulary_size())(lookup(inputs[name])))
    preprocessed = layers.Concatenate()(parts)
    if nested:
        preprocessed = gpunn.Model(inputs, preprocessed)(inputs)
    body = gpunn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(1)])
    model = gpunn.Model(inputs, body(preprocessed))
    model.compile(loss=gpunn.losses.BinaryCrossentropy(from_logits=True), optimizer="adam")
    return model, data, rng.integers(0, 2, 64)


def test_a_model_of_several_inputs_is_called_inside_another_as_in_the_tf_csv_tutorial(tmp_path):
    (nested, data, y), (flat, _, _) = _titanic_head(True), _titanic_head(False)
    assert [type(layer).__name__ for layer in nested._graph_layers] == \
        [type(layer).__name__ for layer in flat._graph_layers]
    # as in Keras, a model called as a layer is one entry of model.layers, after the InputLayers it shares
    assert [type(layer).__name__ for layer in nested.layers] == ["InputLayer"] * 4 + ["Functional", "Sequential"]
    assert_trains_as_flat_and_loads(nested, flat, data, y, tmp_path / "titanic.keras", batch_size=16)


def test_a_model_of_several_inputs_refuses_what_does_not_fit_its_inputs():
    a, b = gpunn.Input((2,), name="a"), gpunn.Input((3,), name="b")
    head = gpunn.Model({"a": a, "b": b}, layers.Concatenate()([a, b]))
    other = gpunn.Input((2,), name="other")
    with pytest.raises(ValueError, match=r"model 'functional.*' takes the inputs \['a', 'b'\]; the dict it is called "
                                         r"on has no \['b'\]"):
        head({"a": other})
    with pytest.raises(ValueError, match=r"inputs\['b'\]: model .* takes samples of shape \(3,\) there, got \(2,\)"):
        head([other, other])
    with pytest.raises(ValueError, match=r"has 2 inputs \['a', 'b'\]; call it on a list of 2 symbolic values"):
        head([other])
    with pytest.raises(TypeError, match=r"its input 'b' computes on numbers, and is given the strings of 'text'"):
        head([other, gpunn.Input((3,), dtype="string", name="text")])
    assert head([other, gpunn.Input((3,))]).shape == (None, 5)


CONSTANT_EMBEDDINGS = r'''
import json, sys
import numpy as np
import keras
import gpunn

task = json.loads(sys.stdin.read())
matrix = np.arange(12.0).reshape(4, 3)  # pretrained vectors, as the NLP tutorials give an Embedding
ids = np.array([[0], [3]])
theirs = keras.layers.Embedding(4, 3, embeddings_initializer=keras.initializers.Constant(matrix))(ids)
ours = gpunn.layers.Embedding(4, 3, embeddings_initializer=keras.initializers.Constant(matrix))(ids)
inputs = keras.Input((1,))
embedded = keras.layers.Embedding(4, 3, embeddings_initializer=keras.initializers.Constant(matrix))(inputs)
keras.Model(inputs, embedded).save(task["path"])
print(json.dumps({"theirs": np.asarray(theirs).tolist(), "ours": np.asarray(ours).tolist()}))
'''


def test_kerass_constant_of_an_array_becomes_gpunns(tmp_path):
    """``embeddings_initializer=tf.keras.initializers.Constant(embedding_matrix)``: Keras's config holds the array as
    ``__numpy__``; gpunn's Constant takes it, from Keras's object and from Keras's file."""
    path = str(tmp_path / "embedding.keras")
    result = run_keras(CONSTANT_EMBEDDINGS, {"path": path})
    assert result["ours"] == result["theirs"] == [[[0.0, 1.0, 2.0]], [[9.0, 10.0, 11.0]]]
    loaded = gpunn.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(np.array([[3.0]]), verbose=0), [[[9.0, 10.0, 11.0]]])
    assert gpunn.layers.Embedding.from_config(loaded.layers[1].get_config()).get_config() == \
        loaded.layers[1].get_config()


def test_an_input_given_back_as_an_output():
    """``keras.Model(inputs=x, outputs=x)`` (and among other outputs), as Keras takes it."""
    inputs = gpunn.Input((3,))
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(gpunn.Model(inputs, inputs).predict(x, verbose=0), x)
    both = gpunn.Model(inputs, [inputs, gpunn.layers.Dense(2)(inputs)]).predict(x, verbose=0)
    np.testing.assert_array_equal(both[0], x)
    assert both[1].shape == (2, 2)
