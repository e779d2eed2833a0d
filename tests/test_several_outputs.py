"""Functional models of several outputs: Keras's auxiliary outputs and multi-task heads.

Checked against Keras 3 on the same weights and batches (logs, evaluate's order, predictions, files both ways),
against finite differences in float64 (the weighted sum of the outputs' losses, with sample weights, a fused
softmax head and an output read again by another layer), and a replayed step against the eager one, bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.trainer.plan import make_plan
from helpers import (Repeat, assert_gradients_close, assert_same_training, numerical_gradient,  # noqa: F401
                     numpy_backend, run_keras)

HEADS = '''
def build(keras, layers, dtype="float32", outputs_as="list"):
    wide = keras.Input(shape=(5,), name="wide", dtype=dtype)
    deep = keras.Input(shape=(6,), name="deep", dtype=dtype)
    h1 = layers.Dense(12, activation="relu", name="h1", dtype=dtype)(deep)
    h2 = layers.Dense(12, activation="tanh", name="h2", dtype=dtype)(h1)
    concat = layers.concatenate([wide, h2], name="concat", dtype=dtype)
    main = layers.Dense(1, name="main", dtype=dtype)(concat)
    aux = layers.Dense(1, name="aux", dtype=dtype)(h2)
    kind = layers.Dense(3, activation="softmax", name="kind", dtype=dtype)(h1)
    outputs = [main, aux, kind]
    if outputs_as == "dict":
        outputs = {"price": main, "helper": aux, "kind": kind}
    return keras.Model(inputs=[wide, deep], outputs=outputs, name="heads")


def compile_heads(model, keras):
    model.compile(optimizer=keras.optimizers.SGD(0.02), loss=["mse", "mse", "sparse_categorical_crossentropy"],
                  loss_weights=[0.8, 0.1, 0.1], metrics=[["mae"], None, ["accuracy"]])
'''

KERAS_HEADS = HEADS + r'''
import json, os, sys
os.environ["COLUMNS"] = "200"  # rich draws Keras's summary no wider than the terminal
import numpy as np
import keras
task = json.loads(sys.stdin.read())
xw, xd, y_main, y_kind, w = (np.array(task[k]) for k in ("xw", "xd", "y_main", "y_kind", "w"))
xw, xd, y_main = xw.astype("float32"), xd.astype("float32"), y_main.astype("float32")
targets = [y_main, y_main * 0.5, y_kind]
model = build(keras, keras.layers)
model.set_weights([np.array(v, dtype="float32") for v in task["weights"]])
texts = []
model.summary(line_length=108, print_fn=lambda text, line_break=False: texts.append(text))
out = {"layers": [layer.name for layer in model.layers], "output_names": list(model.output_names),
       "config": model.get_config(), "summary": texts[0]}
for name in ("mine.h5",):
    out[name] = [p.tolist() for p in keras.saving.load_model(task["dir"] + "/" + name).predict([xw, xd], verbose=0)]
mine = keras.saving.load_model(task["dir"] + "/mine.keras")
out["mine_predict"] = [p.tolist() for p in mine.predict([xw, xd], verbose=0)]
out["mine_evaluate"] = mine.evaluate([xw, xd], targets, verbose=0, return_dict=True)
compile_heads(model, keras)
history = model.fit([xw, xd], targets, sample_weight=w, batch_size=16, epochs=3, shuffle=False, verbose=0,
                    validation_data=([xw[:20], xd[:20]], [t[:20] for t in targets]))
out["history"] = {k: [float(v) for v in values] for k, values in history.history.items()}
out["evaluate"] = model.evaluate([xw, xd], {"main": targets[0], "aux": targets[1], "kind": targets[2]},
                                 verbose=0)
out["trained"] = [v.tolist() for v in model.get_weights()]
out["predict"] = [p.tolist() for p in model.predict([xw, xd], verbose=0)]
model.save(task["dir"] + "/theirs.keras")
as_dict = build(keras, keras.layers, outputs_as="dict")
out["dict_layers"] = [layer.name for layer in as_dict.layers]
out["dict_output_names"] = list(as_dict.output_names)
out["dict_output_layers"] = as_dict.get_config()["output_layers"]
out["dict_predict_keys"] = sorted(as_dict.predict([xw, xd], verbose=0))
print(json.dumps(out))
'''


def _heads(dtype="float32", outputs_as="list"):
    gpunn.utils.set_random_seed(21)
    namespace: dict = {}
    exec(HEADS, namespace)
    return namespace["build"](gpunn, layers, dtype, outputs_as), namespace["compile_heads"]


def _data(dtype="float32", rows=48):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((rows, 8)).astype(dtype)
    y_main = (x[:, :3].sum(axis=1, keepdims=True)).astype(dtype)
    y_kind = (x[:, 3] > 0).astype(np.int64) + (x[:, 4] > 0.5).astype(np.int64)
    w = rng.uniform(0.5, 1.5, rows)
    return x[:, :5], x[:, 2:], y_main, y_kind, w


def _connections(config):
    return [(entry["name"], entry["inbound_nodes"]) for entry in config["layers"]], config["output_layers"]


def test_several_outputs_train_evaluate_predict_and_save_as_in_keras(tmp_path):
    xw, xd, y_main, y_kind, w = _data()
    targets = [y_main, y_main * 0.5, y_kind]
    model, compile_heads = _heads()
    compile_heads(model, gpunn)
    model.save(tmp_path / "mine.keras")
    model.save(tmp_path / "mine.h5")
    before = model.predict([xw, xd], verbose=0)
    theirs = run_keras(KERAS_HEADS, {"xw": xw.tolist(), "xd": xd.tolist(), "y_main": y_main.tolist(),
                                     "y_kind": y_kind.tolist(), "w": w.tolist(), "dir": str(tmp_path),
                                     "weights": [v.tolist() for v in model.get_weights()]})
    assert [layer.name for layer in model.layers] == theirs["layers"]
    assert model.output_names == theirs["output_names"] == ["main", "aux", "kind"]
    assert _connections(model.get_config()) == _connections(theirs["config"])
    texts = []
    model.summary(line_length=108, print_fn=texts.append)
    assert texts[0].split(" Total params")[0] == theirs["summary"].split(" Total params")[0]
    for name in ("mine_predict", "mine.h5"):  # Keras loads gpunn's files
        for ours, keras_side in zip(before, theirs[name]):
            np.testing.assert_allclose(keras_side, ours, rtol=1e-5, atol=1e-6, err_msg=name)
    ours_before = model.evaluate([xw, xd], targets, verbose=0, return_dict=True)
    assert list(ours_before) == sorted(["loss", "main_loss", "aux_loss", "kind_loss", "kind_accuracy", "main_mae"])
    for key, value in theirs["mine_evaluate"].items():  # ... compiled as gpunn compiled it
        assert ours_before[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key

    history = model.fit([xw, xd], targets, sample_weight=w, batch_size=16, epochs=3, shuffle=False, verbose=0,
                        validation_data=([xw[:20], xd[:20]], [t[:20] for t in targets]))
    assert set(history.history) == set(theirs["history"])
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(history.history[key], values, rtol=2e-4, atol=1e-5, err_msg=key)
    for ours, keras_weight in zip(model.get_weights(), theirs["trained"]):
        np.testing.assert_allclose(ours, keras_weight, rtol=1e-4, atol=1e-5)
    # evaluate's list: the loss, the outputs' losses, then the other logs by name, as Keras orders it
    evaluated = model.evaluate([xw, xd], {"main": targets[0], "aux": targets[1], "kind": targets[2]}, verbose=0)
    np.testing.assert_allclose(evaluated, theirs["evaluate"], rtol=1e-5, atol=1e-6)
    assert model.metrics_names == ["loss", "main_loss", "aux_loss", "kind_loss", "kind_accuracy", "main_mae"]
    predicted = model.predict([xw, xd], verbose=0)
    assert isinstance(predicted, list) and len(predicted) == 3
    for ours, keras_side in zip(predicted, theirs["predict"]):
        np.testing.assert_allclose(ours, keras_side, rtol=1e-5, atol=1e-6)

    loaded = gpunn.models.load_model(tmp_path / "theirs.keras")  # gpunn loads Keras's, compiled as Keras's
    assert loaded.output_names == ["main", "aux", "kind"]
    for ours, keras_side in zip(loaded.predict([xw, xd], verbose=0), theirs["predict"]):
        np.testing.assert_allclose(ours, keras_side, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.evaluate([xw, xd], targets, verbose=0), theirs["evaluate"], rtol=1e-5,
                               atol=1e-6)

    as_dict, _ = _heads(outputs_as="dict")
    assert [layer.name for layer in as_dict.layers] == theirs["dict_layers"]
    assert as_dict.output_names == theirs["dict_output_names"]
    assert as_dict.get_config()["output_layers"] == theirs["dict_output_layers"]
    assert sorted(as_dict.predict([xw, xd], verbose=0)) == theirs["dict_predict_keys"]


def test_the_weighted_sum_of_the_outputs_losses_matches_finite_differences():
    """Outputs: a sigmoid head read again by another layer (so it keeps its activation), a softmax head whose
    activation the loss takes over, a linear head; weighted losses and sample weights."""
    gpunn.utils.set_random_seed(4)
    inputs = gpunn.Input(shape=(4,), dtype="float64")
    hidden = layers.Dense(5, activation="tanh", dtype="float64", kernel_regularizer="l2")(inputs)
    gate = layers.Dense(2, activation="sigmoid", dtype="float64", name="gate")(hidden)
    classes = layers.Dense(3, activation="softmax", dtype="float64", name="classes")(
        layers.Concatenate(dtype="float64")([hidden, gate]))
    value = layers.Dense(2, dtype="float64", name="value")(hidden)
    model = gpunn.Model(inputs, [gate, classes, value])
    weights = (0.3, 1.0, 2.0)
    model.compile(optimizer=gpunn.optimizers.SGD(0.1),
                  loss={"gate": "binary_crossentropy", "classes": "sparse_categorical_crossentropy",
                        "value": "huber"}, loss_weights=dict(zip(["gate", "classes", "value"], weights)))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 4))
    y_gate, y_class, y_value = rng.integers(0, 2, (7, 2)).astype(float), rng.integers(0, 3, 7), rng.normal(size=(7, 2))
    w = rng.uniform(0.2, 2.0, 7)
    plan = make_plan(model, model._sparse_labels(None))
    assert [o.raw for o in plan.outputs] == [False, True, False]  # the gate is read by the Concatenate

    def objective(_):
        gate_p, class_p, value_p = model.predict(x, verbose=0)
        gate_p = np.clip(gate_p, 1e-7, 1 - 1e-7)
        bce = -(y_gate * np.log(gate_p) + (1 - y_gate) * np.log(1 - gate_p)).mean(axis=1)
        ce = -np.log(class_p[np.arange(7), y_class])
        error = np.abs(value_p - y_value)
        huber = np.where(error <= 1, 0.5 * error ** 2, error - 0.5).mean(axis=1)
        penalty = 0.01 * (model.layers[1].get_weights()[0] ** 2).sum()
        return sum(k * (w * part).mean() for k, part in zip(weights, (bce, ce, huber))) + penalty

    numeric = numerical_gradient(objective, model.params)
    result = model.train_on_batch(x, {"gate": y_gate, "classes": y_class, "value": y_value}, sample_weight=w,
                                  return_dict=True)
    assert_gradients_close(np.array(model.grads), numeric, what="three outputs: d total loss / d params")
    assert list(result) == ["classes_loss", "gate_loss", "loss", "value_loss"]


def test_several_outputs_replay_bit_for_bit_as_eager():
    def run(jit):
        model, compile_heads = _heads()
        model.compile(optimizer="adam", loss=["mse", "mae", "sparse_categorical_crossentropy"],
                      loss_weights=[1.0, 0.5, 0.2], metrics={"kind": "accuracy", "main": ["mse"]},
                      jit_compile=jit, steps_per_execution=2)
        xw, xd, y_main, y_kind, w = _data(rows=70)
        history = model.fit([xw, xd], [y_main, -y_main, y_kind], sample_weight=w, batch_size=16, epochs=3,
                            verbose=0, validation_split=0.2)
        return model, history.history

    assert_same_training(run(False), run(True))


def test_targets_as_lists_tuples_and_dicts_by_name_or_key():
    xw, xd, y_main, y_kind, _ = _data()
    model, _ = _heads(outputs_as="dict")  # keys price, helper, kind; layers main, aux, kind
    assert model.output_names == ["aux", "kind", "main"]  # by the dict's keys sorted: helper, kind, price
    model.compile(optimizer="sgd", loss={"price": "mse", "helper": "mse", "kind": "sparse_categorical_crossentropy"},
                  metrics={"kind": ["accuracy"]})
    by_key = model.evaluate([xw, xd], {"price": y_main, "helper": y_main, "kind": y_kind}, verbose=0,
                            return_dict=True)
    by_name = model.evaluate([xw, xd], {"main": y_main, "aux": y_main, "kind": y_kind}, verbose=0,
                             return_dict=True)
    as_list = model.evaluate([xw, xd], (y_main, y_kind, y_main), verbose=0, return_dict=True)  # key order
    assert by_key == by_name == as_list
    assert list(by_key) == ["helper_loss", "kind_accuracy", "kind_loss", "loss", "price_loss"]  # Keras's names, sorted
    predicted = model.predict([xw, xd], verbose=0)
    assert sorted(predicted) == ["helper", "kind", "price"]
    # one call of 48 rows against predict's batches of 32 and 16: BLAS may round the two differently
    np.testing.assert_allclose(model([xw, xd])["kind"], predicted["kind"], rtol=1e-5, atol=1e-6)
    assert model.output_shape == [(None, 1), (None, 3), (None, 1)]  # Keras's list, in the keys' order


def test_several_outputs_are_checked_by_name_before_any_work():
    xw, xd, y_main, y_kind, w = _data()
    model, compile_heads = _heads()
    compile_heads(model, gpunn)
    cases = [
        (lambda: model.fit([xw, xd], y_main, verbose=0), r"y: the model has 3 outputs \['main', 'aux', 'kind'\]"),
        (lambda: model.fit([xw, xd], [y_main, y_main], verbose=0), "a list of 2"),
        (lambda: model.fit([xw, xd], {"main": y_main, "aux": y_main}, verbose=0), r"missing \['kind'\]"),
        (lambda: model.fit([xw, xd], {"main": y_main, "aux": y_main, "kind": y_kind, "x": y_kind}, verbose=0),
         r"unknown keys \['x'\]"),
        (lambda: model.fit([xw, xd], [y_main, y_main, y_kind + 3], verbose=0),
         r"y\[2\]: labels must be integers in \[0, 3\)"),
        (lambda: model.fit([xw, xd], [y_main, np.ones((48, 2)), y_kind], verbose=0),
         r"y\[1\]: expected targets of shape \(samples, 1\)"),
        (lambda: model.fit([xw, xd], [y_main, y_main[:-1], y_kind], verbose=0), "different numbers of samples"),
        (lambda: model.fit([xw, xd], [y_main, y_main, y_kind], class_weight={0: 1.0}, verbose=0),
         "class_weight: only supported for models with a single output"),
        (lambda: model.fit([xw, xd], [y_main, y_main, y_kind], sample_weight=[w, w], verbose=0),
         r"sample_weight: the model has 3 outputs .* got a list of 2"),
        (lambda: model.fit([xw, xd], [y_main, y_main, y_kind], sample_weight=[w, w[:-1], w], verbose=0),
         r"sample_weight\[1\]: expected one weight per sample"),
        (lambda: model.fit([xw, xd], [y_main, y_main, y_kind], sample_weight={"main": w, "nope": w}, verbose=0),
         r"sample_weight: unknown output name\(s\) \['nope'\]"),
        (lambda: model.compile(loss=["mse", "mse"]), r"loss: expected one loss per output \(3:"),
        (lambda: model.compile(loss={"main": "mse", "aux": "mse"}), r"none for \['kind'\]"),
        (lambda: model.compile(loss=[None, None, None]), "no output of the model"),
        (lambda: model.compile(loss=["mse", None, "mse"], metrics=[[], ["mae"], []]),
         "metrics: output 'aux' has no loss"),
        (lambda: model.compile(loss="mse", loss_weights=[1.0]), r"loss_weights: expected one weight per output"),
        (lambda: model.compile(loss="mse", loss_weights=0.5), "expected a list or dict of one weight per output"),
        (lambda: model.compile(loss="mse", metrics={"nope": "mae"}), r"metrics: unknown output name\(s\) \['nope'\]"),
        (lambda: model.compile(loss="mse", metrics=[["mae"], "mse"]), "expected a list of one entry per output"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    assert model.optimizer.iterations == 0


def test_a_flat_metrics_list_applies_to_every_output_as_tf_keras_did():
    """Keras 3 refuses ``metrics=["mse"]`` for a model of several outputs; tf.keras 2 applied it to each, and
    scripts written for it ("Hands-On ML"'s auxiliary output) rely on that."""
    xw, xd, y_main, y_kind, _ = _data()
    model, _ = _heads()
    model.compile(optimizer="sgd", loss=["mse", "mse", "categorical_crossentropy"],
                  metrics=["RootMeanSquaredError"])
    one_hot = gpunn.utils.to_categorical(y_kind, 3)
    logs = model.evaluate([xw, xd], [y_main, y_main, one_hot], verbose=0, return_dict=True)
    predicted = model.predict([xw, xd], verbose=0)
    assert {"loss", "main_loss", "aux_loss", "kind_loss"} <= set(logs) and list(logs) == sorted(logs)
    for name, output, target in (("main", predicted[0], y_main), ("aux", predicted[1], y_main),
                                 ("kind", predicted[2], one_hot)):
        expected = np.sqrt(((output - target) ** 2).mean())
        assert logs[f"{name}_RootMeanSquaredError"] == pytest.approx(expected, rel=1e-5)
    total = sum(logs[f"{name}_loss"] for name in ("main", "aux", "kind"))
    assert logs["loss"] == pytest.approx(total, rel=1e-6)


def test_configs_clones_and_files_keep_the_outputs_and_their_compile(tmp_path):
    xw, xd, y_main, y_kind, _ = _data()
    model, compile_heads = _heads(outputs_as="dict")
    model.compile(optimizer="adam", loss={"price": "mse", "helper": "mae", "kind": "sparse_categorical_crossentropy"},
                  loss_weights={"price": 1.0, "helper": 0.5, "kind": 0.25}, metrics={"kind": ["accuracy"]})
    targets = {"price": y_main, "helper": y_main, "kind": y_kind}
    model.fit([xw, xd], targets, epochs=1, verbose=0)
    expected = model.predict([xw, xd], verbose=0)
    logs = model.evaluate([xw, xd], targets, verbose=0, return_dict=True)
    for name in ("m.keras", "m.h5", "m.safetensors"):
        model.save(tmp_path / name)
        loaded = gpunn.models.load_model(tmp_path / name)
        got = loaded.predict([xw, xd], verbose=0)
        assert sorted(got) == ["helper", "kind", "price"], name
        for key in got:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{name} {key}")
        assert loaded.evaluate([xw, xd], targets, verbose=0, return_dict=True) == pytest.approx(logs), name
    for rebuilt in (gpunn.Model.from_config(model.get_config()), gpunn.models.model_from_json(model.to_json()),
                    gpunn.models.clone_model(model)):
        rebuilt.set_weights(model.get_weights())
        assert rebuilt.output_names == model.output_names
        got = rebuilt.predict([xw, xd], verbose=0)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key])


