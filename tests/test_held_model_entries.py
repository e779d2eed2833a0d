"""A model added to a Sequential, or called as a layer in a functional model, is one entry of ``model.layers``
(``models/model_entries.py``), as in Keras: ``model.layers[0].trainable = False`` freezes the whole held model,
``get_layer``, ``pop`` and ``summary`` see it as one layer, while its layers run, train and save in its place.
Each case runs under Keras 3 and gpunn from one source, from the same initial weights."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import run_case_both_ways, run_keras

import gpunn
from gpunn import layers

CASE_SOURCE = r'''
import numpy as np

def build(keras, kind):
    L = keras.layers
    if kind == "sequential_in_sequential":
        base = keras.Sequential([keras.Input((4,)), L.Dense(6, activation="relu"), L.Dense(5)], name="base")
        return keras.Sequential([base, L.Dense(1, name="head")], name="outer")
    if kind == "input_then_sequential":
        base = keras.Sequential([L.Dense(6, activation="tanh"), L.Dense(5)], name="base")
        return keras.Sequential([keras.Input((4,)), L.Dense(4, name="first"), base, L.Dense(1, name="head")],
                                name="outer")
    if kind == "two_levels":
        core = keras.Sequential([L.Dense(5, activation="relu", name="c1"), L.Dense(5, name="c2")], name="core")
        base = keras.Sequential([keras.Input((4,)), L.Dense(5, name="b1"), core], name="base")
        return keras.Sequential([base, L.Dense(1, name="head")], name="outer")
    inputs = keras.Input((4,), name="x")
    if kind == "functional_calls_sequential":
        base = keras.Sequential([L.Dense(6, activation="relu", name="b1"), L.Dense(5, name="b2")], name="base")
        return keras.Model(inputs, L.Dense(1, name="head")(base(inputs)), name="outer")
    if kind == "functional_calls_functional":
        inner_in = keras.Input((4,), name="inner_x")
        base = keras.Model(inner_in, L.Dense(5, name="b2")(L.Dense(6, activation="relu", name="b1")(inner_in)),
                           name="base")
        hidden = L.Dense(3, name="side")(inputs)
        return keras.Model(inputs, L.Dense(1, name="head")(L.Concatenate(name="cat")([base(inputs), hidden])),
                           name="outer")
    raise ValueError(kind)

def summary_rows(model):
    lines = []
    model.summary(print_fn=lambda text, line_break=False: lines.append(text))
    text = "\n".join(lines)
    return [line.split("│")[1].strip() + " | " + line.split("│")[3].strip()
            for line in text.splitlines() if line.startswith("│") and "(" in line.split("│")[1]]

def run(keras, case, extra_compile=None):
    keras.backend.clear_session()  # (layer names from a fresh count in both libraries)
    keras.utils.set_random_seed(0)
    model = build(keras, case["kind"])
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    text = []
    model.summary(expand_nested=True, show_trainable=True, line_length=76, print_fn=lambda t, line_break=False:
                  text.append(t))
    out = {"expanded": [line for line in "\n".join(text).splitlines() if not line.startswith(" Backend")],
           "layers": [layer.name for layer in model.layers],
           "classes": [type(layer).__name__ for layer in model.layers],
           "by_index": [model.get_layer(index=k).name for k in range(len(model.layers))],
           "summary": summary_rows(model)}
    for k in case["freeze"]:
        model.layers[k].trainable = False
    out["counts"] = [len(model.trainable_weights), len(model.non_trainable_weights)]
    out["summary_frozen"] = summary_rows(model)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    out["loss"] = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    out["weights"] = [w.tolist() for w in model.get_weights()]
    if case["unfreeze"]:
        for k in case["freeze"]:
            model.layers[k].trainable = True
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        out["counts_unfrozen"] = [len(model.trainable_weights), len(model.non_trainable_weights)]
        out["loss_unfrozen"] = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history["loss"]
    if type(model).__name__ == "Sequential":
        popped = model.pop()
        out["popped"] = [popped.name, [layer.name for layer in model.layers]]
    return out
'''

CASES = [
    {"kind": "sequential_in_sequential", "freeze": [0], "unfreeze": True},
    {"kind": "input_then_sequential", "freeze": [1], "unfreeze": True},
    {"kind": "two_levels", "freeze": [0], "unfreeze": False},
    {"kind": "functional_calls_sequential", "freeze": [1], "unfreeze": True},
    {"kind": "functional_calls_functional", "freeze": [1], "unfreeze": False},
]


@pytest.fixture(scope="module")
def both_ways():
    return run_case_both_ways(CASE_SOURCE, CASES)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case["kind"] for case in CASES])
def test_a_held_model_is_one_entry_and_freezes_whole_as_in_keras(both_ways, index):
    ours, theirs = both_ways[0][index], both_ways[1][index]
    for key in ("layers", "classes", "by_index", "summary", "expanded", "counts", "summary_frozen", "popped"):
        assert ours.get(key) == theirs.get(key), key
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    for mine, keras_weight in zip(ours["weights"], theirs["weights"]):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-6)
    if CASES[index]["unfreeze"]:
        assert ours["counts_unfrozen"] == theirs["counts_unfrozen"]
        np.testing.assert_allclose(ours["loss_unfrozen"], theirs["loss_unfrozen"], rtol=1e-5)


def test_a_held_model_runs_saves_and_loads_in_its_place(tmp_path):
    """The held model's layers train in the outer model and its file; the loaded model lists the layers flat
    (gpunn loads a held model's layers into the outer model)."""
    base = gpunn.Sequential([gpunn.Input((4,)), layers.Dense(6, activation="relu"), layers.Dense(5)], name="base")
    outer = gpunn.Sequential([base, layers.Dense(1)])
    assert outer.layers[0] is base and outer.get_layer("base") is base
    assert [layer.name for layer in outer._graph_layers] == [layer.name for layer in base.layers] + \
        [outer.layers[1].name]
    outer.compile("adam", "mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    outer.fit(x, x[:, :1], epochs=1, verbose=0)
    np.testing.assert_array_equal(base.predict(x, verbose=0), outer.layers[0].predict(x, verbose=0))
    outer.save(tmp_path / "m.keras")
    loaded = gpunn.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), outer.predict(x, verbose=0))


