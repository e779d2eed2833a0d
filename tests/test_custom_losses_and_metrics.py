"""Losses and metrics a user writes as functions of (y_true, y_pred) with keras.ops (gpunn.ops) or tf.keras's
backend functions (gpunn.backend), and Loss subclasses with call(): trained as Keras trains them (one Keras
process for every case), their gradients against finite differences in float64, replays against eager steps
(bit for bit), and what they refuse."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import backend as K
from gpunn import layers
from helpers import assert_gradients_close, assert_same_training, numerical_gradient, run_keras
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

SCRIPT = '''
def definitions(keras):
    ops = keras.ops

    def custom_mean_squared_error(y_true, y_pred):  # one value per sample
        return ops.mean(ops.square(y_true - y_pred), axis=-1)

    def batch_mse(y_true, y_pred):  # one value for the batch, as the Keras guide writes it
        return ops.mean(ops.square(y_true - y_pred))

    class CustomMSE(keras.losses.Loss):  # the guide's Loss subclass
        def __init__(self, regularization_factor=0.1, name="custom_mse"):
            super().__init__(name=name)
            self.regularization_factor = regularization_factor

        def call(self, y_true, y_pred):
            mse = ops.mean(ops.square(y_true - y_pred))
            reg = ops.mean(ops.square(0.5 - y_pred))
            return mse + reg * self.regularization_factor

        def get_config(self):  # what a file needs to make it again (the guide's has none, and Keras cannot)
            return {"name": self.name, "regularization_factor": self.regularization_factor}

    def recall_m(y_true, y_pred):  # a tf.keras-era metric: one value per batch
        true_positives = ops.sum(ops.round(ops.clip(y_true * y_pred, 0, 1)))
        possible_positives = ops.sum(ops.round(ops.clip(y_true, 0, 1)))
        return true_positives / (possible_positives + 1e-7)

    def absolute_error(y_true, y_pred):  # per sample and output
        return ops.abs(y_true - y_pred)

    class CategoricalTruePositives(keras.metrics.Metric):  # the guide's Metric subclass, as it writes it
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
            values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
            values = ops.cast(values, "float32")
            if sample_weight is not None:
                sample_weight = ops.cast(sample_weight, "float32")
                values = ops.multiply(values, sample_weight)
            self.true_positives.assign_add(ops.sum(values))

        def result(self):  # (Keras 3.15 on JAX fails on the guide's `return self.true_positives`)
            return ops.convert_to_tensor(self.true_positives)

        def reset_state(self):
            self.true_positives.assign(0.0)

    return custom_mean_squared_error, batch_mse, CustomMSE, recall_m, absolute_error, CategoricalTruePositives


def run(keras, x, y, y_hot, w, initial, tmp):
    custom_mean_squared_error, batch_mse, CustomMSE, recall_m, absolute_error, TruePositives = definitions(keras)

    def model(units, activation, weights):
        made = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(6, activation="tanh"),
                                 keras.layers.Dense(units, activation=activation)])
        made.set_weights(weights)
        return made

    def fit(made, targets, **kwargs):
        history = made.fit(x, targets, epochs=2, batch_size=8, shuffle=False, verbose=0, **kwargs)
        return {"history": {k: [float(v) for v in values] for k, values in history.history.items()},
                "evaluate": made.evaluate(x, targets, batch_size=8, verbose=0, return_dict=True),
                "weights": [v.tolist() for v in made.get_weights()]}

    out = {}
    made = model(1, None, initial["regression"])
    made.compile(optimizer="adam", loss=custom_mean_squared_error, metrics=[absolute_error],
                 weighted_metrics=[absolute_error])
    out["a function loss, per sample"] = fit(made, y, sample_weight=w, validation_data=(x, y, w))
    made.save(tmp + "/function_loss.keras")
    made = model(1, None, initial["regression"])
    made.compile(optimizer="sgd", loss=batch_mse)
    out["a function loss, one value per batch"] = fit(made, y, sample_weight=w)
    made = model(3, "softmax", initial["classifier"])
    made.compile(optimizer="rmsprop", loss=CustomMSE(), metrics=["categorical_accuracy", recall_m])
    out["a Loss subclass and a metric of one value per batch"] = fit(made, y_hot)
    made.save(tmp + "/loss_class.keras")
    made = model(3, "softmax", initial["classifier"])
    made.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=[TruePositives()])
    # (class ids of shape (samples,) against argmax rows of shape (samples, 1): the guide's metric counts the
    # matching pairs, in Keras as here)
    out["a Metric subclass"] = fit(made, y_hot.argmax(axis=1).astype("float32"))
    return out
'''

KERAS_SIDE = SCRIPT + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y, y_hot, w = (np.array(task[k], dtype="float32") for k in ("x", "y", "y_hot", "w"))
initial = {name: [np.array(v, dtype="float32") for v in values] for name, values in task["initial"].items()}
out = run(keras, x, y, y_hot, w, initial, task["dir"] + "/keras")
custom_mean_squared_error, batch_mse, CustomMSE, recall_m, absolute_error, _ = definitions(keras)
objects = {"custom_mean_squared_error": custom_mean_squared_error, "absolute_error": absolute_error,
           "CustomMSE": CustomMSE, "recall_m": recall_m}
mine = keras.saving.load_model(task["dir"] + "/gpunn/function_loss.keras", custom_objects=objects)
out["gpunn's function loss file"] = mine.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
mine = keras.saving.load_model(task["dir"] + "/gpunn/loss_class.keras", custom_objects=objects)
out["gpunn's loss class file"] = mine.evaluate(x, y_hot, batch_size=8, verbose=0, return_dict=True)
print(json.dumps(out, default=float))
'''


def _data(rows=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)).astype("float32")
    y = (x[:, :1] * 0.5 - x[:, 1:2]).astype("float32")
    y_hot = np.eye(3, dtype="float32")[rng.integers(0, 3, rows)]
    return x, y, y_hot, rng.uniform(0.5, 2.0, rows).astype("float32")


def test_custom_losses_and_metrics_train_and_save_as_in_keras(tmp_path):
    x, y, y_hot, w = _data()
    for side in ("gpunn", "keras"):
        (tmp_path / side).mkdir()
    namespace: dict = {}
    exec(SCRIPT, namespace)
    initial = {}
    for name, units in (("regression", 1), ("classifier", 3)):
        gpunn.utils.set_random_seed(7)
        initial[name] = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(6, activation="tanh"),
                                          layers.Dense(units)]).get_weights()
    ours = namespace["run"](gpunn, x, y, y_hot, w, initial, str(tmp_path / "gpunn"))
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "y_hot": y_hot.tolist(), "w": w.tolist(),
                                    "initial": {k: [v.tolist() for v in vs] for k, vs in initial.items()},
                                    "dir": str(tmp_path)})
    # Keras loads gpunn's files with its custom_objects, and gpunn loads Keras's
    assert theirs.pop("gpunn's function loss file") == pytest.approx(
        ours["a function loss, per sample"]["evaluate"], rel=1e-5)
    assert theirs.pop("gpunn's loss class file") == pytest.approx(
        ours["a Loss subclass and a metric of one value per batch"]["evaluate"], rel=1e-5)
    objects = dict(zip(("custom_mean_squared_error", "batch_mse", "CustomMSE", "recall_m", "absolute_error"),
                       namespace["definitions"](gpunn)[:5]))
    for name, targets, case in (("function_loss", y, "a function loss, per sample"),
                                ("loss_class", y_hot, "a Loss subclass and a metric of one value per batch")):
        loaded = gpunn.models.load_model(tmp_path / "keras" / f"{name}.keras", custom_objects=objects)
        assert loaded.evaluate(x, targets, batch_size=8, verbose=0, return_dict=True) == pytest.approx(
            theirs[case]["evaluate"], rel=1e-5), name
    assert sorted(theirs) == sorted(ours) and len(ours) == 4
    for case, got in theirs.items():
        mine = ours[case]
        assert sorted(mine["history"]) == sorted(got["history"]), case
        for key, values in got["history"].items():
            np.testing.assert_allclose(mine["history"][key], values, rtol=2e-4, atol=1e-6, err_msg=f"{case}: {key}")
        assert mine["evaluate"] == pytest.approx(got["evaluate"], rel=2e-4, abs=1e-6), case
        for a, b in zip(mine["weights"], got["weights"]):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6, err_msg=case)
    assert "absolute_error" in ours["a function loss, per sample"]["history"]
    assert "weighted_absolute_error" in ours["a function loss, per sample"]["history"]
    assert "recall_m" in ours["a Loss subclass and a metric of one value per batch"]["history"]
    assert ours["a Metric subclass"]["history"]["categorical_true_positives"][0] > 40  # pairs, not samples


def test_a_function_loss_s_gradient_matches_finite_differences():
    """One value per batch, from the samples together (not separable per sample), with sample weights, and a
    softmax the loss sees (no fusion for a function)."""
    gpunn.utils.set_random_seed(3)
    model = gpunn.Sequential([gpunn.Input(shape=(4,), dtype="float64"),
                              layers.Dense(5, activation="tanh", dtype="float64"),
                              layers.Dense(3, activation="softmax", dtype="float64")])
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(9, 4)), np.eye(3)[rng.integers(0, 3, 9)]
    w = rng.uniform(0.3, 2.0, 9)

    def batch_loss(y_true, y_pred):  # a cross-entropy plus the variance of the batch's predictions
        ce = -gpunn.ops.sum(y_true * gpunn.ops.log(y_pred + 1e-9), axis=-1)
        return gpunn.ops.mean(ce) + gpunn.ops.var(y_pred)

    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss=batch_loss)

    def objective(_):
        p = model.predict(x, verbose=0)
        value = (-(y * np.log(p + 1e-9)).sum(axis=-1)).mean() + p.var()
        return (value * w).mean()  # a batch value counts for every sample, each weighted

    numeric = numerical_gradient(objective, model.params)
    model.train_on_batch(x, y, sample_weight=w)
    assert_gradients_close(np.array(model.grads), numeric, what="d custom loss / d params")


def test_function_losses_and_metrics_replay_bit_for_bit():
    x, y, _, w = _data(70)

    def rmse(y_true, y_pred):
        return K.sqrt(K.mean(K.square(y_pred - y_true)))

    def within_a_tenth(y_true, y_pred):
        return K.cast(K.less(K.abs(y_true - y_pred), 0.1), "float32")

    def run(jit):
        gpunn.utils.set_random_seed(4)
        model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dropout(0.1),
                                  layers.Dense(1)])
        model.compile(optimizer="adam", loss=rmse, metrics=[within_a_tenth, "mae"], weighted_metrics=[within_a_tenth],
                      jit_compile=jit, steps_per_execution=2)
        history = model.fit(x, y, sample_weight=w, batch_size=16, epochs=3, verbose=0, validation_split=0.2)
        return model, history.history

    assert_same_training(run(False), run(True))


def test_tf_keras_metrics_written_with_k_report_the_mean_of_their_batch_values():
    def recall_m(y_true, y_pred):
        true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
        possible_positives = K.sum(K.round(K.clip(y_true, 0, 1)))
        return true_positives / (possible_positives + K.epsilon())

    rng = np.random.default_rng(5)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[recall_m])
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    batches = [(np.round(np.clip(y[i:i + 16] * p[i:i + 16], 0, 1)).sum() /
                (np.round(np.clip(y[i:i + 16], 0, 1)).sum() + 1e-7)) for i in range(0, 48, 16)]
    assert logs["recall_m"] == pytest.approx(np.mean(batches), rel=1e-6)
    assert model.metrics[1].name == "recall_m"


def test_a_user_function_named_like_a_built_in_is_the_user_s():
    def mse(y_true, y_pred):  # not the mean squared error
        return gpunn.ops.mean(gpunn.ops.abs(y_true - y_pred), axis=-1)

    x, y, _, _ = _data()
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss=mse, metrics=[mse])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    expected = np.abs(model.predict(x, verbose=0) - y).mean()
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    assert logs["mse"] == pytest.approx(expected, rel=1e-5)


def test_what_a_custom_loss_refuses_before_it_trains_wrong():
    x, y, _, _ = _data()

    def check(loss, message):
        model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(1)])
        model.compile(optimizer="sgd", loss=loss)
        before = model.get_weights()
        with pytest.raises((ValueError, TypeError), match=message):
            model.fit(x, y, epochs=1, verbose=0)
        return model, before

    check(lambda t, p: K.mean(K.round(p) - t), "does not depend on y_pred")
    check(lambda t, p: np.mean(np.median(p)), "numpy.median has no gradient")
    check(lambda t, p: float(np.asarray(p).mean()), "would drop its gradient")


def test_model_files_clones_and_configs_keep_the_user_s_functions_and_classes(tmp_path):
    namespace: dict = {}
    exec(SCRIPT, namespace)
    custom_mean_squared_error, _, CustomMSE, recall_m, absolute_error, _ = namespace["definitions"](gpunn)
    x, y, y_hot, w = _data()
    for loss, metric, targets in ((custom_mean_squared_error, absolute_error, y), (CustomMSE(0.3), recall_m, y_hot)):
        model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(y_hot.shape[1] if targets is y_hot else 1)])
        model.compile(optimizer="adam", loss=loss, metrics=[metric], weighted_metrics=[absolute_error])
        model.fit(x, targets, sample_weight=w, epochs=1, verbose=0)
        expected = model.evaluate(x, targets, sample_weight=w, verbose=0, return_dict=True)
        objects = {"custom_mean_squared_error": custom_mean_squared_error, "CustomMSE": CustomMSE,
                   "recall_m": recall_m, "absolute_error": absolute_error}
        for name in ("m.keras", "m.h5", "m.safetensors"):
            model.save(tmp_path / name)
            with pytest.raises(gpunn.custom_objects.MissingCustomObjectError, match="custom_objects"):
                gpunn.models.load_model(tmp_path / name)
            assert not gpunn.models.load_model(tmp_path / name, compile=False).compiled
            loaded = gpunn.models.load_model(tmp_path / name, custom_objects=objects)
            assert loaded.evaluate(x, targets, sample_weight=w, verbose=0, return_dict=True) == pytest.approx(
                expected, rel=1e-6), name
            with gpunn.saving.custom_object_scope(objects):
                assert gpunn.models.load_model(tmp_path / name)._resolved_loss.name == model._resolved_loss.name
        if isinstance(loss, CustomMSE):
            assert loaded._resolved_loss.regularization_factor == 0.3
        clone = gpunn.models.clone_model(model)
        assert clone._resolved_loss.name == model._resolved_loss.name and clone.compiled
        rebuilt = gpunn.models.model_from_json(model.to_json(), custom_objects=objects)
        assert rebuilt.compiled
    TruePositives = namespace["definitions"](gpunn)[5]
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=[TruePositives()])
    ids = y_hot.argmax(axis=1)
    expected = model.evaluate(x, ids, verbose=0, return_dict=True)
    for name in ("t.keras", "t.h5", "t.safetensors"):
        model.save(tmp_path / name)
        loaded = gpunn.models.load_model(tmp_path / name, custom_objects={"CategoricalTruePositives": TruePositives})
        assert loaded.evaluate(x, ids, verbose=0, return_dict=True) == expected, name
    with pytest.raises(ValueError, match=r"cannot build \['MyLayer'\]"):
        gpunn.models.load_model(tmp_path / "m.keras", custom_objects={"MyLayer": type("MyLayer", (), {})})


def test_registered_functions_load_without_custom_objects(tmp_path):
    @gpunn.saving.register_keras_serializable(package="tests")
    def halved_mse(y_true, y_pred):
        return gpunn.ops.mean(gpunn.ops.square(y_true - y_pred), axis=-1) / 2

    assert gpunn.saving.get_registered_name(halved_mse) == "tests>halved_mse"
    x, y, _, _ = _data()
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss=halved_mse)
    model.save(tmp_path / "m.keras")
    assert gpunn.models.load_model(tmp_path / "m.keras").evaluate(x, y, verbose=0) == pytest.approx(
        model.evaluate(x, y, verbose=0))
    del gpunn.saving.get_custom_objects()["tests>halved_mse"]


def test_a_metric_subclass_replays_bit_for_bit_and_works_on_its_own():
    namespace: dict = {}
    exec(SCRIPT, namespace)
    TruePositives = namespace["definitions"](gpunn)[5]
    x, _, y_hot, w = _data(70)

    class WeightedHits(gpunn.metrics.Metric):  # two variables, sample weights, a ratio as the result
        def __init__(self, name="weighted_hits", **kwargs):
            super().__init__(name=name, **kwargs)
            self.hits = self.add_weight(name="hits", initializer="zeros")
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            hit = gpunn.ops.cast(gpunn.ops.argmax(y_true, axis=1) == gpunn.ops.argmax(y_pred, axis=1), "float32")
            weight = gpunn.ops.ones_like(hit) if sample_weight is None else sample_weight
            self.hits.assign_add(gpunn.ops.sum(hit * weight))
            self.total.assign_add(gpunn.ops.sum(weight))

        def result(self):
            return gpunn.ops.divide_no_nan(self.hits, self.total)

    def run(jit):
        gpunn.utils.set_random_seed(8)
        model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(5, activation="relu"),
                                  layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=[WeightedHits()],
                      weighted_metrics=[WeightedHits(name="weighted")], jit_compile=jit)
        history = model.fit(x, y_hot, sample_weight=w, batch_size=16, epochs=2, verbose=0, validation_split=0.2)
        return model, history.history

    (model, history), other = run(False), run(True)
    assert_same_training((model, history), other)
    hits = model.predict(x, verbose=0).argmax(axis=1) == y_hot.argmax(axis=1)
    logs = model.evaluate(x, y_hot, sample_weight=w, verbose=0, return_dict=True)
    assert logs["weighted_hits"] == pytest.approx(hits.mean(), rel=1e-6)
    assert logs["weighted"] == pytest.approx((w * hits).sum() / w.sum(), rel=1e-6)
    assert float(model.metrics[1].result()) == pytest.approx(hits.mean(), rel=1e-6)

    metric = TruePositives()  # on its own: its variables are host arrays
    metric.update_state(np.array([[0], [2]]), np.array([[0.9, 0.1, 0.0], [0.1, 0.1, 0.8]]))
    assert float(metric.result()) == 2.0 and [v.name for v in metric.variables] == ["ctp"]
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_a_loss_reduced_over_the_batch_axis_counts_as_its_mean():
    """``mean(square(y_true - y_pred), axis=0)`` (keras-io's tensorflow_numpy_models): Keras takes the mean of what
    a loss returns, so it trains as "mse" does."""
    import gpunn

    def batch_mse(y_true, y_pred):
        return gpunn.ops.mean(gpunn.ops.square(y_true - y_pred), axis=0)

    x = np.linspace(-1, 1, 64, dtype="float32").reshape(16, 4)
    histories = []
    for loss in ("mse", batch_mse):
        model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1, kernel_initializer="zeros")])
        model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss=loss)
        histories.append(model.fit(x, x.sum(1), epochs=3, batch_size=8, verbose=0, shuffle=False).history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-6)
    np.testing.assert_allclose(histories[0], [4.87129, 1.14812, 0.27069], atol=1e-5)  # Keras 3.15's (rounded)


class _ForeignTensor:
    """Another library's eager tensor (TensorFlow's, as tf.keras-era metrics compute with tf.*): converts through
    ``__array__``, and its operators give its own kind back, never writing into a NumPy array."""

    def __init__(self, value):
        self.value = np.asarray(value, dtype=np.float32)

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __add__(self, other):
        return _ForeignTensor(self.value + np.asarray(other))

    __radd__ = __add__

    def __rsub__(self, other):
        return _ForeignTensor(np.asarray(other) - self.value)


def test_a_metric_whose_update_state_computes_with_another_library_s_tensors():
    """Deep Learning with Python (2nd ed.) writes its RootMeanSquaredError with tf.one_hot / tf.reduce_sum:
    assign_add of such a tensor adds into the metric's state (it once replaced the state with the tensor, so
    evaluate logged nan and reset_state failed)."""

    class Total(gpunn.metrics.Metric):
        def __init__(self, name="total", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_weight(name="total", initializer="zeros")
            self.count = self.add_weight(name="count", initializer="zeros", dtype="int32")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(_ForeignTensor(np.sum(np.asarray(y_pred))))
            self.count.assign_add(_ForeignTensor(np.shape(y_pred)[0]))

        def result(self):
            return self.total / self.count

        def reset_state(self):
            self.total.assign(_ForeignTensor(0.0))
            self.count.assign(0)

    x = np.arange(12, dtype="float32").reshape(6, 2)
    model = gpunn.Sequential([gpunn.Input((2,)), layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")])
    model.compile(optimizer="sgd", loss="mse", metrics=[Total()])
    logs = model.evaluate(x, np.zeros((6, 1), "float32"), batch_size=4, verbose=0, return_dict=True)
    assert logs["total"] == pytest.approx(x.sum() / 6)
    metric = Total()
    metric.update_state(None, x)
    metric.total.assign_sub(_ForeignTensor(6.0))
    assert float(metric.result()) == pytest.approx((x.sum() - 6) / 6)
    metric.reset_state()
    assert isinstance(metric.total.value, np.ndarray) and float(metric.total.value) == 0.0


NAMED_LIKE_A_BUILT_IN = r'''
import json, sys, os
import numpy as np


def run(keras, folder):
    """A metric class of the script's named like a built-in one (Deep Learning with Python's own
    RootMeanSquaredError; here a MeanAbsoluteError that reports 100 times the error): a .keras file keeps it."""
    ops = keras.ops

    class MeanAbsoluteError(keras.metrics.Metric):
        def __init__(self, name="my_mae", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_weight(name="total", initializer="zeros")
            self.count = self.add_weight(name="count", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(ops.sum(ops.abs(y_true - y_pred)) * 100.0)
            self.count.assign_add(ops.cast(ops.shape(y_pred)[0], "float32"))

        def result(self):
            return self.total / self.count

    x = np.linspace(0, 1, 64 * 4, dtype="float32").reshape(64, 4)
    y = x[:, :1] * 2
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="ones")(inputs))
    model.compile(optimizer="sgd", loss="mse", metrics=[MeanAbsoluteError()])
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    path = os.path.join(folder, "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"MeanAbsoluteError": MeanAbsoluteError})
    return {"before": before, "after": loaded.evaluate(x, y, verbose=0, return_dict=True)}
'''


def test_a_metric_class_named_like_a_built_in_one_survives_a_file(tmp_path_factory):
    ours, theirs = run_script_both_ways(NAMED_LIKE_A_BUILT_IN, tmp_path_factory)
    assert ours["after"] == pytest.approx(ours["before"], rel=1e-6)
    assert ours["after"]["my_mae"] == pytest.approx(theirs["after"]["my_mae"], rel=1e-5)
    assert ours["after"]["my_mae"] > 50  # the script's class (100 times the error), not the built-in one


def test_a_loss_object_as_a_metric_is_named_as_keras_names_it(numpy_backend):
    """Keras's get_object_name: a Loss object given as a metric logs under the loss's name (tf.keras 2 too), which
    History and EarlyStopping(monitor="val_huber_loss") read."""
    model = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=[gpunn.losses.Huber(), gpunn.losses.MeanAbsoluteError(name="mae_l"),
                                         gpunn.losses.LogCosh()])
    history = model.fit(np.ones((8, 3)), np.ones(8), validation_split=0.25, verbose=0)
    assert sorted(history.history) == ["huber_loss", "log_cosh", "loss", "mae_l", "val_huber_loss", "val_log_cosh",
                                       "val_loss", "val_mae_l"]


def test_a_name_registered_again_points_at_the_new_object(tmp_path):
    """As Keras 3 (a notebook cell defining a registered loss run twice): no error, and files name the newest."""
    def define(scale):
        @gpunn.saving.register_keras_serializable(package="again")
        def scaled_error(y_true, y_pred):
            return gpunn.ops.mean(gpunn.ops.square(y_true - y_pred), axis=-1) * scale
        return scaled_error

    first, second = define(1.0), define(2.0)
    assert gpunn.saving.get_registered_object("again>scaled_error") is second
    assert gpunn.saving.get_registered_name(second) == "again>scaled_error"
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1)])
    model.compile("sgd", second)
    model.save(tmp_path / "again.keras")
    loaded = gpunn.saving.load_model(tmp_path / "again.keras")
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))
    assert first is not second