def test_several_outputs_from_generators_equal_arrays():
    xw, xd, y_main, y_kind, w = _data()
    targets = [y_main, y_main * 2, y_kind]

    def run(data_kind):
        model, compile_heads = _heads()
        compile_heads(model, gpunn)
        if data_kind == "arrays":
            model.fit([xw, xd], targets, sample_weight=w, batch_size=16, epochs=2, shuffle=False, verbose=0)
        else:
            def batches():
                for start in range(0, 48, 16):
                    part = slice(start, start + 16)
                    yield ((xw[part], xd[part]), {"main": y_main[part], "aux": y_main[part] * 2,
                                                  "kind": y_kind[part]}, w[part])

            model.fit(Repeat(batches), epochs=2, shuffle=False, verbose=0)
        return model.get_weights(), model.predict((xw, xd), verbose=0)

    (weights_a, predict_a), (weights_b, predict_b) = run("arrays"), run("generator")
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(predict_a, predict_b):
        np.testing.assert_array_equal(a, b)


def test_model_attributes_and_refusals_of_several_outputs():
    model, _ = _heads()
    assert len(model.outputs) == 3 and isinstance(model.output, list)
    assert model.output_shape == [(None, 1), (None, 1), (None, 3)]
    inputs = gpunn.Input(shape=(3,))
    hidden = layers.Dense(2)(inputs)
    with_input = gpunn.Model(inputs, [hidden, inputs])  # (an input given back, as Keras takes it)
    assert np.asarray(with_input.predict(np.ones((2, 3), "float32"), verbose=0)[1]).tolist() == [[1.0] * 3] * 2
    repeated = gpunn.Model(inputs, [hidden, hidden])  # (the repeat through an Identity layer, as Keras takes it)
    assert repeated.output_names == [hidden.layer.name, f"{hidden.layer.name}_again"]
    two = gpunn.Model(inputs, [hidden, layers.Dense(1)(hidden)])
    with pytest.raises(ValueError, match="has several outputs"):
        gpunn.Model(inputs, two(inputs))
    texts = []
    two.summary(print_fn=texts.append)
    assert "Total params: 11" in texts[0]


