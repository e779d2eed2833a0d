"""A script's subclass of a built-in metric with its own ``update_state``, ``result`` or ``reset_state`` (calling
``super()`` for the built-in computation): gpunn runs them where Keras does, on its own and compiled into a
model (eager and replayed steps), with Keras 3's values (Keras itself, in a subprocess on its jax backend)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import numpy_backend, run_keras  # noqa: F401  (fixture)

CLASSES = '''
class FlippedAUC(keras.metrics.AUC):
    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(y_true, 1.0 - y_pred, sample_weight=sample_weight)


class PercentAccuracy(keras.metrics.BinaryAccuracy):
    def result(self):
        return super().result() * 100.0


class SharperPrecision(keras.metrics.Precision):
    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(y_true, keras.ops.clip(y_pred * 1.5, 0.0, 1.0), sample_weight=sample_weight)

    def result(self):
        return 1.0 - super().result()


class LeastLikelyAccuracy(keras.metrics.SparseCategoricalAccuracy):
    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(y_true, 1.0 - y_pred, sample_weight=sample_weight)


class ShiftedError(keras.metrics.MeanMetricWrapper):
    def __init__(self, name="shifted_error", dtype=None):
        super().__init__(fn=keras.metrics.mean_absolute_error, name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(y_true, y_pred + 0.25, sample_weight=sample_weight)


class Cumulative(keras.metrics.BinaryAccuracy):
    def reset_state(self):
        pass  # Keras calls only this: the state runs on over epochs and evaluations


class OneHotAccuracy(keras.metrics.CategoricalAccuracy):
    def update_state(self, y_true, y_pred, sample_weight=None):
        ids = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        super().update_state(keras.ops.one_hot(ids, 3), y_pred, sample_weight=sample_weight)
'''

RUN = '''
def binary_model(kernel, bias):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
    model.set_weights([np.asarray(kernel, "float32"), np.asarray(bias, "float32")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy", **COMPILE,
                  metrics=[FlippedAUC(name="flipped_auc"), PercentAccuracy(), SharperPrecision(name="sharper"),
                           ShiftedError(), Cumulative(name="cumulative")])
    return model


def sparse_model(kernel, bias):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.set_weights([np.asarray(kernel, "float32"), np.asarray(bias, "float32")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy", **COMPILE,
                  metrics=[LeastLikelyAccuracy(name="least_likely"), OneHotAccuracy(name="one_hot")])
    return model


x = np.asarray(task["x"], "float32")
results = {"standalone": {}}
for cls, targets, predictions in ((FlippedAUC, "y", "p"), (PercentAccuracy, "y", "p"),
                                  (SharperPrecision, "y", "p"), (LeastLikelyAccuracy, "ids", "q")):
    metric = cls()
    for start in (0, 6):
        metric.update_state(np.asarray(task[targets], "float32")[start:start + 6],
                            np.asarray(task[predictions], "float32")[start:start + 6],
                            sample_weight=np.asarray(task["w"], "float32")[start:start + 6])
    results["standalone"][cls.__name__] = [metric.name, float(metric.result())]
    metric.reset_state()
    results["standalone"][cls.__name__].append(float(metric.result()))
for label, make, targets in (("binary", binary_model, np.asarray(task["y"], "float32")),
                             ("sparse", sparse_model, np.asarray(task["ids"], "int32"))):
    model = make(task["kernel"], task["bias"])
    evaluated = model.evaluate(x, targets, batch_size=5, verbose=0, return_dict=True)
    history = model.fit(x, targets, batch_size=5, epochs=3, shuffle=False, verbose=0).history
    results[label] = {"evaluate": {k: float(v) for k, v in evaluated.items()},
                      "history": {k: [float(v) for v in values] for k, values in history.items()}}
'''

KERAS_SIDE = ("import json, sys\nimport numpy as np\nimport keras\ntask = json.loads(sys.stdin.read())\n"
              "COMPILE = {}\n" + CLASSES + RUN + "print(json.dumps(results))\n")


def _task():
    rng = np.random.default_rng(12)
    rows = 12
    y = (rng.random((rows, 3)) < 0.5).astype("float32")
    return {"x": rng.normal(size=(rows, 4)).tolist(), "y": y.tolist(),
            "p": np.clip(0.3 * y + 0.7 * rng.random((rows, 3)), 0, 1).tolist(),
            "ids": rng.integers(0, 3, rows).tolist(), "q": rng.dirichlet(np.ones(3), rows).tolist(),
            "w": rng.random(rows).tolist(),
            "kernel": (0.5 * rng.normal(size=(4, 3))).tolist(), "bias": (0.1 * rng.normal(size=3)).tolist()}


@pytest.fixture(scope="module")
def keras_results():
    return run_keras(KERAS_SIDE, _task())


def _gpunn_results(jit_compile):
    gpunn.backend.clear_session()  # metric names start again, as in Keras's fresh process
    namespace = {"keras": gpunn, "np": np, "task": _task(), "COMPILE": {"jit_compile": jit_compile}}
    exec(CLASSES + RUN, namespace)
    return namespace["results"]


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "replayed"])
def test_a_built_in_metric_s_subclass_computes_as_keras_s(numpy_backend, keras_results, jit_compile):
    mine = _gpunn_results(jit_compile)
    for name, (their_name, their_value, their_reset) in keras_results["standalone"].items():
        my_name, my_value, my_reset = mine["standalone"][name]
        assert my_name == their_name
        assert my_value == pytest.approx(their_value, rel=1e-6, abs=1e-6), name
        assert my_reset == pytest.approx(their_reset, abs=1e-6), name
    for label in ("binary", "sparse"):
        theirs, ours = keras_results[label], mine[label]
        assert ours["evaluate"].keys() == theirs["evaluate"].keys()
        for key, value in theirs["evaluate"].items():
            assert ours["evaluate"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (label, key)
        assert ours["history"].keys() == theirs["history"].keys()
        for key, values in theirs["history"].items():
            np.testing.assert_allclose(ours["history"][key], values, rtol=1e-4, atol=1e-5, err_msg=f"{label} {key}")


def test_the_overrides_change_the_numbers(keras_results):
    """The subclasses' values are not the built-in ones (so the comparison above sees the overrides run)."""
    task = _task()
    y, p, w = (np.asarray(task[k], "float32") for k in ("y", "p", "w"))
    plain = gpunn.metrics.BinaryAccuracy()
    plain.update_state(y, p, sample_weight=w)
    assert keras_results["standalone"]["PercentAccuracy"][1] == pytest.approx(100 * float(plain.result()), abs=1e-4)
    auc = gpunn.metrics.AUC()
    auc.update_state(y, p, sample_weight=w)
    assert keras_results["standalone"]["FlippedAUC"][1] != pytest.approx(float(auc.result()), abs=1e-3)


