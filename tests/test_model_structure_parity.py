"""Model structure and freezing, against Keras 3 itself: ``trainable`` set between ``compile`` and the first ``fit``,
a frozen BatchNormalization called eagerly, a Sequential changed after it was added to another, ``pop``,
``get_layer``, ``summary`` of models not built, ``load_weights(skip_mismatch=True)``, ``clone_model``'s
``clone_function`` calls and feature extractors reading a held model's output. One script runs under both
libraries; every result is compared."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import run_script_both_ways

import gpunn

SCRIPT = r'''
import io, json, sys, warnings
import numpy as np

def seeded(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([np.abs(rng.normal(size=w.shape)).astype("float32") * (1.0 if "variance" in w.path else 0.5)
                       for w in model.weights])

def data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 4)).astype("float32")
    return x, x[:, :1] * 2.0 - x[:, 1:2]

def moved(model, before):
    return [w.path.split("/")[-2] + "/" + w.path.split("/")[-1] for w, b in zip(model.weights, before)
            if not np.allclose(np.asarray(w), b)]

def attempt(function):
    try:
        return function()
    except Exception as exc:
        return [type(exc).__name__, str(exc)]

def run(keras, folder):
    L, out = keras.layers, {}
    x, y = data()
    # trainable set after compile, before the first fit: Keras's first fit takes it
    base = keras.Sequential([keras.Input((4,)), L.Dense(3, name="d1")], name="base")
    model = keras.Sequential([base, L.Dense(1, name="head")], name="outer")
    seeded(model)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    base.trainable = False
    before = [np.asarray(w).copy() for w in model.weights]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["late_freeze_loss"] = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    out["late_freeze_moved"] = moved(model, before)
    # a frozen BatchNormalization called eagerly with training=True stays in inference mode
    norm = L.BatchNormalization(name="bn")
    holder = keras.Sequential([keras.Input((4,)), norm], name="holder")
    seeded(holder)
    mean = np.asarray(norm.moving_mean).copy()
    holder.trainable = False
    out["frozen_bn_layer"] = np.asarray(norm(x[:4], training=True)).tolist()
    out["frozen_bn_model"] = np.asarray(holder(x[:4], training=True)).tolist()
    out["frozen_bn_kept"] = bool(np.allclose(mean, np.asarray(norm.moving_mean)))
    # a Sequential changed after it was added to another: the outer model follows it
    inner = keras.Sequential([keras.Input((4,)), L.Dense(3, name="q1"), L.Dense(3, name="q2")], name="inner")
    outer = keras.Sequential([inner, L.Dense(2, name="headq")], name="outerq")
    seeded(outer)
    inner.pop()
    out["after_inner_pop"] = [[layer.name for layer in outer.layers], outer.count_params(),
                              np.asarray(outer.predict(x[:3], verbose=0)).tolist()]
    inner.add(L.Dense(3, name="q3"))
    seeded(outer, 2)
    out["after_inner_add"] = [[w.path for w in outer.weights], np.asarray(outer.predict(x[:3], verbose=0)).tolist()]
    # pop: a held model whole, rebuilt (or not) as Keras does; get_layer's arguments; add of a non-layer
    nest = keras.Sequential([keras.Sequential([keras.Input((4,)), L.Dense(2, name="n1")], name="nb"),
                             L.Dense(1, name="nh"), L.Dense(1, name="nh2")], name="nest")
    out["pop"] = [nest.pop().name, nest.built, nest.output_shape, nest.pop(rebuild=False).name, nest.built,
                  nest.pop().name, [layer.name for layer in nest.layers]]
    out["get_layer"] = [attempt(lambda: model.get_layer("head", 0)), attempt(lambda: model.get_layer(index=5)),
                        attempt(lambda: model.get_layer()), attempt(lambda: model.get_layer("nope")),
                        model.get_layer(index=0).name]
    out["add_non_layer"] = attempt(lambda: keras.Sequential().add(3))[0]
    # an unbuilt Sequential holding an unbuilt one: summary and attributes
    lazy = keras.Sequential([keras.Sequential([L.Dense(3, name="f1")], name="lazy_base"), L.Dense(1, name="fh")],
                            name="lazy")
    text = []
    lazy.summary(print_fn=lambda line, line_break=False: text.append(line))
    out["summary_unbuilt"] = [line for line in "\n".join(text).splitlines() if not line.startswith(" Backend")]
    out["hasattr_unbuilt"] = [hasattr(lazy, "input_shape"), getattr(lazy, "output_shape", None)]
    # load_weights(skip_mismatch=True): the base loads, the new head keeps its weights
    model.save_weights(folder + "/skip.weights.h5")
    fresh = keras.Sequential([keras.Sequential([keras.Input((4,)), L.Dense(3, name="d1")], name="base"),
                              L.Dense(2, name="head")], name="outer2")
    head = [np.asarray(w).copy() for w in fresh.get_layer("head").weights]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fresh.load_weights(folder + "/skip.weights.h5", skip_mismatch=True)
    out["skip_mismatch"] = [np.allclose(fresh.get_weights()[0], model.get_weights()[0]),
                            all(np.array_equal(np.asarray(w), h) for w, h in zip(fresh.get_layer("head").weights, head)),
                            any("could not be loaded" in str(w.message) for w in caught)]
    out["no_skip"] = attempt(lambda: fresh.load_weights(folder + "/skip.weights.h5"))[0]
    # clone_function sees the entries of model.layers (a held model whole)
    inputs = keras.Input((4,), name="ci")
    held = keras.Sequential([L.Dense(3, name="c1"), L.Dense(2, name="c2")], name="cb")
    graph = keras.Model(inputs, L.Dense(1, name="ch")(held(inputs)), name="cg")
    for recursive in (False, True):
        seen = []
        def record(layer):
            seen.append(layer.name)
            return layer.__class__.from_config(layer.get_config())
        keras.models.clone_model(graph, clone_function=record, recursive=recursive)
        out[f"clone_seen_{recursive}"] = sorted(seen)
    # clone_model onto given inputs
    seeded(graph)
    onto = keras.models.clone_model(graph, input_tensors=keras.Input((4,), name="newin"))
    onto.set_weights(graph.get_weights())
    out["clone_inputs"] = [[layer.name for layer in onto.layers],
                           bool(np.allclose(onto.predict(x[:2], verbose=0), graph.predict(x[:2], verbose=0))),
                           [layer.name for layer in keras.models.clone_model(
                               model, input_tensors=[keras.Input((4,), name="newseq")]).layers],
                           attempt(lambda: keras.models.clone_model(model, input_tensors=[1, 2]))]
    # a feature extractor reading a held model's output
    extractor = keras.Model(graph.inputs, graph.get_layer("cb").output)
    out["extractor"] = [[layer.name for layer in extractor.layers],
                        np.asarray(extractor.predict(x[:2], verbose=0)).tolist(),
                        np.asarray(held.predict(x[:2], verbose=0)).tolist()]
    return out
'''

@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(SCRIPT, tmp_path_factory)


NUMBERS = ["late_freeze_loss", "frozen_bn_layer", "frozen_bn_model"]
SAME = ["late_freeze_moved", "frozen_bn_kept", "pop", "get_layer", "add_non_layer", "summary_unbuilt",
        "hasattr_unbuilt", "skip_mismatch", "no_skip", "clone_seen_False", "clone_seen_True", "clone_inputs"]


@pytest.mark.parametrize("key", NUMBERS)
def test_numbers_equal_keras(both, key):
    np.testing.assert_allclose(both[0][key], both[1][key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("key", SAME)
def test_results_equal_keras(both, key):
    assert both[0][key] == both[1][key]


def test_an_outer_model_follows_its_held_model_changes(both):
    ours, theirs = both
    assert ours["after_inner_pop"][:2] == theirs["after_inner_pop"][:2]
    np.testing.assert_allclose(ours["after_inner_pop"][2], theirs["after_inner_pop"][2], rtol=1e-5, atol=1e-6)
    assert ours["after_inner_add"][0] == theirs["after_inner_add"][0]
    np.testing.assert_allclose(ours["after_inner_add"][1], theirs["after_inner_add"][1], rtol=1e-5, atol=1e-6)


def test_a_feature_extractor_reads_the_held_model_output(both):
    ours, theirs = both
    np.testing.assert_allclose(ours["extractor"][1], theirs["extractor"][1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours["extractor"][1], ours["extractor"][2], rtol=1e-6)
    assert ours["extractor"][0] == theirs["extractor"][0] == ["ci", "cb"]


FREEZE_AFTER_LOAD = r'''
import json, sys
import numpy as np

def run(keras, path):
    L = keras.layers
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), L.Dense(3, name="a"), L.Dense(1, name="b")])
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(x, x[:, :1], epochs=1, verbose=0, shuffle=False)
    model.save(path)
    loaded = keras.models.load_model(path)
    loaded.get_layer("a").trainable = False
    loaded.fit(x, x[:, :1], epochs=1, verbose=0, shuffle=False)
    return {"a": [w.tolist() for w in loaded.get_layer("a").get_weights()],
            "b": [w.tolist() for w in loaded.get_layer("b").get_weights()],
            "a_saved": [w.tolist() for w in model.get_layer("a").get_weights()]}
'''


def _frozen_after_load(tmp_path) -> dict:
    namespace: dict = {}
    exec(FREEZE_AFTER_LOAD, namespace)
    with gpunn.use_backend("numpy"):
        return namespace["run"](gpunn, str(tmp_path / "m.keras"))


def test_a_layer_frozen_after_load_model_stays_frozen_and_the_optimizer_keeps_its_state(tmp_path):
    """A compiled model loaded, a layer frozen, fit without a compile: as Keras on TensorFlow, the first fit takes
    the flag, and the weights still trained keep their Adam moments from the file: the same as the change applied
    by force (``make_train_function(force=True)``) to the loaded model."""
    ours = _frozen_after_load(tmp_path)
    for kept, saved in zip(ours["a"], ours["a_saved"]):
        np.testing.assert_array_equal(kept, saved)
    with gpunn.use_backend("numpy"):  # the same with the model kept: the change applied by force
        model = gpunn.models.load_model(tmp_path / "m.keras")
        model.get_layer("a").trainable = False
        model.make_train_function(force=True)
        x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
        model.fit(x, x[:, :1], epochs=1, verbose=0, shuffle=False)
    for mine, forced in zip(ours["b"], model.get_layer("b").get_weights()):
        np.testing.assert_array_equal(mine, forced)


def test_a_layer_frozen_after_load_model_trains_as_in_tensorflow_keras(tmp_path):
    """Against Keras on TensorFlow, where GPUNN_KERAS_TF_PYTHON names an interpreter with it (Keras on JAX refuses
    the step)."""
    from helpers import run_keras_with_tensorflow_script

    ours = _frozen_after_load(tmp_path)
    theirs = run_keras_with_tensorflow_script(
        FREEZE_AFTER_LOAD + "\nprint(json.dumps(run(__import__('keras'), sys.argv[1] if len(sys.argv) > 1 else "
        f"{str(tmp_path / 'tf.keras')!r})))\n", {}, backend="tensorflow")
    for mine, keras_weight in zip(ours["b"] + ours["a"], theirs["b"] + theirs["a"]):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-6)