def test_model_metrics_list_the_outputs_loss_trackers_as_their_logs():
    xw, xd, y_main, y_kind, _ = _data()
    model, compile_heads = _heads()
    compile_heads(model, gpunn)
    history = model.fit([xw, xd], [y_main, y_main, y_kind], epochs=2, verbose=0)
    assert sorted(model.metrics_names) == list(history.history)
    # The trackers are named as the logs; a metric keeps its own name ("mae"), prefixed in the logs only
    assert [m.name for m in model.metrics] == ["loss", "main_loss", "aux_loss", "kind_loss", "accuracy", "mae"]
    for metric, name in zip(model.metrics, model.metrics_names):
        assert float(metric.result()) == pytest.approx(history.history[name][-1], rel=1e-6)
    model.reset_metrics()
    assert all(float(m.result()) == 0 for m in model.metrics)


def test_a_loss_weight_scales_a_single_output_model_s_loss_and_gradient():
    """Keras takes a number for the loss weight of a model of one output (CompileLoss: loss * weight)."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))

    def step(weight):
        gpunn.utils.set_random_seed(1)
        model = gpunn.Sequential([gpunn.Input(shape=(3,), dtype="float64"), layers.Dense(2, dtype="float64")])
        model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse", loss_weights=weight)
        loss = model.train_on_batch(x, y)
        return loss, np.array(model.grads)

    plain, weighted = step(None), step(0.25)
    assert weighted[0] == pytest.approx(0.25 * plain[0], rel=1e-12)
    np.testing.assert_allclose(weighted[1], 0.25 * plain[1], rtol=1e-12)