def test_a_subclass_s_own_attributes_are_its_own(numpy_backend):
    """gpunn's bookkeeping for a subclass's update_state inside a step uses a name no subclass would choose."""
    class Tagged(gpunn.metrics.Recall):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._target = 1
            self.target = "mine"

        def update_state(self, y_true, y_pred, sample_weight=None):
            super().update_state(y_true, y_pred * self._target, sample_weight=sample_weight)

    metric = Tagged()
    metric.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert float(metric.result()) == pytest.approx(2 / 3)
    model = gpunn.Sequential([layers.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[Tagged(name="tagged"), "recall"])
    rng = np.random.default_rng(0)
    history = model.fit(rng.normal(size=(16, 4)), (rng.random((16, 1)) < 0.5).astype("float32"), batch_size=8,
                        epochs=2, verbose=0).history
    assert history["tagged"] == pytest.approx(history["recall"])
    assert model.metrics[1]._target == 1 and model.metrics[1].target == "mine"


def test_an_own_reset_state_runs_before_every_epoch_and_evaluation(numpy_backend):
    resets = []

    class CountedRecall(gpunn.metrics.Recall):
        def reset_state(self):
            resets.append(self.name)
            super().reset_state()

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 4)).astype("float32"), (rng.random((20, 1)) < 0.5).astype("float32")
    model = gpunn.Sequential([layers.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[CountedRecall(name="recall")])
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0).history
    after_fit = len(resets)
    assert after_fit >= 3
    value = model.evaluate(x, y, verbose=0)[1]
    assert len(resets) > after_fit
    # the state was zeroed each time: the last value is one evaluation's recall, as a fresh metric computes it
    fresh = gpunn.metrics.Recall()
    fresh.update_state(y, model.predict(x, verbose=0))
    assert value == pytest.approx(float(fresh.result()), abs=1e-6)
    assert 0.0 <= history["recall"][-1] <= 1.0
