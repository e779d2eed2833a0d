"""Keras's ``use_ema`` / ``ema_momentum`` / ``ema_overwrite_frequency`` and the SwapEMAWeights callback: training
equal to Keras's own (in a subprocess on jax) to float32 rounding, eager equal to replayed bit for bit, the
moving average saved where Keras keeps it and resumed exactly."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import assert_same_state, assert_same_training, run_keras

TRAIN = '''
def train(keras, frequency, jit=None, use_ema=True, callbacks=(), epochs=3):
    x = np.linspace(-1, 1, 120, dtype="float32").reshape(40, 3)
    y = (x.sum(axis=1) > 0).astype("int64")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.Dense(2, activation="softmax")])
    model.set_weights([np.linspace(-0.5, 0.5, w.size, dtype="float32").reshape(w.shape) for w in model.get_weights()])
    optimizer = keras.optimizers.Adam(0.05, use_ema=use_ema, ema_momentum=0.9, ema_overwrite_frequency=frequency)
    model.compile(optimizer, "sparse_categorical_crossentropy", **({} if jit is None else {"jit_compile": jit}))
    history = model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0, callbacks=list(callbacks),
                        validation_data=(x[:16], y[:16]))
    return model, history.history
'''
KERAS_SCRIPT = '''
import json, sys
import numpy as np
import keras
''' + TRAIN + '''
runs = {}
for frequency in (None, 3):
    model, history = train(keras, frequency, False)
    runs[str(frequency)] = [[w.tolist() for w in model.get_weights()], history["loss"], history["val_loss"]]
model, history = train(keras, None, False, callbacks=[keras.callbacks.SwapEMAWeights(swap_on_epoch=True)])
runs["swap"] = [[w.tolist() for w in model.get_weights()], history["loss"], history["val_loss"]]
print(json.dumps(runs))
'''


def _train(*args, **kwargs):
    namespace = {"np": np}
    exec(TRAIN, namespace)
    return namespace["train"](gpunn, *args, **kwargs)


def test_training_with_a_moving_average_equals_keras():
    keras = run_keras(KERAS_SCRIPT, None)
    swap = [gpunn.callbacks.SwapEMAWeights(swap_on_epoch=True)]
    for key, kwargs in (("None", {"frequency": None}), ("3", {"frequency": 3}),
                        ("swap", {"frequency": None, "callbacks": swap})):
        model, history = _train(jit=False, **kwargs)
        weights, losses, val_losses = keras[key]
        for ours, theirs in zip(model.get_weights(), weights):
            np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4, atol=2e-5, err_msg=key)
        np.testing.assert_allclose(history["loss"], losses, rtol=1e-4, err_msg=key)
        np.testing.assert_allclose(history["val_loss"], val_losses, rtol=1e-4, err_msg=key)
    plain, _ = _train(None, jit=False, use_ema=False)
    averaged = np.asarray(keras["None"][0][0])
    assert np.abs(plain.get_weights()[0] - averaged).max() > 1e-2  # the average is not the last weights


@pytest.mark.parametrize("frequency", [None, 2])
def test_a_replayed_step_keeps_the_average_bit_for_bit(frequency):
    assert_same_training(_train(frequency, jit=False), _train(frequency, jit=True))


def test_the_average_is_saved_where_keras_keeps_it_and_training_resumes_exactly(tmp_path):
    """A model saved after fit (its weights then the average, as Keras's are) and loaded trains on as the model
    kept in memory does; Keras reads the average where it keeps it."""
    first, _ = _train(3, jit=True, epochs=2)
    path = str(tmp_path / "ema.keras")
    first.save(path)
    resumed = gpunn.models.load_model(path)
    assert resumed.optimizer.use_ema and resumed.optimizer.ema_overwrite_frequency == 3
    average = np.asarray(first.optimizer.slots["average"])
    np.testing.assert_array_equal(first.get_weights()[0], average[:12].reshape(3, 4))  # fit ended on the average
    x = np.linspace(-1, 1, 120, dtype="float32").reshape(40, 3)
    y = (x.sum(axis=1) > 0).astype("int64")
    for model in (first, resumed):
        model.fit(x, y, batch_size=8, epochs=4, initial_epoch=2, shuffle=False, verbose=0)
    assert_same_state(first, resumed)
    script = '''
import json, sys
import numpy as np
import keras
model = keras.models.load_model(sys.argv[1] if len(sys.argv) > 1 else json.loads(sys.stdin.read()))
variables = model.optimizer.variables
print(json.dumps({"count": len(variables), "names": [v.path for v in variables[:4]],
                  "average": np.asarray(variables[2]).tolist()}))
'''
    keras = run_keras(script, path)
    kernel_average = np.asarray(gpunn.models.load_model(path).optimizer.slots["average"])[:12].reshape(3, 4)
    assert keras["count"] == 2 + 3 * 4  # step count, rate, then an average, momentum and velocity per weight
    assert "average" in keras["names"][2]
    np.testing.assert_array_equal(np.asarray(keras["average"], dtype=np.float32), kernel_average)


def test_arguments_are_checked_and_configs_round_trip():
    optimizer = gpunn.optimizers.SGD(use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=10)
    config = optimizer.get_config()
    assert (config["use_ema"], config["ema_momentum"], config["ema_overwrite_frequency"]) == (True, 0.5, 10)
    assert gpunn.optimizers.SGD.from_config(config).get_config() == config
    # a plain optimizer's config holds Keras's keys at their defaults, as Keras's BaseOptimizer.get_config writes
    assert {k: gpunn.optimizers.SGD().get_config()[k] for k in ("use_ema", "ema_momentum", "ema_overwrite_frequency")} \
        == {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None}
    with pytest.raises(ValueError, match=r"`ema_momentum` must be in the range \[0, 1\]"):
        gpunn.optimizers.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="`ema_overwrite_frequency` must be an integer >= 1 or None"):
        gpunn.optimizers.Adam(use_ema=True, ema_overwrite_frequency=0.5)
    trained, _ = _train(None, jit=False, epochs=1)
    with pytest.raises(ValueError, match=r"The length of model variables \(1\) to override does not match"):
        trained.optimizer.finalize_variable_values(trained.trainable_weights[:1])
    trained.optimizer.finalize_variable_values(trained.trainable_weights)  # one per trained weight: taken
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="SwapEMAWeights must be used when `use_ema=True`"):
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0, validation_split=0.5,
                  callbacks=[gpunn.callbacks.SwapEMAWeights()])


@pytest.mark.gpu
def test_the_average_on_the_gpu_matches_numpy_and_its_graph_replays_it():
    import warnings

    from gpunn.trainer.train_step import GraphFallbackWarning

    runs = {}
    for backend, jit in (("numpy", False), ("cupy", False), ("cupy", True)):
        with gpunn.use_backend(backend), warnings.catch_warnings():
            warnings.simplefilter("error", GraphFallbackWarning)
            runs[backend, jit] = _train(2, jit=jit)
    for key, tolerance in ((("cupy", False), 1e-6), (("numpy", False), 1e-4)):  # the graph against eager, then NumPy
        for ours, reference in zip(runs["cupy", True][0].get_weights(), runs[key][0].get_weights()):
            np.testing.assert_allclose(ours, reference, rtol=tolerance, atol=tolerance / 5, err_msg=str(key))
        averages = [model.ops.to_numpy(model.optimizer.slots["average"]) for model in
                    (runs["cupy", True][0], runs[key][0])]  # CuPy arrays are read back explicitly
        np.testing.assert_allclose(*averages, rtol=tolerance, atol=tolerance / 5, err_msg=str(key))
