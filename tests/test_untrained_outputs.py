"""Outputs left without a loss (``loss=[None, ...]``: predicted, not trained) and sample weights given per output
(``sample_weight=[w_a, w_b]`` or a dict), as Keras's guide "Training & evaluation with the built-in methods" uses
them: checked against Keras 3 on the same weights and batches (one Keras process for every case), against
finite differences in float64, as replays against eager steps (bit for bit), and from a generator against
arrays."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import Repeat, assert_gradients_close, assert_same_training, numerical_gradient, run_keras

SCRIPT = '''
def build(keras, initial, outputs_as="list"):
    inputs = keras.Input(shape=(4,), name="features")
    hidden = keras.layers.Dense(5, activation="relu", name="hidden")(inputs)
    score = keras.layers.Dense(1, name="score")(hidden)
    kind = keras.layers.Dense(3, activation="softmax", name="kind")(hidden)
    model = keras.Model(inputs, {"score": score, "kind": kind} if outputs_as == "dict" else [score, kind])
    for name, weights in (initial or {}).items():  # by layer: a dict's outputs may order the layers otherwise
        model.get_layer(name).set_weights(weights)
    return model


def fit(keras, model, x, y, **kwargs):
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, **kwargs)
    weighted = {key: value for key, value in kwargs.items() if key == "sample_weight"}
    return {"history": {k: [float(v) for v in values] for k, values in history.history.items()},
            "evaluate": model.evaluate(x, y, verbose=0, return_dict=True, **weighted),
            "weights": {layer.name: [w.tolist() for w in layer.get_weights()] for layer in model.layers}}


def run(keras, x, ya, yb, wa, wb, tmp, initial):
    scce = "sparse_categorical_crossentropy"
    out = {}
    model = build(keras, initial)
    # (no metrics: Keras 3.15 pairs them with the wrong targets, or drops them, when y leaves an output out)
    model.compile(optimizer="adam", loss=[None, scce])
    out["untrained, its targets left out"] = fit(keras, model, x, [yb], validation_data=(x, [yb]))
    model.save(tmp + "/untrained.keras")
    model = build(keras, initial)
    model.compile(optimizer="adam", loss=[None, scce], metrics=[None, ["accuracy"]])
    out["untrained, every output's targets"] = fit(keras, model, x, [ya, yb])
    model = build(keras, initial)
    model.compile(optimizer="sgd", loss=[None, scce])
    out["untrained, one target array"] = fit(keras, model, x, yb)
    model = build(keras, initial, "dict")
    model.compile(optimizer="sgd", loss={"kind": scce})
    out["dict outputs, a partial loss dict"] = fit(keras, model, x, {"kind": yb})
    model = build(keras, initial)
    model.compile(optimizer="sgd", loss=["mse", scce], loss_weights=[0.5, 1.0],
                  weighted_metrics=[["mae"], ["accuracy"]])
    out["weights per output"] = fit(keras, model, x, [ya, yb], sample_weight=[wa, wb])
    model = build(keras, initial)
    model.compile(optimizer="sgd", loss=["mse", scce], metrics=[["mae"], ["accuracy"]],
                  weighted_metrics=[["mae"], ["accuracy"]])
    out["weights for one output"] = fit(keras, model, x, [ya, yb], sample_weight=[None, wb])
    model = build(keras, initial)
    model.compile(optimizer="sgd", loss=[None, scce], weighted_metrics=[None, ["accuracy"]])
    out["untrained, weights per output"] = fit(keras, model, x, [ya, yb], sample_weight=[wa, wb])
    return out
'''

KERAS_SIDE = SCRIPT + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
arrays = {key: np.array(value) for key, value in task.items() if key != "dir"}
x, ya, yb = arrays["x"].astype("float32"), arrays["ya"].astype("float32"), arrays["yb"].astype("int64")
wa, wb = arrays["wa"].astype("float32"), arrays["wb"].astype("float32")
initial = {name: [np.array(w, dtype="float32") for w in weights] for name, weights in task["initial"].items()}
out = run(keras, x, ya, yb, wa, wb, task["dir"] + "/keras", initial)
mine = keras.saving.load_model(task["dir"] + "/gpunn/untrained.keras")
out["gpunn's file"] = mine.evaluate(x, [yb], verbose=0, return_dict=True)
print(json.dumps(out, default=float))
'''


def _data(rows=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)).astype("float32")
    return (x, rng.normal(size=(rows, 1)).astype("float32"), rng.integers(0, 3, rows),
            rng.uniform(0.5, 2.0, rows).astype("float32"), rng.uniform(0.5, 2.0, rows).astype("float32"))


def test_untrained_outputs_and_weights_per_output_train_as_in_keras(tmp_path):
    x, ya, yb, wa, wb = _data()
    for side in ("gpunn", "keras"):
        (tmp_path / side).mkdir()
    namespace: dict = {}
    exec(SCRIPT, namespace)
    gpunn.utils.set_random_seed(1)
    first = namespace["build"](gpunn, None)
    initial = {layer.name: layer.get_weights() for layer in first.layers if layer.get_weights()}
    ours = namespace["run"](gpunn, x, ya, yb, wa, wb, str(tmp_path / "gpunn"), initial)
    task = {"x": x.tolist(), "ya": ya.tolist(), "yb": yb.tolist(), "wa": wa.tolist(), "wb": wb.tolist(),
            "dir": str(tmp_path), "initial": {name: [w.tolist() for w in weights] for name, weights in initial.items()}}
    theirs = run_keras(KERAS_SIDE, task)
    for case, expected in ours.items():
        got = theirs[case]
        assert sorted(expected["history"]) == sorted(got["history"]), case
        for key, values in got["history"].items():
            np.testing.assert_allclose(expected["history"][key], values, rtol=1e-4, atol=1e-6,
                                       err_msg=f"{case}: {key}")
        assert expected["evaluate"] == pytest.approx(got["evaluate"], rel=1e-4, abs=1e-6), case
        assert sorted(expected["weights"]) == sorted(got["weights"]), case
        for name, weights in got["weights"].items():
            for mine, keras_weight in zip(expected["weights"][name], weights):
                np.testing.assert_allclose(mine, keras_weight, rtol=1e-4, atol=1e-6, err_msg=f"{case}: {name}")
    # the untrained head kept its initial weights (it gets no gradient), in Keras as in gpunn
    untrained = ours["untrained, its targets left out"]["weights"]
    np.testing.assert_array_equal(untrained["score"][0], initial["score"][0])
    assert not np.array_equal(untrained["kind"][0], initial["kind"][0])
    # Keras loads gpunn's file of a model with an untrained output, and gpunn loads Keras's
    assert theirs["gpunn's file"] == pytest.approx(ours["untrained, its targets left out"]["evaluate"], rel=1e-5)
    loaded = gpunn.models.load_model(tmp_path / "keras" / "untrained.keras")
    assert loaded.evaluate(x, [yb], verbose=0, return_dict=True) == pytest.approx(
        theirs["untrained, its targets left out"]["evaluate"], rel=1e-5)
    assert loaded.loss[0] is None


def test_weights_per_output_and_an_untrained_output_match_finite_differences():
    """Three outputs: a linear head left untrained, a sigmoid head read again by another layer, a softmax head
    whose activation its loss takes over; each trained output's loss scaled by its own sample weights."""
    gpunn.utils.set_random_seed(5)
    inputs = gpunn.Input(shape=(4,), dtype="float64")
    hidden = layers.Dense(5, activation="tanh", dtype="float64")(inputs)
    shown = layers.Dense(2, dtype="float64", name="shown")(hidden)
    gate = layers.Dense(2, activation="sigmoid", dtype="float64", name="gate")(hidden)
    classes = layers.Dense(3, activation="softmax", dtype="float64", name="classes")(
        layers.Concatenate(dtype="float64")([hidden, gate, shown]))
    model = gpunn.Model(inputs, [shown, gate, classes])
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss=[None, "binary_crossentropy",
                                                             "sparse_categorical_crossentropy"],
                  loss_weights=[None, 0.3, 2.0])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 4))
    y_gate, y_class = rng.integers(0, 2, (7, 2)).astype(float), rng.integers(0, 3, 7)
    w_gate, w_class = rng.uniform(0.2, 2.0, 7), rng.uniform(0.2, 2.0, 7)

    def objective(_):
        _, gate_p, class_p = model.predict(x, verbose=0)
        gate_p = np.clip(gate_p, 1e-7, 1 - 1e-7)
        bce = -(y_gate * np.log(gate_p) + (1 - y_gate) * np.log(1 - gate_p)).mean(axis=1)
        ce = -np.log(class_p[np.arange(7), y_class])
        return 0.3 * (w_gate * bce).mean() + 2.0 * (w_class * ce).mean()

    numeric = numerical_gradient(objective, model.params)
    result = model.train_on_batch(x, {"gate": y_gate, "classes": y_class},
                                  sample_weight={"gate": w_gate, "classes": w_class}, return_dict=True)
    assert_gradients_close(np.array(model.grads), numeric, what="d loss / d params, an untrained output")
    assert list(result) == ["classes_loss", "gate_loss", "loss"]
    # the untrained output feeds the softmax head, so its layer is trained through that path only
    assert np.any(np.array(model.layers[2].bound.grads["kernel"]) != 0)