FILES_SOURCE = r'''
import json, sys
import numpy as np

def build(keras, kind="sequential"):
    L = keras.layers
    base = keras.Sequential([keras.Input((4,)), L.Dense(6, activation="relu"), L.BatchNormalization(), L.Dense(5)],
                            name="base")
    if kind == "sequential":
        return keras.Sequential([base, L.Dense(1, name="head")], name="outer")
    inputs = keras.Input((4,), name="x")
    if kind == "functional":  # the transfer-learning guide's call: the base's BatchNormalization in inference mode
        return keras.Model(inputs, L.Dense(1, name="head")(base(inputs, training=False)), name="outer")
    inner_in = keras.Input((4,), name="inner_x")
    hidden = L.Dense(6, activation="relu", name="g1")(inner_in)
    graph = keras.Model(inner_in, L.Dense(5, name="g3")(L.Concatenate(name="g2")([hidden, inner_in])), name="base")
    side = L.Dense(3, name="side")(inputs)
    return keras.Model(inputs, L.Dense(1, name="head")(L.Concatenate(name="cat")([graph(inputs), side])),
                       name="outer")

def inner_model(model):
    return [layer for layer in model.layers if layer.name == "base"][0]

def write(keras, folder, kind):
    keras.utils.set_random_seed(1)
    model = build(keras, kind)
    [layer for layer in inner_model(model).layers if layer.weights][0].trainable = False
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(2).normal(size=(16, 4)).astype("float32")
    model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0)
    for name in ("m.keras", "m.h5"):
        model.save(f"{folder}/{name}")
    model.save_weights(f"{folder}/m.weights.h5")
    return x, model.predict(x, verbose=0)

def read(keras, folder, x, kind):
    out = {}
    for name in ("m.keras", "m.h5"):
        model = keras.models.load_model(f"{folder}/{name}")
        out[name] = {"layers": [layer.name for layer in model.layers],
                     "inner": [layer.name for layer in inner_model(model).layers],
                     "trainable": [len(model.trainable_weights), len(model.non_trainable_weights)],
                     "predictions": model.predict(x, verbose=0).tolist()}
    fresh = build(keras, kind)
    fresh.load_weights(f"{folder}/m.weights.h5")
    out["m.weights.h5"] = {"predictions": fresh.predict(x, verbose=0).tolist()}
    return out
'''

