"""``compile(steps_per_execution=K)`` in evaluate, predict and fit's validation, against Keras 3 itself: callbacks
see one batch per run of K batches (begin numbered by its first batch, end by begin + K - 1, the last run's too),
``on_predict_batch_end`` gets the run's outputs, and a callback's ``model.stop_evaluating`` /
``model.stop_predicting`` ends the loop with that run; over arrays and a PyDataset (and, gpunn alone, since
Keras's JAX trainer gives predict_step another signature, a predict_step of the user's)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(23, 3)).astype("float32")
    y = (x[:, :1] - x[:, 1:2]).astype("float32")

    class Log(keras.callbacks.Callback):
        def __init__(self, stop=None):
            super().__init__()
            self.events, self.stop = [], stop

        def on_test_batch_begin(self, batch, logs=None):
            self.events.append(["test_begin", batch])

        def on_test_batch_end(self, batch, logs=None):
            self.events.append(["test_end", batch, round(float(logs["loss"]), 4)])
            if self.stop == "evaluate":
                self.model.stop_evaluating = True

        def on_predict_batch_begin(self, batch, logs=None):
            self.events.append(["predict_begin", batch])

        def on_predict_batch_end(self, batch, logs=None):
            self.events.append(["predict_end", batch, list(np.shape(logs["outputs"]))])
            if self.stop == "predict":
                self.model.stop_predicting = True

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, index):
            return x[index * 5:index * 5 + 5], y[index * 5:index * 5 + 5]

    out = {}
    for steps in (1, 3):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="tanh"), keras.layers.Dense(1)])
        model.set_weights([np.full(w.shape, 0.3, "float32") for w in model.get_weights()])
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", steps_per_execution=steps)
        runs = {}
        for name, call in [
                ("evaluate", lambda log: model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[log])),
                ("evaluate_pydataset", lambda log: model.evaluate(Batches(), verbose=0, callbacks=[log])),
                ("evaluate_steps", lambda log: model.evaluate(x, y, batch_size=4, steps=4, verbose=0,
                                                              callbacks=[log])),
                ("predict", lambda log: model.predict(x, batch_size=4, verbose=0, callbacks=[log]).shape),
                ("predict_pydataset", lambda log: model.predict(Batches(), verbose=0, callbacks=[log]).shape),
                ("validation", lambda log: model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                                                     validation_data=(x, y), validation_batch_size=4,
                                                     callbacks=[log]).history["val_loss"])]:
            log = Log()
            result = call(log)
            runs[name] = [np.round(np.asarray(result, "float64"), 4).tolist(), log.events]
        for stop in ("evaluate", "predict"):
            log = Log(stop)
            result = (model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[log]) if stop == "evaluate"
                      else model.predict(x, batch_size=4, verbose=0, callbacks=[log]).shape)
            runs[f"stop_{stop}"] = [np.round(np.asarray(result, "float64"), 4).tolist(), log.events]
            after = (model.evaluate(x, y, batch_size=4, verbose=0) if stop == "evaluate"
                     else model.predict(x, batch_size=4, verbose=0).shape)  # the flag does not outlive its call
            runs[f"after_stop_{stop}"] = np.round(np.asarray(after, "float64"), 4).tolist()
        out[str(steps)] = runs
    return out
'''


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(SCRIPT, tmp_path_factory)


@pytest.mark.parametrize("steps", ["1", "3"])
@pytest.mark.parametrize("case", ["evaluate", "evaluate_pydataset", "evaluate_steps", "predict", "predict_pydataset",
                                  "validation", "stop_evaluate", "after_stop_evaluate", "stop_predict",
                                  "after_stop_predict"])
def test_runs_of_steps_seen_by_callbacks_as_in_keras(both, steps, case):
    ours, theirs = both
    if case == "evaluate_steps" and steps == "3":
        # Keras runs whole executions, so steps=4 at 3 per execution reads 6 batches (all 23 samples, the loss of
        # a plain evaluate); gpunn reads the 4 batches asked for. The callbacks see the same runs.
        assert [event[:2] for event in ours[steps][case][1]] == [event[:2] for event in theirs[steps][case][1]]
        assert theirs[steps][case][0] == theirs[steps]["evaluate"][0]
        assert ours[steps][case][0] == ours["1"][case][0] != ours[steps]["evaluate"][0]
        return
    assert ours[steps][case] == theirs[steps][case]


def test_the_runs_group_batches():
    """What the comparison covers: with 3 steps per execution evaluate's 6 batches make 2 callback batches."""
    from gpunn.trainer.executions import executions

    assert [(begin, end, run) for begin, end, run in executions(range(6), 3)] == [(0, 2, [0, 1, 2]),
                                                                                  (3, 5, [3, 4, 5])]
    assert list(executions("abcd", 3)) == [(0, 2, ["a", "b", "c"]), (3, 5, ["d"])]
    assert np.array_equal(list(executions([], 2)), [])


def test_a_predict_step_of_the_users_in_runs(numpy_backend):
    import gpunn

    class OwnPredictStep(gpunn.Sequential):
        def predict_step(self, data):
            x, _, _ = gpunn.utils.unpack_x_y_sample_weight(data)
            return self(x) * 2.0

    class Outputs(gpunn.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_predict_batch_end(self, batch, logs=None):
            self.ends.append((batch, np.shape(logs["outputs"])))
            self.model.stop_predicting = batch >= 5

    x = np.linspace(-1, 1, 60, dtype="float32").reshape(20, 3)
    model = OwnPredictStep([gpunn.Input((3,)), gpunn.layers.Dense(1)])
    model.compile(loss="mse", steps_per_execution=3)
    log = Outputs()
    predicted = model.predict(x, batch_size=2, verbose=0, callbacks=[log])
    assert log.ends == [(2, (6, 1)), (5, (6, 1))]   # stopped after the second run of 3 batches of 2
    np.testing.assert_allclose(predicted, 2.0 * np.asarray(model(x[:12])), rtol=1e-6)