def _three_heads():
    inputs = gpunn.Input(shape=(4,))
    hidden = layers.Dense(6, activation="relu")(inputs)
    outputs = [layers.Dense(1, name="main")(hidden), layers.Dense(1, name="aux")(hidden),
               layers.Dense(3, activation="softmax", name="kind")(layers.Dropout(0.2)(hidden))]
    return gpunn.Model(inputs, outputs)


def test_untrained_outputs_and_weights_per_output_replay_bit_for_bit():
    x, ya, yb, wa, wb = _data(70)

    def run(jit):
        gpunn.utils.set_random_seed(2)
        model = _three_heads()
        model.compile(optimizer="adam", loss=["mse", None, "sparse_categorical_crossentropy"],
                      weighted_metrics={"kind": ["accuracy"], "main": ["mae"]}, jit_compile=jit,
                      steps_per_execution=2)
        history = model.fit(x, [ya, yb], sample_weight=[wa, wb], batch_size=16, epochs=3, verbose=0,
                            validation_data=(x, [ya, yb], {"main": wa, "kind": wb}))
        return model, history.history

    assert_same_training(run(False), run(True))


def test_weights_per_output_from_a_generator_equal_arrays():
    x, ya, yb, wa, wb = _data(48)

    def run(streamed):
        gpunn.utils.set_random_seed(3)
        model = _three_heads()
        model.compile(optimizer="sgd", loss={"main": "mse", "aux": "mae", "kind": "sparse_categorical_crossentropy"})
        if not streamed:
            model.fit(x, [ya, -ya, yb], sample_weight=[wa, None, wb], batch_size=16, epochs=2, shuffle=False,
                      verbose=0)
        else:
            def batches():
                for start in range(0, 48, 16):
                    part = slice(start, start + 16)
                    yield x[part], {"main": ya[part], "aux": -ya[part], "kind": yb[part]}, {"main": wa[part],
                                                                                           "kind": wb[part]}

            model.fit(Repeat(batches), epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    for a, b in zip(run(False), run(True)):
        np.testing.assert_array_equal(a, b)


def test_a_recompile_without_an_output_s_loss_leaves_that_output_untouched():
    """Gradients of the earlier compile must not linger: once its loss is gone, the head stays as it was, with
    every optimizer (Adam's moments from the earlier fit would move it)."""
    x, ya, yb, _, _ = _data()
    gpunn.utils.set_random_seed(6)
    model = _three_heads()
    model.compile(optimizer="sgd", loss=["mse", "mse", "sparse_categorical_crossentropy"])
    model.fit(x, [ya, ya, yb], epochs=1, verbose=0)
    model.compile(optimizer="sgd", loss=["mse", None, "sparse_categorical_crossentropy"])
    aux_before = [w.copy() for w in model.get_layer("aux").get_weights()]
    model.fit(x, (ya, yb), epochs=2, verbose=0)
    for before, after in zip(aux_before, model.get_layer("aux").get_weights()):
        np.testing.assert_array_equal(before, after)


def test_what_an_untrained_output_takes_and_refuses():
    x, ya, yb, wa, wb = _data()
    model = _three_heads()
    model.compile(optimizer="sgd", loss=["mse", None, "sparse_categorical_crossentropy"])
    logs = model.evaluate(x, [ya, yb], verbose=0, return_dict=True)
    assert list(logs) == ["kind_loss", "loss", "main_loss"]  # only the trained outputs' losses
    assert model.evaluate(x, [ya, None, yb], verbose=0, return_dict=True) == logs  # every output's, None for aux
    assert model.evaluate(x, {"main": ya, "kind": yb, "aux": "unused"}, verbose=0, return_dict=True) == logs
    assert len(model.predict(x, verbose=0)) == 3  # it is still predicted
    weighted = model.evaluate(x, [ya, yb], sample_weight=[wa, wb], verbose=0, return_dict=True)
    assert model.evaluate(x, [ya, yb], sample_weight=[wa, "unused", wb], verbose=0, return_dict=True) == weighted
    main, _, kind = model.predict(x, verbose=0)
    assert weighted["main_loss"] == pytest.approx((wa * ((main - ya) ** 2).reshape(-1)).mean(), rel=1e-5)
    kind_loss = -np.log(kind[np.arange(len(yb)), yb])
    assert weighted["kind_loss"] == pytest.approx((wb * kind_loss).mean(), rel=1e-5)
    cases = [
        (lambda: model.fit(x, [ya], verbose=0), r"3 outputs .* 2 with a loss \['main', 'kind'\]; expected .* got a "
                                               r"list of 1"),
        (lambda: model.fit(x, {"main": ya}, verbose=0), r"missing \['kind'\]"),
        (lambda: model.fit(x, [ya, yb], sample_weight=[wa], verbose=0), "got a list of 1"),
        (lambda: model.compile(loss={"main": "mse"}), r"the dict has none for \['aux', 'kind'\]"),  # as Keras
        (lambda: model.compile(loss=[None, None, "mse"], loss_weights={"main": 1.0}),
         r"loss_weights: expected a weight for every output with a loss; the dict has none for \['kind'\]"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    single = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="the model's one output .* has no loss"):
        single.compile(loss=[None])