KERAS_FILES_MAIN = r'''
import keras
task = json.loads(sys.stdin.read())
if task["write"]:
    x, predictions = write(keras, task["folder"], task["kind"])
    print(json.dumps({"x": x.tolist(), "predictions": predictions.tolist()}))
else:
    print(json.dumps(read(keras, task["folder"], np.asarray(task["x"], dtype="float32"), task["kind"])))
'''


def _files_namespace() -> dict:
    namespace: dict = {}
    exec(FILES_SOURCE, namespace)
    return namespace


KINDS = ["sequential", "functional", "functional_graph"]
TOP_LEVEL = {"sequential": ["base", "head"], "functional": ["x", "base", "head"],
             "functional_graph": ["x", "base", "side", "cat", "head"]}


@pytest.mark.parametrize("kind", KINDS)
def test_keras_files_of_a_model_holding_a_model_load_with_it_as_one_entry(tmp_path, kind):
    written = run_keras(FILES_SOURCE + KERAS_FILES_MAIN, {"write": True, "folder": str(tmp_path), "kind": kind})
    x = np.asarray(written["x"], dtype=np.float32)
    with gpunn.use_backend("numpy"):
        ours = _files_namespace()["read"](gpunn, str(tmp_path), x, kind)
    for name, found in ours.items():
        np.testing.assert_allclose(found["predictions"], written["predictions"], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
        if name != "m.weights.h5":
            assert found["layers"] == TOP_LEVEL[kind], name


@pytest.mark.parametrize("kind", KINDS)
def test_gpunn_files_of_a_model_holding_a_model_load_in_keras_as_written(tmp_path, kind):
    gpunn.backend.clear_session()  # layer names count from a fresh session, as in Keras's process
    with gpunn.use_backend("numpy"):
        x, predictions = _files_namespace()["write"](gpunn, str(tmp_path), kind)
        ours = _files_namespace()["read"](gpunn, str(tmp_path), x, kind)
    theirs = run_keras(FILES_SOURCE + KERAS_FILES_MAIN,
                       {"write": False, "folder": str(tmp_path), "x": x.tolist(), "kind": kind})
    for name in ours:
        np.testing.assert_allclose(theirs[name]["predictions"], predictions, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(ours[name]["predictions"], predictions, err_msg=name)
        if name != "m.weights.h5":
            assert ours[name]["layers"] == theirs[name]["layers"] == TOP_LEVEL[kind], name
            assert ours[name]["inner"] == theirs[name]["inner"], name
            assert ours[name]["trainable"] == theirs[name]["trainable"], name


@pytest.mark.parametrize("kind", KINDS)
def test_a_model_holding_a_model_keeps_it_through_configs_clones_and_copies(kind):
    import copy

    model = _files_namespace()["build"](gpunn, kind)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    config = model.get_config()
    classes = [type(entry).__name__ for entry in model.layers]
    assert [entry["class_name"] for entry in config["layers"]] == \
        (["InputLayer"] if kind == "sequential" else []) + classes
    made = [type(model).from_config(config), gpunn.models.model_from_json(model.to_json()),
            copy.deepcopy(model), gpunn.models.clone_model(model)]
    for other in made:
        assert [type(entry).__name__ for entry in other.layers] == classes
        assert other.get_config() == config
    for other in made:
        other.set_weights(model.get_weights())
        np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_model_called_twice_is_one_entry_and_its_files_keep_both_calls(tmp_path):
    """As in Keras, ``model.layers`` lists a model called on two inputs once; gpunn's files hold its layers
    shared by the two calls (Keras's hold the model with two nodes), which load back to the same predictions."""
    base = gpunn.Sequential([layers.Dense(3, name="b1")], name="base")
    a, b = gpunn.Input((4,), name="a"), gpunn.Input((4,), name="b")
    model = gpunn.Model([a, b], layers.Add(name="add")([base(a), base(b)]))
    assert [layer.name for layer in model.layers] == ["a", "b", "base", "add"]
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    loaded = gpunn.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict([x, 2 * x], verbose=0), model.predict([x, 2 * x], verbose=0))


def _round_trips(model, x, tmp_path) -> None:
    """The model's .keras and .h5 files, and its clone given its weights, predict as it does."""
    expected = model.predict(x, verbose=0)
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        np.testing.assert_array_equal(gpunn.models.load_model(tmp_path / name).predict(x, verbose=0), expected,
                                      err_msg=name)
    clone = gpunn.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), expected)


def test_a_layer_of_a_held_model_called_outside_it_is_listed_and_saved(tmp_path):
    """Keras lists the held model and the layer the outer model also calls (['x', 'inner', 'shared', 'head']);
    gpunn's files hold such a model's layers in its place, which load back exactly (Keras's own .keras file of
    it does not load in Keras)."""
    shared = layers.Dense(4, name="shared")
    inner = gpunn.Sequential([gpunn.Input((4,)), shared, layers.Dense(4, name="i2")], name="inner")
    inputs = gpunn.Input((4,), name="x")
    model = gpunn.Model(inputs, layers.Dense(1, name="head")(shared(inner(inputs))))
    assert [layer.name for layer in model.layers] == ["x", "inner", "shared", "head"]
    _round_trips(model, np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32), tmp_path)


def test_two_held_models_sharing_a_layer_are_listed_and_saved(tmp_path):
    encoder = layers.Dense(3, name="shared_enc")
    tower1 = gpunn.Sequential([encoder, layers.Dense(2, name="t1b")], name="tower1")
    tower2 = gpunn.Sequential([encoder, layers.Dense(2, name="t2b")], name="tower2")
    inputs = gpunn.Input((4,), name="a")
    joined = layers.Concatenate(name="cat")([tower1(inputs), tower2(inputs)])
    model = gpunn.Model(inputs, layers.Dense(1, name="head")(joined))
    assert [layer.name for layer in model.layers] == ["a", "tower1", "tower2", "cat", "head"]  # as Keras lists them
    _round_trips(model, np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32), tmp_path)


def test_a_model_holding_a_model_with_operations_between_clones_and_saves(tmp_path):
    inputs = gpunn.Input((4,), name="x")
    inner = gpunn.Sequential([layers.Dense(3, name="k1")], name="inner")
    model = gpunn.Model(inputs, inner(gpunn.ops.tanh(layers.Dense(4, name="pre")(inputs))))
    assert [layer.name for layer in model.layers] == ["x", "pre", "inner"]
    _round_trips(model, np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32), tmp_path)


def test_a_held_model_changed_after_a_functional_model_called_it(tmp_path):
    """Keras's functional model would run the held model's layers of now; gpunn's keeps those it was made
    from, says so, and lists and saves them as its own."""
    inner = gpunn.Sequential([layers.Dense(3, name="k1"), layers.Dense(3, name="k2")], name="inner")
    inputs = gpunn.Input((4,), name="x")
    model = gpunn.Model(inputs, layers.Dense(2, name="head")(inner(inputs)))
    x = np.random.default_rng(3).normal(size=(3, 4)).astype(np.float32)
    before = model.predict(x, verbose=0)
    with pytest.warns(UserWarning, match="changed after model .* called it as a layer"):
        inner.pop()
    assert [layer.name for layer in model.layers] == ["x", "k1", "k2", "head"]
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    _round_trips(model, x, tmp_path)


def test_a_held_model_that_no_longer_fits_fails_at_the_outer_model_s_next_use():
    inner = gpunn.Sequential([gpunn.Input((4,)), layers.Dense(5, name="i1"), layers.Dense(3, name="i2")],
                             name="inner")
    outer = gpunn.Sequential([inner, layers.Dense(2, name="head")], name="outer")
    assert inner.pop().name == "i2"  # as in Keras, the pop itself succeeds
    with pytest.raises(ValueError, match="head"):
        outer.predict(np.zeros((2, 4), np.float32), verbose=0)
    inner.add(layers.Dense(3, name="i3"))
    assert [layer.name for layer in outer._graph_layers] == ["i1", "i3", "head"]
    assert outer.predict(np.zeros((2, 4), np.float32), verbose=0).shape == (2, 2)


def test_pop_rebuilds_a_model_built_by_build_or_by_data():
    model = gpunn.Sequential([layers.Dense(3, name="p1"), layers.Dense(2, name="p2")])
    model.build((None, 4))
    assert model.pop().name == "p2" and model.built and model.output_shape == (None, 3)
